"""Soak run and async-hygiene watchers.

``python -m tests.soak`` (or ``nox -s soak``) opens 10,000 streams against the fake server
at high concurrency, each with a random fault and some with a random cancellation, on
asyncio and trio, then checks that every stream is accounted for (completed, or failed with
the typed error its fault calls for), that no connection, socket or task is left behind, and
that memory came back near where it started. ``tests/test_soak.py`` runs a short version.

The watchers are used by the tests too:

* :class:`BlockingCallDetector` records blocking calls (``time.sleep``, name resolution,
  I/O on a blocking socket, certificate loading, ``open``) made in a thread that is running
  an event loop. Deterministic: it does not depend on timing.
* :func:`watch_loop` records event-loop steps that ran longer than a threshold (asyncio's
  debug-mode slow-callback log; a trio instrument), and asyncio's error log (a task
  destroyed while pending, an exception in a callback). The threshold is generous: it
  catches a stuck loop, not a slow machine.
* :class:`LeftBehind` collects ResourceWarnings and exceptions raised at garbage
  collection, which outside pytest Python only prints.

Each stream's requests are routed to its own script by an ``x-soak-id`` header, through the
fake server's private request handler (``FakeSudoServer._api.respond``); the server's
request records are cleared between rounds (``_state``) so that they do not count as growth.
"""

from __future__ import annotations

import argparse
import builtins
import gc
import ipaddress
import itertools
import logging
import os
import random
import socket
import ssl
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import sniffio

import sudo_stream as ss
from sudo_stream import testing

MESSAGES = [{"role": "user", "content": "soak"}]

# -- blocking-call detection ---------------------------------------------------------------


def _in_event_loop() -> bool:
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True


def _blocking_socket(sock: socket.socket, *args: Any, **kwargs: Any) -> bool:
    try:
        return sock.gettimeout() != 0.0
    except OSError:  # closed
        return False


def _names_a_host(host: Any = None, *args: Any, **kwargs: Any) -> bool:
    """Whether resolving ``host`` may query DNS (an IP literal, or a numeric-only lookup as
    trio tries first, never does)."""
    flags = kwargs.get("flags", args[4] if len(args) > 4 else 0)
    if host is None or (isinstance(flags, int) and flags & socket.AI_NUMERICHOST):
        return False
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).partition("%")[0])
    except ValueError:
        return True
    return False


_SOCKET_METHODS = ("accept", "connect", "recv", "recv_into", "recvfrom", "send", "sendall", "sendto")
_RESOLVERS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
_CERT_LOADERS = ("load_verify_locations", "load_default_certs", "set_default_verify_paths")


class BlockingCallDetector:
    """Records blocking calls made while an event loop runs in the calling thread.

    Use as a context manager; read :attr:`violations` afterwards. The calls still happen
    (nothing is raised inside library code, where it could be swallowed).
    """

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._patches: list[tuple[Any, str, Any]] = []

    def _patch(
        self, owner: Any, name: str, when: Callable[..., bool] | None = None
    ) -> None:
        original = getattr(owner, name)
        label = f"{getattr(owner, '__name__', owner)}.{name}"
        violations = self.violations

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _in_event_loop() and (when is None or when(*args, **kwargs)):
                stack = "".join(traceback.format_stack()[-12:-1])
                violations.append(f"blocking call {label} in async code:\n{stack}")
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)
        self._patches.append((owner, name, original))

    def __enter__(self) -> BlockingCallDetector:
        self._patch(time, "sleep")
        self._patch(builtins, "open")
        for name in _RESOLVERS:
            self._patch(socket, name, _names_a_host)
        self._patch(socket, "gethostbyaddr")
        self._patch(socket, "getnameinfo")
        for name in _SOCKET_METHODS:
            self._patch(socket.socket, name, _blocking_socket)
        for name in _CERT_LOADERS:
            self._patch(ssl.SSLContext, name)
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._patches:
            owner, name, original = self._patches.pop()
            setattr(owner, name, original)


class _TrioStepTimer:
    """A trio instrument: task steps that ran longer than ``threshold`` seconds."""

    def __init__(self, threshold: float, slow: list[str]) -> None:
        self.threshold = threshold
        self.slow = slow
        self._started: dict[Any, float] = {}

    def before_task_step(self, task: Any) -> None:
        self._started[task] = time.perf_counter()

    def after_task_step(self, task: Any) -> None:
        started = self._started.pop(task, None)
        if started is not None:
            took = time.perf_counter() - started
            if took > self.threshold:
                self.slow.append(f"trio task {task.name} ran {took:.3f} s without yielding")


class _Records(logging.Handler):
    def __init__(self, slow: list[str], errors: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.slow = slow
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        elif message.startswith("Executing "):
            self.slow.append(message)


@dataclass
class LoopReport:
    """What :func:`watch_loop` saw: slow steps and asyncio error-log records."""

    slow_steps: list[str] = field(default_factory=list)
    loop_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.slow_steps, *self.loop_errors]


@asynccontextmanager
async def watch_loop(threshold: float = 1.0) -> AsyncIterator[LoopReport]:
    """Watch the running event loop for steps longer than ``threshold`` seconds."""
    report = LoopReport()
    if sniffio.current_async_library() == "trio":
        import trio

        instrument = _TrioStepTimer(threshold, report.slow_steps)
        trio.lowlevel.add_instrument(instrument)
        try:
            yield report
        finally:
            trio.lowlevel.remove_instrument(instrument)
        return
    import asyncio

    loop = asyncio.get_running_loop()
    debug, duration = loop.get_debug(), loop.slow_callback_duration
    handler = _Records(report.slow_steps, report.loop_errors)
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    loop.set_debug(True)
    loop.slow_callback_duration = threshold
    try:
        yield report
    finally:
        loop.set_debug(debug)
        loop.slow_callback_duration = duration
        logger.removeHandler(handler)


# -- resource probes -----------------------------------------------------------------------


def open_sockets() -> int:
    """Sockets open in this process (Linux; -1 elsewhere)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return -1
    count = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size in MiB (Linux; zeros elsewhere)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY)  # a /proc read never blocks
        try:
            text = os.read(fd, 1 << 16).decode("ascii", "replace")
        finally:
            os.close(fd)
    except OSError:
        return 0.0, 0.0
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def live_objects(*types: type) -> int:
    """How many objects of ``types`` the garbage collector can see."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, types))


async def settle(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true (the server notices disconnects on its own tasks)."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)
        return True
    return predicate()


def pool_connections(sudo: ss.AsyncSudo) -> int:
    """Connections the client's pool holds."""
    pool = sudo._transport._client._transport._pool  # type: ignore[attr-defined]
    return len(pool.connections)


# -- the soak --------------------------------------------------------------------------------

FAST_RETRIES = ss.RetryConfig(
    max_retries=2, backoff=ss.BackoffStrategy(initial_interval=5, max_interval=20)
)
# Generous bounds for what the fake server sends at once (a loaded loop serving hundreds of
# streams in this same process is slow), short ones only where a fault waits for them.
TIMEOUT = ss.Timeout(30)
SHORT_IDLE = ss.Timeout(30, idle=0.5)
SHORT_FIRST = ss.Timeout(30, first_event=1.0)
SHORT_TOTAL = ss.Timeout(30, total=0.3)


@dataclass(frozen=True)
class Scenario:
    """One kind of fault: the responses its attempts get, and the outcomes it allows.

    ``outcomes`` are ``"ok"`` or error class names (``"APITimeoutError:idle"`` names the
    bound too); ``attempts`` is the number of requests it makes when not cancelled (None:
    any); ``partial`` whether its error must carry the partial completion.
    """

    name: str
    weight: int
    script: Callable[[str], list[testing.ScriptedResponse]]
    outcomes: frozenset[str]
    attempts: int | None = 1
    timeout: ss.Timeout = TIMEOUT
    partial: bool = False


def _text(sid: str) -> str:
    return f"stream {sid} says hello to the soak"


def _chunks(sid: str, **kwargs: Any) -> list[dict[str, Any]]:
    return testing.text_chunks(_text(sid), **kwargs)


def _err(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error"}}


_OK = frozenset({"ok"})
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ok", 20, lambda s: [testing.Stream(_chunks(s))], _OK),
    Scenario("pieces", 6, lambda s: [testing.Stream(_chunks(s), piece_size=random.randint(1, 64))], _OK),
    Scenario("gzip", 4, lambda s: [testing.Stream(_chunks(s), gzip=True, piece_size=random.choice([None, 7]))], _OK),
    Scenario("keepalive", 3, lambda s: [testing.Stream([": ping\n\n", *_chunks(s)])], _OK),
    Scenario("no_done", 3, lambda s: [testing.Stream(_chunks(s), done=False)], _OK),
    Scenario("after_done", 3, lambda s: [testing.Stream([*_chunks(s), "data: [DONE]\n\n", "data: {}\n\n"], done=False)], _OK),
    Scenario("429_then_ok", 4, lambda s: [testing.Error(429, headers=[("retry-after-ms", "5")]), testing.Stream(_chunks(s))], _OK, 2),
    Scenario("5xx_then_ok", 4, lambda s: [testing.Error(503), testing.Error(502), testing.Stream(_chunks(s))], _OK, 3),
    Scenario("drop_then_ok", 3, lambda s: [testing.Drop(reset=random.random() < 0.5), testing.Stream(_chunks(s))], _OK, 2),
    Scenario("error_first_then_ok", 3, lambda s: [testing.Stream([_err("busy")], done=False), testing.Stream(_chunks(s))], _OK, 2),
    # Under load even the retried attempt may miss a short first_event bound.
    Scenario("stall_then_ok", 2, lambda s: [testing.Stall(), testing.Stream(_chunks(s))], frozenset({"ok", "APITimeoutError:first_event"}), None, SHORT_FIRST),
    Scenario("drop_mid", 4, lambda s: [testing.Stream([*_chunks(s)[:3], testing.Drop(reset=random.random() < 0.5)])], frozenset({"StreamError"}), partial=True),
    Scenario("stall_mid", 3, lambda s: [testing.Stream([*_chunks(s)[:3], testing.StallItem()])], frozenset({"APITimeoutError:idle"}), timeout=SHORT_IDLE, partial=True),
    Scenario("error_mid", 4, lambda s: [testing.Stream([*_chunks(s)[:3], _err("boom")], done=False)], frozenset({"StreamError"}), partial=True),
    Scenario("undecodable", 3, lambda s: [testing.Stream([*_chunks(s)[:2], "data: {nope\n\n", *_chunks(s)[2:]])], frozenset({"StreamError"})),
    Scenario("truncated", 3, lambda s: [testing.Stream(_chunks(s, include_usage=False)[:-1], done=False)], frozenset({"StreamError"})),
    Scenario("too_large", 2, lambda s: [testing.Stream([*_chunks(s)[:2], {"x": "y" * 70_000}])], frozenset({"StreamError"})),
    Scenario("bad_request", 3, lambda s: [testing.Error(400)], frozenset({"BadRequestError"})),
    Scenario("429_storm", 3, lambda s: [testing.Error(429, headers=[("retry-after-ms", "1")])] * 3, frozenset({"RateLimitError"}), 3),
    Scenario("wrong_type", 2, lambda s: [testing.JSON({"not": "a stream"})], frozenset({"APIResponseValidationError"})),
    Scenario("endless_total", 2, lambda s: [testing.Endless(interval=0.005)], frozenset({"APITimeoutError:total"}), None, SHORT_TOTAL),
)


@dataclass
class SoakReport:
    """Figures of one soak run, and what its checks found."""

    backend: str
    streams: int
    concurrency: int
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    left_early: int = 0
    requests: int = 0
    connections: int = 0
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_peak: float = 0.0
    blocks_start: int = 0
    blocks_end: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        failures = {k: v for k, v in sorted(self.outcomes.items()) if k != "ok"}
        lines = [
            f"soak on {self.backend}: {self.streams} streams, concurrency {self.concurrency}, "
            f"{self.seconds:.1f} s, {self.requests} requests on {self.connections} connections",
            f"  faults: {dict(sorted(self.faults.items()))}",
            f"  completed: {self.outcomes['ok']}, cancelled: {self.cancelled}, "
            f"left early: {self.left_early}",
            f"  failed by type: {failures}",
            f"  memory: RSS {self.rss_start:.1f} MiB after the warm-up round, {self.rss_end:.1f} "
            f"MiB after the last, peak {self.rss_peak:.1f} MiB; Python heap blocks "
            f"{self.blocks_start} -> {self.blocks_end} ({self.blocks_end - self.blocks_start:+d})",
            f"  checks: {'all passed' if self.ok else 'FAILED'}",
            *(f"  - {problem}" for problem in self.problems[:20]),
        ]
        return "\n".join(lines)


def _outcome_name(exc: ss.SudoError) -> str:
    name = type(exc).__name__
    if isinstance(exc, ss.APITimeoutError):
        return f"{name}:{exc.bound}"
    return name


class _Router:
    """Routes each request to its stream's script by the ``x-soak-id`` header."""

    def __init__(self, server: testing.FakeSudoServer) -> None:
        api = server._api  # the fake server's request -> response function
        self._fallback = api.respond
        self.scripts: dict[str, list[testing.ScriptedResponse]] = {}
        self.attempts: Counter[str] = Counter()
        api.respond = self.respond  # type: ignore[method-assign]

    def respond(self, request: Any) -> testing.ScriptedResponse:
        sid = request.headers.get("x-soak-id")
        if sid is None or sid not in self.scripts:
            return self._fallback(request)  # type: ignore[no-any-return]
        script = self.scripts[sid]
        attempt = self.attempts[sid]
        self.attempts[sid] += 1
        return script[min(attempt, len(script) - 1)]


async def soak(
    streams: int = 10_000,
    concurrency: int = 100,
    *,
    seed: int = 0,
    cancel_fraction: float = 0.1,
    leave_fraction: float = 0.05,
    rounds: int = 10,
    watch: bool = True,
) -> SoakReport:
    """Run the soak on the current event loop and return its report.

    Streams run in ``rounds`` (the first is a warm-up), ``concurrency`` at a time; between
    rounds nothing is in flight, and memory is measured there.
    """
    rng = random.Random(seed)
    random.seed(seed)  # the scripts' own choices
    backend = sniffio.current_async_library()
    report = SoakReport(backend=backend, streams=streams, concurrency=concurrency)
    plan = rng.choices(SCENARIOS, weights=[s.weight for s in SCENARIOS], k=streams)
    bounds = [streams * i // rounds for i in range(rounds + 1)]
    sockets_before = open_sockets()
    tasks_before = len(anyio.get_running_tasks())
    problems = report.problems
    started = time.monotonic()

    with BlockingCallDetector() as blocking, LeftBehind() as left_behind:
        async with AsyncExitStack() as stack:
            loop_report = await stack.enter_async_context(watch_loop(2.0)) if watch else None
            server = await stack.enter_async_context(testing.FakeSudoServer())
            router = _Router(server)
            sudo = await stack.enter_async_context(
                ss.AsyncSudo(
                    api_key="sk-soak-secret-0123456789",
                    server_url=server.url,
                    retries=FAST_RETRIES,
                    timeout=TIMEOUT,
                    max_event_size=64 * 1024,
                )
            )

            async def one(index: int) -> None:
                scenario = plan[index]
                sid = str(index)
                router.scripts[sid] = scenario.script(sid)
                report.faults[scenario.name] += 1
                cancel_after = rng.uniform(0.0, 0.05) if rng.random() < cancel_fraction else None
                leave_after = rng.randint(1, 4) if rng.random() < leave_fraction else None
                outcome = await _run_one(sudo, scenario, sid, cancel_after, leave_after, problems)
                attempts = router.attempts.pop(sid, 0)
                del router.scripts[sid]
                if outcome == "cancelled":
                    report.cancelled += 1
                elif outcome == "left":
                    report.left_early += 1
                else:
                    report.outcomes[outcome] += 1
                    if outcome not in scenario.outcomes:
                        problems.append(f"stream {sid} ({scenario.name}) ended {outcome}")
                    elif scenario.attempts not in (None, attempts):
                        problems.append(
                            f"stream {sid} ({scenario.name}) made {attempts} requests, "
                            f"not {scenario.attempts}"
                        )

            limiter = anyio.Semaphore(concurrency)

            async def limited(index: int) -> None:
                async with limiter:
                    await one(index)

            for number, (first, last) in enumerate(itertools.pairwise(bounds)):
                async with anyio.create_task_group() as group:
                    for index in range(first, last):
                        group.start_soon(limited, index)
                # Nothing in flight here; the server may still be writing to a client that
                # left (a loaded loop notices late), and its writes count into its records.
                # Once it holds just the connections the pool keeps, forget the records (they
                # grow with every request) and measure.
                await settle(lambda: server.stats.open_connections == pool_connections(sudo))
                report.requests += len(server.requests)
                _forget_records(server)
                gc.collect()
                blocks, (rss, _) = sys.getallocatedblocks(), rss_mib()
                if number == 0:
                    report.blocks_start, report.rss_start = blocks, rss
                report.blocks_end, report.rss_end = blocks, rss

            # The pool keeps idle connections alive: the server must hold just those.
            if not await settle(lambda: server.stats.open_connections == pool_connections(sudo)):
                problems.append(
                    f"server holds {server.stats.open_connections} connections, "
                    f"the pool {pool_connections(sudo)}"
                )
            # The pool still works.
            async with sudo.router.create_streaming(
                messages=MESSAGES, model="m", timeout=ss.Timeout(5)
            ) as stream:
                final = await stream.final_completion()
            if final.choices[0].message.content != testing.DEFAULT_REPLY:
                problems.append("the request after the soak got a wrong answer")
            del stream, final
            await sudo.aclose()
            if not await settle(lambda: server.stats.open_connections == 0):
                problems.append(f"{server.stats.open_connections} connections left open")
            report.connections = server.stats.total_connections
            if server.errors:
                problems.append(f"fake server errors: {server.errors[:3]!r}")
        report.seconds = time.monotonic() - started
        if loop_report is not None:
            problems.extend(loop_report.problems())

        gc.collect()  # what a leak left suspended or open warns about when collected
    problems.extend(blocking.violations[:5])
    problems.extend(left_behind.problems[:5])
    accounted = sum(report.outcomes.values()) + report.cancelled + report.left_early
    if accounted != streams:
        problems.append(f"{streams - accounted} streams unaccounted for")
    if not await settle(lambda: len(anyio.get_running_tasks()) <= tasks_before, 5.0):
        problems.append(f"tasks still running: {anyio.get_running_tasks()!r}"[:500])
    if sockets_before >= 0 and not await settle(lambda: open_sockets() <= sockets_before, 5.0):
        problems.append(f"{open_sockets() - sockets_before} sockets left open")
    leaked = live_objects(ss.ChatStream, httpx.Response)
    if leaked:
        problems.append(f"{leaked} streams or responses still alive")
    report.rss_peak = rss_mib()[1]
    # Python's heap back near where it was after the warm-up round (a leak of even one
    # small object per stream would show here).
    growth = report.blocks_end - report.blocks_start
    if rounds > 1 and growth > max(20_000, streams // 2):
        problems.append(f"Python heap grew by {growth} blocks")
    return report


class LeftBehind:
    """Collects ResourceWarnings and exceptions raised at garbage collection (an unclosed
    socket, an async generator left suspended), which Python otherwise only prints."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._catcher = warnings.catch_warnings(record=True)
        self._hook: Any = None

    def __enter__(self) -> LeftBehind:
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always", ResourceWarning)
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, unraisable: Any) -> None:
        self.problems.append(f"{unraisable.err_msg or 'exception ignored'}: {unraisable.exc_value!r}")

    def __exit__(self, *exc_info: object) -> None:
        sys.unraisablehook = self._hook
        self._catcher.__exit__(None, None, None)
        self.problems += [
            f"{record.category.__name__}: {record.message}"
            for record in self._records
            if issubclass(record.category, ResourceWarning)
        ]


def _forget_records(server: testing.FakeSudoServer) -> None:
    state = server._state  # the fake server keeps every request; only safe when idle
    state.requests.clear()
    state.written.clear()


async def _run_one(
    sudo: ss.AsyncSudo,
    scenario: Scenario,
    sid: str,
    cancel_after: float | None,
    leave_after: int | None,
    problems: list[str],
) -> str:
    """Run one stream; return ``ok``, ``cancelled``, ``left`` or the error's name."""
    stream: ss.ChatStream | None = None
    try:
        with anyio.fail_after(120):  # a hang is a failure, not a cancellation
            with anyio.CancelScope() as scope:
                if cancel_after is not None:
                    scope.deadline = anyio.current_time() + cancel_after
                async with sudo.router.create_streaming(
                    messages=MESSAGES,
                    model="m",
                    timeout=scenario.timeout,
                    extra_headers={"x-soak-id": sid},
                ) as stream:
                    if leave_after is None:
                        final = await stream.final_completion()
                    else:
                        count = 0
                        async for _ in stream:
                            count += 1
                            if count >= leave_after:
                                break
                        final = None
                outcome = "left" if final is None else "ok"
                if final is not None and final.choices[0].message.content != _text(sid):
                    problems.append(f"stream {sid}: wrong text {final.choices[0].message.content!r}")
            if scope.cancelled_caught:
                outcome = "cancelled"
    except ss.SudoError as exc:
        if scenario.partial and getattr(exc, "partial", None) is None:
            problems.append(f"stream {sid} ({scenario.name}): no partial in {exc!r}")
        outcome = _outcome_name(exc)
    except TimeoutError:
        outcome = "hang"
        problems.append(f"stream {sid} ({scenario.name}) hung")
    except Exception as exc:  # an untyped error is a failure of its own
        problems.append(f"stream {sid} ({scenario.name}): untyped {exc!r}")
        outcome = f"untyped {type(exc).__name__}"
    if stream is not None and not stream.closed:
        problems.append(f"stream {sid} ({scenario.name}): still open after {outcome}")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--backend", action="append", choices=["asyncio", "trio"], help="default: both"
    )
    parser.add_argument(
        "--no-watch",
        action="store_true",
        help="skip the slow-step watch (asyncio's debug mode costs about half the speed)",
    )
    args = parser.parse_args(argv)
    seed = random.randrange(1 << 30) if args.seed is None else args.seed
    status = 0
    for backend in args.backend or ["asyncio", "trio"]:
        report = anyio.run(
            lambda: soak(
                args.streams,
                args.concurrency,
                seed=seed,
                rounds=args.rounds,
                watch=not args.no_watch,
            ),
            backend=backend,
        )
        print(f"{report.summary()}\n  seed: {seed}", flush=True)
        status |= 0 if report.ok else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
