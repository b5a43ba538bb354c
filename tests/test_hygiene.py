"""Async hygiene: no blocking call in async code, cancellation that works during retries'
back-off sleeps and during close, on asyncio and trio.

Warnings are errors (pyproject's ``filterwarnings = ["error"]``), and pytest's
unraisable-exception plugin turns a ResourceWarning raised at garbage collection (an
unclosed socket, an async generator left suspended) into a failure of the test during which
it was collected, or of the session at its end: checked once with a deliberately leaky
probe, which is not kept here.
"""

from __future__ import annotations

import gc
import time

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES
from .soak import BlockingCallDetector, LeftBehind, pool_connections, settle, watch_loop

pytestmark = pytest.mark.anyio

FAST = ss.Timeout(connect=5, first_event=5, idle=5)
SLOW_RETRY = [testing.Error(429, headers=[("Retry-After", "30")])]


# -- the watchers catch what they are meant to ----------------------------------------------


async def test_the_detector_catches_blocking_calls_on_the_loop_only() -> None:
    with BlockingCallDetector() as detector:
        await anyio.to_thread.run_sync(time.sleep, 0.001)  # a worker thread may block
        assert detector.violations == []
        time.sleep(0.001)  # noqa: ASYNC251 (the point of the test)
        with open(__file__, "rb") as source:  # noqa: ASYNC230
            source.read(1)
    assert len(detector.violations) == 2
    assert "time.sleep" in detector.violations[0] and "open" in detector.violations[1]
    assert time.sleep.__module__ == "time"  # unpatched again


async def test_the_watch_catches_a_stuck_loop() -> None:
    async with watch_loop(0.05) as report:
        await anyio.lowlevel.checkpoint()
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:  # busy: the loop is stuck for 0.2 s
            pass
        await anyio.lowlevel.checkpoint()
    assert report.slow_steps, report


async def test_making_a_client_in_async_code_does_not_block(server: testing.FakeSudoServer) -> None:
    """httpx builds its TLS context (reading the CA bundle, ~20 ms) when a transport is
    made; ours is built in a worker thread at the first TLS handshake instead."""
    with BlockingCallDetector() as detector:
        sudo = ss.AsyncSudo(server_url="https://sudoapp.dev/api")
        local = ss.AsyncSudo(server_url=server.url)
        async with local:
            await local.router.create(messages=MESSAGES, model="m")
        await sudo.aclose()
    assert detector.violations == [], "\n".join(detector.violations)


# -- cancellation ---------------------------------------------------------------------------


@pytest.mark.usefixtures("hygiene")
@pytest.mark.parametrize("kind", ["stream", "create"])
async def test_cancel_during_a_back_off_sleep(server: testing.FakeSudoServer, kind: str) -> None:
    server.enqueue(*SLOW_RETRY)
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            if kind == "stream":
                await sudo.router.create_streaming(messages=MESSAGES, model="m")
            else:
                await sudo.router.create(messages=MESSAGES, model="m")
        assert scope.cancelled_caught
        assert time.monotonic() - started < 2.0
        assert len(server.requests) == 1  # it was sleeping, as asked, when cancelled
        # The 429's connection went back to the pool and serves the next request.
        async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=0) as stream:
            await stream.final_completion()
        assert server.requests[-1].connection == server.requests[0].connection
        assert await settle(lambda: server.stats.open_connections == pool_connections(sudo))
    assert await settle(lambda: server.stats.open_connections == 0)


@pytest.mark.usefixtures("hygiene")
async def test_cancel_with_a_deadline_during_back_off_raises_the_right_error(server: testing.FakeSudoServer) -> None:
    """fail_after turns the cancellation into TimeoutError: nothing swallows it."""
    server.enqueue(*SLOW_RETRY)
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.3):
                await sudo.router.create_streaming(messages=MESSAGES, model="m")


@pytest.mark.usefixtures("hygiene")
@pytest.mark.parametrize(
    "script",
    [
        [testing.Stall()],  # waiting for the headers
        [testing.Stream([testing.StallItem()])],  # waiting for the first event
        [testing.Stream([*testing.text_chunks("a b c")[:2], testing.StallItem()])],  # mid-stream
    ],
    ids=["headers", "first-event", "mid-stream"],
)
async def test_cancel_while_waiting_on_the_server(
    server: testing.FakeSudoServer, script: list[testing.ScriptedResponse]
) -> None:
    server.enqueue(*script)
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        started = time.monotonic()
        stream: ss.ChatStream | None = None
        with anyio.move_on_after(0.3) as scope:
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                await stream.final_completion()
        assert scope.cancelled_caught
        assert time.monotonic() - started < 2.0
        assert stream is None or stream.closed
        assert await settle(lambda: server.stats.open_connections == 0)
        await _works(sudo)


@pytest.mark.usefixtures("hygiene")
async def test_a_late_end_of_body_after_done_does_not_hold_the_caller(server: testing.FakeSudoServer) -> None:
    """[DONE] ends the answer: the rest of the body gets a short grace (not the idle bound),
    then the connection is dropped instead of reused."""
    server.enqueue(testing.Stream([*testing.text_chunks("a b"), "data: [DONE]\n\n", testing.StallItem()], done=False))
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        with anyio.move_on_after(0.8) as scope:  # the tail's old 1 s wait would not fit
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                completion = await stream.final_completion()
        assert not scope.cancelled_caught
        assert completion.choices[0].message.content == "a b" and stream.closed
        assert await settle(lambda: server.stats.open_connections == 0)
        await _works(sudo)


@pytest.mark.usefixtures("hygiene")
async def test_close_works_while_cancelled(server: testing.FakeSudoServer) -> None:
    """Closing is shielded: a stream closed inside an already-cancelled scope is closed."""
    server.enqueue(testing.Endless(interval=0.01), testing.Endless(interval=0.01))
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        stream = await sudo.router.create_streaming(messages=MESSAGES, model="m")
        with anyio.CancelScope() as scope:
            scope.cancel()
            await stream.aclose()
        assert stream.closed
        assert await settle(lambda: server.stats.open_connections == 0)
        # Leaving the block of a stream by cancellation closes it too.
        with anyio.move_on_after(0.2):
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as second:
                async for _ in second:
                    pass
        assert second.closed
        assert await settle(lambda: server.stats.open_connections == 0)
        await _works(sudo)
        # Closing the client while cancelled still closes its pool.
        with anyio.CancelScope() as scope:
            scope.cancel()
            await sudo.aclose()
    assert await settle(lambda: server.stats.open_connections == 0)


@pytest.mark.usefixtures("hygiene")
async def test_a_cancelled_task_group_of_streams_leaks_nothing(server: testing.FakeSudoServer) -> None:
    """Cancellation reaching many streams at once, in every phase (connecting, retrying,
    reading, closing)."""
    server.enqueue(*[testing.Endless(interval=0.005)] * 20, *[testing.Error(503)] * 20)
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        async with anyio.create_task_group() as group:

            async def one() -> None:
                async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                    async for _ in stream:
                        pass

            for _ in range(60):
                group.start_soon(one)
            await anyio.sleep(0.2)
            group.cancel_scope.cancel()
        assert await settle(lambda: server.stats.open_connections == pool_connections(sudo))
        # Scripted responses the cancelled streams never asked for go to throwaway requests.
        while server.pending_responses:
            with anyio.fail_after(5), pytest.raises(ss.SudoError):
                async with sudo.router.create_streaming(
                    messages=MESSAGES, model="m", retries=0, timeout=ss.Timeout(5, total=0.1)
                ) as stream:
                    await stream.final_completion()
        await _works(sudo)
    assert await settle(lambda: server.stats.open_connections == 0)
    # Neither our streams' tasks nor the server's connection tasks are left.
    assert await settle(lambda: not _leftover_tasks()), _leftover_tasks()


def _leftover_tasks() -> list[str]:
    names = [task.name for task in anyio.get_running_tasks()]
    return [name for name in names if name.endswith((".one", "FakeSudoServer._serve", ".watch"))]


async def _works(sudo: ss.AsyncSudo) -> None:
    with anyio.fail_after(10):
        async with sudo.router.create_streaming(messages=MESSAGES, model="m", retries=0) as stream:
            final = await stream.final_completion()
    assert final.choices[0].message.content == testing.DEFAULT_REPLY


async def test_cancel_while_sending_the_body_leaves_nothing_suspended() -> None:
    """A send cancelled while the request body is being written (the server does not read)
    leaves no async generator suspended for the garbage collector (trio warns about those:
    httpx's own request body stream is one)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    prompt = [{"role": "user", "content": "x" * (32 << 20)}]  # more than socket buffers hold

    async def never_read(client: anyio.abc.SocketStream) -> None:
        async with client:
            await anyio.sleep_forever()

    with LeftBehind() as left:
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, never_read)
            async with ss.AsyncSudo(server_url=f"http://127.0.0.1:{port}", timeout=FAST) as sudo:
                with anyio.move_on_after(0.3) as scope:
                    await sudo.router.create(messages=prompt, model="m")
                assert scope.cancelled_caught
            group.cancel_scope.cancel()
        gc.collect()
    assert left.problems == []
