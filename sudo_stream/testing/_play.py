"""Turns a scripted response into writes, sleeps and faults on an :class:`Exchange`."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import anyio
import msgspec

from ._exchange import Exchange
from ._responses import (
    JSON,
    Drop,
    Endless,
    Error,
    Headers,
    Raw,
    ScriptedResponse,
    Stall,
    StallItem,
    Stream,
)

_DONE = b"data: [DONE]\n\n"
BATCH_BYTES = 64 * 1024
"""Writes without a delay between them are handed to the socket up to this much at once."""
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_encode = msgspec.json.Encoder().encode


async def play(response: ScriptedResponse, exchange: Exchange, request_id: str) -> None:
    """Write ``response`` on ``exchange``; responses that may wait are watched for disconnects."""
    if isinstance(response, Stream):
        writes = stream_writes(response)  # encode up front: a bad chunk fails here, plainly
        await exchange.watched(lambda: _stream(exchange, response, request_id, writes))
    elif isinstance(response, Endless | Stall):
        await exchange.watched(lambda: _play(response, exchange, request_id))
    else:
        await _play(response, exchange, request_id)


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The OpenAI-style error body the fake server sends for ``status``."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    try:
        phrase = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = str(status)
    return {"error": {"message": message or f"Fake Sudo server error: {phrase}.", "type": kind}}


async def _play(response: ScriptedResponse, exchange: Exchange, request_id: str) -> None:
    if isinstance(response, Drop):
        exchange.drop(reset=response.reset)
    elif isinstance(response, Raw):
        await exchange.raw(response.data)
    elif isinstance(response, JSON):
        await _json(exchange, response.status, response.body, response.headers, request_id)
    elif isinstance(response, Error):
        body = response.body
        if body is None:
            body = error_body(response.status, response.message)
        await _json(exchange, response.status, body, response.headers, request_id)
    elif isinstance(response, Stall):
        await _sleep(response.seconds)
        if response.after is None:
            exchange.drop()
        else:
            await _play(response.after, exchange, request_id)
    elif isinstance(response, Stream):
        await _stream(exchange, response, request_id, stream_writes(response))
    else:
        await _endless(exchange, response, request_id)


async def _sleep(seconds: float | None) -> None:
    if seconds is None:
        await anyio.sleep_forever()
    else:
        await anyio.sleep(seconds)


def _headers(extra: Headers, content_type: str, request_id: str) -> list[tuple[str, str]]:
    names = {name.lower() for name, _ in extra}
    headers = [] if "content-type" in names else [("content-type", content_type)]
    if "x-request-id" not in names:
        headers.append(("x-request-id", request_id))
    return [*headers, *extra]


async def _json(exchange: Exchange, status: int, body: Any, extra: Headers, rid: str) -> None:
    data = body if isinstance(body, bytes) else _encode(body)
    headers = _headers(extra, "application/json", rid)
    if not any(name.lower() == "content-length" for name, _ in extra):
        headers.append(("content-length", str(len(data))))
    await exchange.start(status, headers)
    await exchange.body(data)
    await exchange.end()


def _event(item: Mapping[str, Any] | bytes | str, named: bool = False) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    data = b"data: " + _encode(item if isinstance(item, dict) else dict(item)) + b"\n\n"
    kind = item.get("type") if named else None
    return b"event: " + kind.encode() + b"\n" + data if isinstance(kind, str) else data


def stream_writes(stream: Stream) -> list[bytes | StallItem | Drop]:
    """The writes and faults of ``stream``, in order: pieced, compressed, ``[DONE]`` added."""
    size = stream.piece_size
    gz = zlib.compressobj(wbits=31) if stream.gzip else None
    out: list[bytes | StallItem | Drop] = []
    pending: list[bytes] = []

    def flush(final: bool) -> None:
        units = list(pending) if size is None else ([b"".join(pending)] if pending else [])
        pending.clear()
        if gz is not None:
            units = [gz.compress(unit) + gz.flush(zlib.Z_SYNC_FLUSH) for unit in units if unit]
            if final:
                units = [*units[:-1], units[-1] + gz.flush()] if units else [gz.flush()]
        for unit in units:
            step = size or len(unit) or 1
            out.extend(unit[i : i + step] for i in range(0, len(unit), step))

    items = [*stream.chunks, _DONE] if stream.done else list(stream.chunks)
    for item in items:
        if isinstance(item, StallItem | Drop):
            flush(False)
            out.append(item)
            if isinstance(item, Drop):
                return out
        else:
            pending.append(_event(item, stream.named_events))
    flush(True)
    return out


async def _stream(
    exchange: Exchange, stream: Stream, request_id: str, writes: list[bytes | StallItem | Drop]
) -> None:
    headers = _headers(stream.headers, stream.content_type, request_id)
    if stream.gzip:
        headers.append(("content-encoding", "gzip"))
    headers.append(("cache-control", "no-cache"))
    await exchange.start(stream.status, headers)
    batch: list[bytes] = []  # without a delay, writes go to the socket together
    batched = 0
    for write in writes:
        if isinstance(write, bytes) and not stream.delay:
            batch.append(write)
            batched += len(write)
            if batched >= BATCH_BYTES:
                await exchange.body_batch(batch)
                batch, batched = [], 0
            continue
        await exchange.body_batch(batch)
        batch, batched = [], 0
        if isinstance(write, StallItem):
            await _sleep(write.seconds)
        elif isinstance(write, Drop):
            exchange.drop(reset=write.reset)
            return
        else:
            await anyio.sleep(stream.delay)
            await exchange.body(write)
    await exchange.body_batch(batch)
    await exchange.end()


def default_endless_chunk() -> dict[str, Any]:
    """The chunk :class:`Endless` repeats when given none: a ``"tick "`` content delta."""
    return {
        "id": "chatcmpl-endless",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "tick "}, "finish_reason": None}],
    }


async def _endless(exchange: Exchange, endless: Endless, request_id: str) -> None:
    await exchange.start(200, _headers(endless.headers, "text/event-stream", request_id))
    if endless.chunk is None:
        role = default_endless_chunk()
        role["choices"][0]["delta"] = {"role": "assistant", "content": ""}
        await exchange.body(_event(role))
    data = _event(endless.chunk if endless.chunk is not None else default_endless_chunk())
    if not endless.interval:  # as fast as the client reads: many events per socket write
        batch = [data] * max(1, BATCH_BYTES // max(1, len(data)))
        while True:
            await exchange.body_batch(batch)
    while True:
        await anyio.sleep(endless.interval)
        await exchange.body(data)
