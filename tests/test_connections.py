"""How many connections a client holds: the ``max_connections`` cap and waiting for a turn,
streams dropped without being closed, and running out of file descriptors."""

from __future__ import annotations

import gc
import sys
import textwrap

import anyio
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream._deadline import LazyTLS
from sudo_stream._http import PoolTransport
from sudo_stream._transport import DEFAULT_TLS

from .helpers import MESSAGES, wait_until_no_connections

pytestmark = pytest.mark.anyio

QUICK = ss.Timeout(connect=10, first_event=10, idle=10)


def pool_of(sudo: ss.AsyncSudo):  # type: ignore[no-untyped-def]
    return sudo._transport._client._transport._pool  # type: ignore[attr-defined]


def held_open() -> testing.Stream:
    """A stream that sends its first chunk, then nothing until the client leaves."""
    return testing.Stream([*testing.text_chunks("held")[:2], testing.StallItem(None)])


# -- max_connections ------------------------------------------------------------------


async def test_calls_beyond_max_connections_wait_for_a_connection(
    server: testing.FakeSudoServer,
) -> None:
    async with ss.AsyncSudo(server_url=server.url, max_connections=2, timeout=QUICK) as sudo:
        peak = 0

        async def call(number: int) -> str:
            nonlocal peak
            server.enqueue(testing.Stream(testing.text_chunks(f"reply {number}"), delay=0.002))
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                peak = max(peak, len(pool_of(sudo)._busy))
                return (await stream.final_completion()).choices[0].message.content or ""

        replies: list[str] = []

        async def collect(number: int) -> None:
            replies.append(await call(number))

        async with anyio.create_task_group() as group:
            for number in range(12):
                group.start_soon(collect, number)
    assert len(replies) == 12
    assert peak <= 2
    # a finished response hands its connection to the next in line: no new ones
    assert server.stats.total_connections <= 2


async def test_waiting_for_a_connection_is_bounded_by_connect(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(server_url=server.url, max_connections=1, retries=0) as sudo:
        server.enqueue(held_open())
        held = await sudo.router.create_streaming(messages=MESSAGES, model="m")
        with pytest.raises(ss.APITimeoutError, match="max_connections") as caught:
            await sudo.router.create(messages=MESSAGES, model="m", timeout=ss.Timeout(connect=0.2))
        assert caught.value.bound == "connect"
        await held.aclose()
        # the room the held stream leaves is there for the next call
        assert (await sudo.router.create(messages=MESSAGES, model="m")).choices
        assert pool_of(sudo)._open == 1 and not pool_of(sudo)._waiters


async def test_a_cancelled_waiter_passes_its_turn_on(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(server_url=server.url, max_connections=1, timeout=QUICK) as sudo:
        pool = pool_of(sudo)
        server.enqueue(held_open())
        held = await sudo.router.create_streaming(messages=MESSAGES, model="m")
        results: list[str] = []

        async def later() -> None:
            completion = await sudo.router.create(messages=MESSAGES, model="m")
            results.append(completion.choices[0].message.content or "")

        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as doomed:
                group.start_soon(later)  # first in line ...
                while len(pool._waiters) < 1:
                    await anyio.sleep(0.01)
                doomed.cancel()
            group.cancel_scope.cancel()  # ... and cancelled while waiting
        async with anyio.create_task_group() as group:
            group.start_soon(later)
            while len(pool._waiters) < 1:
                await anyio.sleep(0.01)
            await held.aclose()  # its room goes to the waiter that is still there
        assert results == [testing.DEFAULT_REPLY]
        assert pool._open == 1 and not pool._waiters


async def test_an_idle_connection_to_another_origin_makes_room() -> None:
    transport = PoolTransport(LazyTLS(DEFAULT_TLS.build), max_connections=1)
    async with testing.FakeSudoServer() as one, testing.FakeSudoServer() as two:
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(one.url + "/v1/models")).status_code == 200  # idle, to one
            assert (await client.get(two.url + "/v1/models")).status_code == 200  # no wait
            await wait_until_no_connections(one)  # closed to make room
            assert transport._pool._open == 1
            assert [c.origin.port for c in transport._pool.connections] == [two.port]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_max_connections_must_be_a_positive_int_or_none(value: object) -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ss.AsyncSudo(server_url="http://127.0.0.1:9", max_connections=value)  # type: ignore[arg-type]
    ss.AsyncSudo(server_url="http://127.0.0.1:9", max_connections=None)


# -- streams dropped without being closed ----------------------------------------------


async def test_a_stream_dropped_unclosed_releases_its_connection(
    server: testing.FakeSudoServer,
) -> None:
    async with ss.AsyncSudo(server_url=server.url, max_connections=5, timeout=QUICK) as sudo:
        pool = pool_of(sudo)
        for _ in range(5):
            server.enqueue(testing.Stream(testing.text_chunks("x " * 2000)))
        with pytest.warns(ResourceWarning, match="unclosed <ChatStream open") as caught:
            for _ in range(5):
                stream = await sudo.router.create_streaming(messages=MESSAGES, model="m")
                await stream.__anext__()
                del stream
            gc.collect()
        assert len(caught) == 5, [str(w.message) for w in caught]
        assert pool.connections == [] and pool._open == 0
        await wait_until_no_connections(server)
        # and the five places under max_connections are free again
        for _ in range(5):
            server.enqueue(held_open())
        streams = [await sudo.router.create_streaming(messages=MESSAGES, model="m") for _ in range(5)]
        for stream in streams:
            await stream.aclose()


# -- file descriptors -------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
async def test_running_out_of_file_descriptors_is_a_clear_connection_error(
    server: testing.FakeSudoServer,
) -> None:
    # In a child process whose descriptor limit is a few above what it has open: many
    # streams at once exhaust it, and each call that cannot get a socket says why.
    code = textwrap.dedent(
        f"""
        import os, resource, anyio, sudo_stream as ss

        async def main():
            async with ss.AsyncSudo(server_url={server.url!r}, retries=0) as sudo:
                opened = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
                resource.setrlimit(resource.RLIMIT_NOFILE, (opened + 8, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
                errors = []
                streams = []
                for _ in range(40):
                    try:
                        streams.append(await sudo.router.create_streaming(
                            messages=[{{"role": "user", "content": "hi"}}], model="m"))
                    except ss.APIConnectionError as exc:
                        errors.append(str(exc))
                for stream in streams:
                    await stream.aclose()
                print(len(streams), len(errors))
                print(errors[0] if errors else "")

        anyio.run(main)
        """
    )
    for _ in range(40):
        server.enqueue(held_open())
    result = await anyio.run_process([sys.executable, "-c", code], check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    opened, failed = map(int, out.splitlines()[0].split())
    assert opened >= 1 and failed >= 1 and opened + failed == 40
    assert "out of file descriptors" in out and "max_connections" in out
