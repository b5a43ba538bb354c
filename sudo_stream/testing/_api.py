"""The fake API's brain: auth, rate limits, scripted-response queues, routing. Pure: no
socket, and no clock but the rate limiter's (injected).

``FakeAPI.respond(request)`` decides what a recorded request gets, as a scripted response
that the connection then plays on the wire.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import unquote

from . import _endpoints as ep
from . import _responses_api as ra
from ._ratelimit import RateLimiter, response_tokens, with_headers
from ._records import RecordedRequest
from ._responses import JSON, Error, ScriptedResponse
from ._store import CompletionStore

CHAT_PATH = "/v1/chat/completions"
"""The path that scripted responses are queued for by default."""

_BODY_METHODS = ("POST", "PUT", "PATCH")


class FakeAPI:
    """Routes requests to the endpoints, after auth, the rate limit (with ``limiter``) and
    any scripted response queued."""

    def __init__(
        self,
        *,
        api_key: str | None,
        reply: str,
        models: Sequence[str],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.api_key = api_key
        self.reply = reply
        self.models = tuple(models)
        self.store = CompletionStore()
        self.responses: dict[str, dict[str, Any]] = {}  # stored with store: true, by id
        self.limiter = limiter
        self._queues: dict[tuple[str, str], deque[ScriptedResponse]] = {}

    def enqueue(self, responses: Sequence[ScriptedResponse], method: str, path: str) -> None:
        """Queue ``responses`` for the next requests with this method and (raw) path."""
        self._queues.setdefault((method.upper(), path), deque()).extend(responses)

    def pending(self) -> int:
        """How many queued responses no request has consumed yet."""
        return sum(len(queue) for queue in self._queues.values())

    def respond(self, request: RecordedRequest) -> ScriptedResponse:
        """What ``request`` gets: 401, 429 past the rate limit, 400 for a malformed body,
        a scripted or routed reply.

        The answer is worked out first, so that the limiter can charge its tokens; it takes
        effect (a scripted response consumed, a completion stored, ...) only if admitted.
        """
        expected = None if self.api_key is None else f"Bearer {self.api_key}"
        authorization = request.headers.get("authorization")
        if expected is not None and authorization != expected:
            return Error(401, message="Missing or invalid API key.")
        tokens, give = self._plan(request)
        if self.limiter is None:
            return give()
        decision = self.limiter.admit(authorization, tokens)
        if decision.refusal is not None:
            return decision.refusal
        return with_headers(give(), decision.headers)

    def _plan(self, request: RecordedRequest) -> tuple[int, Callable[[], ScriptedResponse]]:
        """The tokens the answer to ``request`` costs, and how to give that answer."""
        body: Any = None
        if request.method in _BODY_METHODS and request.body:
            try:
                body = json.loads(request.body)
            except ValueError as exc:
                return 0, _given(Error(400, message=f"Malformed JSON body: {exc}."))
        queue = self._queues.get((request.method, request.path))
        if queue:
            return response_tokens(queue[0]), partial(self._scripted, request, body, queue)
        segments = [unquote(part) for part in request.path.split("/")[1:]]
        if request.method == "POST" and segments == ["v1", "chat", "completions"]:
            try:
                answer = ep.create_completion(body, self.reply)
            except ValueError as exc:
                return 0, _given(Error(400, message=str(exc)))
            return answer.total_tokens, partial(answer.commit, self.store)
        if request.method == "POST" and segments == ["v1", "responses"]:
            try:
                reply = ra.create_response(body, self.reply)
            except ValueError as exc:
                return 0, _given(Error(400, message=str(exc)))
            return reply.total_tokens, partial(reply.commit, self.responses)
        return 0, partial(self._routed, request, segments, body)

    def _scripted(
        self, request: RecordedRequest, body: Any, queue: deque[ScriptedResponse]
    ) -> ScriptedResponse:
        response = queue.popleft()
        if request.method == "POST" and request.path == CHAT_PATH:
            ep.store_scripted(body, response, self.store)
        return response

    def _routed(self, request: RecordedRequest, segments: list[str], body: Any) -> ScriptedResponse:
        try:
            return self._route(request, segments, body)
        except LookupError as exc:
            return Error(404, message=str(exc.args[0]) if exc.args else "Not found.")
        except ValueError as exc:
            return Error(400, message=str(exc))

    def _route(self, request: RecordedRequest, segments: list[str], body: Any) -> ScriptedResponse:
        store, query = self.store, request.query
        match request.method, segments:
            case "GET", ["system", "health"]:
                return JSON({"status": "ok"})
            case "GET", ["v1", "models"]:
                return ep.list_models(self.models)
            case "POST", ["v1", "images", "generations"]:
                return ep.generate_image(body)
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
            case "GET", ["v1", "responses", rid]:
                if rid not in self.responses:
                    raise LookupError(f"No response found with id '{rid}'.")
                return JSON(self.responses[rid])
        raise LookupError(f"Unknown route: {request.method} {request.path}")


def _given(response: ScriptedResponse) -> Callable[[], ScriptedResponse]:
    return lambda: response
