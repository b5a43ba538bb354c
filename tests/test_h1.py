"""Our HTTP/1.1 connections (sudo_stream._h1) over real sockets: body framing, keep-alive
and what stops it, protocol faults. A scripted server answers each request with exact
bytes and keeps the connection open unless told otherwise."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx
import pytest

import sudo_stream as ss
from sudo_stream._deadline import LazyTLS
from sudo_stream._h1 import H1Connection
from sudo_stream._http import PoolTransport, core_body
from sudo_stream._transport import DEFAULT_TLS

pytestmark = pytest.mark.anyio


@dataclass
class Answer:
    """The exact bytes of one response; ``close`` ends the connection after them."""

    data: bytes
    close: bool = False


@dataclass
class Seen:
    connection: int
    head: bytes
    body: bytes


@dataclass
class ScriptServer:
    answers: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    url: str = ""

    async def serve(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        buffer = b""
        async with client:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await client.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await client.receive()
                body, buffer = buffer[:length], buffer[length:]
                self.seen.append(Seen(number, head, body))
                answer = self.answers.pop(0)
                await client.send(answer.data)
                if answer.close:
                    return


@pytest.fixture
async def script() -> AsyncIterator[ScriptServer]:
    server = ScriptServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server.url = f"http://127.0.0.1:{port}"
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.serve)
        yield server
        group.cancel_scope.cancel()
    await listener.aclose()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = PoolTransport(LazyTLS(DEFAULT_TLS.build))
    async with httpx.AsyncClient(transport=transport) as http_client:
        yield http_client


def chunked(*parts: bytes, head: bytes = b"HTTP/1.1 200 OK\r\n") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
    return head + b"transfer-encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


def sized(body: bytes, head: bytes = b"HTTP/1.1 200 OK\r\n") -> bytes:
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


async def get(client: httpx.AsyncClient, url: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    response = await client.request(method, url + "/x", **kwargs)  # type: ignore[arg-type]
    return response


# -- bodies and keep-alive ------------------------------------------------------------


async def test_a_chunked_body_is_read_whole_and_its_connection_reused(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    parts = [b"data: %d\n\n" % i for i in range(50)]
    script.answers += [Answer(chunked(*parts)), Answer(chunked(b"again"))]
    assert (await get(client, script.url)).content == b"".join(parts)
    assert (await get(client, script.url)).content == b"again"
    assert script.connections == 1


async def test_the_body_reader_hands_out_a_socket_read_at_a_time(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    # All 500 chunks are written at once: they come out in far fewer pieces than chunks.
    parts = [b"data: %d\n\n" % i for i in range(500)]
    script.answers.append(Answer(chunked(*parts)))
    async with client.stream("GET", script.url + "/x") as response:
        body = core_body(response)
        assert body is not None
        pieces = [piece async for piece in body]
    assert b"".join(pieces) == b"".join(parts)
    assert len(pieces) < 50


async def test_a_content_length_body_is_reused(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers += [Answer(sized(b"x" * 100_000)), Answer(sized(b"second"))]
    assert (await get(client, script.url)).content == b"x" * 100_000
    assert (await get(client, script.url)).content == b"second"
    assert script.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close=True),  # no length: read to close
        Answer(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", close=True),
        Answer(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"),  # 1.0: no keep-alive
        Answer(sized(b"ok") + b"HTTP/1.1 200 OK\r\n"),  # bytes after the body
        # Both lengths: chunked wins, but the framing is suspect (request smuggling).
        Answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 9\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
    ],
    ids=["close-delimited", "connection-close", "http-1.0", "extra-bytes", "both-lengths"],
)
async def test_a_connection_that_cannot_carry_another_request_is_not_reused(
    script: ScriptServer, client: httpx.AsyncClient, answer: Answer
) -> None:
    script.answers += [answer, Answer(sized(b"fresh"))]
    first = await get(client, script.url)
    assert first.content in (b"until the end", b"ok")
    assert (await get(client, script.url)).content == b"fresh"
    assert script.connections == 2


async def test_a_body_left_unread_closes_its_connection(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    script.answers += [Answer(chunked(*[b"x" * 1000] * 200)), Answer(sized(b"fresh"))]
    async with client.stream("GET", script.url + "/x") as response:
        body = core_body(response)
        assert body is not None
        assert await body.__anext__()
    assert (await get(client, script.url)).content == b"fresh"
    assert script.connections == 2


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", b"200 OK"), ("GET", b"204 No Content"), ("GET", b"304 Not Modified")]
)
async def test_answers_without_a_body(
    script: ScriptServer, client: httpx.AsyncClient, method: str, status: bytes
) -> None:
    # The content-length describes the resource, not this answer: nothing to read.
    head = b"HTTP/1.1 " + status + b"\r\ncontent-length: 20\r\n\r\n"
    script.answers += [Answer(head), Answer(sized(b"next"))]
    response = await get(client, script.url, method)
    assert response.content == b""
    assert (await get(client, script.url)).content == b"next"
    assert script.connections == 1


@pytest.mark.parametrize("informational", [b"100 Continue", b"102 Processing", b"103 Early Hints"])
async def test_an_informational_answer_is_skipped(
    script: ScriptServer, client: httpx.AsyncClient, informational: bytes
) -> None:
    head = b"HTTP/1.1 " + informational + b"\r\nlink: </a>; rel=preload\r\n\r\n"
    script.answers.append(Answer(head * 2 + sized(b"real")))
    response = await get(client, script.url)
    assert response.status_code == 200 and response.content == b"real"


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"


@pytest.mark.timeout(30)  # without the fix the loop spins without ever yielding: only this ends it
@pytest.mark.parametrize("asked", [True, False], ids=["upgrade-asked", "unasked"])
async def test_a_switch_of_protocols_is_a_protocol_error_not_a_busy_loop(
    script: ScriptServer, client: httpx.AsyncClient, asked: bool
) -> None:
    # The clients refuse Upgrade headers (test_security); the connection layer must not
    # spin if a request carries one all the same, nor if a server switches unasked.
    script.answers.append(Answer(SWITCH + b"\x00\x00\x12\x04", close=False))
    headers = {"connection": "upgrade", "upgrade": "h2c"} if asked else {}
    with pytest.raises(httpx.RemoteProtocolError, match=r"switched protocols \(HTTP 101\)"):
        await get(client, script.url, headers=headers)
    assert client._transport._pool.connections == []  # type: ignore[attr-defined]


async def test_the_request_is_sent_whole(script: ScriptServer, client: httpx.AsyncClient) -> None:
    big = bytes(range(256)) * 1000  # several write batches
    script.answers += [Answer(sized(b"ok")), Answer(sized(b"ok"))]
    await get(client, script.url, "POST", content=big)
    await get(client, script.url, "POST", json={"a": 1})
    assert script.seen[0].body == big
    assert script.seen[0].head.startswith(b"POST /x HTTP/1.1\r\n")
    assert script.seen[1].body == b'{"a":1}'


# -- faults ---------------------------------------------------------------------------


async def test_a_body_cut_short_is_a_protocol_error(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers.append(Answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", close=True))
    with pytest.raises(httpx.RemoteProtocolError, match="5 bytes short"):
        await get(client, script.url)


async def test_a_chunked_body_cut_short_is_a_protocol_error(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    wire = chunked(b"one", b"two")
    script.answers.append(Answer(wire[: -len(b"0\r\n\r\n")], close=True))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError, match="before its last chunk"):
        async with client.stream("GET", script.url + "/x") as response:
            async for piece in response.aiter_raw():
                received += piece
    assert received == b"onetwo"


async def test_a_malformed_chunk_comes_after_the_data_before_it(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    wire = chunked(b"good").replace(b"0\r\n\r\n", b"zz\r\nbad\r\n0\r\n\r\n")
    script.answers += [Answer(wire), Answer(sized(b"fresh"))]
    received = b""
    with pytest.raises(httpx.RemoteProtocolError, match="malformed chunk-size line b'zz'"):
        async with client.stream("GET", script.url + "/x") as response:
            async for piece in response.aiter_raw():
                received += piece
    assert received == b"good"
    assert (await get(client, script.url)).content == b"fresh"
    assert script.connections == 2  # a broken connection is never reused


async def test_chunk_size_lines_over_the_socket(script: ScriptServer, client: httpx.AsyncClient) -> None:
    # Leading zeros are fine (h11 reads up to 20 digits); a 5,000-byte line in one write
    # is refused as surely as one that trickles in.
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    zeros = head + b"0" * 20 + b"4\r\nfine\r\n" + b"0" * 20 + b"\r\n\r\n"
    long_line = head + b"4;" + b"x" * 5000 + b"\r\nfine\r\n0\r\n\r\n"
    script.answers += [Answer(zeros), Answer(long_line)]
    assert (await get(client, script.url)).content == b"fine"
    with pytest.raises(httpx.RemoteProtocolError, match="longer than 4096 bytes"):
        await get(client, script.url)


async def test_no_answer_at_all_is_a_protocol_error(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers.append(Answer(b"", close=True))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await get(client, script.url)


async def test_a_malformed_head_is_a_protocol_error(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers.append(Answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", close=True))
    with pytest.raises(httpx.RemoteProtocolError):
        await get(client, script.url)


async def test_the_pool_holds_our_connections(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers.append(Answer(sized(b"ok")))
    await get(client, script.url)
    connections = client._transport._pool.connections  # type: ignore[attr-defined]
    assert len(connections) == 1 and isinstance(connections[0], H1Connection)
    assert connections[0].is_idle() and "HTTP/1.1, IDLE" in repr(connections[0])


# -- the pool -------------------------------------------------------------------------


async def test_concurrent_requests_each_get_a_connection_then_share_them(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    # While 20 responses are open, 20 connections; afterwards they are all kept, and
    # the next 20 requests (one after another) reuse the most recent one.
    script.answers += [Answer(sized(b"x")) for _ in range(40)]
    async with anyio.create_task_group() as group:
        responses = []

        async def open_one() -> None:
            responses.append(await client.send(client.build_request("GET", script.url + "/x"), stream=True))

        for _ in range(20):
            group.start_soon(open_one)
    assert script.connections == 20
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert len(pool.connections) == 20 and not any(c.is_idle() for c in pool.connections)
    for response in responses:
        await response.aread()
    assert len(pool.connections) == 20 and all(c.is_idle() for c in pool.connections)
    seen = len(script.seen)
    for _ in range(20):
        await get(client, script.url)
    assert script.connections == 20
    assert len({s.connection for s in script.seen[seen:]}) == 1


async def test_idle_connections_beyond_the_limit_are_closed(script: ScriptServer) -> None:
    transport = PoolTransport(LazyTLS(DEFAULT_TLS.build), max_keepalive_connections=3)
    async with httpx.AsyncClient(transport=transport) as client:
        script.answers += [Answer(sized(b"x")) for _ in range(6)]
        responses = [await client.send(client.build_request("GET", script.url + "/x"), stream=True) for _ in range(6)]
        for response in responses:
            await response.aread()
        assert len(transport._pool.connections) == 3


async def test_an_expired_connection_is_not_reused(script: ScriptServer, client: httpx.AsyncClient) -> None:
    script.answers += [Answer(sized(b"first")), Answer(sized(b"second"))]
    await get(client, script.url)
    (connection,) = client._transport._pool.connections  # type: ignore[attr-defined]
    connection._expire_at = 0.0  # as if its keep-alive time had passed
    assert connection.has_expired()
    assert (await get(client, script.url)).content == b"second"
    assert script.connections == 2
    assert connection.is_closed()


@pytest.mark.parametrize(
    ("hint", "idle_at_most", "reused"),
    [
        (b"timeout=3", 2.0, True),  # kept 2 s (the hint less a second), not our 5
        (b"Timeout=3, max=50", 2.0, True),
        (b'timeout="3"', 2.0, True),
        (b"timeout=1", None, False),  # nothing left after the margin: not kept at all
        (b"timeout=0.5", None, False),
        (b"timeout=30", 5.0, True),  # a longer hint does not stretch ours
        (b"max=0", None, False),  # no more requests on this connection
        (b"timeout=soon, max=x", 5.0, True),  # a malformed hint is no hint
    ],
)
async def test_the_servers_keep_alive_hint_is_honoured_when_shorter(
    script: ScriptServer, client: httpx.AsyncClient, hint: bytes, idle_at_most: float | None, reused: bool
) -> None:
    script.answers += [Answer(sized(b"first", b"HTTP/1.1 200 OK\r\nkeep-alive: " + hint + b"\r\n"))]
    script.answers += [Answer(sized(b"second"))]
    await get(client, script.url)
    pool = client._transport._pool  # type: ignore[attr-defined]
    if idle_at_most is None:
        assert pool.connections == []
    else:
        (connection,) = pool.connections
        assert connection._expire_at - time.monotonic() <= idle_at_most
    assert (await get(client, script.url)).content == b"second"
    assert script.connections == (1 if reused else 2)


async def test_closing_the_pool_closes_busy_connections_too(
    script: ScriptServer, client: httpx.AsyncClient
) -> None:
    script.answers.append(Answer(chunked(*[b"x" * 1000] * 100)))
    response = await client.send(client.build_request("GET", script.url + "/x"), stream=True)
    pool = client._transport._pool  # type: ignore[attr-defined]
    (connection,) = pool.connections
    await pool.aclose()
    assert connection.is_closed() and pool.connections == []
    await response.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await get(client, script.url)


# -- proxies --------------------------------------------------------------------------


async def test_a_proxy_named_by_the_environment_is_used(
    script: ScriptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our connections do not speak to proxies: with one configured, the client uses
    # httpx's own transport, which sends the request to the proxy in absolute form.
    monkeypatch.setenv("HTTP_PROXY", script.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    completion = b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[]}'
    script.answers.append(Answer(sized(completion, head=b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")))
    async with ss.AsyncSudo(api_key="sk-test-0123456789", server_url="http://sudo.invalid/api") as sudo:
        assert sudo._transport.deadline_reads is False
        result = await sudo.router.create(messages=[{"role": "user", "content": "hi"}], model="m", retries=0)
    assert result.id == "c"
    assert script.seen[0].head.startswith(b"POST http://sudo.invalid/api/v1/chat/completions HTTP/1.1")


@pytest.mark.parametrize(
    ("env", "ours"),
    [
        ({}, True),
        ({"HTTPS_PROXY": "http://127.0.0.1:9"}, False),
        ({"ALL_PROXY": "http://127.0.0.1:9"}, False),
        ({"HTTP_PROXY": "http://127.0.0.1:9"}, True),  # for http:// only
        ({"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "sudoapp.dev"}, True),
    ],
)
def test_which_transport_the_environment_gets(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], ours: bool
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sudo = ss.AsyncSudo(api_key="sk-test-0123456789", server_url="https://sudoapp.dev/api")
    assert sudo._transport.deadline_reads is ours
    assert isinstance(sudo._transport._client._transport, PoolTransport) is ours
