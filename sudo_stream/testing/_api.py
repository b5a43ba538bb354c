"""The fake API's brain: auth, scripted-response queues, routing. Pure: no socket, no clock.

``FakeAPI.respond(request)`` decides what a recorded request gets, as a scripted response
that the connection then plays on the wire.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from . import _endpoints as ep
from ._records import RecordedRequest
from ._responses import JSON, Error, ScriptedResponse
from ._store import CompletionStore

CHAT_PATH = "/v1/chat/completions"
"""The path that scripted responses are queued for by default."""

_BODY_METHODS = ("POST", "PUT", "PATCH")


class FakeAPI:
    """Routes requests to the endpoints, after auth and any scripted response queued."""

    def __init__(self, *, api_key: str | None, reply: str, models: Sequence[str]) -> None:
        self.api_key = api_key
        self.reply = reply
        self.models = tuple(models)
        self.store = CompletionStore()
        self._queues: dict[tuple[str, str], deque[ScriptedResponse]] = {}

    def enqueue(self, responses: Sequence[ScriptedResponse], method: str, path: str) -> None:
        """Queue ``responses`` for the next requests with this method and (raw) path."""
        self._queues.setdefault((method.upper(), path), deque()).extend(responses)

    def pending(self) -> int:
        """How many queued responses no request has consumed yet."""
        return sum(len(queue) for queue in self._queues.values())

    def respond(self, request: RecordedRequest) -> ScriptedResponse:
        """What ``request`` gets: 401, 400 for a malformed body, a scripted or routed reply."""
        expected = None if self.api_key is None else f"Bearer {self.api_key}"
        if expected is not None and request.headers.get("authorization") != expected:
            return Error(401, message="Missing or invalid API key.")
        body: Any = None
        if request.method in _BODY_METHODS and request.body:
            try:
                body = json.loads(request.body)
            except ValueError as exc:
                return Error(400, message=f"Malformed JSON body: {exc}.")
        queue = self._queues.get((request.method, request.path))
        if queue:
            response = queue.popleft()
            if request.method == "POST" and request.path == CHAT_PATH:
                ep.store_scripted(body, response, self.store)
            return response
        try:
            return self._route(request, body)
        except LookupError as exc:
            return Error(404, message=str(exc.args[0]) if exc.args else "Not found.")
        except ValueError as exc:
            return Error(400, message=str(exc))

    def _route(self, request: RecordedRequest, body: Any) -> ScriptedResponse:
        segments = [unquote(part) for part in request.path.split("/")[1:]]
        store, query = self.store, request.query
        match request.method, segments:
            case "GET", ["system", "health"]:
                return JSON({"status": "ok"})
            case "GET", ["v1", "models"]:
                return ep.list_models(self.models)
            case "POST", ["v1", "images", "generations"]:
                return ep.generate_image(body)
            case "POST", ["v1", "chat", "completions"]:
                return ep.create_completion(body, self.reply, store)
            case "GET", ["v1", "chat", "completions"]:
                return ep.list_completions(query, store)
            case "GET", ["v1", "chat", "completions", cid]:
                return JSON(store.get(cid))
            case "POST", ["v1", "chat", "completions", cid]:
                return ep.update_completion(cid, body, store)
            case "DELETE", ["v1", "chat", "completions", cid]:
                return ep.delete_completion(cid, store)
            case "GET", ["v1", "chat", "completions", cid, "messages"]:
                return ep.list_messages(cid, query, store)
        raise LookupError(f"Unknown route: {request.method} {request.path}")
