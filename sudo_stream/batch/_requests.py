"""One request of a batch, as a line of the OpenAI Batch input format, checked before
anything is sent::

    {"custom_id": "q-1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}

``method`` defaults to ``POST`` and ``url`` to ``/v1/chat/completions``; image generations
(``/v1/images/generations``) are accepted too. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .._params import CALL_OPTIONS
from ..router import chat_content, image_content
from ._errors import BatchInputError

CHAT_URL = "/v1/chat/completions"
IMAGE_URL = "/v1/images/generations"
URLS = (CHAT_URL, IMAGE_URL)
_KEYS = frozenset({"custom_id", "method", "url", "body"})


class BatchRequest(msgspec.Struct, frozen=True):
    """A checked batch request: its id, where it goes and its JSON body, encoded."""

    custom_id: str
    url: str
    content: bytes
    stream: bool = False
    estimated_tokens: int = 0
    choices: int = 1


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    custom_id: str
    body: dict[str, Any]
    method: str = "POST"
    url: str = CHAT_URL


def parse_line(line: bytes | str, where: str, *, default_completion_tokens: int = 256) -> BatchRequest:
    """Check one JSONL line; a :class:`BatchInputError` naming ``where`` if it is wrong."""
    try:
        parsed = msgspec.json.decode(line, type=_Line)
    except msgspec.ValidationError as exc:
        raise BatchInputError(where, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BatchInputError(where, f"not valid JSON ({exc})") from None
    return _checked(parsed, where, default_completion_tokens)


def request_from_mapping(
    obj: Any, where: str, *, default_completion_tokens: int = 256
) -> BatchRequest:
    """Check one request given as a mapping (a parsed line, a row, a dict from Python)."""
    if isinstance(obj, BatchRequest):
        return obj
    if not isinstance(obj, Mapping):
        raise BatchInputError(where, f"a request must be a mapping, got {type(obj).__name__}")
    unknown = sorted(str(key) for key in obj if key not in _KEYS)
    if unknown:
        raise BatchInputError(where, f"unknown key(s) {', '.join(map(repr, unknown))}")
    try:
        parsed = msgspec.convert(dict(obj), type=_Line)
    except msgspec.ValidationError as exc:
        raise BatchInputError(where, str(exc)) from None
    return _checked(parsed, where, default_completion_tokens)


def _checked(line: _Line, where: str, default_completion_tokens: int) -> BatchRequest:
    if not line.custom_id:
        raise BatchInputError(where, "custom_id must be a non-empty string")
    if line.method.upper() != "POST":
        raise BatchInputError(where, f"method must be POST, got {line.method!r}")
    if line.url not in URLS:
        raise BatchInputError(where, f"url must be one of {', '.join(URLS)}, got {line.url!r}")
    body = dict(line.body)
    # Call options are not request fields: the batch decides how a request is sent.
    options = sorted(CALL_OPTIONS.intersection(body))
    if options:
        raise BatchInputError(where, f"body has unknown field(s) {', '.join(map(repr, options))}")
    try:
        if line.url == CHAT_URL:
            return _chat(line.custom_id, body, default_completion_tokens)
        content, _ = image_content("batch", body.pop("prompt", None), body.pop("model", None), body)
    except (TypeError, ValueError) as exc:
        message = str(exc).replace("batch() got an unexpected keyword argument", "unknown body field")
        raise BatchInputError(where, message) from None
    return BatchRequest(line.custom_id, line.url, content)


def _chat(custom_id: str, body: dict[str, Any], default_completion_tokens: int) -> BatchRequest:
    stream = body.pop("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise TypeError(f"stream must be a bool, got {type(stream).__name__}")
    # max_tokens is the older name of max_completion_tokens, still common in batch files.
    if "max_tokens" in body:
        if "max_completion_tokens" in body:
            raise ValueError("give max_tokens or max_completion_tokens, not both")
        body["max_completion_tokens"] = body.pop("max_tokens")
    if stream and body.get("stream_options") is None:
        body["stream_options"] = {"include_usage": True}  # the limiter settles on usage
    messages, model = body.pop("messages", None), body.pop("model", None)
    content, _ = chat_content("batch", messages, model, bool(stream), body)
    n = body.get("n")
    return BatchRequest(
        custom_id, CHAT_URL, content, bool(stream),
        estimate_tokens(messages, body, default_completion_tokens),
        n if isinstance(n, int) and n > 0 else 1,
    )  # fmt: skip


def estimate_tokens(messages: Any, body: Mapping[str, Any], default_completion_tokens: int) -> int:
    """Tokens a chat completion may use, reserved under a ``tpm`` limit before sending:
    the prompt at about four bytes a token, plus the completion's cap (or a default)
    for each of the ``n`` choices. The answer's ``usage`` settles the difference."""
    prompt_bytes = len(msgspec.json.encode(messages))
    completion = body.get("max_completion_tokens")
    if not isinstance(completion, int):
        completion = default_completion_tokens
    n = body.get("n")
    choices = n if isinstance(n, int) and n > 0 else 1
    return prompt_bytes // 4 + 1 + completion * choices
