"""The fake Sudo server (``sudo_stream.testing``), driven by plain httpx over real sockets."""

from __future__ import annotations

import gzip as gzip_module
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from sudo_stream import testing

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def sse_data(body: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body (enough for the well-formed bodies used here)."""
    return [
        line[len("data: ") :] for line in body.decode().split("\n") if line.startswith("data: ")
    ]


def sse_json(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(data) for data in sse_data(body) if data != "[DONE]"]


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait (3 s at most) until ``predicate()``: the server's counters have no events."""
    with anyio.fail_after(3):
        while not predicate():
            await anyio.sleep(0.005)


async def open_raw(server: testing.FakeSudoServer, body: bytes = b"{}") -> anyio.abc.SocketStream:
    """POST ``body`` to the chat route over a bare socket, for reading the reply by hand.

    (httpx's nested async generators warn on trio when a stream is abandoned midway.)
    """
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    await stream.send(head.encode() + body)
    return stream


async def read_until_closed(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    while True:
        try:
            data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return data


@pytest.fixture
async def server() -> AsyncIterator[testing.FakeSudoServer]:
    async with testing.FakeSudoServer() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
async def client(server: testing.FakeSudoServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        yield http


# --- chunk builders (pure) ------------------------------------------------------------


def test_text_chunks_are_openai_shaped() -> None:
    chunks = testing.text_chunks("Hello big  world ", model="gpt-4o", id="chatcmpl-1")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    assert {c["model"] for c in chunks} == {"gpt-4o"}
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert deltas == ["Hello", " big", "  world "]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert all(c["usage"] is None for c in chunks[:-1])

    pairs = testing.text_chunks("a b c d e", words_per_chunk=2, include_usage=False)
    assert [c["choices"][0]["delta"].get("content") for c in pairs[1:-1]] == ["a b", " c d", " e"]
    assert "usage" not in pairs[-1]
    assert testing.split_words("  lead and trail  ") == ["  lead", " and", " trail  "]
    assert "".join(testing.split_words("x\n\ny z\t")) == "x\n\ny z\t"


def test_reasoning_and_completion_from_chunks() -> None:
    chunks = testing.text_chunks("The answer.", reasoning="Think hard.", model="r1")
    reasoning = [c["choices"][0]["delta"].get("reasoning_content") for c in chunks[1:3]]
    assert reasoning == ["Think", " hard."]
    completion = testing.completion_from_chunks(chunks)
    message = completion["choices"][0]["message"]
    assert message["content"] == "The answer."
    assert message["reasoning_content"] == "Think hard."
    assert completion["model"] == "r1"
    assert completion["object"] == "chat.completion"
    assert completion["usage"]["total_tokens"] == 8 + 4


def test_a_completion_always_has_usage() -> None:
    """The API's document requires usage: chunks without it count a token per piece."""
    for chunks, pieces in (
        (testing.text_chunks("a b c", reasoning="x y", include_usage=False), 5),
        (testing.tool_call_chunks("f", '{"long": 1}', fragment_size=4, include_usage=False), 3),
    ):
        usage = testing.completion_from_chunks(chunks)["usage"]
        assert usage == {"prompt_tokens": 0, "completion_tokens": pieces, "total_tokens": pieces}


def test_stored_completions_and_messages_are_returned_as_the_api_does() -> None:
    from sudo_stream.testing._store import CompletionStore

    store = CompletionStore()
    parts = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "detail": "low", "image_url": "https://x.invalid/i.png"},
        {"type": "input_image", "detail": "auto", "file_id": "file-2"},
        {"type": "input_file", "file_data": "JVBE", "filename": "a.pdf"},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
        {"type": "text", "text": "already OpenAI's"},
    ]
    stored = store.add({"model": "m"}, [{"role": "user", "content": parts}, {"role": "user", "content": "plain"}])
    assert stored["choices"] == [] and isinstance(stored["created"], int) and stored["created"] > 0
    assert stored["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    first, second = store.messages(stored["id"])["data"]
    assert first["content"] is None and first["content_parts"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x.invalid/i.png", "detail": "low"}},
        {"type": "file", "file": {"file_id": "file-2"}},
        {"type": "file", "file": {"file_data": "JVBE", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
        {"type": "text", "text": "already OpenAI's"},
    ]
    assert second == {"id": f"{stored['id']}-1", "role": "user", "content": "plain"}


def test_tool_call_chunks_single_and_several() -> None:
    args = '{"city": "Paris", "unit": "c"}'
    chunks = testing.tool_call_chunks("get_weather", args, call_id="call_1", fragment_size=5)
    head = chunks[0]["choices"][0]["delta"]
    assert head["role"] == "assistant"
    assert head["tool_calls"][0] == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    fragments = [c["choices"][0]["delta"]["tool_calls"][0]["function"] for c in chunks[1:-2]]
    assert all(set(f) == {"arguments"} and len(f["arguments"]) <= 5 for f in fragments)
    assert "".join(f["arguments"] for f in fragments) == args
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"

    several = testing.tool_call_chunks([("a", '{"x": 1}'), ("b", "{}")], include_usage=False)
    calls = testing.completion_from_chunks(several)["choices"][0]["message"]["tool_calls"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", '{"x": 1}'),
        ("b", "{}"),
    ]
    assert calls[0]["id"] != calls[1]["id"]
    with pytest.raises(ValueError):
        testing.tool_call_chunks([("a", "{}"), ("b", "{}")], call_id="same")


# --- chat completions -----------------------------------------------------------------


@pytest.mark.anyio
async def test_default_json_reply_echoes_model(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(CHAT, json={"model": "gpt-4o", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": testing.DEFAULT_REPLY,
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 2
    [request] = server.requests
    assert (request.method, request.path, request.connection) == ("POST", CHAT, 1)
    assert request.json()["model"] == "gpt-4o"
    assert request.headers["content-type"] == "application/json"
    await served(server, 1)
    assert server.stats.bytes_written[0] > len(response.content)


@pytest.mark.anyio
async def test_default_stream_reply(client: httpx.AsyncClient) -> None:
    payload = {"model": "claude-x", "messages": MESSAGES, "stream": True}
    async with client.stream("POST", CHAT, json=payload) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        body = await response.aread()
    assert sse_data(body)[-1] == "[DONE]"
    chunks = sse_json(body)
    assert {c["model"] for c in chunks} == {"claude-x"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == testing.DEFAULT_REPLY
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)

    payload["stream_options"] = {"include_usage": True}
    response = await client.post(CHAT, json=payload)
    usage_chunk = sse_json(response.content)[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] > 0


WEATHER_TOOLS = [
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"enum": ["C", "F"]},
                    "days": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
                "required": ["city", "unit", "days"],
                "additionalProperties": False,
            },
        },
    },
]


@pytest.mark.anyio
async def test_a_request_with_tools_gets_a_call_whose_arguments_fit_the_schema(
    client: httpx.AsyncClient,
) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    payload = {"model": "m", "messages": MESSAGES, "tools": WEATHER_TOOLS, "tool_choice": named}
    body = (await client.post(CHAT, json=payload)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "get_weather"  # the one tool_choice names
    arguments = json.loads(call["function"]["arguments"])
    assert arguments == {"city": "text", "unit": "C", "days": 1}
    assert body["usage"]["completion_tokens"] > 0
    # streamed: the same call in argument fragments, and the first tool without tool_choice
    del payload["tool_choice"]
    chunks = sse_json((await client.post(CHAT, json={**payload, "stream": True})).content)
    assembled = testing.completion_from_chunks(chunks)["choices"][0]
    assert assembled["finish_reason"] == "tool_calls"
    assert [c["function"] for c in assembled["message"]["tool_calls"]] == [
        {"name": "noop", "arguments": "{}"}
    ]


@pytest.mark.anyio
async def test_after_tool_results_the_answer_repeats_them(client: httpx.AsyncClient) -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_9", "content": '{"celsius": 21}'},
    ]
    payload = {"model": "m", "messages": messages, "tools": WEATHER_TOOLS, "stream": True}
    chunks = sse_json((await client.post(CHAT, json=payload)).content)
    assembled = testing.completion_from_chunks(chunks)["choices"][0]
    assert assembled["finish_reason"] == "stop"
    assert assembled["message"]["content"] == 'The tools answered: get_weather said {"celsius": 21}.'


@pytest.mark.anyio
async def test_tool_choice_none_and_a_script_come_before_the_call(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    payload = {"model": "m", "messages": MESSAGES, "tools": WEATHER_TOOLS, "tool_choice": "none"}
    body = (await client.post(CHAT, json=payload)).json()
    assert body["choices"][0]["message"]["content"] == testing.DEFAULT_REPLY
    server.enqueue(testing.JSON(testing.completion_from_chunks(testing.text_chunks("scripted"))))
    del payload["tool_choice"]
    body = (await client.post(CHAT, json=payload)).json()
    assert body["choices"][0]["message"]["content"] == "scripted"  # the script comes first
    unknown = {"type": "function", "function": {"name": "nope"}}  # obeyed, with no arguments
    body = (await client.post(CHAT, json={**payload, "tool_choice": unknown})).json()
    assert body["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "nope",
        "arguments": "{}",
    }


@pytest.mark.anyio
async def test_scripted_stream_in_pieces_with_raw_items(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "hé"}}]}
    items: list[testing.StreamItem] = [
        ": keep-alive\n\n",
        chunk,
        "data: {not json\n\n",
        b"event: ping\ndata: x\n\n",
    ]
    server.enqueue(testing.Stream(items, piece_size=3, delay=0.002))
    async with client.stream("POST", CHAT, json={}) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    body = b"".join(pieces)
    expected = (
        b": keep-alive\n\n"
        + b"data: "
        + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n\n"
        + b"data: {not json\n\nevent: ping\ndata: x\n\ndata: [DONE]\n\n"
    )
    assert body == expected
    assert len(pieces) > 3  # delivered as a slow drip, not at once
    # Headers, then each 3-byte piece framed as its own HTTP chunk ("3\r\n...\r\n").
    assert server.stats.bytes_written[0] > len(body) + (len(body) // 3) * 5
    assert server.pending_responses == 0

    # Without a delay the pieces share socket writes but keep their own HTTP chunks.
    server.enqueue(testing.Stream(items, piece_size=3))
    async with client.stream("POST", CHAT, json={}) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    assert b"".join(pieces) == expected
    assert {len(piece) for piece in pieces[:-1]} == {3}

    server.enqueue(testing.Stream([chunk], done=False, status=201, headers=[("x-extra", "1")]))
    response = await client.post(CHAT, json={})
    assert (response.status_code, response.headers["x-extra"]) == (201, "1")
    assert sse_json(response.content) == [chunk]
    assert not response.content.endswith(b"data: [DONE]\n\n")


@pytest.mark.anyio
async def test_gzip_stream(server: testing.FakeSudoServer, client: httpx.AsyncClient) -> None:
    chunks = testing.text_chunks("compressed words flow by", model="m")
    server.enqueue(
        testing.Stream(chunks, gzip=True), testing.Stream(chunks, gzip=True, piece_size=7)
    )
    for _ in range(2):
        async with client.stream("POST", CHAT, json={}) as response:
            assert response.headers["content-encoding"] == "gzip"
            raw = b"".join([piece async for piece in response.aiter_raw()])
        text = gzip_module.decompress(raw)
        assert sse_json(text) == chunks
    response = await client.post(CHAT, json={})  # default reply after the script
    assert "content-encoding" not in response.headers


@pytest.mark.anyio
async def test_json_and_error_responses(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(
        testing.JSON({"id": "x", "ok": True}, headers=[("x-request-id", "mine")]),
        testing.Error(429, headers=[("Retry-After", "1")]),
        testing.Error(401, message="bad key"),
        testing.Error(503, body={"detail": "custom"}),
        testing.JSON(b"{not json", status=500),
    )
    ok = await client.post(CHAT, json={})
    assert (ok.status_code, ok.json(), ok.headers["x-request-id"]) == (
        200,
        {"id": "x", "ok": True},
        "mine",
    )
    limited = await client.post(CHAT, json={})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert "429" in limited.json()["error"]["message"]
    unauthorized = await client.post(CHAT, json={})
    assert unauthorized.json() == {"error": {"message": "bad key", "type": "authentication_error"}}
    unavailable = await client.post(CHAT, json={})
    assert (unavailable.status_code, unavailable.json()) == (503, {"detail": "custom"})
    broken = await client.post(CHAT, json={})
    assert (broken.status_code, broken.content) == (500, b"{not json")
    ids = {r.headers["x-request-id"] for r in (limited, unauthorized, unavailable, broken)}
    assert len(ids) == 4
    assert testing.error_body(500)["error"]["type"] == "api_error"


# --- faults -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stall_times_out_the_client(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(testing.Stall(), testing.Stall(0.05, after=testing.JSON({"late": True})))
    with pytest.raises(httpx.ReadTimeout):
        await client.post(CHAT, json={}, timeout=0.2)
    await eventually(lambda: server.stats.client_disconnects == 1)
    await eventually(lambda: server.stats.open_connections == 0)
    late = await client.post(CHAT, json={})
    assert late.json() == {"late": True}
    assert server.stats.bytes_written[0] == 0


@pytest.mark.anyio
async def test_drop_before_response(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(testing.Drop())
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(CHAT, json={"model": "m", "messages": []})
    response = await client.post(CHAT, json={"model": "m", "messages": []})
    assert response.status_code == 200
    assert [r.connection for r in server.requests] == [1, 2]
    assert server.stats.bytes_written[0] == 0


@pytest.mark.anyio
async def test_drop_and_stall_mid_body(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    first, second = testing.text_chunks("one two", include_usage=False)[:2]
    server.enqueue(
        testing.Stream([first, testing.Drop(), second]),
        testing.Stream([first, testing.StallItem(), second]),
    )
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", CHAT, json={}) as response:
            assert response.status_code == 200
            async for piece in response.aiter_raw():
                received += piece
    assert sse_json(received) == [first]

    received = b""
    with pytest.raises(httpx.ReadTimeout):
        async with client.stream("POST", CHAT, json={}, timeout=0.3) as response:
            async for piece in response.aiter_raw():
                received += piece
    assert sse_json(received) == [first]
    await eventually(lambda: server.stats.open_connections == 0)
    assert server.stats.client_disconnects == 1  # the stall; the drop was the server's doing
    assert server.stats.requests_served == 0


@pytest.mark.anyio
async def test_endless_stream_closed_by_client(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Endless(interval=0.001))
    async with await open_raw(server) as stream:
        received = b""
        while received.count(b"data: ") < 5:
            received += await stream.receive()
    assert b"HTTP/1.1 200 OK\r\n" in received
    assert b'"delta":{"role":"assistant","content":""}' in received
    assert b'"delta":{"content":"tick "}' in received
    await eventually(lambda: server.stats.client_disconnects == 1)
    await eventually(lambda: server.stats.open_connections == 0)
    assert server.stats.requests_served == 0


@pytest.mark.anyio
async def test_raw_malformed_response(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(testing.Raw(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(CHAT, json={})
    assert server.stats.requests_served == 1


@pytest.mark.anyio
async def test_backpressure_bounds_bytes_written(anyio_backend: str) -> None:
    async with testing.FakeSudoServer(send_buffer_size=16 * 1024) as fake:
        fake.enqueue(testing.Endless())
        async with await open_raw(fake) as stream:
            raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            await stream.receive()
            # The client reads nothing more: the server's writes must come to a halt.
            previous = -1
            with anyio.fail_after(5):
                while fake.stats.bytes_written[0] != previous:
                    previous = fake.stats.bytes_written[0]
                    await anyio.sleep(0.1)
            assert previous < 4 * 1024 * 1024
            await stream.receive()  # reading again lets the server go on
            await eventually(lambda: fake.stats.bytes_written[0] > previous)
        await eventually(lambda: fake.stats.open_connections == 0)
    assert fake.errors == []


@pytest.mark.anyio
async def test_server_exit_cancels_open_connections(anyio_backend: str) -> None:
    async def stalled(http: httpx.AsyncClient, url: str) -> None:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url + CHAT, json={})

    async with httpx.AsyncClient(timeout=5.0) as http, anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            async with testing.FakeSudoServer() as fake:
                fake.enqueue(testing.Endless(interval=0.01), testing.Stall())
                endless = await open_raw(fake)
                await eventually(lambda: len(fake.requests) == 1)
                tg.start_soon(stalled, http, fake.url)
                await eventually(lambda: len(fake.requests) == 2)
                assert fake.stats.open_connections == 2
            assert fake.stats.open_connections == 0
            async with endless:
                assert (await read_until_closed(endless)).startswith(b"HTTP/1.1 200 OK")
    assert fake.errors == []


# --- connections and requests -------------------------------------------------------------


async def served(server: testing.FakeSudoServer, count: int) -> None:
    """The server counts a request once its handler task finishes: let it catch up."""
    with anyio.fail_after(5):
        while server.stats.requests_served < count:
            await anyio.sleep(0.005)


@pytest.mark.anyio
async def test_keep_alive_reuses_one_connection(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(testing.Error(500))
    for stream in (False, True, False, True, False):
        payload = {"model": "m", "messages": MESSAGES, "stream": stream}
        await client.post(CHAT, json=payload)
    await client.get("/system/health")
    assert [r.connection for r in server.requests] == [1] * 6
    await served(server, 6)
    stats = server.stats
    assert (stats.total_connections, stats.open_connections, stats.requests_served) == (1, 1, 6)
    assert len(stats.bytes_written) == 6


@pytest.mark.anyio
async def test_request_recording(server: testing.FakeSudoServer, client: httpx.AsyncClient) -> None:
    await client.get(
        "/v1/chat/completions",
        params={"metadata[k]": "v w", "limit": "2", "model": "a&b"},
        headers={"Authorization": "Bearer nope", "X-Two": "1"},
    )
    [request] = server.requests
    assert request.method == "GET"
    assert request.path == CHAT
    assert request.query == (("metadata[k]", "v w"), ("limit", "2"), ("model", "a&b"))
    assert request.query_params()["model"] == "a&b"
    assert request.headers["authorization"] == "Bearer nope"
    assert ("x-two", "1") in request.header_list
    assert request.body == b""


# --- stored completions ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_stored_completions_list_get_update_delete(client: httpx.AsyncClient) -> None:
    ids = []
    for n, (model, team) in enumerate([("a", "red"), ("b", "blue"), ("a", "blue")]):
        payload = {
            "model": model,
            "messages": [{"role": "user", "content": f"question {n}"}],
            "store": True,
            "stream": n == 1,
            "metadata": {"team": team, "n": str(n)},
        }
        response = await client.post(CHAT, json=payload)
        ids.append(response.json()["id"] if n != 1 else sse_json(response.content)[0]["id"])
    await client.post(CHAT, json={"model": "a", "messages": []})  # not stored

    page = (await client.get(CHAT)).json()
    assert [c["id"] for c in page["data"]] == ids
    assert (page["object"], page["first_id"], page["last_id"], page["has_more"]) == (
        "list",
        ids[0],
        ids[2],
        False,
    )
    stored = page["data"][1]
    assert stored["metadata"] == {"team": "blue", "n": "1"}
    assert stored["choices"][0]["message"]["content"] == testing.DEFAULT_REPLY
    assert stored["usage"]["total_tokens"] > 0

    for order, expected in (("asc", ids), ("desc", ids[::-1])):
        seen, after = [], None
        while True:
            params = {"limit": "1", "order": order, **({"after": after} if after else {})}
            page = (await client.get(CHAT, params=params)).json()
            seen += [c["id"] for c in page["data"]]
            after = page["last_id"]
            if not page["has_more"]:
                break
        assert seen == expected

    by_model = (await client.get(CHAT, params={"model": "a"})).json()
    assert [c["id"] for c in by_model["data"]] == [ids[0], ids[2]]
    by_meta = (await client.get(CHAT, params={"metadata[team]": "blue", "order": "desc"})).json()
    assert [c["id"] for c in by_meta["data"]] == [ids[2], ids[1]]
    both = {"metadata[team]": "blue", "metadata[n]": "2"}
    assert [c["id"] for c in (await client.get(CHAT, params=both)).json()["data"]] == [ids[2]]
    empty = (await client.get(CHAT, params={"model": "zzz"})).json()
    assert empty == {"object": "list", "data": [], "first_id": "", "last_id": "",
                     "has_more": False}  # fmt: skip

    got = (await client.get(f"{CHAT}/{ids[0]}")).json()
    assert got["id"] == ids[0] and got["model"] == "a"
    updated = await client.post(f"{CHAT}/{ids[0]}", json={"metadata": {"team": "green"}})
    assert updated.json()["metadata"] == {"team": "green"}
    assert (await client.get(f"{CHAT}/{ids[0]}")).json()["metadata"] == {"team": "green"}
    deleted = await client.delete(f"{CHAT}/{ids[0]}")
    assert deleted.json() == {"id": ids[0], "object": "chat.completion.deleted", "deleted": True}
    for method in ("GET", "DELETE"):
        missing = await client.request(method, f"{CHAT}/{ids[0]}")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found_error"
    assert (await client.get(CHAT)).json()["first_id"] == ids[1]

    messages = (await client.get(f"{CHAT}/{ids[1]}/messages")).json()
    assert messages["data"] == [{"id": f"{ids[1]}-0", "role": "user", "content": "question 1"}]
    assert (await client.get(f"{CHAT}/nope/messages")).status_code == 404


@pytest.mark.anyio
async def test_seeded_completion_with_reserved_characters_and_message_pages(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    odd = "chat/cmpl?x=1#frag %"
    messages = [{"role": "user", "content": str(n)} for n in range(5)]
    server.store_completion({"id": odd, "model": "m", "choices": []}, messages)
    path = f"{CHAT}/{odd.replace('%', '%25').replace('/', '%2F').replace('?', '%3F')}"
    path = path.replace("#", "%23").replace(" ", "%20")
    got = await client.get(path)
    assert got.status_code == 200
    assert got.json()["id"] == odd and got.json()["metadata"] == {}

    contents, after = [], None
    while True:
        params = {"limit": "2", "order": "desc", **({"after": after} if after else {})}
        page = (await client.get(f"{path}/messages", params=params)).json()
        contents += [m["content"] for m in page["data"]]
        after = page["last_id"]
        if not page["has_more"]:
            break
    assert contents == ["4", "3", "2", "1", "0"]
    assert server.stored_completions[0]["id"] == odd


@pytest.mark.anyio
async def test_scripted_responses_are_stored_when_asked(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    chunks = testing.tool_call_chunks("lookup", '{"q": 1}', id="chatcmpl-tool", model="t")
    server.enqueue(
        testing.Stream(chunks),
        testing.JSON({"id": "chatcmpl-json", "model": "j", "choices": []}),
        testing.Error(500),
    )
    for _ in range(3):
        await client.post(CHAT, json={"model": "x", "messages": MESSAGES, "store": True})
    stored = (await client.get(CHAT)).json()["data"]
    assert [c["id"] for c in stored] == ["chatcmpl-tool", "chatcmpl-json"]
    call = stored[0]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "lookup", "arguments": '{"q": 1}'}


# --- other endpoints, auth, errors -----------------------------------------------------------


@pytest.mark.anyio
async def test_images_models_and_health(client: httpx.AsyncClient) -> None:
    images = await client.post(
        "/v1/images/generations", json={"prompt": "a cat", "model": "dall-e-3", "n": 2}
    )
    body = images.json()
    assert isinstance(body["created"], int)
    assert [set(d) for d in body["data"]] == [{"url", "revised_prompt"}] * 2
    b64 = await client.post(
        "/v1/images/generations",
        json={"prompt": "a cat", "model": "m", "response_format": "b64_json", "size": "256x256"},
    )
    [image] = b64.json()["data"]
    assert image["b64_json"] == testing.TINY_PNG_B64 and b64.json()["size"] == "256x256"
    bad = await client.post("/v1/images/generations", json={"prompt": "x", "model": "m", "n": 11})
    assert bad.status_code == 400

    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == list(testing.DEFAULT_MODELS)
    assert all(m["object"] == "model" and m["owned_by"] for m in models["data"])
    health = await client.get("/system/health")
    assert (health.json(), health.headers["content-type"]) == ({"status": "ok"}, "application/json")


@pytest.mark.anyio
async def test_unknown_route_and_bad_requests(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/v2/nothing")
    assert unknown.status_code == 404 and "Unknown route" in unknown.json()["error"]["message"]
    malformed = await client.post(
        CHAT, content=b"{oops", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["type"] == "invalid_request_error"
    for payload in ({"messages": []}, {"model": "m"}, [1]):
        assert (await client.post(CHAT, json=payload)).status_code == 400
    # more choices than OpenAI allows: refused, not billions of chunks built for it
    too_many = await client.post(CHAT, json={"model": "m", "messages": [], "n": 2**31})
    assert too_many.status_code == 400 and "'n'" in too_many.json()["error"]["message"]
    # what the server would echo or store must have the API's types (no 500, no odd answer)
    for odd in ({"service_tier": 5}, {"messages": [5]}, {"messages": [{"content": "no role"}]},
                {"stream_options": [True]}):  # fmt: skip
        refused = await client.post(CHAT, json={"model": "m", "messages": [], **odd})
        assert refused.status_code == 400, odd
    image = await client.post("/v1/images/generations", json={"prompt": "p", "model": "m", "size": 1024})
    assert image.status_code == 400 and "'size'" in image.json()["error"]["message"]
    for params in ({"limit": "x"}, {"limit": "0"}, {"order": "up"}, {"after": "missing"}):
        assert (await client.get(CHAT, params=params)).status_code == 400


@pytest.mark.anyio
async def test_api_key_is_required_when_set(anyio_backend: str) -> None:
    async with (
        testing.FakeSudoServer(api_key="sk-test") as fake,
        httpx.AsyncClient(base_url=fake.url) as http,
    ):
        fake.enqueue(testing.JSON({"scripted": True}))
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sk-test"}):
            denied = await http.post(CHAT, json={}, headers=headers)
            assert denied.status_code == 401
            assert denied.json()["error"]["type"] == "authentication_error"
        assert fake.pending_responses == 1
        ok = await http.post(CHAT, json={}, headers={"Authorization": "Bearer sk-test"})
        assert ok.json() == {"scripted": True}
    assert fake.errors == []


# --- blocking use and the command line ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_in_thread(backend: str) -> None:
    threads_before = threading.active_count()
    with testing.serve_in_thread(backend=backend) as fake:
        fake.enqueue(testing.Error(429, headers=[("Retry-After", "2")]))
        with httpx.Client(base_url=fake.url) as http:
            assert http.post(CHAT, json={}).headers["retry-after"] == "2"
            reply = http.post(CHAT, json={"model": "sync", "messages": MESSAGES})
            assert reply.json()["model"] == "sync"
            with http.stream(
                "POST", CHAT, json={"model": "s", "messages": [], "stream": True}
            ) as r:
                assert sse_data(r.read())[-1] == "[DONE]"
        port = fake.port
        assert len(fake.requests) == 3
    assert threading.active_count() == threads_before
    assert fake.errors == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX-only")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_command_line_serves_until_interrupted(backend: str) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "sudo_stream.testing", "--port", str(port),
               "--api-key", "k", "--backend", backend]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and url.endswith(f":{port}")
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer k"}) as http:
                assert http.get("/system/health").json() == {"status": "ok"}
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Ctrl-C" in stderr
