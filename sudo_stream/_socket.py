"""Sockets that read only when the task that consumes them runs.

httpcore's network streams read through the event loop's own machinery: while a task
waits for data, asyncio's transport reads everything that arrives (up to 256 KiB a read)
before the task gets to run, and anyio then hands it out piece by piece; trio's sockets
read, then yield to the scheduler with the bytes in hand. Either way, with thousands of
streams open, every stream holds a socket read's worth of bytes (on asyncio, all that the
server sent meanwhile) waiting for its task's turn: most of the process's memory.

:class:`SocketStream` turns that around: a read yields to the scheduler first (holding
nothing), then takes at most ``max_bytes`` from the socket without waiting, and waits for the
socket to become readable only when it has nothing. What the task has not read stays in the
kernel's socket buffer, where TCP's flow control slows the server down, and a piece of
bytes exists only while the task that reads it is running. TLS goes through the ``ssl``
module's non-blocking sockets the same way.

The streams implement httpcore's network stream interface, with httpcore's errors
(``ConnectError``, ``ReadTimeout``, ...), for :mod:`sudo_stream._h1`'s connections.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import sys
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager

import anyio
import anyio.lowlevel
import httpcore

from ._deadline import Deadline, LazyTLS, read_deadline

__all__ = ["SocketBackend", "SocketStream", "bind_deadline"]

_STAGGER = 0.25  # seconds between connection attempts to a host's addresses (RFC 8305)

_Wait = Callable[[socket.socket], Awaitable[None]]


class _Scope(typing.Protocol):
    @property
    def cancelled_caught(self) -> bool: ...


class _Loop(typing.NamedTuple):
    """The waits a stream uses: trio's own under trio (anyio's wrap them in a coroutine
    and a cancel scope of their own each time), anyio's otherwise."""

    checkpoint: Callable[[], Awaitable[None]]
    wait_readable: _Wait
    wait_writable: _Wait
    move_on_after: Callable[[float], AbstractContextManager[_Scope]]
    closed: type[Exception]  # what a wait raises when the socket is closed under it


_ANYIO = _Loop(
    anyio.lowlevel.checkpoint,
    anyio.wait_readable,
    anyio.wait_writable,
    anyio.move_on_after,
    anyio.ClosedResourceError,
)


def _loop() -> _Loop:
    trio = sys.modules.get("trio")  # never imported here if nothing else has
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return _Loop(
                trio.lowlevel.checkpoint,
                trio.lowlevel.wait_readable,
                trio.lowlevel.wait_writable,
                trio.move_on_after,
                trio.ClosedResourceError,
            )
    return _ANYIO


class SocketStream(httpcore.AsyncNetworkStream):
    """A connected non-blocking socket (plain, or TLS once :meth:`start_tls` returns).

    Reads honour a :class:`~sudo_stream._deadline.Deadline`: the one a response bound to
    its connection (:func:`bind_deadline`), else the reading task's
    (:data:`~sudo_stream._deadline.read_deadline`), else the timeout passed.
    """

    def __init__(
        self, sock: socket.socket, tls: LazyTLS | None = None, loop: _Loop | None = None
    ) -> None:
        self._socket = sock
        self._tls = tls
        self._loop = loop or _loop()
        self.deadline: Deadline | None = None  # bound by the response reading from here

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = self.deadline or read_deadline.get()
        if deadline is not None:
            timeout = deadline.remaining()
        if timeout is not None and timeout <= 0:  # a deadline passed, data waiting or not
            raise httpcore.ReadTimeout("timed out")
        loop = self._loop
        await loop.checkpoint()  # the only yield while data is waiting
        sock = self._socket
        while True:
            try:
                return sock.recv(max_bytes)
            except (BlockingIOError, ssl.SSLWantReadError):
                wait = loop.wait_readable
            except ssl.SSLWantWriteError:  # TLS may need to send before it can read
                wait = loop.wait_writable
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                # Closed with or without a TLS close_notify: an end of data either way
                # (the framing tells a whole body from a cut one).
                return b""
            except OSError as exc:
                raise httpcore.ReadError(_describe(exc)) from exc
            # Wait for the socket: a cancel scope per wait, none while data is there. (Not
            # a helper coroutine: a held-open stream would keep one more frame alive.)
            if deadline is not None:  # a TLS record may take several waits
                timeout = deadline.remaining()
            try:
                if timeout is None:
                    await wait(sock)
                    continue
                with loop.move_on_after(timeout) as scope:
                    await wait(sock)
            except loop.closed:
                raise httpcore.ReadError("the connection was closed") from None
            if scope.cancelled_caught:
                raise httpcore.ReadTimeout("timed out")

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # ``timeout`` bounds each wait for the server to take more; the call's deadline
        # (first_event, total) bounds the whole request.
        deadline = self.deadline or read_deadline.get()
        loop = self._loop
        await loop.checkpoint()
        sock = self._socket
        view = memoryview(buffer)
        while view:
            try:
                view = view[sock.send(view) :]
                continue
            except (BlockingIOError, ssl.SSLWantWriteError):
                wait = loop.wait_writable
            except ssl.SSLWantReadError:
                wait = loop.wait_readable
            except OSError as exc:
                raise httpcore.WriteError(_describe(exc)) from exc
            bound = float("inf") if timeout is None else timeout
            if deadline is not None:
                bound = min(bound, deadline.remaining())
            try:
                with loop.move_on_after(bound) as scope:
                    await wait(sock)
            except loop.closed:
                raise httpcore.WriteError("the connection was closed") from None
            if scope.cancelled_caught:
                raise httpcore.WriteTimeout("timed out")

    async def aclose(self) -> None:
        sock = self._socket
        if sock.fileno() >= 0:
            anyio.notify_closing(sock)  # a task waiting on it wakes with a ReadError
            sock.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> SocketStream:
        tls = self._tls
        if tls is not None and ssl_context is tls.placeholder:
            ssl_context = await tls.context()
        try:
            sock = ssl_context.wrap_socket(
                self._socket, server_hostname=server_hostname, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as exc:
            raise httpcore.ConnectError(_describe(exc)) from exc
        with anyio.CancelScope() if timeout is None else anyio.move_on_after(timeout) as scope:
            try:
                await _handshake(sock)
            except BaseException:
                sock.close()
                raise
        if scope.cancelled_caught:
            sock.close()
            raise httpcore.ConnectTimeout("timed out during the TLS handshake")
        return SocketStream(sock, tls, self._loop)

    def get_extra_info(self, info: str) -> typing.Any:
        sock = self._socket
        if info == "socket":
            return sock
        if info == "ssl_object":
            return sock if isinstance(sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return sock.getsockname()
        if info == "server_addr":
            return sock.getpeername()
        if info == "is_readable":
            return _readable(sock)
        return None


def bind_deadline(extensions: Mapping[str, typing.Any], deadline: Deadline | None) -> bool:
    """Make the connection of a response (given its extensions) read with ``deadline``
    (``None`` unbinds it). False if the connection is not one of ours."""
    stream = extensions.get("network_stream")
    if isinstance(stream, SocketStream):
        stream.deadline = deadline
        return True
    return False


async def _handshake(sock: ssl.SSLSocket) -> None:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await anyio.wait_readable(sock)
        except ssl.SSLWantWriteError:
            await anyio.wait_writable(sock)
        except OSError as exc:  # certificate, protocol, or the peer hung up
            raise httpcore.ConnectError(_describe(exc)) from exc


class SocketBackend(httpcore.AsyncNetworkBackend):
    """Opens :class:`SocketStream` connections, on asyncio or trio; their ``start_tls``
    swaps ``tls``'s placeholder context for the real one (loaded once, off the loop).
    Connections opened together to one host share one name lookup (:class:`_Lookups`)."""

    def __init__(self, tls: LazyTLS | None = None) -> None:
        self.tls = tls
        self._lookups = _Lookups()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> SocketStream:
        options = list(socket_options or ())
        with anyio.CancelScope() if timeout is None else anyio.move_on_after(timeout) as scope:
            addresses = await self._lookups.resolve(host, port)
            sock = await _connect_first(addresses, local_address, options)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketStream(sock, self.tls)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> SocketStream:
        options = list(socket_options or ())
        with anyio.CancelScope() if timeout is None else anyio.move_on_after(timeout) as scope:
            sock = await _connect(socket.AF_UNIX, path, None, options)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}")
        return SocketStream(sock, self.tls)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


_Address = tuple[socket.AddressFamily, typing.Any]


class _Lookup:
    """One lookup in flight: its addresses or its error once ``done`` is set (neither if
    the task looking up was cancelled)."""

    __slots__ = ("addresses", "done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.addresses: list[_Address] | None = None
        self.error: str | None = None


class _Lookups:
    """Name lookups in flight, one per host and port: a connection to a host that is being
    looked up waits for that lookup instead of starting its own. Each lookup is a
    ``getaddrinfo`` call in a worker thread, so a burst of streams to a new host (a batch)
    made one per connection, queued behind the thread limit. Nothing is kept once a lookup
    ends (as Go's resolver shares lookups): no answer outlives the DNS record it came from.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], _Lookup] = {}

    async def resolve(self, host: str, port: int) -> list[_Address]:
        literal = _literal(host, port)
        if literal is not None:
            return literal
        key = (host, port)
        while (shared := self._pending.get(key)) is not None:
            await shared.done.wait()
            if shared.addresses is not None:
                return list(shared.addresses)
            if shared.error is not None:
                raise httpcore.ConnectError(shared.error)
            # The task looking up was cancelled (its own connect timeout): look up anew.
        lookup = self._pending[key] = _Lookup()
        try:
            addresses = lookup.addresses = await _resolve(host, port)
        except httpcore.ConnectError as exc:
            lookup.error = str(exc)
            raise
        finally:
            del self._pending[key]
            lookup.done.set()
        return list(addresses)


def _literal(host: str, port: int) -> list[_Address] | None:
    """The address itself if ``host`` is an IP address (nothing to look up)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, (host, port))]
    return None


async def _resolve(host: str, port: int) -> list[_Address]:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(_describe(exc)) from exc
    return _interleave([(info[0], info[4]) for info in infos])


def _interleave(addresses: list[_Address]) -> list[_Address]:
    """Alternate address families, keeping the resolver's order within each (RFC 8305)."""
    first = [a for a in addresses if a[0] == addresses[0][0]]
    other = [a for a in addresses if a[0] != addresses[0][0]]
    mixed: list[_Address] = []
    for index in range(max(len(first), len(other))):
        mixed.extend(a[index] for a in (first, other) if index < len(a))
    return mixed


async def _connect_first(
    addresses: list[_Address], local_address: str | None, options: list[typing.Any]
) -> socket.socket:
    """Connect to the first of ``addresses`` that answers: each attempt starts when the one
    before it fails or after a short delay, whichever comes first (happy eyeballs, as
    anyio's and trio's own connect do), so an unreachable address costs a quarter second,
    not the connect timeout."""
    if len(addresses) == 1:
        family, address = addresses[0]
        return await _connect(family, address, local_address, options)
    connected: list[socket.socket] = []
    errors: list[str] = []
    try:
        async with anyio.create_task_group() as group:

            async def attempt(
                family: socket.AddressFamily, address: typing.Any, failed: anyio.Event
            ) -> None:
                try:
                    sock = await _connect(family, address, local_address, options)
                except httpcore.ConnectError as exc:
                    errors.append(str(exc))
                    failed.set()
                    return
                if connected:  # another attempt won meanwhile
                    sock.close()
                    return
                connected.append(sock)
                group.cancel_scope.cancel()

            for family, address in addresses:
                failed = anyio.Event()
                group.start_soon(attempt, family, address, failed)
                with anyio.move_on_after(_STAGGER):
                    await failed.wait()
    except BaseException:  # cancelled (the connect timeout) just as an attempt won
        for sock in connected:
            sock.close()
        raise
    if not connected:
        raise httpcore.ConnectError("; ".join(errors))
    return connected[0]


async def _connect(
    family: socket.AddressFamily,
    address: typing.Any,
    local_address: str | None,
    options: list[typing.Any],
) -> socket.socket:
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise httpcore.ConnectError(
                f"cannot open a socket: {_describe(exc)}. The process is out of file "
                "descriptors: raise its limit (ulimit -n) or lower max_connections"
            ) from exc
        raise httpcore.ConnectError(f"cannot open a socket: {_describe(exc)}") from exc
    try:
        sock.setblocking(False)
        for option in options:
            sock.setsockopt(*option)
        if local_address is not None:
            sock.bind((local_address, 0))
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            await anyio.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error)) from None
    except OSError as exc:
        sock.close()
        raise httpcore.ConnectError(f"{_describe(exc)} ({_name(address)})") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _name(address: typing.Any) -> str:
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _readable(sock: socket.socket) -> bool:
    """Whether a read would return at once: data waiting, or the peer closed (a closed
    socket counts as readable too: its next read ends the connection)."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    if _poll is None:  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


_poll = getattr(select, "poll", None)
