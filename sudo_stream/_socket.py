"""Sockets that read only when the task that consumes them runs.

httpcore's network streams read through the event loop's own machinery: asyncio's
transports read whatever has arrived, as soon as it arrives (anyio then hands it out piece
by piece), and trio's sockets read, then yield to the scheduler with the bytes in hand.
Either way, with thousands of streams open, every stream holds a socket read's worth of
bytes (on asyncio, everything the server has sent) waiting for its task's turn: most of the
process's memory.

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

import os
import select
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable

import anyio
import anyio.lowlevel
import httpcore

__all__ = ["SocketBackend", "SocketStream"]

_Wait = Callable[[socket.socket], Awaitable[None]]
_STAGGER = 0.25  # seconds between connection attempts to a host's addresses (RFC 8305)


class SocketStream(httpcore.AsyncNetworkStream):
    """A connected non-blocking socket (plain, or TLS once :meth:`start_tls` returns)."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if timeout is not None and timeout <= 0:  # a deadline passed, data waiting or not
            raise httpcore.ReadTimeout("timed out")
        await anyio.lowlevel.checkpoint()  # the only yield while data is waiting
        sock = self._socket
        while True:
            try:
                return sock.recv(max_bytes)
            except (BlockingIOError, ssl.SSLWantReadError):
                wait: _Wait = anyio.wait_readable
            except ssl.SSLWantWriteError:  # TLS may need to send before it can read
                wait = anyio.wait_writable
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                # Closed with or without a TLS close_notify: an end of data either way
                # (the framing tells a whole body from a cut one).
                return b""
            except OSError as exc:
                raise httpcore.ReadError(_describe(exc)) from exc
            await _wait(wait, sock, timeout, httpcore.ReadTimeout, httpcore.ReadError)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await anyio.lowlevel.checkpoint()
        sock = self._socket
        view = memoryview(buffer)
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                wait: _Wait = anyio.wait_writable
            except ssl.SSLWantReadError:
                wait = anyio.wait_readable
            except OSError as exc:
                raise httpcore.WriteError(_describe(exc)) from exc
            else:
                view = view[sent:]
                continue
            await _wait(wait, sock, timeout, httpcore.WriteTimeout, httpcore.WriteError)

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
        return SocketStream(sock)

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


async def _wait(
    wait: _Wait,
    sock: socket.socket,
    timeout: float | None,
    timed_out: type[Exception],
    closed: type[Exception],
) -> None:
    """Wait for ``sock`` (at most ``timeout`` seconds): one cancel scope per wait, none
    when data is already there."""
    try:
        if timeout is None:
            await wait(sock)
            return
        with anyio.move_on_after(timeout) as scope:
            await wait(sock)
    except anyio.ClosedResourceError:
        raise closed("the connection was closed") from None
    if scope.cancelled_caught:
        raise timed_out("timed out")


class SocketBackend(httpcore.AsyncNetworkBackend):
    """Opens :class:`SocketStream` connections (on asyncio or trio, through anyio)."""

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
            addresses = await _resolve(host, port)
            sock = await _connect_first(addresses, local_address, options)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketStream(sock)

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
        return SocketStream(sock)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


_Address = tuple[socket.AddressFamily, typing.Any]


async def _resolve(host: str, port: int) -> list[_Address]:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, (host, port))]  # an IP address: nothing to look up
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
    async with anyio.create_task_group() as group:

        async def attempt(family: socket.AddressFamily, address: typing.Any, failed: anyio.Event) -> None:
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
    if not connected:
        raise httpcore.ConnectError("; ".join(errors))
    return connected[0]


async def _connect(
    family: socket.AddressFamily,
    address: typing.Any,
    local_address: str | None,
    options: list[typing.Any],
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
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
