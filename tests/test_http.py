"""Our httpx transport (sudo_stream._http): error mapping, and a body read straight from
our connection that still behaves like httpx's for everyone else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpcore
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream._http import TRANSPORT_ERRORS, as_httpx_error, core_body

from .helpers import MESSAGES

pytestmark = pytest.mark.anyio

KEY = "sk-test-key-0123456789"


@pytest.mark.parametrize(
    "name",
    [
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ConnectError",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "LocalProtocolError",
        "ProxyError",
        "UnsupportedProtocol",
    ],
)
def test_httpcore_errors_become_the_httpx_error_of_the_same_name(name: str) -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    core_error = getattr(httpcore, name)("boom")
    assert isinstance(core_error, TRANSPORT_ERRORS)
    mapped = as_httpx_error(core_error, request)
    assert type(mapped) is getattr(httpx, name)
    assert str(mapped) == "boom"
    assert mapped.request is request


def test_an_httpx_error_is_left_as_it_is() -> None:
    error = httpx.ReadError("already httpx's")
    assert as_httpx_error(error) is error


async def test_httpx_readers_still_work_on_our_responses(server: testing.FakeSudoServer) -> None:
    # The body is exposed twice: our connection's reader for our streams, and httpx's own
    # readers (errors mapped) for anything else; both read the same bytes.
    server.enqueue(testing.JSON({"hello": "world"}))
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url) as sudo:
        client = sudo._transport._client
        url = server.url + "/v1/chat/completions"
        async with client.stream("POST", url, json={}) as response:
            assert core_body(response) is not None
            assert await response.aread() == b'{"hello":"world"}'
        assert response.is_closed


async def test_a_dropped_connection_mid_body_is_a_stream_error_naming_the_request(
    server: testing.FakeSudoServer,
) -> None:
    chunks = testing.text_chunks("one two three four", include_usage=False)
    server.enqueue(testing.Stream([*chunks[:2], testing.Drop()]))
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url, retries=0) as sudo:
        stream = await sudo.router.create_streaming(messages=MESSAGES, model="m")
        with pytest.raises(ss.StreamError) as caught:
            await stream.final_completion()
    message = str(caught.value)
    assert "POST" in message and "/chat/completions" in message, message
    assert isinstance(caught.value.__cause__, httpcore.RemoteProtocolError | httpcore.ReadError)


async def test_a_connection_the_server_closed_is_not_reused(
    server: testing.FakeSudoServer,
) -> None:
    # A complete answer, after which the server closes the connection while it idles in
    # our pool: the next request must notice (is_readable) and open a new one.
    body = b"".join(
        b"data: " + json.dumps(chunk).encode() + b"\n\n"
        for chunk in testing.text_chunks("first", include_usage=False)
    )
    body += b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    server.enqueue(testing.Raw(head + b"content-length: %d\r\n\r\n" % len(body) + body))
    server.enqueue(testing.Stream(testing.text_chunks("second")))
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            first = await stream.final_completion()
        for _ in range(200):  # until the server has closed its end
            if server.stats.open_connections == 0:
                break
            await anyio.sleep(0.01)
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            second = await stream.final_completion()
    assert first.choices[0].message.content == "first"
    assert second.choices[0].message.content == "second"
    assert server.stats.total_connections == 2


class _BodyThatNeverEnds(httpx.AsyncByteStream):
    """A borrowed transport's body that keeps waiting even once closed (as an HTTP/2
    stream may): one chunk, then nothing, ever."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"data: " + json.dumps(testing.text_chunks("hi")[0]).encode() + b"\n\n"
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        self.closed = True


async def test_closing_a_stream_whose_borrowed_body_never_fails_is_bounded() -> None:
    body = _BodyThatNeverEnds()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        async with ss.AsyncSudo(server_url="http://ours.test", http_client=http) as sudo:
            with anyio.fail_after(5):
                async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                    async for _ in stream:
                        break
    assert stream.closed and body.closed
