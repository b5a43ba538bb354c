"""The fault matrix: every fault a server or network can throw at a stream, on asyncio and trio.

For each fault the outcome is the right answer or the right typed error, within its time
bound; afterwards the client's pool is healthy: the next request on the same client
succeeds (on the same connection when the fault left it intact), and the fake server holds
exactly the connections the client's pool keeps alive.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import testing

from . import codings
from .helpers import MESSAGES
from .soak import pool_connections, settle

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("hygiene")]

FAST = ss.Timeout(connect=5, first_event=5, idle=5)
SHORT = 0.3  # the bound a stall is meant to hit
FAST_RETRIES = ss.RetryConfig(backoff=ss.BackoffStrategy(initial_interval=10, max_interval=20))
KEY = "sk-fault-matrix-key-0123456789"


def text(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )


CHUNKS = testing.text_chunks("alpha beta gamma delta epsilon")
ANSWER = "alpha beta gamma delta epsilon"
HEAD = CHUNKS[:3]  # role, "alpha", " beta": what a mid-stream fault leaves
PARTIAL = "alpha beta"


DRIP = 'data: {"choices":[{"index":0,"delta":{"content":"drip"},"finish_reason":"stop"}]}\n\n'


def _gzip_head() -> bytes:
    packer = zlib.compressobj(wbits=31)
    return packer.compress(b"".join(data(c) for c in HEAD)) + packer.flush(zlib.Z_SYNC_FLUSH)


def error_event(message: str = "upstream overloaded") -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": "overloaded"}}


def pool_size(sudo: ss.AsyncSudo, pool: httpx.AsyncClient | None) -> int:
    if pool is None:
        return pool_connections(sudo)
    return len(pool._transport._pool.connections)  # type: ignore[attr-defined]


async def healthy(
    server: testing.FakeSudoServer,
    sudo: ss.AsyncSudo,
    *,
    reuse: bool | None,
    pool: httpx.AsyncClient | None = None,
) -> None:
    """The next request on the same client succeeds, reusing the connection if ``reuse``;
    then the server holds just the connections the pool keeps alive."""
    before = len(server.requests)
    last = server.requests[-1].connection if server.requests else None
    follow = testing.text_chunks("healthy again")
    server.enqueue(testing.Stream(follow))
    with anyio.fail_after(10):
        async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=0) as stream:
            final = await stream.final_completion()
    assert final.choices[0].message.content == "healthy again"
    assert len(server.requests) == before + 1
    if reuse is not None and last is not None:
        assert (server.requests[-1].connection == last) is reuse, "keep-alive reuse"
    assert await settle(lambda: server.stats.open_connections == pool_size(sudo, pool), 5), (
        server.stats,
        pool_size(sudo, pool),
    )
    assert pool_size(sudo, pool) == 1


@dataclass
class Fault:
    """One fault: what the server does, and what the caller must see."""

    script: list[testing.ScriptedResponse]
    error: type[ss.SudoError] | None = None  # None: the right answer
    answer: str = ANSWER
    bound: str | None = None  # APITimeoutError.bound
    partial: str | None = None  # the partial completion's text, when there must be one
    match: str | None = None  # in str(error)
    within: tuple[float, float] = (0.0, 3.0)  # seconds the call took
    requests: int = 1
    reuse: bool | None = None  # whether the next request reuses the connection
    call: dict[str, Any] = field(default_factory=dict)  # per-call options
    client: dict[str, Any] = field(default_factory=dict)  # AsyncSudo options
    consume: str = "final"  # final | chunks | events | text


def short(**bounds: float) -> ss.Timeout:
    return ss.Timeout(5, **bounds)


def data(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


FAULTS: dict[str, Fault] = {
    # -- the connection -------------------------------------------------------------------
    "drop before headers": Fault([testing.Drop()], ss.APIConnectionError, reuse=False),
    "reset before headers": Fault([testing.Drop(reset=True)], ss.APIConnectionError, reuse=False),
    "reset before headers, retried": Fault(
        [testing.Drop(reset=True), testing.Stream(CHUNKS)], requests=2, call={"retries": FAST_RETRIES}
    ),
    "drop after headers, before any event, retried": Fault(
        [testing.Stream([testing.Drop()]), testing.Stream(CHUNKS)], requests=2, call={"retries": FAST_RETRIES}
    ),
    "close-delimited body ends before any event, retried": Fault(
        [testing.Raw(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"), testing.Stream(CHUNKS)],
        requests=2, call={"retries": FAST_RETRIES},
    ),
    "empty stream, retried": Fault(
        [testing.Stream([], done=False), testing.Stream(CHUNKS)], requests=2, call={"retries": FAST_RETRIES}
    ),
    "empty stream": Fault(
        [testing.Stream([], done=False)], ss.APIConnectionError, match="before its first event", reuse=True
    ),
    "drop mid-stream": Fault(
        [testing.Stream([*HEAD, testing.Drop()])], ss.StreamError, partial=PARTIAL, reuse=False
    ),
    "reset mid-stream": Fault(
        [testing.Stream([*HEAD, testing.StallItem(0.1), testing.Drop(reset=True)])],
        ss.StreamError,
        partial=PARTIAL,
        reuse=False,
    ),
    "reset mid-stream while reading": Fault(
        [testing.Stream([*HEAD, testing.StallItem(0.1), testing.Drop(reset=True)])],
        ss.StreamError,
        partial=PARTIAL,
        reuse=False,
        consume="chunks",
    ),
    "truncated chunked framing": Fault(
        [testing.Raw(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     + b"".join(b"%x\r\n%s\r\n" % (len(data(c)), data(c)) for c in HEAD) + b"zz\r\n")],
        ss.StreamError,
        partial=PARTIAL,
        reuse=False,
    ),
    # -- stalls ---------------------------------------------------------------------------
    "stall before headers": Fault(
        [testing.Stall()], ss.APITimeoutError, bound="first_event", within=(SHORT - 0.05, 2.5),
        reuse=False, call={"timeout": short(first_event=SHORT)},
    ),
    "stall before headers, retried": Fault(
        [testing.Stall(), testing.Stream(CHUNKS)], within=(SHORT - 0.05, 3.0), requests=2,
        call={"timeout": short(first_event=SHORT), "retries": FAST_RETRIES},
    ),
    "stall after headers, before the first event": Fault(
        [testing.Stream([testing.StallItem()])], ss.APITimeoutError, bound="first_event",
        within=(SHORT - 0.05, 2.5), reuse=False, call={"timeout": short(first_event=SHORT)},
    ),
    "stall mid-stream": Fault(
        [testing.Stream([*HEAD, testing.StallItem()])], ss.APITimeoutError, bound="idle",
        partial=PARTIAL, within=(SHORT - 0.05, 2.5), reuse=False, call={"timeout": short(idle=SHORT)},
    ),
    "stall mid-stream, iterating": Fault(
        [testing.Stream([*HEAD, testing.StallItem()])], ss.APITimeoutError, bound="idle",
        partial=PARTIAL, within=(SHORT - 0.05, 2.5), reuse=False, call={"timeout": short(idle=SHORT)},
        consume="chunks",
    ),
    "keep-alive comments only": Fault(
        [testing.Stream([": keep-alive\n\n"] * 200, delay=0.02, done=False)], ss.APITimeoutError,
        bound="first_event", within=(SHORT - 0.05, 2.5), reuse=False,
        call={"timeout": short(first_event=SHORT)},
    ),
    "keep-alive comments between events": Fault(
        [testing.Stream([*HEAD, *[": keep-alive\n\n"] * 200], delay=0.02, done=False)],
        ss.APITimeoutError, bound="idle", partial=PARTIAL, within=(SHORT - 0.05, 2.5), reuse=False,
        call={"timeout": short(idle=SHORT)},
    ),
    "stall after [DONE] before the body ends": Fault(
        [testing.Stream([*CHUNKS, "data: [DONE]\n\n", testing.StallItem()], done=False)],
        within=(0.0, 2.5), reuse=False,
    ),
    "endless stream, total": Fault(
        [testing.Endless(interval=0.01)], ss.APITimeoutError, bound="total", within=(SHORT - 0.05, 2.5),
        reuse=False, call={"timeout": short(total=SHORT)},
    ),
    "endless stream at full speed, total": Fault(
        [testing.Endless()], ss.APITimeoutError, bound="total", within=(SHORT - 0.05, 2.5), reuse=False,
        call={"timeout": short(total=SHORT)}, consume="events",
    ),
    # -- bytes on the wire ----------------------------------------------------------------
    "slow drip, one byte per write": Fault(
        [testing.Stream([DRIP], piece_size=1, delay=0.0005)], answer="drip", within=(0.0, 10.0),
        reuse=True,
    ),
    "one byte per HTTP chunk": Fault([testing.Stream(CHUNKS, piece_size=1)], reuse=True),
    "invalid UTF-8": Fault(
        [testing.Stream([CHUNKS[0], b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
                         b'"choices":[{"index":0,"delta":{"content":"bad \xff\xfe bytes"},"finish_reason":"stop"}]}\n\n'])],
        answer="bad \ufffd\ufffd bytes", reuse=True,
    ),
    "undecodable JSON": Fault(
        [testing.Stream([*HEAD, "data: {not json\n\n", *CHUNKS[3:]])], ss.StreamError,
        partial=PARTIAL, match="undecodable",
    ),
    "undecodable JSON first": Fault(
        [testing.Stream(["data: {not json\n\n", *CHUNKS])], ss.StreamError, match="undecodable"
    ),
    "a chunk of the wrong shape": Fault(
        [testing.Stream([*HEAD, 'data: {"choices": 7}\n\n'])], ss.StreamError, partial=PARTIAL,
        match="undecodable",
    ),
    "an event larger than max_event_size": Fault(
        [testing.Stream([*HEAD, testing.StallItem(0.05), {"x": "y" * 5000}])], ss.StreamError,
        partial=PARTIAL, match="max_event_size", client={"max_event_size": 2048},
    ),
    "a line longer than max_event_size, never ending": Fault(
        [testing.Stream(["data: " + "x" * 1000] * 50, done=False)], ss.StreamError,
        match="max_event_size", client={"max_event_size": 4096},
    ),
    # -- the SSE protocol -----------------------------------------------------------------
    "error event mid-stream": Fault(
        [testing.Stream([*HEAD, error_event()], done=False)], ss.StreamError, partial=PARTIAL,
        match="upstream overloaded",
    ),
    "named error event mid-stream": Fault(
        [testing.Stream([*HEAD, "event: error\ndata: " + json.dumps(error_event()) + "\n\n"], done=False)],
        ss.StreamError, partial=PARTIAL, match="upstream overloaded",
    ),
    "error event first, retried": Fault(
        [testing.Stream([error_event()], done=False), testing.Stream(CHUNKS)], requests=2,
        call={"retries": FAST_RETRIES},
    ),
    "error event first, retries exhausted": Fault(
        [testing.Stream([error_event()], done=False)] * 2, ss.StreamError, requests=2,
        match="upstream overloaded", call={"retries": ss.RetryConfig(max_retries=1, backoff=FAST_RETRIES.backoff)},
    ),
    "[DONE] missing, finish reason present": Fault([testing.Stream(CHUNKS, done=False)], reuse=True),
    "[DONE] missing, no finish reason": Fault(
        [testing.Stream(testing.text_chunks("alpha beta gamma", include_usage=False)[:-1], done=False)],
        ss.StreamError, partial="alpha beta gamma", match="without \\[DONE\\]",
    ),
    "[DONE] missing, one of two choices never came": Fault(
        [testing.Stream(CHUNKS, done=False)], ss.StreamError, partial=ANSWER, match="on all 2 choices",
        call={"n": 2},
    ),
    "[DONE] missing, both choices finished": Fault(
        [testing.Stream([{**c, "choices": [{**c["choices"][0], "index": i}]} if c["choices"] else c
                         for c in CHUNKS for i in range(2 if c["choices"] else 1)], done=False)],
        reuse=True, call={"n": 2},
    ),
    "body ends inside an event": Fault(
        [testing.Stream([*HEAD, 'data: {"id": "cut'], done=False)], ss.StreamError, partial=PARTIAL,
        match="inside an event",
    ),
    "body ends inside an event after the finish reason": Fault(
        [testing.Stream([*CHUNKS[:-1], 'data: {"id": "cut'], done=False)], ss.StreamError, partial=ANSWER,
        match="inside an event",
    ),
    "[DONE] without the blank line after it": Fault(
        [testing.Stream([*CHUNKS, "data: [DONE]"], done=False)], reuse=True
    ),
    "a named event between chunks": Fault(
        [testing.Stream([*HEAD, "event: ping\ndata: {}\n\n", *CHUNKS[3:]])], reuse=True
    ),
    "data after [DONE]": Fault(
        [testing.Stream([*CHUNKS, "data: [DONE]\n\n", data({"junk": True}), ": more\n\n"], done=False)],
        reuse=True,
    ),
    "lots of data after [DONE]": Fault(
        [testing.Stream([*CHUNKS, "data: [DONE]\n\n", ": " + "x" * 300_000 + "\n\n"], done=False)],
        reuse=False,
    ),
    "CRLF line ends": Fault(
        [testing.Stream([data(c).replace(b"\n", b"\r\n") for c in CHUNKS], done=False)], reuse=True
    ),
    "CR line ends": Fault(
        [testing.Stream([data(c).replace(b"\n", b"\r") for c in CHUNKS], done=False)], reuse=True
    ),
    # -- statuses -------------------------------------------------------------------------
    "429 storm with Retry-After": Fault(
        [testing.Error(429, headers=[("Retry-After", "0.1")])] * 3, ss.RateLimitError,
        within=(0.18, 2.5), requests=3, reuse=True, call={"retries": FAST_RETRIES},
    ),
    "429 storm with retry-after-ms, then success": Fault(
        [testing.Error(429, headers=[("retry-after-ms", "50")])] * 2 + [testing.Stream(CHUNKS)],
        within=(0.09, 2.5), requests=3, reuse=True, call={"retries": FAST_RETRIES},
    ),
    "429 with a malformed Retry-After": Fault(
        [testing.Error(429, headers=[("Retry-After", "soon")]),
         testing.Error(429, headers=[("retry-after-ms", "nan"), ("Retry-After", "nan")]), testing.Stream(CHUNKS)],
        requests=3, reuse=True, call={"retries": FAST_RETRIES},
    ),
    "429 with an HTTP-date Retry-After in the past": Fault(
        [testing.Error(429, headers=[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]), testing.Stream(CHUNKS)],
        within=(0.0, 1.0), requests=2, call={"retries": FAST_RETRIES},
    ),
    "429 asking for an hour, capped by max_retry_after": Fault(
        [testing.Error(429, headers=[("Retry-After", "3600")]), testing.Stream(CHUNKS)],
        within=(0.05, 1.5), requests=2,
        call={"retries": ss.RetryConfig(max_retry_after=0.1, backoff=FAST_RETRIES.backoff)},
    ),
    "429 asking for longer than the total bound": Fault(
        [testing.Error(429, headers=[("Retry-After", "30")])], ss.RateLimitError,
        within=(0.0, 1.5), requests=1,
        call={"retries": FAST_RETRIES, "timeout": short(total=1.0)},
    ),
    "5xx burst": Fault(
        [testing.Error(500), testing.Error(502), testing.Error(503), testing.Stream(CHUNKS)], requests=4,
        reuse=True, call={"retries": ss.RetryConfig(max_retries=3, backoff=FAST_RETRIES.backoff)},
    ),
    "5xx burst longer than the retries": Fault(
        [testing.Error(502), testing.Error(503, body=b"<html>Service Unavailable</html>"), testing.Error(504)],
        ss.InternalServerError, requests=3, match="504", reuse=True, call={"retries": FAST_RETRIES},
    ),
    "408 and 409 are retried": Fault(
        [testing.Error(408), testing.Error(409), testing.Stream(CHUNKS)], requests=3,
        call={"retries": FAST_RETRIES},
    ),
    "400 is not retried": Fault(
        [testing.Error(400, message="bad model")], ss.BadRequestError, match="bad model", reuse=True,
        call={"retries": FAST_RETRIES},
    ),
    "a huge error body is cut, and not retried": Fault(
        [testing.Error(400, body=b"x" * (3 << 20))], ss.BadRequestError, reuse=False,
        call={"retries": FAST_RETRIES},
    ),
    "200 with the wrong content type": Fault(
        [testing.JSON({"hello": "world"})], ss.APIResponseValidationError, match="text/event-stream",
        reuse=True,
    ),
    "200 with a large HTML body, not retried": Fault(
        [testing.Stream(["<html>" + "x" * 200_000 + "</html>"], content_type="text/html", done=False)],
        ss.APIResponseValidationError, match="text/html", reuse=False, call={"retries": FAST_RETRIES},
    ),
    "content type in capitals with parameters": Fault(
        [testing.Stream(CHUNKS, content_type="Text/Event-Stream; charset=UTF-8")], reuse=True
    ),
    "307 to another host is not followed": Fault(
        [testing.Error(307, headers=[("Location", "http://127.0.0.1:9/v1/chat/completions")])],
        ss.APIStatusError, match="307", reuse=True, call={"retries": FAST_RETRIES},
    ),
    # -- encodings ------------------------------------------------------------------------
    "gzip": Fault([testing.Stream(CHUNKS, gzip=True)], reuse=True),
    "gzip, dribbled": Fault([testing.Stream(CHUNKS, gzip=True, piece_size=3)], reuse=True),
    "deflate": Fault(
        [testing.Stream([zlib.compress(b"".join(data(c) for c in CHUNKS) + b"data: [DONE]\n\n")],
                        headers=[("content-encoding", "deflate")], done=False)],
        reuse=True,
    ),
    "corrupt gzip mid-stream": Fault(
        [testing.Stream([_gzip_head(), testing.StallItem(0.05), b"garbage!" * 4],
                        headers=[("content-encoding", "gzip")], done=False)],
        # The HTTP message itself may be complete when the garbage is decoded (its last
        # chunk came in the same read), and then the connection is fit for reuse.
        ss.StreamError, partial=PARTIAL, reuse=None,
    ),
    **{
        f"{coding}{how}": Fault(
            [testing.Stream(codings.compress(coding, [data(c) for c in CHUNKS] + [b"data: [DONE]\n\n"]),
                            headers=[("content-encoding", coding)], done=False, **options)],
            reuse=True,
        )
        for coding in ("br", "zstd")
        for how, options in (("", {}), (", dribbled", {"piece_size": 3}))
    },
    **{
        f"corrupt {coding} mid-stream": Fault(
            [testing.Stream([*codings.compress(coding, [data(c) for c in HEAD])[:-1],
                             testing.StallItem(0.05), b"garbage!" * 4],
                            headers=[("content-encoding", coding)], done=False)],
            ss.StreamError, match=f"could not decode.*corrupt {coding}", partial=PARTIAL, reuse=None,
        )
        for coding in ("br", "zstd")
    },
}


async def consume(stream: ss.ChatStream, how: str) -> str:
    if how == "final":
        return (await stream.final_completion()).choices[0].message.content or ""
    if how == "text":
        return "".join([piece async for piece in stream.text()])
    if how == "events":
        async for _ in stream.events():
            pass
        return stream.current_completion().choices[0].message.content or ""
    async for _ in stream:
        pass
    return stream.current_completion().choices[0].message.content or ""


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault(server: testing.FakeSudoServer, name: str) -> None:
    fault = FAULTS[name]
    options: dict[str, Any] = {"timeout": FAST, "retries": 0, **fault.client}
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url, **options) as sudo:
        await run_fault(server, sudo, fault)
    # Closing the client closes every connection it kept.
    assert await settle(lambda: server.stats.open_connections == 0, 5)


async def run_fault(
    server: testing.FakeSudoServer,
    sudo: ss.AsyncSudo,
    fault: Fault,
    pool: httpx.AsyncClient | None = None,
) -> None:
    server.enqueue(*fault.script)
    started = time.monotonic()
    outcome: str | BaseException
    with anyio.fail_after(15):
        try:
            async with sudo.router.create_streaming(messages=MESSAGES, model="m", **fault.call) as stream:
                outcome = await consume(stream, fault.consume)
            assert stream.closed
        except ss.SudoError as exc:
            outcome = exc
    took = time.monotonic() - started
    if fault.error is None:
        assert outcome == fault.answer, outcome
    else:
        assert isinstance(outcome, fault.error), repr(outcome)
        if fault.match:
            assert re.search(fault.match, str(outcome)), str(outcome)
        if fault.bound is not None:
            assert isinstance(outcome, ss.APITimeoutError) and outcome.bound == fault.bound, outcome
        partial = getattr(outcome, "partial", None)
        if fault.partial is not None:
            assert partial is not None, repr(outcome)
            assert partial.choices[0].message.content == fault.partial
    lo, hi = fault.within
    assert lo <= took <= hi, f"took {took:.2f} s, expected {lo}-{hi}"
    assert len(server.requests) == fault.requests, [r.path for r in server.requests]
    assert server.pending_responses == 0
    await healthy(server, sudo, reuse=fault.reuse, pool=pool)


# -- connection refused ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connection_refused_then_the_server_comes_up() -> None:
    port = free_port()
    async with ss.AsyncSudo(api_key=KEY, server_url=f"http://127.0.0.1:{port}", timeout=FAST) as sudo:
        started = time.monotonic()
        with pytest.raises(ss.APIConnectionError) as caught:
            await sudo.router.create_streaming(messages=MESSAGES, model="m", retries=FAST_RETRIES)
        assert not isinstance(caught.value, ss.APITimeoutError)
        assert time.monotonic() - started < 3
        assert KEY not in str(caught.value)
        async with testing.FakeSudoServer(port=port) as server:
            await healthy(server, sudo, reuse=None)
        assert await settle(lambda: server.stats.open_connections == 0)


# -- every split point ----------------------------------------------------------------------

SPLIT_BODY = (
    'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Grüße "}}]}\r\n\r\n'
    ': a comment\r\n'
    'data: {"choices":[{"index":0,"delta":{"content":"€ 😀"},\r\n'
    'data: "finish_reason":null}]}\r\n\r\n'
    'data: {"choices":[{"index":0,"delta":{"content":" 漢字"},"finish_reason":"stop"}]}\r\r'
).encode()
SPLIT_TEXT = "Grüße € 😀 漢字"


async def test_every_split_point(server: testing.FakeSudoServer) -> None:
    """The events cut at every byte (inside UTF-8 characters, between CR and LF): one copy
    of them per cut, each copy in two HTTP chunks, all in one stream."""
    pieces: list[testing.StreamItem] = []
    for cut in range(1, len(SPLIT_BODY)):
        pieces += [SPLIT_BODY[:cut], SPLIT_BODY[cut:]]
    server.enqueue(testing.Stream(pieces))
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url, timeout=FAST, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            final = await stream.final_completion()
        assert final.choices[0].message.content == SPLIT_TEXT * (len(SPLIT_BODY) - 1)
        assert stream.statistics().events == 3 * (len(SPLIT_BODY) - 1)
        await healthy(server, sudo, reuse=True)


# -- bounds ---------------------------------------------------------------------------------


async def test_the_parser_bounds_a_lone_event() -> None:
    from sudo_stream.sse import SSEError, SSEParser

    parser = SSEParser(max_event_size=100)
    assert parser.feed(b"data: " + b"x" * 93 + b"\n\n")[0].data == "x" * 93  # 100 bytes: fits
    with pytest.raises(SSEError, match="max_event_size=100"):
        SSEParser(max_event_size=100).feed(b"data: " + b"x" * 94 + b"\n\n")


async def test_max_response_size_bounds_a_stream(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Endless())
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST, max_response_size=200_000) as sudo:
        with anyio.fail_after(10):
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                with pytest.raises(ss.StreamError, match="max_response_size=200000") as caught:
                    await stream.final_completion()
        assert caught.value.partial is not None
        assert 150_000 < stream.statistics().bytes_received <= 200_000 + 64 * 1024
        await healthy(server, sudo, reuse=False)


@pytest.fixture(scope="session")
def bombs() -> dict[str, bytes]:
    """A compression bomb in every coding, built once and not on an event loop."""
    return {coding: codings.bomb(coding, data(CHUNKS[0])) for coding in codings.CODINGS}


def traced_peak(peaks: list[int]) -> contextlib.AbstractContextManager[None]:
    """Trace allocations inside the block; append the peak to ``peaks``."""

    @contextlib.contextmanager
    def trace() -> Iterator[None]:
        tracemalloc.start()
        try:
            yield
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()

    return trace()


@pytest.mark.parametrize("coding", codings.CODINGS)
async def test_a_compression_bomb_is_cut_without_inflating_it(
    server: testing.FakeSudoServer, bombs: dict[str, bytes], coding: str
) -> None:
    """16 MiB of keep-alive comments compressed to at most ~32 KiB: the client stops at
    its limit without ever holding more than a step of decoded bytes, in a stream, in a
    non-streaming answer and in an error body."""
    bomb = bombs[coding]
    assert len(bomb) < 64 << 10
    encoded = [("content-encoding", coding)]
    server.enqueue(
        testing.Stream([bomb], headers=encoded, done=False),
        testing.Stream([bomb], headers=encoded, done=False),
        testing.Error(400, body=bomb, headers=encoded),
    )
    peaks: list[int] = []
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST, max_response_size=256 << 10) as sudo:
        with traced_peak(peaks), pytest.raises(ss.StreamError, match="max_response_size"):
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                await stream.final_completion()
        # A non-streaming answer is bounded the same way, and not retried.
        with traced_peak(peaks), pytest.raises(ss.APIResponseValidationError, match="max_response_size"):
            await sudo.router.create(messages=MESSAGES, model="m", retries=FAST_RETRIES)
        # An error body is cut at 1 MiB (decoded).
        with traced_peak(peaks), pytest.raises(ss.BadRequestError) as caught:
            await sudo.router.create(messages=MESSAGES, model="m")
        assert len(caught.value.text) == 1 << 20
        assert len(server.requests) == 3
        # The compressed body is small: it may have been read to its end (and its
        # connection kept) by the time the limit is hit.
        await healthy(server, sudo, reuse=None)
    # Far below the 16 MiB the body inflates to (the error body holds 1 MiB as bytes and
    # as text).
    assert max(peaks) < 6 << 20, peaks


async def test_max_response_size_bounds_a_json_answer(server: testing.FakeSudoServer) -> None:
    big = {**COMPLETION, "choices": [{"index": 0, "message": {"role": "assistant", "content": "w" * 200_000}}]}
    server.enqueue(testing.JSON(big))
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST, max_response_size=100_000) as sudo:
        with pytest.raises(ss.APIResponseValidationError, match="max_response_size=100000"):
            await sudo.router.create(messages=MESSAGES, model="m", retries=FAST_RETRIES)
        assert len(server.requests) == 1
        await healthy(server, sudo, reuse=False)


# -- non-streaming calls --------------------------------------------------------------------

COMPLETION = testing.completion_from_chunks(CHUNKS)


@pytest.mark.parametrize(
    ("script", "error", "requests", "call"),
    [
        ([testing.Stall()], ss.APITimeoutError, 1, {"timeout": short(first_event=SHORT)}),
        ([testing.Stall(), testing.JSON(COMPLETION)], None, 2, {"timeout": short(first_event=SHORT), "retries": FAST_RETRIES}),
        ([testing.Drop(reset=True), testing.JSON(COMPLETION)], None, 2, {"retries": FAST_RETRIES}),
        ([testing.Error(503), testing.Error(500), testing.JSON(COMPLETION)], None, 3, {"retries": FAST_RETRIES}),
        ([testing.Error(429, headers=[("Retry-After", "30")])], ss.RateLimitError, 1, {"retries": FAST_RETRIES, "timeout": short(total=1)}),
        ([testing.JSON(b"{not json")], ss.APIResponseValidationError, 1, {"retries": FAST_RETRIES}),
        ([testing.JSON(COMPLETION, status=307, headers=[("Location", "http://127.0.0.1:9/")])], ss.APIStatusError, 1, {"retries": FAST_RETRIES}),
        ([testing.JSON(COMPLETION, status=302, headers=[("Location", "http://127.0.0.1:9/")])], ss.APIStatusError, 1, {"retries": FAST_RETRIES}),
    ],
    ids=["stall", "stall-retried", "reset-retried", "5xx-retried", "429-past-total", "bad-json", "307", "302"],
)
async def test_create_faults(
    server: testing.FakeSudoServer,
    script: list[testing.ScriptedResponse],
    error: type[ss.SudoError] | None,
    requests: int,
    call: dict[str, Any],
) -> None:
    server.enqueue(*script)
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url, timeout=FAST, retries=0) as sudo:
        started = time.monotonic()
        with anyio.fail_after(10):
            if error is None:
                result = await sudo.router.create(messages=MESSAGES, model="m", **call)
                assert result.choices[0].message.content == ANSWER
            else:
                with pytest.raises(error):
                    await sudo.router.create(messages=MESSAGES, model="m", **call)
        assert time.monotonic() - started < 2.5
        assert len(server.requests) == requests
        await healthy(server, sudo, reuse=None)


# -- a borrowed http_client: reads bounded by a cancel scope instead of deadlines ----------


@pytest.mark.parametrize(
    "name",
    ["stall before headers", "stall mid-stream", "endless stream, total", "drop mid-stream",
     "gzip, dribbled", "data after [DONE]"],
)
async def test_fault_with_a_borrowed_client(server: testing.FakeSudoServer, name: str) -> None:
    # httpx loads its CA bundle when a client is made: not on the event loop.
    http = await anyio.to_thread.run_sync(httpx.AsyncClient)
    async with http:
        sudo = ss.AsyncSudo(api_key=KEY, server_url=server.url, timeout=FAST, retries=0, http_client=http)
        assert not sudo._transport.deadline_reads
        await run_fault(server, sudo, FAULTS[name], pool=http)
        await sudo.aclose()
        assert not http.is_closed  # borrowed: left open
    assert await settle(lambda: server.stats.open_connections == 0, 5)
