"""HTTP/1.1 connections, and the pool that keeps them alive, reading response bodies with
our framing decoders (:mod:`sudo_stream._framing`) instead of h11's per-chunk events.

A connection sends its request and reads the response head with h11, as httpcore's own
HTTP/1.1 connection does. The body is then read in socket-sized pieces: each read (up to
16 KiB, a slice of work short enough that thousands of streams sharing a loop each get
their turn soon) goes through one framer call and comes out as one piece of body bytes,
where h11 and httpcore's async generators make one event and one piece per HTTP chunk.
For an SSE stream, whose server flushes an HTTP chunk per event, that is most of the
transport's cost per event gone (see benchmarks/README.md).

:class:`ConnectionPool` hands a request the most recently idled connection to its origin
that is still good, or opens a new one: a stream never waits for another to end, and
taking or returning a connection costs the same with ten or ten thousand open (httpcore's
pool scans every connection for every idle one each time a request starts or ends).
Sockets come from an httpcore network backend (ours: :mod:`sudo_stream._socket`, which
reads only when the reading task runs, with the read deadlines); errors are httpcore's
(``RemoteProtocolError``, ``ReadError``, ...), mapped by the transport as before.
"""

from __future__ import annotations

import enum
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import AsyncIterable

import anyio
import h11
import httpcore

from ._framing import ChunkedBody, CloseDelimitedBody, FramingError, LengthBody

__all__ = ["BODY_EXTENSION", "ConnectionPool", "H1Connection", "ResponseBody"]

logger = logging.getLogger("sudo_stream.http")
"""Connections opened and closed, requests and status lines, at DEBUG (never headers)."""

BODY_EXTENSION = "sudo_stream.body"
"""The response extension holding the :class:`ResponseBody`, to read it directly."""

_READ_SIZE = 16 * 1024
_WRITE_BATCH = 64 * 1024  # request bytes gathered into one write
_MAX_HEAD = 100 * 1024  # httpcore's limit on a response head
_KEEPALIVE_MARGIN = 1.0  # seconds: an idle connection is dropped this long before the
# server said it would close it (a request sent just as it closes is lost and retried)
_SWITCHED = "the server switched protocols (HTTP 101), which this client never asks for"

_Framer = ChunkedBody | LengthBody | CloseDelimitedBody


class _State(enum.Enum):
    NEW = "new"
    ACTIVE = "active"
    IDLE = "idle"
    CLOSED = "closed"


_OriginKey = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _OriginKey:
    return origin.scheme, origin.host, origin.port  # Origin itself is not hashable


class _Waiter:
    """A request waiting for a connection while ``max_connections`` are open: woken with
    an idle connection to its origin handed over, or with room for a new one."""

    __slots__ = ("connection", "event", "key", "room")

    def __init__(self, key: _OriginKey) -> None:
        self.key = key
        self.event = anyio.Event()
        self.connection: H1Connection | None = None
        self.room = False

    @property
    def served(self) -> bool:
        return self.room or self.connection is not None


class ConnectionPool:
    """Keep-alive connections by origin, at most ``max_idle`` of them idle and at most
    ``max_connections`` open at a time (``None``: no limit).

    A request beyond the limit waits, in turn, up to its ``pool`` timeout: for a
    connection to its origin that a finished response hands over, or for room that a
    closed one leaves. An idle connection to another origin is closed to make room.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore.AsyncNetworkBackend,
        max_idle: int,
        keepalive_expiry: float,
        max_connections: int | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._network_backend = network_backend
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._max_open = max_connections
        self._idle: dict[_OriginKey, deque[H1Connection]] = {}
        self._idle_count = 0
        self._busy: set[H1Connection] = set()
        self._open = 0  # connections counted against max_connections: busy, idle, handed over
        self._waiters: deque[_Waiter] = deque()
        self._forgotten: deque[H1Connection] = deque()  # by finalisers on other threads
        self._thread: int | None = None  # the event loop's
        self._closed = False

    @property
    def connections(self) -> list[H1Connection]:
        """Every open connection: those serving a request, then the idle ones."""
        return [*self._busy, *(c for idle in self._idle.values() for c in idle)]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on a kept-alive or new connection; the response's body owns
        the connection until it is closed."""
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        origin = request.url.origin
        if origin.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(f"unsupported scheme {origin.scheme.decode()!r}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        self._thread = threading.get_ident()
        self._settle_forgotten()
        connection = await self._acquire(origin, timeouts.get("pool"))
        self._busy.add(connection)
        try:
            return await connection.handle_async_request(request)
        except BaseException:
            self._busy.discard(connection)  # it has closed itself
            self._vacate()
            raise

    async def _acquire(self, origin: httpcore.Origin, wait: float | None) -> H1Connection:
        """An idle connection to ``origin``, or a new one once there is room for it."""
        connection = await self._take_idle(origin)
        if connection is not None:
            return connection
        if self._max_open is None or self._open < self._max_open:
            self._open += 1
        elif not await self._close_an_idle_one():  # the room it leaves is ours
            connection = await self._wait_turn(_key(origin), wait)
            if connection is not None:
                return connection
        return H1Connection(
            origin, self._network_backend, self._ssl_context, self._keepalive_expiry, self
        )

    async def _wait_turn(self, key: _OriginKey, wait: float | None) -> H1Connection | None:
        """Wait to be served: a connection handed over, or None for room to open one
        (counted already)."""
        waiter = _Waiter(key)
        self._waiters.append(waiter)
        try:
            with anyio.move_on_after(float("inf") if wait is None else wait):
                await waiter.event.wait()
        except BaseException:  # cancelled: what we were given goes to the next in line
            with anyio.CancelScope(shield=True):
                await self._give_back(waiter)
            raise
        if self._closed:
            if waiter.connection is not None:
                with anyio.CancelScope(shield=True):
                    await waiter.connection.aclose()
            raise RuntimeError("the connection pool is closed")
        if not waiter.served:
            self._waiters.remove(waiter)
            raise httpcore.PoolTimeout(
                f"timed out waiting for a connection: all {self._max_open} that "
                "max_connections allows are in use"
            )
        return waiter.connection

    async def _give_back(self, waiter: _Waiter) -> None:
        if waiter.connection is not None:
            if not self._hand_on(waiter.connection):
                await waiter.connection.aclose()
                self._vacate()
        elif waiter.room:
            self._vacate()
        elif waiter in self._waiters:
            self._waiters.remove(waiter)

    async def _close_an_idle_one(self) -> bool:
        """Close an idle connection (to any origin; the oldest of its origin's) to make
        room; False if there is none."""
        for key, idle in self._idle.items():
            if idle:
                connection = idle.popleft()
                if not idle:
                    del self._idle[key]
                self._idle_count -= 1
                with anyio.CancelScope(shield=True):
                    await connection.aclose()
                return True
        return False

    async def _take_idle(self, origin: httpcore.Origin) -> H1Connection | None:
        idle = self._idle.get(_key(origin))
        stale = []
        found = None
        while idle:
            if idle[0].has_expired():  # the oldest first: what lingers the longest goes
                stale.append(idle.popleft())
                continue
            connection = idle.pop()
            if connection.has_expired():
                stale.append(connection)
                continue
            found = connection
            break
        self._idle_count -= len(stale) + (found is not None)
        if stale:
            with anyio.CancelScope(shield=True):
                for connection in stale:
                    await connection.aclose()
                    self._vacate()
        return found

    async def release(self, connection: H1Connection) -> None:
        """A response closed: keep its connection for the next request, or close it."""
        self._settle_forgotten()
        if connection not in self._busy:
            return  # forgotten already, or the pool was closed
        if connection.is_idle() and (self._closed or not self._hand_on(connection)):
            await connection.aclose()
        if not connection.is_idle():
            self._busy.discard(connection)
            self._vacate()

    def _hand_on(self, connection: H1Connection) -> bool:
        """Give an idle busy ``connection`` to a request waiting for its origin, or keep it
        idle if none waits and there is room; False if it should be closed instead."""
        key = _key(connection.origin)
        for waiter in self._waiters:
            if waiter.key == key:
                self._waiters.remove(waiter)
                self._busy.discard(connection)
                waiter.connection = connection
                waiter.event.set()
                return True
        if self._waiters or self._idle_count >= self._max_idle:
            return False  # others wait for room: closing it makes some
        self._busy.discard(connection)
        self._idle.setdefault(key, deque()).append(connection)
        self._idle_count += 1
        return True

    def _vacate(self) -> None:
        """A counted connection is gone: its room goes to the first waiter, if any."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.room = True
            waiter.event.set()
        else:
            self._open -= 1

    def forget(self, connection: H1Connection) -> None:
        """Drop a busy connection closed without its response being closed (the response
        was garbage collected). Synchronous, for finalisers: on another thread than the
        pool's (the cyclic collector runs wherever it is triggered), the bookkeeping is
        left to the pool's next operation, as waking a waiter is not thread-safe."""
        if threading.get_ident() != self._thread:
            self._forgotten.append(connection)
        elif connection in self._busy:
            self._busy.discard(connection)
            self._vacate()

    def _settle_forgotten(self) -> None:
        while self._forgotten:
            self.forget(self._forgotten.popleft())

    async def aclose(self) -> None:
        """Close every connection, idle or busy."""
        with anyio.CancelScope(shield=True):
            for connection in self._close():
                await connection.aclose()

    def abandon(self) -> int:
        """Close every connection now, without awaiting (for a finaliser: no task waits
        on them); how many were open."""
        connections = self._close()
        for connection in connections:
            connection.abandon()
        return len(connections)

    def _close(self) -> list[H1Connection]:
        """Mark the pool closed and hand over its connections, to be closed."""
        self._closed = True
        connections = self.connections
        self._idle.clear()
        self._busy.clear()
        self._idle_count = 0
        self._open = 0
        for waiter in self._waiters:  # they find the pool closed
            waiter.event.set()
        return connections



class H1Connection:
    """One HTTP/1.1 connection: connects on its first request, then serves one request at
    a time, and is reused only after a body that was read to its framed end. ``release``
    is called when a response is closed."""

    def __init__(
        self,
        origin: httpcore.Origin,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        keepalive_expiry: float | None,
        pool: ConnectionPool,
    ) -> None:
        self.origin = origin
        self._pool = pool
        self._backend = backend
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._idle_for = keepalive_expiry  # this response's: the server may ask for less
        self._stream: httpcore.AsyncNetworkStream | None = None
        self._state = _State.NEW
        self._expire_at: float | None = None
        self._requests = 0

    # -- a request --------------------------------------------------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.origin != self.origin:
            raise RuntimeError(f"a request to {request.url.origin} on a connection to {self.origin}")
        if self._state not in (_State.NEW, _State.IDLE):
            raise RuntimeError(f"{self} is not free for another request")
        self._state, self._expire_at = _State.ACTIVE, None
        self._requests += 1
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        try:
            stream = self._stream
            if stream is None:
                stream = self._stream = await self._connect(request, timeouts.get("connect"))
            protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
            await self._send(protocol, stream, request, timeouts.get("write"))
            head = await self._receive_head(protocol, stream, timeouts.get("read"))
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s on %s: HTTP/%s %d %s", request.method.decode(), request.url.target.decode(),
                    self, head.http_version.decode(), head.status_code, head.reason.decode(errors="replace"),
                )
            framer = _framer(request.method, head)
            self._idle_for = _idle_time(head, self._keepalive_expiry)
            # h11 knows both sides' keep-alive; a body that ends with the connection cannot
            reusable = (
                protocol.our_state is h11.DONE
                and not isinstance(framer, CloseDelimitedBody)
                and not _both_lengths(head)  # RFC 9112 6.3: suspect framing, not reused
                and self._idle_for != 0
            )
            leftover, _ = protocol.trailing_data
            body = ResponseBody(self, stream, framer, leftover, timeouts.get("read"), reusable)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        return httpcore.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            content=body,
            extensions={
                "http_version": b"HTTP/" + head.http_version,
                "reason_phrase": head.reason,
                "network_stream": stream,
                BODY_EXTENSION: body,
            },
        )

    async def _connect(
        self, request: httpcore.Request, connect_timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        host = self.origin.host.decode("ascii")
        logger.debug("connecting to %s", self.origin)
        stream = await self._backend.connect_tcp(host, self.origin.port, timeout=connect_timeout)
        if self.origin.scheme == b"https":
            try:
                sni: str | None = request.extensions.get("sni_hostname")
                stream = await stream.start_tls(self._ssl_context, sni or host, connect_timeout)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                raise
        return stream

    @staticmethod
    async def _send(
        protocol: h11.Connection,
        stream: httpcore.AsyncNetworkStream,
        request: httpcore.Request,
        write_timeout: float | None,
    ) -> None:
        """Write the request, gathering small parts into one write."""
        try:
            head = h11.Request(
                method=request.method, target=request.url.target, headers=request.headers
            )
            out = [protocol.send(head) or b""]
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        size = len(out[0])
        try:
            assert isinstance(request.stream, AsyncIterable)
            async for part in request.stream:
                out.append(protocol.send(h11.Data(data=part)) or b"")
                size += len(part)
                if size >= _WRITE_BATCH:
                    await stream.write(b"".join(out), write_timeout)
                    out, size = [], 0
            out.append(protocol.send(h11.EndOfMessage()) or b"")
            await stream.write(b"".join(out), write_timeout)
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        except httpcore.WriteError:
            # The server may have answered early and closed its side (a 413, say): read
            # that answer rather than fail on the write, as httpcore does.
            pass

    @staticmethod
    async def _receive_head(
        protocol: h11.Connection, stream: httpcore.AsyncNetworkStream, read_timeout: float | None
    ) -> h11.Response:
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                if "_SWITCH_UPGRADE" in str(exc):  # h11's words for an unasked-for 101
                    raise httpcore.RemoteProtocolError(_SWITCHED) from exc
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is h11.NEED_DATA:
                data = await stream.read(_READ_SIZE, read_timeout)
                if not data and protocol.their_state is h11.SEND_RESPONSE:
                    raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                return event
            elif isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                continue  # 100 Continue, 103 Early Hints, ...: the real answer follows
            else:
                # A 101 (h11 then pauses: what follows is another protocol), or anything
                # else that is not an answer: looping on it would never wait for the socket.
                raise httpcore.RemoteProtocolError(_SWITCHED)

    # -- after a response ----------------------------------------------------------------

    async def _response_closed(self, reusable: bool) -> None:
        logger.debug("response closed on %s: %s", self, "kept alive" if reusable else "closing")
        if reusable and self._state is _State.ACTIVE:
            self._state = _State.IDLE
            if self._idle_for is not None:
                self._expire_at = time.monotonic() + self._idle_for
        else:
            await self.aclose()
        await self._pool.release(self)

    def abandon(self) -> None:
        """Close at once, without awaiting: for a response garbage collected unclosed,
        whose task no longer reads from the socket."""
        self._state = _State.CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.close()
        self._pool.forget(self)

    async def aclose(self) -> None:
        self._state = _State.CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    # -- what the pool asks --------------------------------------------------------------

    def has_expired(self) -> bool:
        if self._state is not _State.IDLE:
            return False
        if self._expire_at is not None and time.monotonic() > self._expire_at:
            return True
        # An idle connection with something to read has been closed by the server (or it
        # sent what it should not have): either way it cannot carry another request.
        return self._stream is None or bool(self._stream.get_extra_info("is_readable"))

    def is_idle(self) -> bool:
        return self._state is _State.IDLE

    def is_closed(self) -> bool:
        return self._state is _State.CLOSED

    def __repr__(self) -> str:
        return f"<H1Connection [{str(self.origin)!r}, HTTP/1.1, {self._state.name}, requests: {self._requests}]>"


def _framer(method: bytes, head: h11.Response) -> _Framer:
    """How the body of this response is delimited (RFC 9112 section 6.3; h11 has already
    checked the headers: one Content-Length value, no Transfer-Encoding but chunked)."""
    if method == b"HEAD" or head.status_code in (204, 304):
        return LengthBody(0)
    length = None
    for name, value in head.headers:  # names come lowercased from h11
        if name == b"transfer-encoding":
            return ChunkedBody()
        if name == b"content-length":
            length = int(value)
    return CloseDelimitedBody() if length is None else LengthBody(length)


def _idle_time(head: h11.Response, ours: float | None) -> float | None:
    """How long the connection may stay idle after this response: ours, or less when the
    server's ``Keep-Alive: timeout=N`` hint is shorter (less a margin, so that we stop
    using it before the server closes it); 0 when ``max=0`` says no more requests."""
    for name, value in head.headers:
        if name != b"keep-alive":
            continue
        for param in value.split(b","):
            key, _, number = param.partition(b"=")
            key = key.strip().lower()
            try:
                amount = float(number.strip().strip(b'"'))
            except ValueError:
                continue  # a malformed hint is no hint
            if key == b"timeout" and amount >= 0:
                hinted = max(amount - _KEEPALIVE_MARGIN, 0.0)
                ours = hinted if ours is None else min(ours, hinted)
            elif key == b"max" and amount <= 0:
                return 0.0
    return ours


def _both_lengths(head: h11.Response) -> bool:
    names = {name for name, _ in head.headers}
    return b"transfer-encoding" in names and b"content-length" in names


class ResponseBody:
    """A response body as an async iterator of pieces: one socket read's worth of body
    bytes each. Closing it (``aclose``) hands the connection back, or closes it if the
    body was not read to its end."""

    __slots__ = ("_closed", "_connection", "_framer", "_ready", "_reusable", "_stop", "_stream", "_timeout")

    def __init__(
        self,
        connection: H1Connection,
        stream: httpcore.AsyncNetworkStream,
        framer: _Framer,
        leftover: bytes,
        timeout: float | None,
        reusable: bool,
    ) -> None:
        self._connection = connection
        self._stream = stream
        self._framer = framer
        self._timeout = timeout
        self._reusable = reusable
        self._closed = False
        self._stop: Exception | None = None  # raised by the next read: closed, or broken
        self._ready = self._feed(leftover) if leftover else b""

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        if self._ready:
            piece, self._ready = self._ready, b""
            return piece
        framer = self._framer
        while not framer.done:
            if self._stop is not None:
                raise self._stop
            data = await self._stream.read(_READ_SIZE, self._timeout)
            if not data:
                try:
                    framer.end()
                except FramingError as exc:
                    raise httpcore.RemoteProtocolError(
                        f"peer closed connection without sending complete message body: {exc}"
                    ) from None
                break
            piece = self._feed(data)
            if piece:
                return piece
        raise StopAsyncIteration

    def _feed(self, data: bytes) -> bytes:
        """Body bytes from ``data``; a framing fault is raised after what preceded it."""
        try:
            return self._framer.feed(data)
        except FramingError as exc:
            error = httpcore.RemoteProtocolError(str(exc))
            if not exc.body:
                raise error from None
            self._stop = error
            return exc.body

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop = httpcore.ReadError("the response was closed")
            framer = self._framer
            reusable = self._reusable and framer.done and not framer.extra
            await self._connection._response_closed(reusable)

    def abandon(self) -> bool:
        """Close the connection at once without awaiting (the response was garbage
        collected unclosed). True if it was still open."""
        if self._closed:
            return False
        self._closed = True
        self._stop = httpcore.ReadError("the response was closed")
        self._connection.abandon()
        return True
