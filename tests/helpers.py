"""Helpers shared by the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

import sudo_stream as ss
from sudo_stream import testing

MESSAGES = [{"role": "user", "content": "hi"}]

# How long a test may see no progress at all before it counts as stuck. A loaded machine,
# or coverage, makes a test slower, never stop; what depends on it bounds no wall time.
STALL = 30.0


async def wait_for_progress(
    remaining: Callable[[], int], what: str | Callable[[], str], *, stall: float = STALL
) -> None:
    """Poll until ``remaining()`` is 0; fail only if it stops going down for ``stall``
    seconds (``what`` names what remains in the failure, or says more about it)."""
    lowest, last_progress = remaining(), anyio.current_time()
    while lowest > 0:
        await anyio.sleep(0.01)
        now, left = anyio.current_time(), remaining()
        if left < lowest:
            lowest, last_progress = left, now
        elif now - last_progress > stall:
            detail = what if isinstance(what, str) else what()
            raise AssertionError(f"stuck for {stall} s with {left} {detail} left")


@asynccontextmanager
async def progress_watchdog(
    done: Callable[[], int], what: str, *, stall: float = STALL
) -> AsyncIterator[None]:
    """Run the block; fail it if ``done()`` stops growing for ``stall`` seconds (a hang),
    however long the whole block takes."""
    stuck: list[str] = []
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            best, last_progress = done(), anyio.current_time()
            while True:
                await anyio.sleep(0.1)
                now, count = anyio.current_time(), done()
                if count > best:
                    best, last_progress = count, now
                elif now - last_progress > stall:
                    stuck.append(f"stuck for {stall} s after {count} {what}")
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
    if stuck:
        raise AssertionError(stuck[0])


async def splice(one: anyio.abc.ByteStream, other: anyio.abc.ByteStream) -> None:
    """Copy bytes both ways between two streams until either side ends (a relay, a tunnel)."""
    async with anyio.create_task_group() as group:

        async def pump(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
            try:
                async for data in source:
                    await sink.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass
            group.cancel_scope.cancel()

        group.start_soon(pump, one, other)
        group.start_soon(pump, other, one)


async def wait_until_no_connections(server: testing.FakeSudoServer, timeout: float = 5.0) -> None:
    """The server notices disconnects on its own task: poll until all are gone."""
    with anyio.fail_after(timeout):
        while server.stats.open_connections:
            await anyio.sleep(0.01)


async def wait_until_released(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo, timeout: float = 5.0
) -> None:
    """No connection is left in use: each one the server still has open is idle in the
    client's pool (a body read to its end leaves its connection fit for reuse)."""
    pool = sudo._transport._client._transport._pool  # type: ignore[attr-defined]
    with anyio.fail_after(timeout):
        while True:
            connections = pool.connections
            idle = [c for c in connections if c.is_idle()]
            if len(idle) == len(connections) == server.stats.open_connections:
                return
            await anyio.sleep(0.01)


def expected_text(chunks: list[dict[str, Any]]) -> str:
    """The concatenated content deltas of choice 0, computed from the raw chunks."""
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices", [])
        if choice.get("index", 0) == 0
    )
