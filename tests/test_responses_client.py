"""The Responses API through the client, over real sockets on asyncio and trio:
``sudo.responses.create`` and ``create_streaming`` against the fake server and against the
recorded-shape streams of ``tests/data/responses`` sent byte for byte in pieces; failed,
cut and stalled streams; leaving early; retries; the blocking facade and the seed's names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import AsyncSudo, StreamError, Sudo, testing
from sudo_stream.models.response_events import (
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
)
from sudo_stream.models.responses import ReasoningItem, UnknownItem, convert_response

from .helpers import wait_until_no_connections, wait_until_released

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "responses"
PATH = "/v1/responses"
NAMES = sorted(path.name.removesuffix(".sse") for path in DATA.glob("*.sse"))


def recorded(name: str) -> tuple[bytes, dict[str, Any]]:
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    return (DATA / f"{name}.sse").read_bytes(), expected


def raw_stream(body: bytes, piece_size: int | None) -> testing.Stream:
    return testing.Stream([body], piece_size=piece_size, done=False)


def quick_retries(count: int) -> ss.RetryConfig:
    backoff = ss.BackoffStrategy(
        initial_interval=1, max_interval=1, exponent=1, max_elapsed_time=60_000
    )
    return ss.RetryConfig(max_retries=count, backoff=backoff)


def sudo_for(server: testing.FakeSudoServer, **options: Any) -> AsyncSudo:
    return AsyncSudo(api_key="k", server_url=server.url, **options)


async def test_create_returns_the_response(server: testing.FakeSudoServer) -> None:
    async with sudo_for(server) as sudo:
        response = await sudo.responses.create(
            model="gpt-4o", input="Hi", instructions="Be brief.", max_output_tokens=200
        )
    assert response.status == "completed"
    assert response.output_text == testing.DEFAULT_REPLY
    sent = server.requests[-1]
    assert sent.path == PATH
    assert sent.json() == {
        "model": "gpt-4o", "input": "Hi", "instructions": "Be brief.",
        "max_output_tokens": 200, "stream": False,
    }  # fmt: skip


async def test_create_keeps_an_unknown_output_item(server: testing.FakeSudoServer) -> None:
    _, expected = recorded("text")
    body = dict(expected["final"])
    body["output"] = [{"type": "web_search_call", "id": "ws_1", "status": "completed"}, *body["output"]]
    server.enqueue(testing.JSON(body), path=PATH)
    async with sudo_for(server) as sudo:
        response = await sudo.responses.create(model="m", input="Hi")
    assert isinstance(response.output[0], UnknownItem) and response.output[0].type == "web_search_call"
    assert response.output_text == expected["output_text"]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"input": 5}, "input must be a string or a list"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "bogus": 1}, "unexpected keyword argument 'bogus'"),
        ({"input": "x", "stream": True}, "use create_streaming"),
    ],
)
async def test_bad_arguments_are_refused_before_sending(
    server: testing.FakeSudoServer, arguments: dict[str, Any], problem: str
) -> None:
    async with sudo_for(server) as sudo:
        with pytest.raises((TypeError, ValueError), match=problem):
            await sudo.responses.create(model="m", **arguments)
        streaming = {**arguments, "stream": not arguments.get("stream", False)}
        expected = "use create\\(\\)" if "stream" in arguments else problem
        with pytest.raises((TypeError, ValueError), match=expected):
            sudo.responses.create_streaming(model="m", **streaming)
    assert server.requests == []


async def test_a_stream_from_the_fake_server(server: testing.FakeSudoServer) -> None:
    async with sudo_for(server) as sudo:
        async with sudo.responses.create_streaming(
            model="o3", input="Why stream?", reasoning={"effort": "low", "summary": "auto"}
        ) as stream:
            assert isinstance(stream, ss.ResponseStream)
            events = [event async for event in stream]
            final = await stream.final_response()
            assert stream.statistics().events == len(events)
    assert isinstance(events[0], ResponseCreatedEvent)
    assert isinstance(events[-1], ResponseCompletedEvent)
    deltas = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert deltas == final.output_text == testing.DEFAULT_REPLY
    assert isinstance(final.output[0], ReasoningItem)
    assert server.requests[-1].json()["stream"] is True


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("piece_size", [None, 7, 61])
async def test_recorded_streams_in_pieces(
    server: testing.FakeSudoServer, name: str, piece_size: int | None
) -> None:
    body, expected = recorded(name)
    server.enqueue(raw_stream(body, piece_size), path=PATH)
    async with sudo_for(server, retries=0) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            if expected["error"] is not None:
                with pytest.raises(StreamError) as caught:
                    await stream.final_response()
                assert caught.value.error is not None
                assert caught.value.error.code == expected["error"]["code"]
                partial = caught.value.partial_response
                assert partial is not None
                if expected["output_text"]:
                    assert partial.output_text == expected["output_text"]
                assert stream.closed
                return
            text = "".join([delta async for delta in stream.text()])
            final = await stream.final_response()
    assert final == convert_response(expected["final"])
    assert final.output_text == expected["output_text"]
    assert text == "".join(
        e["delta"] for e in _events(body) if e["type"] == "response.output_text.delta"
    )


def _events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[len(b"data: ") :])
        for line in body.splitlines()
        if line.startswith(b"data: ")
    ]


async def test_a_stream_cut_before_its_terminal_event_is_an_error_with_what_came(
    server: testing.FakeSudoServer,
) -> None:
    body, expected = recorded("text")
    cut = body[: body.index(b"event: response.output_text.done")]
    server.enqueue(raw_stream(cut, 50), path=PATH)
    async with sudo_for(server) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            with pytest.raises(StreamError, match="ended before") as caught:
                await stream.final_response()
    partial = caught.value.partial_response
    assert partial is not None and partial.output_text == expected["output_text"]
    assert caught.value.partial is None  # a chat completion's place: not this stream's


async def test_a_connection_dropped_mid_stream_is_a_stream_error(
    server: testing.FakeSudoServer,
) -> None:
    events = testing.response_events("one two three four five six", fragment_size=4)
    middle = len(events) // 2
    server.enqueue(
        testing.response_stream([*events[:middle], testing.Drop()]), path=PATH
    )
    async with sudo_for(server) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            with pytest.raises(StreamError) as caught:
                async for _ in stream:
                    pass
    assert caught.value.partial_response is not None
    assert "one two".startswith(caught.value.partial_response.output_text[:3])


async def test_a_stall_mid_stream_is_an_idle_timeout_with_what_came(
    server: testing.FakeSudoServer,
) -> None:
    events = testing.response_events("a b c d e f g h", fragment_size=2)
    server.enqueue(
        testing.response_stream([*events[:6], testing.StallItem()]), path=PATH
    )
    async with sudo_for(server, timeout=ss.Timeout(30, idle=0.3)) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            with pytest.raises(ss.APITimeoutError) as caught:
                async for _ in stream:
                    pass
    assert caught.value.bound == "idle"
    assert caught.value.partial_response is not None


async def test_failures_before_the_first_event_are_retried(
    server: testing.FakeSudoServer,
) -> None:
    server.enqueue(testing.Error(503), testing.Error(429), path=PATH)
    async with sudo_for(server, retries=quick_retries(2)) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            final = await stream.final_response()
    assert final.output_text == testing.DEFAULT_REPLY
    assert len(server.requests) == 3


async def test_an_error_event_first_is_retried_then_reported(
    server: testing.FakeSudoServer,
) -> None:
    error = {"type": "error", "code": "server_error", "message": "try again", "param": None,
             "sequence_number": 0}  # fmt: skip
    server.enqueue(testing.response_stream([error]), path=PATH)
    async with sudo_for(server, retries=quick_retries(1)) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            assert (await stream.final_response()).output_text == testing.DEFAULT_REPLY
        server.enqueue(testing.response_stream([error]), path=PATH)
        with pytest.raises(StreamError, match="try again") as caught:
            await sudo.responses.create_streaming(model="m", input="x", retries=0)
    assert caught.value.error is not None and caught.value.error.code == "server_error"


async def test_leaving_early_releases_the_connection(server: testing.FakeSudoServer) -> None:
    long = " ".join(["word"] * 2000)
    async with sudo_for(server) as sudo:
        for _ in range(3):
            server.enqueue(testing.response_stream(testing.response_events(long)), path=PATH)
            async with sudo.responses.create_streaming(model="m", input="x") as stream:
                async for event in stream:
                    if isinstance(event, ResponseTextDeltaEvent):
                        break
            assert stream.closed
        await wait_until_released(server, sudo)
    await wait_until_no_connections(server)


async def test_cancelling_a_stream_closes_it(server: testing.FakeSudoServer) -> None:
    events = testing.response_events("x y z", fragment_size=1)
    server.enqueue(testing.response_stream([*events[:4], testing.StallItem()]), path=PATH)
    async with sudo_for(server) as sudo:
        with anyio.move_on_after(0.5) as scope:
            async with sudo.responses.create_streaming(model="m", input="x") as stream:
                async for _ in stream:
                    pass
        assert scope.cancelled_caught and stream.closed
    await wait_until_no_connections(server)


async def test_seed_names_and_input_underscore(server: testing.FakeSudoServer) -> None:
    async with sudo_for(server) as sudo:
        plain = await sudo.responses.create_response(model="m", input_="Hi")
        async with sudo.responses.create_streaming_response(model="m", input_="Hi") as stream:
            streamed = await stream.final_response()
        with pytest.raises(TypeError, match="not both"):
            await sudo.responses.create_response(model="m", input="a", input_="b")
    assert plain.output_text == streamed.output_text == testing.DEFAULT_REPLY
    assert [r.json()["input"] for r in server.requests] == ["Hi", "Hi"]


def test_blocking_facade() -> None:
    with testing.serve_in_thread() as server, Sudo(api_key="k", server_url=server.url) as sudo:
        assert sudo.responses.create(model="m", input="Hi").output_text == testing.DEFAULT_REPLY
        with sudo.responses.create_streaming(model="m", input="Hi") as stream:
            text = "".join(stream.text())
            final = stream.final_response()
            assert stream.current_response() == final
        assert stream.closed
        assert text == final.output_text == testing.DEFAULT_REPLY
        events = list(sudo.responses.create_streaming_response(model="m", input_="Hi"))
        assert isinstance(events[-1], ResponseCompletedEvent)
        assert msgspec.json.encode(events[0])  # events encode as they came


async def test_the_first_event_and_total_bounds_hold(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Stall(), path=PATH)  # never answers
    async with sudo_for(server, retries=0, timeout=ss.Timeout(30, first_event=0.2)) as sudo:
        with pytest.raises(ss.APITimeoutError) as caught:
            await sudo.responses.create_streaming(model="m", input="x")
    assert caught.value.bound == "first_event"
    events = testing.response_events("slow " * 50, fragment_size=1)
    server.enqueue(testing.response_stream(events, delay=0.02), path=PATH)
    async with sudo_for(server, retries=0, timeout=ss.Timeout(30, total=0.3)) as sudo:
        async with sudo.responses.create_streaming(model="m", input="x") as stream:
            with pytest.raises(ss.APITimeoutError) as total:
                await stream.final_response()
    assert total.value.bound == "total"
    assert total.value.partial_response is not None
