"""The run: start the stream server, run every part in fresh worker processes, collect.

The runner itself imports no client library: each measurement happens in a
:mod:`benchmarks.worker` process (one per part and event loop, and one per client and
round for the concurrency part), pinned to CPU 0 while the server has CPU 1 (on a
machine with at least two). Results are plain dicts, ready for :mod:`benchmarks.report`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Container, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .clients import DRIVERS, supports
from .measure import Rounds, import_time
from .server import ServerProcess
from .workloads import FULL, Sizes

BATCH_CLIENTS = ("batch", "task-group", "cookbook")

PARTS = ("imports", "sse", "core", "throughput", "latency", "concurrency", "bulk")
"""The default run's parts."""
OPT_IN_PARTS = ("batch", "structured", "responses", "otel")
"""Run only when asked for (``--parts batch``) or with ``--full``: the batch part takes
~5 minutes, and its rate-limit measure waits on the clock, not on the machine; the
structured-output part (under a minute) measures a feature, not the streaming path that the
default run's targets are about; the Responses part (under a minute) measures the other
API's stream, in memory; the OpenTelemetry part (about a minute) what OpenTelemetry adds
to a call, in memory."""
ALL_PARTS = PARTS + OPT_IN_PARTS
BACKENDS = ("asyncio", "trio")
THROUGHPUT_CLIENTS = tuple(DRIVERS)
LATENCY_CLIENTS = ("raw", "httpx-sse", "openai", "openai-helper", "sudo-ai", "sudo_stream")
CONCURRENCY_CLIENTS = ("raw", "sudo_stream", "openai", "sudo-ai")
SLOW_CONCURRENCY = ("sudo-ai",)
"""Left out of the concurrency part unless ``--full`` (sudo-ai alone takes ~90 s there)."""
BULK_CLIENTS = ("raw", "sudo_stream", "openai")
SLOW_BULK = ("openai",)
"""Left out of the bulk part unless ``--full`` (no target; ~10 s a round for 500 streams)."""
IMPORTS = {
    "httpx": "import httpx",
    "sudo_stream": "import sudo_stream",
    "sudo_stream + AsyncSudo": "import sudo_stream; sudo_stream.AsyncSudo",
    "openai": "import openai",
    "sudo_ai": "import sudo_ai",
}


@dataclass
class Plan:
    """What to run and how hard; the command line fills it in."""

    parts: tuple[str, ...] = PARTS
    backends: tuple[str, ...] = BACKENDS
    clients: tuple[str, ...] = THROUGHPUT_CLIENTS
    sizes: Sizes = FULL
    rounds: Rounds = field(default_factory=Rounds)
    # ~4 s a round for the fast clients, whose wall time varies by a second between
    # rounds here: five rounds each; the slow ones (~25 s) get one.
    concurrency_rounds: Rounds = field(default_factory=lambda: Rounds(5, 3, 25.0))
    """Three rounds at least: memory growth depends on when the garbage collector runs,
    and one sample of it can be a fifth off."""
    bulk_rounds: Rounds = field(default_factory=lambda: Rounds(5, 3, 25.0))
    full: bool = False
    """Also run the slow peers in the concurrency part."""
    core_rounds: int = 1
    sse_rounds: int = 7
    latency_samples: int = 30
    pause_ms: float = 20.0
    import_repeat: int = 7
    tracemalloc_streams: int = 0
    """When > 0, also run each concurrency client under tracemalloc with this many streams."""
    server_lifetime: float = 1800.0
    batch_requests: int = 3_000
    """Batch overhead: requests per round."""
    batch_concurrency: int = 64
    batch_rounds: Rounds = field(default_factory=lambda: Rounds(5, 3, 25.0))
    batch_lines: tuple[int, ...] = (10_000, 100_000)
    """Batch memory: input lines, one fresh process each."""
    batch_window: float = 10.0
    """Batch rate limits: the fake server's window, in seconds (10, 20, 30 or 60: see
    :func:`benchmarks.batch.rate_scenarios`)."""
    batch_windows: int = 3
    """Batch rate limits: whole windows measured per scenario."""
    structured_rounds: int = 7
    structured_parse_items: tuple[int, ...] = (20, 200)
    """Structured outputs, parsing: line items in the answers parsed whole."""
    structured_partial_items: tuple[int, ...] = (20, 50)
    """Structured outputs, partial objects against instructor: line items per answer
    (instructor's cost per chunk grows with the answer, so a round of 50 takes ~1 s)."""
    structured_linear_items: int = 100
    """Structured outputs, linearity: ours at this many line items, twice and four times."""

    responses_rounds: int = 7
    responses_words: int = 4_000
    """The Responses stream: text deltas (one word each) of the response streamed."""

    otel_rounds: int = 7
    otel_calls: int = 300
    """OpenTelemetry: calls a round, per configuration and kind of call."""

    def structured(self) -> dict[str, Any]:
        """The structured part's sizes, as :func:`benchmarks.bench_structured.run` takes them."""
        return {
            "rounds": self.structured_rounds,
            "parse_items": self.structured_parse_items,
            "partial_items": self.structured_partial_items,
            "linear_items": self.structured_linear_items,
        }

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _cpus() -> tuple[int, int]:
    """(server CPU, worker CPU): separate cores when there are two, else no pinning."""
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            return cpus[-1], cpus[0]
    return -1, -1


_STARTED = time.monotonic()


def _log(message: str) -> None:
    print(f"{time.monotonic() - _STARTED:6.1f}s {message}", file=sys.stderr, flush=True)


class Runner:
    """Runs a :class:`Plan`; :meth:`run` returns ``{part: [result dicts]}``."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.server_cpu, self.worker_cpu = _cpus()
        self._sizes = json.dumps(asdict(plan.sizes))
        self.failures: list[str] = []

    def run(self) -> dict[str, Any]:
        plan = self.plan
        started = time.monotonic()
        results: dict[str, Any] = {part: [] for part in ALL_PARTS}
        if "imports" in plan.parts:
            results["imports"] = self.imports()
        for part in ("sse", "core"):
            if part in plan.parts:
                _log(f"[{part}] in memory")
                rounds = plan.sse_rounds if part == "sse" else plan.core_rounds
                results[part] = self.worker(part, "--rounds", str(rounds))
        if "structured" in plan.parts:
            _log("[structured] in memory")
            results["structured"] = self.worker(
                "structured", "--structured", json.dumps(plan.structured())
            )
        if "responses" in plan.parts:
            _log(f"[responses] in memory: {plan.responses_words:,} text deltas")
            results["responses"] = self.worker(
                "responses",
                "--rounds",
                str(plan.responses_rounds),
                "--words",
                str(plan.responses_words),
            )
        if "otel" in plan.parts:
            _log(f"[otel] in memory: {plan.otel_calls:,} calls a round")
            results["otel"] = self.worker(
                "otel", "--rounds", str(plan.otel_rounds), "--calls", str(plan.otel_calls)
            )
        if {"throughput", "latency", "concurrency", "bulk", "batch"} & set(plan.parts):
            with ServerProcess(
                plan.sizes,
                pause_ms=plan.pause_ms,
                lifetime=plan.server_lifetime,
                cpu=self.server_cpu,
            ) as url:
                for backend in plan.backends:
                    self._served(url, backend, results)
                if "batch" in plan.parts:
                    results["batch"] += self.batch_once(url, plan.backends[0])
        results["seconds"] = time.monotonic() - started
        results["failures"] = self.failures
        return results

    def _served(self, url: str, backend: str, results: dict[str, Any]) -> None:
        plan = self.plan
        common = ["--url", url, "--backend", backend]
        if "throughput" in plan.parts:
            clients = [c for c in plan.clients if supports(c, backend)]
            _log(f"[throughput {backend}] {', '.join(clients)}")
            results["throughput"] += self.worker(
                "throughput",
                *common,
                "--clients",
                ",".join(clients),
                "--rounds",
                str(plan.rounds.rounds),
                "--min-rounds",
                str(plan.rounds.min_rounds),
                "--budget",
                str(plan.rounds.budget),
            )
        if "latency" in plan.parts:
            clients = [c for c in LATENCY_CLIENTS if c in plan.clients and supports(c, backend)]
            _log(f"[latency {backend}] {', '.join(clients)}")
            results["latency"] += self.worker(
                "latency",
                *common,
                "--clients",
                ",".join(clients),
                "--samples",
                str(plan.latency_samples),
                "--pause-ms",
                str(plan.pause_ms),
            )
        if "concurrency" in plan.parts:
            clients = _chosen(plan, CONCURRENCY_CLIENTS, SLOW_CONCURRENCY, backend)
            results["concurrency"] += self.concurrency(common, clients, backend)
        if "bulk" in plan.parts:
            clients = _chosen(plan, BULK_CLIENTS, SLOW_BULK, backend)
            for streams in plan.sizes.bulk_streams:
                results["bulk"] += self.concurrency(
                    common, clients, backend, part="bulk", streams=streams
                )
        if "batch" in plan.parts:
            clients = list(BATCH_CLIENTS)
            _log(
                f"[batch overhead {backend}] {', '.join(clients)}: {plan.batch_requests:,} requests"
            )
            results["batch"] += self.worker(
                "batch-overhead",
                *common,
                "--clients",
                ",".join(clients),
                "--requests",
                str(plan.batch_requests),
                "--concurrency",
                str(plan.batch_concurrency),
                "--rounds",
                str(plan.batch_rounds.rounds),
                "--min-rounds",
                str(plan.batch_rounds.min_rounds),
                "--budget",
                str(plan.batch_rounds.budget),
            )

    def batch_once(self, url: str, backend: str) -> list[dict[str, Any]]:
        """The batch part's rate-limit and memory measures, on one event loop."""
        from .batch import rate_scenarios

        plan = self.plan
        out: list[dict[str, Any]] = []
        concurrency = ["--concurrency", str(plan.batch_concurrency), "--backend", backend]
        for scenario in rate_scenarios(plan.batch_window):
            _log(
                f"[batch rate {backend}] {scenario['scenario']} bound: "
                f"{plan.batch_windows} windows of {plan.batch_window:g} s"
            )
            out += self.worker(
                "batch-rate",
                *concurrency,
                "--scenario",
                json.dumps(scenario),
                "--windows",
                str(plan.batch_windows),
                "--server-cpu",
                str(self.server_cpu),
            )
        for lines in plan.batch_lines:
            _log(f"[batch memory {backend}] {lines:,} lines")
            out += self.worker("batch-memory", *concurrency, "--url", url, "--requests", str(lines))
        return out

    def concurrency(
        self,
        common: list[str],
        clients: list[str],
        backend: str,
        *,
        part: str = "concurrency",
        streams: int = 0,
    ) -> list[dict[str, Any]]:
        """Fresh processes per round, the clients taking turns round by round (a drift in
        load hits them alike), then one traced run each if asked (concurrency only)."""
        plan = self.plan
        streams = streams or plan.sizes.concurrent_streams
        rounds = plan.bulk_rounds if part == "bulk" else plan.concurrency_rounds
        runs: dict[str, list[dict[str, Any]]] = {client: [] for client in clients}
        walls: dict[str, list[float]] = {client: [] for client in clients}
        active = list(clients)
        while active:
            for client in list(active):
                if not rounds.wants_more(walls[client]):
                    active.remove(client)
                    continue
                _log(
                    f"[{part} {backend}] {client}: {streams} streams, "
                    f"round {len(walls[client]) + 1}"
                )
                got = self.worker(part, *common, "--clients", client, "--streams", str(streams))
                if got:
                    runs[client].append(got[0])
                if not got or got[0]["error"]:
                    active.remove(client)
                    continue
                walls[client].append(got[0]["wall"])
        out: list[dict[str, Any]] = []
        for client in clients:
            out += runs[client]
            traced = part == "concurrency" and plan.tracemalloc_streams > 0
            if traced and runs[client] and not runs[client][-1]["error"]:
                _log(f"[concurrency {backend}] {client}: traced, {plan.tracemalloc_streams} streams")
                out += self.worker(
                    "concurrency",
                    *common,
                    "--clients",
                    client,
                    "--streams",
                    str(plan.tracemalloc_streams),
                    "--tracemalloc",
                )
        return out

    def imports(self) -> list[dict[str, Any]]:
        out = []
        for name, statement in IMPORTS.items():
            _log(f"[imports] {statement}")
            out.append(
                {"part": "imports", "name": name, **import_time(statement, self.plan.import_repeat)}
            )
        return out

    def worker(self, part: str, *args: str) -> list[dict[str, Any]]:
        """Run one worker process and return its results."""
        command = [
            sys.executable,
            "-m",
            "benchmarks.worker",
            part,
            "--sizes",
            self._sizes,
            "--cpu",
            str(self.worker_cpu),
            *args,
        ]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                results: list[dict[str, Any]] = json.loads(line[len("RESULT ") :])
                return results
        failure = f"worker {part} {' '.join(args)} failed (exit {done.returncode})"
        _log(failure)
        self.failures.append(failure)
        return []


def _chosen(plan: Plan, candidates: Iterable[str], slow: Container[str], backend: str) -> list[str]:
    """The clients of a part that this run measures: asked for, able to run on
    ``backend``, and not among the slow ones unless the run is ``--full``."""
    return [
        client
        for client in candidates
        if (plan.full or client not in slow) and client in plan.clients and supports(client, backend)
    ]
