"""The stream server: a separate process that writes pre-built SSE responses, fast.

It must never be the bottleneck, so it does almost nothing per request: every response
(status line, headers, and the body in chunked encoding with one HTTP chunk per SSE event,
as the reference figures used) is built once at start-up, and a request costs one parse
of its head and a few ``sock_sendall`` calls of 256 KiB slices. It runs in its own
process (pinned to its own core when there are two), on plain asyncio and raw sockets.

Protocol: ``POST /v1/chat/completions`` (the body is read and ignored) answers the stream
named by the ``x-bench-stream`` request header; connections are kept alive. The name
``completion`` answers a non-streamed chat completion (JSON with its usage), the same
for every request: the batch part's fast answer. The stream
named ``latency`` is sent as its first event, a pause of ``--pause-ms``, then the rest.
A name ``NAME/N`` is the stream NAME *held*: its first event, then nothing more until N
requests for ``NAME/N`` have arrived (or a minute has passed), so that a concurrency run
really has its N streams open at once. ``GET /stats`` answers, as JSON, how many
connections were accepted so far and the most open at once since the last ``/stats``.

Safety: it binds 127.0.0.1 only, and it stops by itself after ``--lifetime`` seconds or
as soon as its standard input closes (so it dies with the runner, even if the runner
crashes). Start it with :class:`ServerProcess`; ``python -m benchmarks.server`` prints
``port N`` when it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from types import TracebackType

from .workloads import COMPLETION, Sizes, Workload, all_workloads, completion_body

HOST = "127.0.0.1"
SLICE = 256 * 1024
STREAM_HEADER = b"x-bench-stream"
_MAX_HEAD = 64 * 1024


def chunked(events: tuple[bytes, ...] | list[bytes]) -> bytes:
    """The events in HTTP/1.1 chunked encoding, one chunk each, with the final chunk."""
    parts = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def response_head() -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\n"
        b"x-request-id: req_bench\r\n"
        b"transfer-encoding: chunked\r\n"
        b"\r\n"
    )


def _simple(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body) + body
    )


def json_response(body: bytes) -> bytes:
    """A 200 answer with a JSON body (and a request id, as the API sends)."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
        b"content-length: %d\r\n\r\n" % len(body) + body
    )


STATS = b" stats"  # not a stream name: those come from a header value, stripped
HOLD_LIMIT = 60.0

NOT_FOUND = _simple(b"404 Not Found", b'{"error":{"message":"no such stream","type":"bench"}}')


class StreamServer:
    """Serves the pre-built responses on a listening socket until told to stop."""

    def __init__(self, workloads: dict[str, Workload], pause: float) -> None:
        head = response_head()
        self._responses = {name.encode(): head + chunked(w.events) for name, w in workloads.items()}
        self._responses[COMPLETION.encode()] = json_response(completion_body())
        self._split = {  # the first event (an unfinished chunked body), and the rest
            name.encode(): (head + chunked(w.events[:1])[: -len(b"0\r\n\r\n")], chunked(w.events[1:]))
            for name, w in workloads.items()
            if name in ("latency", "small")
        }
        self._pause = pause
        self._barriers: dict[bytes, _Barrier] = {}
        self._accepted = 0
        self._open = 0
        self._peak = 0

    async def serve(self, sock: socket.socket, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        tasks: set[asyncio.Task[None]] = set()
        accept = asyncio.ensure_future(loop.sock_accept(sock))
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({accept, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                accept.cancel()
                break
            conn, _ = accept.result()
            self._accepted += 1
            accept = asyncio.ensure_future(loop.sock_accept(sock))
            task = asyncio.ensure_future(self._connection(conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in list(tasks):
            task.cancel()

    async def _connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        self._open += 1
        self._peak = max(self._peak, self._open)
        try:
            while True:
                while (end := buffer.find(b"\r\n\r\n")) < 0:
                    data = await loop.sock_recv(conn, 65536)
                    if not data or len(buffer) > _MAX_HEAD:
                        return
                    buffer += data
                head, buffer = buffer[:end], buffer[end + 4 :]
                name, length = _parse_head(head)
                while len(buffer) < length:
                    data = await loop.sock_recv(conn, 65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]  # the request body selects nothing
                await self._respond(conn, name)
        except (ConnectionError, OSError):
            pass
        finally:
            self._open -= 1
            conn.close()

    async def _respond(self, conn: socket.socket, name: bytes) -> None:
        loop = asyncio.get_running_loop()
        if name == STATS:
            stats = {"accepted": self._accepted, "peak_open": self._peak}
            self._peak = self._open
            await loop.sock_sendall(conn, _simple(b"200 OK", json.dumps(stats).encode()))
            return
        if name == b"latency":
            first, rest = self._split[name]
            await loop.sock_sendall(conn, first)
            await asyncio.sleep(self._pause)
            await loop.sock_sendall(conn, rest)
            return
        base, _, held = name.partition(b"/")
        if held and base in self._split:
            first, rest = self._split[base]
            await loop.sock_sendall(conn, first)
            await self._hold(name, int(held))
            await loop.sock_sendall(conn, rest)
            return
        response = self._responses.get(name, NOT_FOUND)
        view = memoryview(response)
        for start in range(0, len(view), SLICE):
            await loop.sock_sendall(conn, view[start : start + SLICE])


    async def _hold(self, name: bytes, size: int) -> None:
        """Wait until ``size`` requests for ``name`` have arrived (a minute at most)."""
        barrier = self._barriers.get(name)
        if barrier is None or barrier.full.is_set():  # a new run
            barrier = self._barriers[name] = _Barrier()
        barrier.arrived += 1
        if barrier.arrived >= size:
            barrier.full.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(barrier.full.wait(), HOLD_LIMIT)


class _Barrier:
    def __init__(self) -> None:
        self.arrived = 0
        self.full = asyncio.Event()


def _parse_head(head: bytes) -> tuple[bytes, int]:
    """The stream name (``STATS`` for ``GET /stats``) and the body length of a request head."""
    name = b""
    length = 0
    lines = head.split(b"\r\n")
    if lines[0].startswith(b"GET /stats "):
        return STATS, 0
    if not lines[0].startswith(b"POST /v1/chat/completions"):
        return b"", 0
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        key = key.strip().lower()
        if key == STREAM_HEADER:
            name = value.strip()
        elif key == b"content-length":
            length = int(value.strip())
    return name, length


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when the parent closes our standard input (or dies)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        loop.call_soon_threadsafe(stop.set)


async def _main(args: argparse.Namespace) -> None:
    sizes = Sizes(**json.loads(args.sizes)) if args.sizes else Sizes()
    server = StreamServer(all_workloads(sizes), args.pause_ms / 1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, args.port))
    sock.listen(4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(args.lifetime, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True).start()
    print(f"port {sock.getsockname()[1]}", flush=True)
    await server.serve(sock, stop)
    sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sizes", default="", help="JSON of benchmarks.workloads.Sizes")
    parser.add_argument("--pause-ms", type=float, default=20.0)
    parser.add_argument("--lifetime", type=float, default=900.0, help="seconds, then exit")
    parser.add_argument("--cpu", type=int, default=-1, help="pin to this CPU (-1: don't)")
    args = parser.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(_main(args))
    os._exit(0)  # don't wait for the stdin thread


class ServerProcess:
    """Runs the server in a child process: ``with ServerProcess(sizes) as url: ...``."""

    def __init__(
        self, sizes: Sizes, *, pause_ms: float = 20.0, lifetime: float = 900.0, cpu: int = -1
    ) -> None:
        self._args = [
            sys.executable,
            "-m",
            "benchmarks.server",
            "--sizes",
            json.dumps(asdict(sizes)),
            "--pause-ms",
            str(pause_ms),
            "--lifetime",
            str(lifetime),
            "--cpu",
            str(cpu),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self._process = process = subprocess.Popen(
            self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("port "):
            process.kill()
            raise RuntimeError(f"the stream server did not start (said {line!r})")
        return f"http://{HOST}:{int(line.split()[1])}"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
