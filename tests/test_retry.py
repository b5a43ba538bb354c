"""When retries start: never after ``BackoffStrategy.max_elapsed_time``, on asyncio and trio.

The end-to-end tests read when each attempt reached the fake server
(``RecordedRequest.received_at``), which is never earlier than when the client started it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream._retry import call_with_retries

from .helpers import MESSAGES

pytestmark = pytest.mark.anyio

KEY = "sk-retry-key-0123456789"


def policy(*, limit_ms: int, interval_ms: int = 10, retries: int = 5) -> ss.RetryConfig:
    """Back-off sleeps of half to all of ``interval_ms`` (equal jitter), no retry after
    ``limit_ms``."""
    backoff = ss.BackoffStrategy(
        initial_interval=interval_ms,
        max_interval=interval_ms,
        exponent=1,
        max_elapsed_time=limit_ms,
    )
    return ss.RetryConfig(max_retries=retries, backoff=backoff)


async def stream_call(sudo: ss.AsyncSudo, retries: ss.RetryConfig) -> None:
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=retries):
        pass


async def plain_call(sudo: ss.AsyncSudo, retries: ss.RetryConfig) -> None:
    await sudo.router.create(messages=MESSAGES, model="m", retries=retries)


CALLS = pytest.mark.parametrize("call", [stream_call, plain_call], ids=["stream", "plain"])
Call = Callable[[ss.AsyncSudo, ss.RetryConfig], Awaitable[None]]


async def attempt_times(
    server: testing.FakeSudoServer, call: Call, retries: ss.RetryConfig
) -> list[float]:
    """Run ``call`` to its 5xx error; return when each attempt reached the server, in
    seconds from the start of the call."""
    async with ss.AsyncSudo(api_key=KEY, server_url=server.url) as sudo:
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(ss.InternalServerError):
            await call(sudo, retries)
    return [request.received_at - started for request in server.requests]


@CALLS
async def test_a_retry_due_after_the_limit_is_not_made(
    server: testing.FakeSudoServer, call: Call
) -> None:
    # The server asks for 0.4 s between attempts, and no retry may start after 0.7 s: the
    # second attempt starts at about 0.4 s, a third would start at about 0.8 s.
    server.enqueue(*[testing.Error(503, headers=[("retry-after-ms", "400")])] * 4)
    times = await attempt_times(server, call, policy(limit_ms=700))
    assert all(at <= 0.7 for at in times), times
    assert len(times) == 2, times


@CALLS
async def test_no_retry_when_the_shortest_back_off_ends_past_the_limit(
    server: testing.FakeSudoServer, call: Call
) -> None:
    # Each back-off sleep lasts 0.5 to 1 s: past the 0.3 s limit, whatever the jitter draws.
    server.enqueue(*[testing.Error(503)] * 3)
    times = await attempt_times(server, call, policy(limit_ms=300, interval_ms=1000))
    assert len(times) == 1, times


@CALLS
async def test_retries_within_the_limit_are_made(
    server: testing.FakeSudoServer, call: Call
) -> None:
    server.enqueue(*[testing.Error(503)] * 3)
    times = await attempt_times(server, call, policy(limit_ms=60_000, retries=2))
    assert len(times) == 3, times


def hog_the_event_loop(seconds: float) -> None:
    """Block the event loop, as a loaded machine or a busy task does."""
    time.sleep(seconds)


async def test_a_back_off_sleep_that_overruns_the_limit_starts_no_retry() -> None:
    # The back-off (5-10 ms) ends well before the 0.3 s limit, but the event loop is held
    # for 0.5 s while the client sleeps: the retry would start late, so it is not made.
    starts: list[float] = []
    failed = anyio.Event()

    async def attempt() -> Any:
        starts.append(time.monotonic())
        failed.set()
        raise ss.APIConnectionError("refused")

    async def hog() -> None:
        await failed.wait()  # runs once the client awaits its back-off sleep
        hog_the_event_loop(0.5)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(hog)
            started = time.monotonic()
            with pytest.raises(ss.APIConnectionError):
                await call_with_retries(attempt, policy(limit_ms=300))
    assert len(starts) == 1, [at - started for at in starts]

