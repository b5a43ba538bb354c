"""One measuring process: ``python -m benchmarks.worker PART [options]``.

The runner starts a fresh worker for each part and event loop (and, for the concurrency
part, for each client, so that its memory figures hold nothing else). A worker prints its
results as one JSON line starting with ``RESULT``. Parts:

- ``throughput``: every client drains each big stream, rounds interleaved across clients
  (so drift in machine load hits them alike), under :class:`~benchmarks.measure.Rounds`;
- ``latency``: every client reads the ``latency`` stream (first chunk, a pause, the rest)
  many times, interleaved; the time from the call to the first chunk is recorded;
- ``concurrency``: one client opens ``streams`` streams at once and drains them all;
  wall time, CPU time, peak RSS growth, and (``--tracemalloc``) the traced peak; the
  server holds every stream after its first event until all have started;
- ``bulk``: the same, but the server sends every stream whole at once (a batch of fast
  answers: many sockets readable at the same time, streams ending as fast as read);
- ``batch-overhead``, ``batch-rate``, ``batch-memory``: the batch part, in
  :mod:`benchmarks.batch`;
- ``sse`` and ``core``: the in-memory benchmarks of :mod:`benchmarks.bench_sse` and
  :mod:`benchmarks.bench_core`, on the bytes the server sends;
- ``structured``: :mod:`benchmarks.bench_structured` (in memory: structured outputs
  against openai-python and instructor);
- ``responses``: :mod:`benchmarks.bench_responses` (in memory: a Responses API stream
  against openai-python's);
- ``otel``: :mod:`benchmarks.bench_otel` (in memory: a call's cost with OpenTelemetry on
  and off).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import sys
import time
import tracemalloc
from contextlib import AsyncExitStack

from .clients import COUNTS_BYTES, COUNTS_CHUNKS, DRIVERS, Driver
from .measure import (
    Rounds,
    peak_rss_bytes,
    pin_to_cpu,
    reset_peak_rss,
    rss_bytes,
    summary,
)
from .workloads import Sizes, Workload, all_workloads, text_length

THROUGHPUT_STREAMS = ("content", "tool")
BURST = 3
"""Latency: streams a client reads in a row; only the last is a sample."""


_TEXT_LENGTHS: dict[str, int] = {}


def expected(driver: Driver, workload: Workload) -> int:
    """What a correct :meth:`Driver.drain` of ``workload`` returns (computed once)."""
    if driver.counts == COUNTS_CHUNKS:
        return workload.chunks
    if driver.counts == COUNTS_BYTES:
        return workload.body_bytes
    if workload.name not in _TEXT_LENGTHS:
        _TEXT_LENGTHS[workload.name] = text_length(workload)
    return _TEXT_LENGTHS[workload.name]


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


def _check(driver: Driver, workload: Workload, got: int) -> None:
    want = expected(driver, workload)
    if got != want:
        raise AssertionError(f"{driver.name} got {got} {driver.counts}, expected {want}")


async def _drain_checked(driver: Driver, workload: Workload) -> None:
    _check(driver, workload, await driver.drain(workload.name))


async def _open_all(stack: AsyncExitStack, names: list[str], url: str) -> dict[str, Driver]:
    drivers = {}
    for name in names:
        drivers[name] = await stack.enter_async_context(DRIVERS[name](url))
    return drivers


async def throughput(args: argparse.Namespace, workloads: dict[str, Workload]) -> list[dict]:
    rounds = Rounds(args.rounds, args.min_rounds, args.budget)
    results = []
    async with AsyncExitStack() as stack:
        drivers = await _open_all(stack, args.clients, args.url)
        for driver in drivers.values():
            for _ in range(2):  # imports, caches, the connection
                await _drain_checked(driver, workloads["warmup"])
        for stream in THROUGHPUT_STREAMS:
            workload = workloads[stream]
            times: dict[str, list[float]] = {name: [] for name in drivers}
            cpu: dict[str, list[float]] = {name: [] for name in drivers}
            errors: dict[str, str] = {}
            for _ in range(rounds.rounds):
                for name, driver in drivers.items():
                    if name in errors or not rounds.wants_more(times[name]):
                        continue
                    expected(driver, workload)  # computed before the clock starts
                    gc.collect()
                    start_cpu = time.process_time()
                    start = time.perf_counter()
                    try:
                        got = await driver.drain(stream)
                        elapsed = time.perf_counter() - start
                        used = time.process_time() - start_cpu
                        _check(driver, workload, got)
                    except Exception as exc:
                        errors[name] = _error(exc)
                        continue
                    times[name].append(elapsed)
                    cpu[name].append(used)
            for name in drivers:
                results.append(
                    {
                        "part": "throughput",
                        "backend": args.backend,
                        "stream": stream,
                        "client": name,
                        "chunks": workload.chunks,
                        "bytes": workload.body_bytes,
                        "error": errors.get(name),
                        "cpu_median": statistics.median(cpu[name]) if cpu[name] else None,
                        **summary(times[name]),
                    }
                )
    return results


async def latency(args: argparse.Namespace, workloads: dict[str, Workload]) -> list[dict]:
    workload = workloads["latency"]
    samples: dict[str, list[float]] = {name: [] for name in args.clients}
    async with AsyncExitStack() as stack:
        drivers = await _open_all(stack, args.clients, args.url)
        for driver in drivers.values():
            expected(driver, workload)
            for _ in range(2):
                await driver.first(workload.name)
        order = list(drivers.items())
        for sample in range(args.samples):
            gc.collect()  # between rounds; none inside one
            gc.disable()
            try:
                # Each round starts with another client, so none is always first, and each
                # client reads BURST streams in a row, keeping the last: the first after
                # another client pays for that one's cache and pool state, not its own.
                shift = sample % len(order)
                for name, driver in order[shift:] + order[:shift]:
                    for _ in range(BURST):
                        first, got = await driver.first(workload.name)
                    if got != expected(driver, workload) or first is None:
                        raise AssertionError(f"{name}: bad latency sample ({first}, {got})")
                    samples[name].append(first)
            finally:
                gc.enable()
    raw = samples.get("raw")
    results = []
    for name, times in samples.items():
        added = added_min = None
        if raw is not None:
            added = statistics.median(t - r for t, r in zip(times, raw, strict=True))
            added_min = min(times) - min(raw)
        results.append(
            {
                "part": "latency",
                "backend": args.backend,
                "client": name,
                "pause_ms": args.pause_ms,
                "added_median": added,
                "added_min": added_min,
                **summary(times),
            }
        )
    return results


async def concurrency(args: argparse.Namespace, workloads: dict[str, Workload]) -> list[dict]:
    import anyio

    (name,) = args.clients
    if args.part == "bulk":
        workload = workloads["small"]  # sent whole, as soon as each request arrives
    else:
        # Held by the server after its first event until all the run's streams have
        # started, so that they are all open at once, whatever the client's pool does.
        workload = dataclasses.replace(workloads["small"], name=f"small/{args.streams}")
    failures: list[str] = []
    async with DRIVERS[name](args.url) as driver:
        await _drain_checked(driver, workloads["warmup"])  # imports, caches, one connection

        async def one() -> None:
            try:
                await _drain_checked(driver, workload)
            except Exception as exc:
                failures.append(_error(exc))

        before = await server_stats(args.url)
        gc.collect()
        can_reset = reset_peak_rss()
        base_rss = rss_bytes()
        if args.tracemalloc:
            tracemalloc.start()
        start_cpu = time.process_time()
        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(args.streams):
                group.start_soon(one)
        wall = time.perf_counter() - start
        cpu = time.process_time() - start_cpu
        traced_peak = None
        if args.tracemalloc:
            traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        peak = peak_rss_bytes()
        after = await server_stats(args.url)
    rss_growth = None
    if can_reset and peak is not None and base_rss is not None:
        rss_growth = max(peak - base_rss, 0)
    return [
        {
            "part": args.part,
            "backend": args.backend,
            "client": name,
            "streams": args.streams,
            "chunks": workload.chunks,
            "tracemalloc": bool(args.tracemalloc),
            "wall": wall,
            "cpu": cpu,
            "rss_growth": rss_growth,
            "traced_peak": traced_peak,
            "connections": after["accepted"] - before["accepted"],
            "peak_open": after["peak_open"],
            "error": f"{len(failures)} streams failed: {failures[0]}" if failures else None,
        }
    ]


async def server_stats(url: str) -> dict[str, int]:
    """The stream server's connection counts (``GET /stats``), on a connection of its own."""
    import httpx

    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(url + "/stats")
        stats: dict[str, int] = response.raise_for_status().json()
    return stats


def in_memory(args: argparse.Namespace, workloads: dict[str, Workload]) -> list[dict]:
    if args.part == "sse":
        from . import bench_sse

        body = workloads["content"].body
        results = []
        for split in ("event", "64k"):
            for row in bench_sse.run(
                args.rounds,
                body=body,
                piece_size=None if split == "event" else bench_sse.PIECE_SIZE,
            ):
                results.append({"part": "sse", "split": split, **row})
        return results
    from . import bench_core

    return [
        {"part": "core", **row}
        for row in bench_core.run(
            args.rounds, bodies={name: workloads[name].body for name in THROUGHPUT_STREAMS}
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part",
        choices=[
            "throughput", "latency", "concurrency", "bulk", "sse", "core",
            "batch-overhead", "batch-rate", "batch-memory", "structured", "responses",
            "otel",
        ],
    )  # fmt: skip
    parser.add_argument("--url", default="")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--clients", default="", type=lambda s: [c for c in s.split(",") if c])
    parser.add_argument("--sizes", default="", help="JSON of benchmarks.workloads.Sizes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-rounds", type=int, default=2)
    parser.add_argument("--budget", type=float, default=12.0)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--pause-ms", type=float, default=20.0)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--cpu", type=int, default=-1)
    parser.add_argument("--requests", type=int, default=5000, help="batch: input lines")
    parser.add_argument("--concurrency", type=int, default=64, help="batch: in flight")
    parser.add_argument("--scenario", default="{}", help="batch-rate: the limit, JSON")
    parser.add_argument("--windows", type=int, default=3, help="batch-rate: windows to run")
    parser.add_argument("--server-cpu", type=int, default=-1, help="batch-rate: its server's CPU")
    parser.add_argument(
        "--structured", default="{}", help="structured: bench_structured.run's sizes, JSON"
    )
    parser.add_argument("--words", type=int, default=4_000, help="responses: text deltas")
    parser.add_argument("--calls", type=int, default=300, help="otel: calls a round")
    args = parser.parse_args(argv)
    pin_to_cpu(args.cpu)
    if args.part == "structured":  # in memory, on answers of its own
        from . import bench_structured

        results = bench_structured.run(**json.loads(args.structured))
        sys.stdout.write("RESULT " + json.dumps(results) + "\n")
        return
    if args.part == "responses":  # in memory, on a stream of its own
        from . import bench_responses

        results = bench_responses.run(args.rounds, words=args.words)
        sys.stdout.write("RESULT " + json.dumps(results) + "\n")
        return
    if args.part == "otel":  # in memory, over mock transports
        from . import bench_otel

        results = bench_otel.run(args.rounds, calls=args.calls)
        sys.stdout.write("RESULT " + json.dumps(results) + "\n")
        return
    sizes = Sizes(**json.loads(args.sizes)) if args.sizes else Sizes()
    workloads = all_workloads(sizes)
    if args.part in ("sse", "core"):
        results = in_memory(args, workloads)
    elif args.part.startswith("batch-"):
        import anyio

        from . import batch

        measure = {
            "batch-overhead": batch.overhead,
            "batch-rate": batch.rate_limits,
            "batch-memory": batch.memory,
        }[args.part]
        results = anyio.run(measure, args, backend=args.backend)
    else:
        import anyio

        part = {
            "throughput": throughput,
            "latency": latency,
            "concurrency": concurrency,
            "bulk": concurrency,
        }
        results = anyio.run(part[args.part], args, workloads, backend=args.backend)
    sys.stdout.write("RESULT " + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
