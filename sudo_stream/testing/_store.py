"""In-memory stored chat completions, their messages, and cursor pagination over them.

Pure bookkeeping, no I/O: the routes turn its answers (or its ``LookupError`` /
``ValueError``) into HTTP responses. Order is insertion order, oldest first.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._chunks import new_id


class CompletionStore:
    """Stored completions by id, each with the request messages that produced it."""

    def __init__(self) -> None:
        self._completions: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}

    def add(
        self,
        completion: Mapping[str, Any],
        messages: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store a copy of ``completion`` (an id is generated if it has none) and return it.

        What the API always sends is filled in when missing: ``object``, ``created`` (now),
        ``model`` (``""``), ``choices`` (none) and ``usage`` (no tokens). ``metadata``
        (else the completion's own, else ``{}``) is attached as ``metadata``. Messages are
        kept as the API returns them: without an ``id`` they get ``<completion id>-<n>``,
        and content given as parts is returned as ``content_parts`` (see
        :func:`returned_message`).
        """
        stored = copy.deepcopy(dict(completion))
        stored.setdefault("id", new_id("chatcmpl"))
        for key, value in _REQUIRED.items():
            if stored.get(key) is None:
                stored[key] = copy.deepcopy(value) if key != "created" else int(time.time())
        if metadata is not None:
            stored["metadata"] = dict(metadata)
        elif not isinstance(stored.get("metadata"), dict):
            stored["metadata"] = {}
        key = str(stored["id"])
        self._completions[key] = stored
        self._messages[key] = [
            returned_message(f"{key}-{n}", message) for n, message in enumerate(messages or ())
        ]
        return copy.deepcopy(stored)

    def all(self) -> list[dict[str, Any]]:
        """Copies of every stored completion, oldest first."""
        return copy.deepcopy(list(self._completions.values()))

    def get(self, completion_id: str) -> dict[str, Any]:
        """The stored completion; ``LookupError`` if there is none with that id."""
        return copy.deepcopy(self._find(completion_id))

    def update(self, completion_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        """Replace the completion's metadata and return the updated completion."""
        stored = self._find(completion_id)
        stored["metadata"] = dict(metadata)
        return copy.deepcopy(stored)

    def delete(self, completion_id: str) -> None:
        """Forget the completion and its messages; ``LookupError`` if unknown."""
        self._find(completion_id)
        del self._completions[completion_id]
        del self._messages[completion_id]

    def list_completions(
        self,
        *,
        after: str | None = None,
        limit: int = 20,
        order: str = "asc",
        model: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A page of completions, filtered by model and by every metadata pair given."""
        wanted = dict(metadata or {})
        items = [
            c
            for c in self._completions.values()
            if (model is None or c.get("model") == model)
            and all(c["metadata"].get(k) == v for k, v in wanted.items())
        ]
        return page(items, after=after, limit=limit, order=order)

    def messages(
        self, completion_id: str, *, after: str | None = None, limit: int = 20, order: str = "asc"
    ) -> dict[str, Any]:
        """A page of the completion's messages; ``LookupError`` if the completion is unknown."""
        self._find(completion_id)
        return page(self._messages[completion_id], after=after, limit=limit, order=order)

    def _find(self, completion_id: str) -> dict[str, Any]:
        try:
            return self._completions[completion_id]
        except KeyError:
            raise LookupError(f"No chat completion found with id '{completion_id}'.") from None


_REQUIRED: dict[str, Any] = {
    "object": "chat.completion",
    "created": 0,  # now, when stored
    "model": "",
    "choices": [],
    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
}


def returned_message(message_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """A request message as the API returns it among a stored completion's messages.

    Its ``content`` is text or null there: content given as parts comes back as
    ``content_parts`` in OpenAI's shapes (``input_text`` as ``text``, ``input_image`` as
    ``image_url``, ``input_file`` and an image by file id as ``file``), with
    ``content: null``.
    """
    returned = {"id": message_id, **copy.deepcopy(dict(message))}
    content = returned.get("content")
    if isinstance(content, list):
        returned["content"] = None
        returned["content_parts"] = [_openai_part(part) for part in content]
    return returned


def _openai_part(part: Any) -> Any:
    if not isinstance(part, Mapping):
        return part
    kind = part.get("type")
    if kind == "input_text":
        return {"type": "text", "text": part.get("text")}
    if kind == "input_image" and part.get("image_url") is not None:
        image = {"url": part["image_url"], "detail": part.get("detail")}
        return {"type": "image_url", "image_url": {k: v for k, v in image.items() if v is not None}}
    if kind in ("input_file", "input_image"):
        keys = ("file_data", "file_id", "filename", "file_url")
        return {"type": "file", "file": {k: part[k] for k in keys if part.get(k) is not None}}
    return dict(part)


def page(
    items: Sequence[Mapping[str, Any]], *, after: str | None, limit: int, order: str
) -> dict[str, Any]:
    """One page of ``items`` (each with an ``id``) in an OpenAI list envelope.

    ``order`` is ``asc`` (as given) or ``desc``; ``after`` is the id of the last item of the
    previous page (``ValueError`` if no item has it). ``first_id`` and ``last_id`` are
    ``""`` on an empty page (the seed SDK types them as strings, never null).
    """
    if order not in ("asc", "desc"):
        raise ValueError("order must be 'asc' or 'desc'")
    if not 1 <= limit <= 100:
        raise ValueError("limit must be between 1 and 100")
    ordered = list(items) if order == "asc" else list(reversed(items))
    start = 0
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise ValueError(f"No item found with id '{after}' (the 'after' cursor).")
        start = ids.index(after) + 1
    chosen = copy.deepcopy(ordered[start : start + limit])
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else "",
        "last_id": chosen[-1]["id"] if chosen else "",
        "has_more": start + limit < len(ordered),
    }
