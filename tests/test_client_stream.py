"""AsyncSudo streaming over real sockets against sudo_stream.testing, on asyncio and trio."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import anyio
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.models.events import ToolArgumentsDelta, ToolCallDone

from .helpers import (
    MESSAGES,
    expected_text,
    progress_watchdog,
    wait_for_progress,
    wait_until_no_connections,
    wait_until_released,
)

pytestmark = pytest.mark.anyio

FAST = ss.Timeout(connect=2, first_event=2, idle=2)


@pytest.fixture
async def sudo(server: testing.FakeSudoServer) -> AsyncIterator[ss.AsyncSudo]:
    async with ss.AsyncSudo(api_key="sk-test-key-0123456789", server_url=server.url, timeout=FAST) as client:
        yield client


async def test_text_stream_assembles(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("The quick brown fox jumps over the lazy dog", model="gpt-x")
    server.enqueue(testing.Stream(chunks, piece_size=7))
    async with sudo.router.create_streaming(messages=MESSAGES, model="gpt-x") as stream:
        received = [chunk async for chunk in stream]
        final = await stream.final_completion()
    assert len(received) == len(chunks)
    assert final.choices[0].message.content == expected_text(chunks)
    assert final.choices[0].finish_reason == "stop"
    assert final.model == "gpt-x"
    assert final.usage is not None and final.usage.completion_tokens == 9
    assert stream.closed
    stats = stream.statistics()
    assert stats.events == len(chunks) and stats.finished
    assert stats.time_to_first_event is not None and stats.elapsed >= stats.time_to_first_event
    assert stream.request_id and stream.request_id == stream.headers["x-request-id"]


async def test_tool_call_stream_events(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    args = json.dumps({"city": "Paris", "days": [1, 2, 3], "units": "metric"})
    server.enqueue(testing.Stream(testing.tool_call_chunks("get_weather", args, call_id="call_1", fragment_size=3)))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        events = [event async for event in stream.events()]
        final = await stream.final_completion()
    deltas = [e for e in events if isinstance(e, ToolArgumentsDelta)]
    assert "".join(d.delta for d in deltas) == args
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert len(done) == 1
    assert done[0].id == "call_1" and done[0].name == "get_weather"
    assert done[0].parsed == json.loads(args) and done[0].parse_error is None
    calls = final.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name == "get_weather" and calls[0].function.arguments == args
    assert final.choices[0].finish_reason == "tool_calls"


async def test_text_iterator_and_await_form(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Stream(testing.text_chunks("one two three")))
    stream = await sudo.router.create_streaming(messages=MESSAGES, model="m")
    pieces = [piece async for piece in stream.text()]
    assert "".join(pieces) == "one two three"
    assert stream.closed  # reading to the end released the connection


async def test_request_carries_auth_agent_and_extras(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    async with sudo.router.create_streaming(
        messages=MESSAGES,
        model="m",
        temperature=0.5,
        extra_headers={"X-Trace": "abc"},
        extra_query={"debug": "1"},
        extra_body={"max_tokens": 7},
    ) as stream:
        await stream.final_completion()
    request = server.requests[-1]
    assert request.headers["authorization"] == "Bearer sk-test-key-0123456789"
    assert request.headers["user-agent"].startswith("sudo_stream/")
    assert request.headers["x-trace"] == "abc"
    assert ("debug", "1") in request.query
    body = request.json()
    assert body == {"messages": MESSAGES, "model": "m", "stream": True, "temperature": 0.5, "max_tokens": 7}


async def test_error_event_mid_stream_carries_partial(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("partial answer here", include_usage=False)[:3]
    error = {"error": {"message": "upstream overloaded", "type": "server_error"}}
    server.enqueue(testing.Stream([*chunks, error], done=False))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        with pytest.raises(ss.StreamError) as caught:
            async for _ in stream:
                pass
    assert "upstream overloaded" in str(caught.value)
    assert caught.value.error is not None and caught.value.error.type == "server_error"
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "partial answer"
    await wait_until_released(server, sudo)


async def test_undecodable_chunk(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("a b c")
    server.enqueue(testing.Stream([chunks[0], chunks[1], b"data: {not json\n\n", *chunks[2:]]))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        with pytest.raises(ss.StreamError, match="undecodable"):
            await stream.final_completion()


async def test_truncated_stream_is_an_error(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("a b c d e", include_usage=False)
    server.enqueue(testing.Stream(chunks[:-1], done=False))  # no finish reason, no [DONE]
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        with pytest.raises(ss.StreamError, match="without \\[DONE\\]") as caught:
            await stream.final_completion()
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "a b c d e"


async def test_missing_done_with_finish_reason_is_complete(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Stream(testing.text_chunks("all there"), done=False))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        final = await stream.final_completion()
    assert final.choices[0].message.content == "all there"


async def test_data_after_done_is_ignored_and_connection_reused(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("done here")
    server.enqueue(testing.Stream([*chunks, "data: [DONE]\n\n", b'data: {"junk": true}\n\n'], done=False))
    server.enqueue(testing.Stream(testing.text_chunks("second")))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        assert (await stream.final_completion()).choices[0].message.content == "done here"
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        assert (await stream.final_completion()).choices[0].message.content == "second"
    first, second = server.requests[-2:]
    assert first.connection == second.connection  # the pool reused the connection


async def test_wrong_content_type_is_an_error(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.JSON({"hello": "world"}))
    with pytest.raises(ss.APIResponseValidationError, match="text/event-stream"):
        await sudo.router.create_streaming(messages=MESSAGES, model="m")


async def test_stall_before_headers_hits_first_event(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Stall())
    started = time.monotonic()
    with pytest.raises(ss.APITimeoutError) as caught:
        await sudo.router.create_streaming(
            messages=MESSAGES, model="m", retries=0, timeout=ss.Timeout(first_event=0.3, idle=5)
        )
    assert caught.value.bound == "first_event"
    assert 0.25 < time.monotonic() - started < 2.0


async def test_a_streams_deadline_leaves_its_connection_with_it(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # A stream binds its deadline to its connection; the next request on that pooled
    # connection must read with its own bounds, not the finished stream's 30 s idle.
    server.enqueue(testing.Stream(testing.text_chunks("first answer")))
    server.enqueue(testing.Stall())
    async with sudo.router.create_streaming(
        messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=30, idle=30)
    ) as stream:
        connection = stream.response.extensions["network_stream"]
        assert connection.deadline is not None
        await stream.final_completion()
    assert connection.deadline is None
    started = time.monotonic()
    with pytest.raises(ss.APITimeoutError) as caught:
        await sudo.router.create_streaming(
            messages=MESSAGES, model="m", retries=0, timeout=ss.Timeout(first_event=0.3, idle=5)
        )
    assert caught.value.bound == "first_event"
    assert 0.25 < time.monotonic() - started < 2.0
    assert server.stats.total_connections == 1  # the same connection, reused


async def test_stall_mid_stream_hits_idle(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("a b c d")
    server.enqueue(testing.Stream([*chunks[:3], testing.StallItem()]))
    stream = await sudo.router.create_streaming(
        messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=5, idle=0.3)
    )
    async with stream:
        started = time.monotonic()
        with pytest.raises(ss.APITimeoutError) as caught:
            async for _ in stream:
                pass
    assert caught.value.bound == "idle"
    assert 0.25 < time.monotonic() - started < 2.0
    assert caught.value.partial is not None and caught.value.partial.choices[0].message.content == "a b"
    await wait_until_no_connections(server)


async def test_keepalive_comments_do_not_reset_idle(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("a b")
    server.enqueue(testing.Stream([chunks[0], *[": keep-alive\n\n"] * 100, *chunks[1:]], delay=0.05))
    started = time.monotonic()
    with pytest.raises(ss.APITimeoutError) as caught:
        async with sudo.router.create_streaming(
            messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=5, idle=0.5)
        ) as stream:
            await stream.final_completion()
    assert caught.value.bound == "idle"
    assert time.monotonic() - started < 2.5  # 100 comments take 5 s; idle fired long before


async def test_slow_drip_within_idle_completes(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("drip drip")
    server.enqueue(testing.Stream(chunks, piece_size=40, delay=0.002))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        final = await stream.final_completion()
    assert final.choices[0].message.content == "drip drip"


async def test_endless_stream_hits_total(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Endless(interval=0.01))
    started = time.monotonic()
    with pytest.raises(ss.APITimeoutError) as caught:
        async with sudo.router.create_streaming(
            messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=5, idle=5, total=0.5)
        ) as stream:
            async for _ in stream:
                pass
    assert caught.value.bound == "total"
    assert 0.45 < time.monotonic() - started < 2.0
    await wait_until_no_connections(server)


async def test_consumer_time_does_not_count_as_idle(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Stream(testing.text_chunks("slow consumer here")))
    async with sudo.router.create_streaming(
        messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=5, idle=0.2)
    ) as stream:
        async for _ in stream:
            await anyio.sleep(0.05)  # 6 chunks x 0.05 s > idle, but the server was not idle
    assert stream.statistics().finished


async def test_drop_before_response_is_connection_error(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Drop())
    with pytest.raises(ss.APIConnectionError) as caught:
        await sudo.router.create_streaming(messages=MESSAGES, model="m", retries=0)
    assert not isinstance(caught.value, ss.APITimeoutError)


async def test_drop_mid_stream_is_stream_error(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    chunks = testing.text_chunks("a b c d")
    server.enqueue(testing.Stream([*chunks[:3], testing.Drop()]))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        with pytest.raises(ss.StreamError) as caught:
            await stream.final_completion()
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "a b"


async def test_connection_refused(sudo: ss.AsyncSudo) -> None:
    with anyio.fail_after(5):
        async with ss.AsyncSudo(server_url="http://127.0.0.1:9", retries=0) as client:
            with pytest.raises(ss.APIConnectionError):
                await client.router.create_streaming(messages=MESSAGES, model="m")


async def test_retry_after_is_honoured(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Error(429, headers=[("Retry-After", "1")]), testing.Stream(testing.text_chunks("ok")))
    started = time.monotonic()
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        final = await stream.final_completion()
    waited = time.monotonic() - started
    assert final.choices[0].message.content == "ok"
    assert 0.9 < waited < 3.0
    assert len(server.requests) == 2


async def test_server_errors_are_retried(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    fast = ss.RetryConfig(backoff=ss.BackoffStrategy(initial_interval=10, max_interval=20))
    server.enqueue(testing.Error(500), testing.Error(503), testing.Stream(testing.text_chunks("third time")))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=fast) as stream:
        final = await stream.final_completion()
    assert final.choices[0].message.content == "third time"
    assert len(server.requests) == 3


async def test_retries_are_capped(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    fast = ss.RetryConfig(max_retries=1, backoff=ss.BackoffStrategy(initial_interval=10, max_interval=20))
    server.enqueue(testing.Error(500), testing.Error(502), testing.Stream(testing.text_chunks("never")))
    with pytest.raises(ss.InternalServerError) as caught:
        await sudo.router.create_streaming(messages=MESSAGES, model="m", retries=fast)
    assert caught.value.status_code == 502
    assert len(server.requests) == 2


async def test_error_event_first_is_retried(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    fast = ss.RetryConfig(backoff=ss.BackoffStrategy(initial_interval=10, max_interval=20))
    error = {"error": {"message": "provider busy", "type": "overloaded"}}
    server.enqueue(testing.Stream([error], done=False), testing.Stream(testing.text_chunks("recovered")))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=fast) as stream:
        final = await stream.final_completion()
    assert final.choices[0].message.content == "recovered"
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_sent_once(server: testing.FakeSudoServer, sudo: ss.AsyncSudo, status: int) -> None:
    server.enqueue(testing.Error(status, message="nope"))
    with pytest.raises(ss.APIStatusError) as caught:
        await sudo.router.create_streaming(messages=MESSAGES, model="m")
    assert caught.value.status_code == status
    assert "nope" in str(caught.value)
    assert caught.value.request_id is not None
    assert len(server.requests) == 1


async def test_error_classes_by_status(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Error(401), testing.Error(404), testing.Error(429, headers=[("retry-after-ms", "1")]))
    with pytest.raises(ss.AuthenticationError):
        await sudo.router.create(messages=MESSAGES, model="m")
    with pytest.raises(ss.NotFoundError):
        await sudo.router.create(messages=MESSAGES, model="m")
    server.enqueue(testing.Error(429), testing.Error(429))
    with pytest.raises(ss.RateLimitError):
        await sudo.router.create(messages=MESSAGES, model="m", retries=ss.RetryConfig(max_retries=2, max_retry_after=0.01))


async def test_lenient_error_body(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Error(400, body={"error": {"type": "invalid_model", "detail": "no such model"}}))
    with pytest.raises(ss.BadRequestError) as caught:
        await sudo.router.create(messages=MESSAGES, model="m")
    assert caught.value.error is not None and caught.value.error.type == "invalid_model"
    assert "no such model" in str(caught.value)


async def test_leaving_early_closes_the_connection(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(testing.Endless(interval=0.001))
    async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
        async for _ in stream:
            break
    assert stream.closed
    await wait_until_no_connections(server)


async def test_slow_consumer_holds_the_server_back(sudo: ss.AsyncSudo) -> None:
    async with testing.FakeSudoServer(send_buffer_size=16 * 1024) as server:
        chunks = testing.text_chunks("word " * 40_000, include_usage=False)
        total = sum(len(json.dumps(c)) for c in chunks)
        server.enqueue(testing.Stream(chunks, piece_size=4096))
        async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as client:
            async with client.router.create_streaming(messages=MESSAGES, model="m") as stream:
                async for _ in stream:
                    await anyio.sleep(0.5)  # the consumer pauses after the first chunk
                    written = server.stats.bytes_written[-1]
                    break
        assert total > 4_000_000
        assert written < total / 4, (written, total)


@pytest.mark.timeout(900)  # bounded by progress below: under coverage on a loaded machine it is slow
async def test_many_cancelled_streams_leak_nothing(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server_calls = 0

    async def one() -> None:
        nonlocal server_calls
        with anyio.move_on_after(0.0005):
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                async for _ in stream:
                    await anyio.sleep(1)
        server_calls += 1

    limiter = anyio.Semaphore(100)
    tasks_before = len(anyio.get_running_tasks())

    async def limited() -> None:
        async with limiter:
            await one()

    async with progress_watchdog(lambda: server_calls, "streams"), anyio.create_task_group() as group:
        for _ in range(10_000):
            group.start_soon(limited)
    assert server_calls == 10_000
    # A stream whose whole answer was read before its cancellation (a loaded loop is late
    # to cancel) leaves its connection idle in the pool: kept, not leaked. Every connection
    # the server still has open must be one of those, and none may be busy.
    pool = sudo._transport._client._transport._pool  # type: ignore[attr-defined]

    def unsettled() -> int:
        idle = sum(connection.is_idle() for connection in pool.connections)
        busy = len(pool.connections) - idle
        return busy + abs(server.stats.open_connections - idle)

    await wait_for_progress(
        unsettled,
        lambda: f"of {len(pool.connections)} pooled connections busy or not idle as the "
        f"server's {server.stats.open_connections} open ones",
    )
    await sudo.aclose()  # then nothing is left, on either side
    await wait_for_progress(lambda: server.stats.open_connections, "server connections")
    # The server's own connection tasks finish on their own time.
    await wait_for_progress(lambda: len(anyio.get_running_tasks()) - tasks_before, "tasks")
    assert len(anyio.get_running_tasks()) == tasks_before, anyio.get_running_tasks()


async def test_slow_consumer_of_a_slow_server_is_not_idle(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    # Each chunk arrives 50 ms after the previous one, but the consumer takes 0.4 s per
    # chunk: the gaps the server leaves are short, so `idle` must not fire.
    server.enqueue(testing.Stream(testing.text_chunks("a b c", include_usage=False), delay=0.05))
    async with sudo.router.create_streaming(
        messages=MESSAGES, model="m", timeout=ss.Timeout(first_event=5, idle=0.3)
    ) as stream:
        async for _ in stream:
            await anyio.sleep(0.4)
        final = await stream.final_completion()
    assert final.choices[0].message.content == "a b c"
