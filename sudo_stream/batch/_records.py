"""Output records in the OpenAI Batch output format, one JSON line per request::

    {"id": "batch_req_...", "custom_id": "q-1",
     "response": {"status_code": 200, "request_id": "req_...", "body": {...}},
     "error": null}

An HTTP error keeps its status and error body in ``response``, as OpenAI's output does,
and also fills ``error`` (``code``, ``message``, ``type``), so that the failures of a run
are the lines whose ``error`` is not null. A failure without an answer (the connection,
a timeout, a broken stream) has ``"response": null``. Pure: no I/O.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from ..errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    StreamError,
    SudoError,
)

_encoder = msgspec.json.Encoder()


class OutputRecord(msgspec.Struct):
    """What a resumed run reads back from each output line: which request it answers,
    and whether it failed."""

    custom_id: str
    error: dict[str, Any] | None = None


def _record_id() -> str:
    return f"batch_req_{secrets.token_hex(12)}"


def _json_text(body: bytes) -> bytes:
    """``body`` (valid JSON) on one line."""
    if b"\n" in body or b"\r" in body:
        return msgspec.json.format(body, indent=0)
    return body.strip()


def success_line(custom_id: str, status_code: int, request_id: str | None, body: bytes) -> bytes:
    """The record of an answer; ``body`` is the answer's JSON as it came."""
    head = _encoder.encode(
        {"id": _record_id(), "custom_id": custom_id,
         "response": {"status_code": status_code, "request_id": request_id, "body": None}}
    )  # fmt: skip
    # Splice the body in as received: nothing the server sent is lost or re-encoded.
    return head[: -len(b'null}}')] + _json_text(body) + b'},"error":null}\n'


def error_line(custom_id: str, exc: SudoError) -> bytes:
    """The record of a request that failed for good (after its retries)."""
    error = {"code": error_code(exc), "message": exc.message, "type": type(exc).__name__}
    response: dict[str, Any] | None = None
    if isinstance(exc, APIStatusError):
        try:
            body: Any = msgspec.json.decode(exc.text)  # the error body as it came
        except msgspec.DecodeError:
            body = {"error": {"message": exc.text or exc.message}}
        response = {"status_code": exc.status_code, "request_id": exc.request_id, "body": body}
    record = {"id": _record_id(), "custom_id": custom_id, "response": response, "error": error}
    return _encoder.encode(record) + b"\n"


def error_code(exc: SudoError) -> str:
    """A short code for the record: the server's own when it gave one."""
    if isinstance(exc, APIStatusError):
        detail = exc.error
        if detail is not None and isinstance(detail.code, str) and detail.code:
            return detail.code
        return f"http_{exc.status_code}"
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection_error"
    if isinstance(exc, APIResponseValidationError):
        return "invalid_response"
    if isinstance(exc, StreamError):
        return "stream_error"
    return "error"
