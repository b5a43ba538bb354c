"""Per-stream read deadlines that cost nothing per event.

httpcore already wraps every socket read in a timeout scope, but with one value fixed when
the body starts, so it cannot tell ``first_event`` from ``idle``. Our connections go through
:class:`DeadlineBackend`, whose streams take the timeout of each socket read from the
:class:`Deadline` that the reading task has set in :data:`read_deadline`. A stream moves its
deadline only when the parser yields events, so keep-alive comments do not extend it, and no
extra cancel scope is entered per event.
"""

from __future__ import annotations

import time
import typing
from contextvars import ContextVar

import httpcore


class Deadline:
    """A moving absolute deadline (``time.monotonic`` seconds) and the name of its bound."""

    __slots__ = ("at", "bound", "seconds")

    def __init__(self, at: float, bound: str, seconds: float | None) -> None:
        self.at = at
        self.bound = bound
        self.seconds = seconds

    def remaining(self) -> float:
        """Seconds left, never negative (zero means: already expired)."""
        return max(self.at - time.monotonic(), 0.0)


read_deadline: ContextVar[Deadline | None] = ContextVar("sudo_stream_read_deadline", default=None)


class DeadlineStream(httpcore.AsyncNetworkStream):
    """A network stream whose reads honour the reading task's :class:`Deadline`."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = read_deadline.get()
        if deadline is not None:
            timeout = deadline.remaining()
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.AsyncNetworkBackend):
    """Wraps httpcore's backend so that every connection is a :class:`DeadlineStream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return DeadlineStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return DeadlineStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
