"""Our sockets (sudo_stream._socket) over real loopback connections: reads take only what
is asked for and leave the rest in the kernel, deadlines and closing wake a waiting read,
connecting tries a host's addresses in turn."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpcore
import pytest

import sudo_stream as ss
from sudo_stream import _socket, testing
from sudo_stream._socket import SocketBackend, SocketStream

from .helpers import MESSAGES

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[SocketStream, socket.socket]]:
    """Our stream to a plain listening socket, and the server's end of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        port = listener.getsockname()[1]
        stream = await SocketBackend().connect_tcp("127.0.0.1", port, timeout=5)
        peer, _ = listener.accept()
        with peer:
            try:
                yield stream, peer
            finally:
                await stream.aclose()


def unread(sock: Any) -> int:
    """Bytes that arrived on ``sock`` (any object with a ``fileno``) and are still in the
    kernel."""
    with socket.socket(fileno=os.dup(sock.fileno())) as peek:
        try:
            return len(peek.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return 0


async def test_a_read_takes_at_most_what_it_asks_and_leaves_the_rest_in_the_kernel() -> None:
    async with connected() as (stream, peer):
        peer.sendall(b"x" * 100_000)
        await anyio.sleep(0.05)
        first = await stream.read(1024)
        assert first == b"x" * len(first) and 0 < len(first) <= 1024
        ours = stream.get_extra_info("socket")
        # Nothing was read ahead into the process: what we did not ask for is unread.
        assert unread(ours) == 100_000 - len(first)
        got = len(first)
        while got < 100_000:
            got += len(await stream.read(16 * 1024))
        assert got == 100_000


async def test_write_then_read_round_trip_and_end_of_data() -> None:
    async with connected() as (stream, peer):
        await stream.write(b"ping" * 50_000)
        received = b""
        while len(received) < 200_000:
            received += peer.recv(1 << 16)
        assert received == b"ping" * 50_000
        peer.sendall(b"pong")
        peer.shutdown(socket.SHUT_WR)
        assert await stream.read(100) == b"pong"
        assert await stream.read(100) == b""


async def test_a_read_times_out_when_nothing_comes() -> None:
    async with connected() as (stream, _peer):
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)


async def test_a_passed_deadline_fails_the_read_even_with_data_waiting() -> None:
    """A stream whose server never pauses must still stop at its deadline."""
    async with connected() as (stream, peer):
        peer.sendall(b"data")
        await anyio.sleep(0.05)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0)
        assert await stream.read(100, timeout=1) == b"data"


async def test_closing_wakes_a_waiting_read_with_an_error() -> None:
    async with connected() as (stream, _peer):
        failure: list[BaseException] = []

        async def reader() -> None:
            try:
                await stream.read(100)
            except httpcore.ReadError as exc:
                failure.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(reader)
                await anyio.sleep(0.05)
                await stream.aclose()
        assert len(failure) == 1
        with pytest.raises(httpcore.ReadError):
            await stream.read(100)


async def test_a_cancelled_read_loses_nothing() -> None:
    async with connected() as (stream, peer):
        with anyio.move_on_after(0.05):
            await stream.read(100)
        peer.sendall(b"after")
        assert await stream.read(100, timeout=1) == b"after"


async def test_the_peer_resetting_is_a_read_error() -> None:
    async with connected() as (stream, peer):
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()  # linger 0: a reset
        await anyio.sleep(0.05)
        with pytest.raises(httpcore.ReadError):
            await stream.read(100, timeout=1)


async def test_is_readable_answers_from_the_socket() -> None:
    # The pool drops an idle connection when this says the peer spoke or left.
    async with connected() as (stream, peer):
        assert stream.get_extra_info("is_readable") is False
        peer.sendall(b"x")
        await anyio.sleep(0.05)
        assert stream.get_extra_info("is_readable") is True
        assert await stream.read(1) == b"x"
        assert stream.get_extra_info("is_readable") is False
        peer.close()
        await anyio.sleep(0.05)
        assert stream.get_extra_info("is_readable") is True
    assert stream.get_extra_info("is_readable") is True  # closed: its next read ends it


async def test_a_refused_connection_names_the_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connecting is refused
        with pytest.raises(httpcore.ConnectError, match=f"127.0.0.1:{port}"):
            await SocketBackend().connect_tcp("127.0.0.1", port, timeout=5)


async def test_connect_times_out() -> None:
    async def never(*args: Any) -> socket.socket:
        await anyio.sleep_forever()
        raise AssertionError

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_socket, "_connect", never)
        with pytest.raises(httpcore.ConnectTimeout):
            await SocketBackend().connect_tcp("127.0.0.1", 1, timeout=0.05)


async def test_addresses_are_tried_in_turn_without_waiting_for_one_that_hangs() -> None:
    """Happy eyeballs: an address that never answers delays the next by a quarter
    second, one that fails lets the next start at once; the first to connect wins and
    the other attempts are closed."""
    listener = socket.create_server(("127.0.0.1", 0))
    good = listener.getsockname()
    started: list[str] = []
    cancelled: list[str] = []

    async def fake_connect(
        family: socket.AddressFamily, address: Any, local: str | None, options: list[Any]
    ) -> socket.socket:
        started.append(address[0])
        if address[0] == "hang":
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.append("hang")
        if address[0] == "refuse":
            raise httpcore.ConnectError("refused (refuse)")
        sock = socket.create_connection(good)
        sock.setblocking(False)
        return sock

    with listener, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_socket, "_connect", fake_connect)
        ipv4 = socket.AF_INET
        with anyio.fail_after(2):
            sock = await _socket._connect_first(
                [(ipv4, ("hang", 1)), (ipv4, ("refuse", 1)), (ipv4, ("127.0.0.1", good[1]))], None, []
            )
        with sock:
            assert sock.getpeername() == good
        assert started == ["hang", "refuse", "127.0.0.1"]
        assert cancelled == ["hang"]
        with pytest.raises(httpcore.ConnectError, match=r"refused.*; .*refused"):
            await _socket._connect_first([(ipv4, ("refuse", 1)), (ipv4, ("refuse", 2))], None, [])


async def test_a_connection_won_as_the_connect_timeout_fires_is_closed() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    won: list[socket.socket] = []

    async def fake_connect(
        family: socket.AddressFamily, address: Any, local: str | None, options: list[Any]
    ) -> socket.socket:
        if address[0] == "hang":
            await anyio.sleep_forever()
        outer.cancel()  # the caller's timeout fires just as this attempt connects
        sock = socket.create_connection(listener.getsockname())
        won.append(sock)
        return sock

    with listener, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_socket, "_connect", fake_connect)
        ipv4 = socket.AF_INET
        with anyio.CancelScope() as outer:
            await _socket._connect_first([(ipv4, ("hang", 1)), (ipv4, ("127.0.0.1", 1))], None, [])
        assert outer.cancelled_caught
    assert len(won) == 1 and won[0].fileno() == -1  # closed, not left to the garbage collector


def test_address_families_alternate() -> None:
    v4, v6 = socket.AF_INET, socket.AF_INET6
    addresses = [(v6, ("a", 1)), (v6, ("b", 1)), (v4, ("c", 1)), (v6, ("d", 1))]
    assert [a[1][0] for a in _socket._interleave(addresses)] == ["a", "c", "b", "d"]


async def test_a_host_name_is_resolved() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        stream = await SocketBackend().connect_tcp("localhost", listener.getsockname()[1], timeout=5)
        try:
            assert stream.get_extra_info("server_addr")[1] == listener.getsockname()[1]
        finally:
            await stream.aclose()


class GatedLookups:
    """Stands in for ``anyio.getaddrinfo`` in ``_socket``: records each lookup, holds it
    until :attr:`gate` is set, then does the real lookup (or fails with ``error``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: OSError | None = None) -> None:
        self.calls: list[str] = []
        self.gate = anyio.Event()
        self._real = anyio.getaddrinfo
        self._error = error
        monkeypatch.setattr(_socket.anyio, "getaddrinfo", self)

    async def __call__(self, host: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(host)
        await self.gate.wait()
        if self._error is not None:
            raise self._error
        return await self._real(host, *args, **kwargs)


async def test_connections_opened_together_share_one_name_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = GatedLookups(monkeypatch)
    backend = SocketBackend()
    streams: list[SocketStream] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        async def connect() -> None:
            streams.append(await backend.connect_tcp("localhost", port, timeout=10))

        try:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    for _ in range(5):
                        group.start_soon(connect)
                    await anyio.wait_all_tasks_blocked()  # every connect is waiting
                    lookups.gate.set()
            assert len(streams) == 5
            assert lookups.calls == ["localhost"]  # one lookup, not one per connection
            # Nothing is kept once the lookup is over: a later connection looks up again.
            streams.append(await backend.connect_tcp("localhost", port, timeout=10))
            assert lookups.calls == ["localhost", "localhost"]
        finally:
            for stream in streams:
                await stream.aclose()


async def test_a_failed_shared_lookup_fails_every_connection_waiting_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = GatedLookups(monkeypatch, socket.gaierror(socket.EAI_NONAME, "no such name"))
    backend = SocketBackend()
    errors: list[str] = []

    async def connect() -> None:
        with pytest.raises(httpcore.ConnectError) as caught:
            await backend.connect_tcp("sudo.invalid", 443, timeout=10)
        errors.append(str(caught.value))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(connect)
            await anyio.wait_all_tasks_blocked()
            lookups.gate.set()
    assert lookups.calls == ["sudo.invalid"]
    assert errors == [f"[Errno {socket.EAI_NONAME}] no such name"] * 3


async def test_a_lookup_cancelled_with_its_connection_leaves_no_one_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = GatedLookups(monkeypatch)
    backend = SocketBackend()
    streams: list[SocketStream] = []
    leader = anyio.CancelScope()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        async def lead() -> None:
            with leader:
                streams.append(await backend.connect_tcp("localhost", port, timeout=10))

        async def connect() -> None:
            streams.append(await backend.connect_tcp("localhost", port, timeout=10))

        try:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(lead)
                    await anyio.wait_all_tasks_blocked()  # its lookup is under way
                    group.start_soon(connect)
                    group.start_soon(connect)
                    await anyio.wait_all_tasks_blocked()  # both wait for that lookup
                    leader.cancel()
                    await anyio.wait_all_tasks_blocked()  # one of them looks up anew
                    lookups.gate.set()
            assert leader.cancelled_caught
            assert len(streams) == 2
            assert lookups.calls == ["localhost", "localhost"]
        finally:
            for stream in streams:
                await stream.aclose()


async def test_a_burst_that_arrives_while_a_stream_waits_stays_in_the_kernel(
    server: testing.FakeSudoServer,
) -> None:
    """Backpressure through the whole client: a stream waiting for its first event when
    ~60 KB arrive at once takes one read of it (an asyncio transport would have read all
    of it into the process, for every waiting stream); the rest stays in the kernel
    until the consumer asks for more."""
    text = " ".join(f"word{i}" for i in range(240))
    server.enqueue(testing.Stream(testing.text_chunks(text), piece_size=1 << 20, delay=0.2))
    async with ss.AsyncSudo(api_key="sk-test", server_url=server.url, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            first = await stream.__anext__()  # waits, then the whole body arrives at once
            assert first.choices
            await anyio.sleep(0.1)
            sock = stream.response.extensions["network_stream"].get_extra_info("socket")
            waiting = unread(sock)
            assert waiting > 30_000, waiting
            assert stream.statistics().bytes_received <= 16 * 1024
            final = await stream.final_completion()
    assert final.choices[0].message.content == text


async def test_a_request_the_server_never_reads_is_bounded_by_first_event() -> None:
    """Writing waits on the server too: a body it never takes ends at the call's bound,
    even with no idle bound (which limits each wait for the socket to drain)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        huge = [{"role": "user", "content": "x" * (16 << 20)}]  # far beyond the socket buffers
        timeout = ss.Timeout(connect=5, first_event=0.5, idle=None)
        async with ss.AsyncSudo(server_url=f"http://127.0.0.1:{port}", timeout=timeout, retries=0) as sudo:
            with anyio.fail_after(10):
                with pytest.raises(ss.APITimeoutError) as caught:
                    await sudo.router.create_streaming(messages=huge, model="m")
    assert caught.value.bound == "first_event"
