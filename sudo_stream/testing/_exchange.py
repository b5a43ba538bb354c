"""One request's response on the wire: h11 framing, byte accounting, disconnect detection."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

import anyio
import anyio.abc
import h11

from ._records import ServerState

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class Disconnected(Exception):
    """The client went away while the server was writing to it."""


class Exchange:
    """Writes one response through an h11 connection, counting every byte sent.

    ``state.written[index]`` grows as each write is handed to the socket, so a test can watch
    it live; ``state.served`` counts the response when its last write is.
    ``keep_alive`` turns false when the connection must be closed afterwards (a drop, a raw
    response, a response cut short); ``completed`` is true once the response was fully sent.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, conn: h11.Connection, state: ServerState, index: int
    ) -> None:
        self._stream = stream
        self._conn = conn
        self._state = state
        self._index = index
        self.keep_alive = True
        self.completed = False
        self.disconnected = False
        self._chunked = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the status line and headers."""
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        response = h11.Response(status_code=status, headers=encoded, reason=reason)
        data = self._conn.send(response) or b""
        self._chunked = b"\r\ntransfer-encoding: chunked\r\n" in data.lower()
        await self._send(data)

    async def body(self, data: bytes) -> None:
        """Send a piece of the body (one HTTP chunk when the body is chunked)."""
        if data:
            await self._send(self._conn.send(h11.Data(data=data)) or b"")

    async def body_batch(self, pieces: Sequence[bytes]) -> None:
        """Send several pieces of the body in one socket write, each still its own HTTP chunk.

        The chunk framing is done here rather than by h11: it is the fake server's hot loop.
        """
        if self._chunked:
            data = b"".join([b"%x\r\n%b\r\n" % (len(piece), piece) for piece in pieces if piece])
        else:
            data = b"".join([self._conn.send(h11.Data(data=piece)) or b"" for piece in pieces])
        if data:
            await self._send(data)

    async def end(self) -> None:
        """Finish the response (the zero-length chunk when chunked)."""
        await self._send(self._conn.send(h11.EndOfMessage()) or b"", last=True)

    async def raw(self, data: bytes) -> None:
        """Send ``data`` outside h11's framing; the connection is closed afterwards."""
        self.keep_alive = False
        await self._send(data, last=True)

    def drop(self, *, reset: bool = False) -> None:
        """Give up on this response: the connection is closed without another byte
        (with ``reset``, by a TCP RST: unsent data is discarded)."""
        self.keep_alive = False
        if reset:
            raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
            with contextlib.suppress(OSError):  # the client left first: the loop closed it
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def watched(self, play: Callable[[], Awaitable[None]]) -> None:
        """Run ``play`` while watching the socket; stop it as soon as the client leaves.

        Data the client sends meanwhile is handed to h11 (a pipelined request). A response
        cut short this way leaves ``disconnected`` true and the connection to be closed.
        """
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await self._wait_disconnect()
                self.disconnected = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            try:
                await play()
            except Disconnected:
                self.disconnected = True
            tg.cancel_scope.cancel()
        if self.disconnected:
            self.keep_alive = False

    async def _wait_disconnect(self) -> None:
        while True:
            try:
                data = await self._stream.receive()
            except _GONE:
                return
            self._conn.receive_data(data)

    async def _send(self, data: bytes, *, last: bool = False) -> None:
        self._state.written[self._index] += len(data)
        if last:
            self.completed = True
            self._state.served += 1
        try:
            await self._stream.send(data)
        except _GONE as exc:
            if last:
                self.completed = False
                self._state.served -= 1
            self.disconnected = True
            self.keep_alive = False
            raise Disconnected from exc
