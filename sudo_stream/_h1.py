"""HTTP/1.1 connections for httpcore's pool that read response bodies with our framing
decoders (:mod:`sudo_stream._framing`) instead of h11's per-chunk events.

A connection sends its request and reads the response head with h11, as httpcore's own
HTTP/1.1 connection does. The body is then read in socket-sized pieces: each read (up to
64 KiB, the size httpcore reads) goes through one framer call and comes out as one piece
of body bytes, where h11 and httpcore's async generators make one event and one piece per
HTTP chunk. For an SSE stream, whose server flushes an HTTP chunk per event, that is most
of the transport's cost per event gone (see benchmarks/README.md).

Everything else is httpcore's: :class:`H1Pool` is its connection pool (assignment, limits,
keep-alive expiry) with :meth:`H1Pool.create_connection` making our connections, which
implement its ``AsyncConnectionInterface``. Connections come from the pool's network
backend (ours: :class:`~sudo_stream._deadline.DeadlineBackend`), whose streams apply the
read deadlines. Errors are httpcore's (``RemoteProtocolError``, ``ReadError``, ...), so
callers map them as before.
"""

from __future__ import annotations

import enum
import logging
import ssl
import time
from collections.abc import AsyncIterable

import anyio
import h11
import httpcore

from ._framing import ChunkedBody, CloseDelimitedBody, FramingError, LengthBody

__all__ = ["BODY_EXTENSION", "H1Connection", "H1Pool", "ResponseBody"]

logger = logging.getLogger("sudo_stream.http")
"""Connections opened and closed, requests and status lines, at DEBUG (never headers)."""

BODY_EXTENSION = "sudo_stream.body"
"""The response extension holding the :class:`ResponseBody`, to read it directly."""

_READ_SIZE = 64 * 1024
_WRITE_BATCH = 64 * 1024  # request bytes gathered into one write
_MAX_HEAD = 100 * 1024  # httpcore's limit on a response head

_Framer = ChunkedBody | LengthBody | CloseDelimitedBody


class _State(enum.Enum):
    NEW = "new"
    ACTIVE = "active"
    IDLE = "idle"
    CLOSED = "closed"


class H1Pool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, making :class:`H1Connection` connections."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore.AsyncNetworkBackend,
        max_keepalive_connections: int,
        keepalive_expiry: float,
    ) -> None:
        super().__init__(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=network_backend,
        )
        self._connection_settings = (ssl_context, network_backend, keepalive_expiry)

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        ssl_context, backend, keepalive_expiry = self._connection_settings
        return H1Connection(origin, backend, ssl_context, keepalive_expiry)


class H1Connection(httpcore.AsyncConnectionInterface):
    """One HTTP/1.1 connection: connects on its first request, then serves one request at
    a time, and is reused only after a body that was read to its framed end."""

    def __init__(
        self,
        origin: httpcore.Origin,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        keepalive_expiry: float | None,
    ) -> None:
        self._origin = origin
        self._backend = backend
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._stream: httpcore.AsyncNetworkStream | None = None
        self._state = _State.NEW
        self._expire_at: float | None = None
        self._requests = 0

    # -- a request --------------------------------------------------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"a request to {request.url.origin} on a connection to {self._origin}")
        if self._state not in (_State.NEW, _State.IDLE):
            raise httpcore.ConnectionNotAvailable()
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
            reusable = protocol.our_state is h11.DONE  # h11 knows both sides' keep-alive
            framer = _framer(request.method, head)
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
        host = self._origin.host.decode("ascii")
        logger.debug("connecting to %s", self._origin)
        stream = await self._backend.connect_tcp(host, self._origin.port, timeout=connect_timeout)
        if self._origin.scheme == b"https":
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
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is h11.NEED_DATA:
                data = await stream.read(_READ_SIZE, read_timeout)
                if not data and protocol.their_state is h11.SEND_RESPONSE:
                    raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                return event
            # an InformationalResponse (1xx): the real one follows

    # -- after a response ----------------------------------------------------------------

    async def _response_closed(self, reusable: bool) -> None:
        logger.debug("response closed on %s: %s", self, "kept alive" if reusable else "closing")
        if reusable and self._state is _State.ACTIVE:
            self._state = _State.IDLE
            if self._keepalive_expiry is not None:
                self._expire_at = time.monotonic() + self._keepalive_expiry
        else:
            await self.aclose()

    async def aclose(self) -> None:
        self._state = _State.CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    # -- what the pool asks --------------------------------------------------------------

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self._state is _State.IDLE

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

    def info(self) -> str:
        return f"{str(self._origin)!r}, HTTP/1.1, {self._state.name}, Request Count: {self._requests}"

    def __repr__(self) -> str:
        return f"<H1Connection [{self.info()}]>"


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
        self._reusable = reusable and not isinstance(framer, CloseDelimitedBody)
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
