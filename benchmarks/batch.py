"""The batch part: ``sudo_stream.batch.run`` measured against its peers and its limits.

Run in :mod:`benchmarks.worker` processes (``batch-overhead``, ``batch-rate``,
``batch-memory``); each function here returns the part's result dicts.

- **Overhead**: the same JSONL file of non-streamed chat completions, sent at the same
  concurrency to the benchmark server (which answers each with one pre-built JSON
  completion), by ``batch.run`` (output as journal, input checked first, the limiter in
  the path), by the hand-written loop a user would write (an anyio task group, the same
  ``AsyncSudo``, ``create()`` per request, each answer written as a line), and by the
  OpenAI cookbook's approach (:mod:`benchmarks.cookbook`, asyncio only). Each round
  opens its own client, as a batch script does; rounds alternate between the clients.
- **Rate limits**: ``sudo_stream.testing.FakeSudoServer`` enforcing a
  ``RateLimit(rpm, tpm, window)``, and ``batch.run`` given the same limit (per minute:
  the server's per-window limit times ``60 / window``). Its rate-limit log says what was
  admitted in each window and refused with a 429, and the most sent in any window.
- **Memory**: the peak RSS of a process running ``batch.run`` over N input lines against
  the benchmark server, one fresh process per N.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .measure import Rounds, peak_rss_bytes, reset_peak_rss, rss_bytes, summary
from .workloads import COMPLETION

API_KEY = "sk-bench"
HEADERS = {"x-bench-stream": COMPLETION}
MODEL = "gpt-4o-mini"
MAX_TOKENS = 16
"""Each request's completion cap: above what every answer here uses, as a cap should be."""

OVERHEAD_CLIENTS = ("batch", "task-group", "cookbook")
LABELS = {
    "batch": "sudo_stream batch.run",
    "task-group": "hand-written anyio task group (same AsyncSudo)",
    "cookbook": "cookbook approach (asyncio + aiohttp)",
}
ASYNCIO_ONLY = ("cookbook",)


def write_requests(path: Path, count: int) -> None:
    """``count`` chat completion requests in the OpenAI Batch input format."""
    with open(path, "w") as out:
        for number in range(count):
            line = {
                "custom_id": f"req-{number}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": f"Question {number}: say hi."}],
                    "max_completion_tokens": MAX_TOKENS,
                },
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def check_output(path: Path, count: int) -> None:
    """Every id of the input exactly once, none an error."""
    seen: set[str] = set()
    with open(path, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("error"):
                raise AssertionError(f"{record['custom_id']}: {record['error']}")
            seen.add(record["custom_id"])
    if len(seen) != count:
        raise AssertionError(f"{len(seen):,} distinct ids in the output, expected {count:,}")


# -- the clients of the overhead measure --------------------------------------------------


def _client(url: str, **options: Any) -> Any:
    import sudo_stream

    return sudo_stream.AsyncSudo(api_key=API_KEY, server_url=url, **options)


async def run_batch(url: str, requests: Path, output: Path, concurrency: int) -> None:
    from sudo_stream import batch

    async with _client(url, default_headers=HEADERS) as sudo:
        await batch.run(sudo, requests, output, concurrency=concurrency, progress=False)


async def run_task_group(url: str, requests: Path, output: Path, concurrency: int) -> None:
    """What a user writes without ``batch``: read a line, wait for a slot, start a task
    that calls ``create()`` and writes the answer as a line. Lean on purpose: no check of
    the input, no resume, no rate limit, msgspec for the JSON."""
    import anyio
    import msgspec

    encode = msgspec.json.Encoder().encode
    slots = anyio.Semaphore(concurrency)
    async with _client(url, default_headers=HEADERS) as sudo:
        with open(requests, "rb") as lines, open(output, "wb") as out:  # noqa: ASYNC230

            async def one(custom_id: str, body: dict[str, Any]) -> None:
                try:
                    completion = await sudo.router.create(**body)
                finally:
                    slots.release()
                record = {
                    "custom_id": custom_id,
                    "response": {"status_code": 200, "body": completion},
                }
                out.write(encode(record) + b"\n")

            async with anyio.create_task_group() as tasks:
                for line in lines:
                    request = msgspec.json.decode(line)
                    await slots.acquire()
                    tasks.start_soon(one, request["custom_id"], request["body"])


async def run_cookbook(url: str, requests: Path, output: Path, concurrency: int) -> None:
    from . import cookbook

    tracker = await cookbook.process(
        url + "/v1/chat/completions",
        API_KEY,
        requests,
        output,
        max_requests_per_minute=1e9,  # no limit binds in this measure
        max_tokens_per_minute=1e12,
        max_in_flight=concurrency,
        headers=HEADERS,
    )
    if tracker.failed or tracker.other_errors:
        raise AssertionError(f"cookbook: {tracker.failed} failed, {tracker.other_errors} errors")


RUNS: dict[str, Callable[[str, Path, Path, int], Awaitable[None]]] = {
    "batch": run_batch,
    "task-group": run_task_group,
    "cookbook": run_cookbook,
}


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


async def overhead(args: argparse.Namespace) -> list[dict[str, Any]]:
    clients = [c for c in args.clients if not (args.backend != "asyncio" and c in ASYNCIO_ONLY)]
    rounds = Rounds(args.rounds, args.min_rounds, args.budget)
    times: dict[str, list[float]] = {client: [] for client in clients}
    cpu: dict[str, list[float]] = {client: [] for client in clients}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        requests = Path(scratch, "requests.jsonl")
        write_requests(requests, args.requests)
        warmup = Path(scratch, "warmup.jsonl")
        write_requests(warmup, min(args.requests, 200))
        for round_number in range(args.rounds + 1):  # round 0 warms up (imports, caches)
            for client in clients:
                if client in errors or (round_number and not rounds.wants_more(times[client])):
                    continue
                source = warmup if round_number == 0 else requests
                output = Path(scratch, f"{client}-{round_number}.jsonl")
                gc.collect()
                start_cpu = time.process_time()
                start = time.perf_counter()
                try:
                    await RUNS[client](args.url, source, output, args.concurrency)
                    elapsed = time.perf_counter() - start
                    used = time.process_time() - start_cpu
                    check_output(output, args.requests if round_number else min(args.requests, 200))
                except Exception as exc:
                    errors[client] = _error(exc)
                    continue
                finally:
                    output.unlink(missing_ok=True)  # noqa: ASYNC240 (between rounds)
                if round_number:
                    times[client].append(elapsed)
                    cpu[client].append(used)
    return [
        {
            "part": "batch",
            "measure": "overhead",
            "backend": args.backend,
            "client": client,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "error": errors.get(client),
            "cpu_min": min(cpu[client]) if cpu[client] else None,
            **summary(times[client]),
        }
        for client in clients
    ]


# -- rate limits -----------------------------------------------------------------------


PER_WINDOW = 300
"""Requests that the binding limit lets through a window, in both scenarios."""
FAKE_TOKENS = 14
"""Tokens the fake server counts for a request of :func:`write_requests`: its answer's
usage (4 prompt words and the 10 words of its default reply)."""


def rate_scenarios(window: float) -> list[dict[str, Any]]:
    """The server limits to run against: one where requests bind (tokens to spare), one
    where tokens do; each lets :data:`PER_WINDOW` requests through a window.

    ``window`` must be a multiple of 10 seconds (at most 60): ``batch.run`` takes limits
    per minute and holds them over any 60 seconds and, pro rata, over any 10 seconds (it
    paces a run); a server window of 10k seconds is covered by k of those 10-second
    windows, so the server's limit is met exactly. (Against a 15-second window, two
    10-second bursts could fall inside one.)"""
    if window <= 0 or window > 60 or window % 10:
        raise ValueError(f"the batch rate window must be 10, 20, 30 or 60 s, got {window:g}")
    tokens = PER_WINDOW * FAKE_TOKENS
    return [
        {"scenario": "requests", "rpm": PER_WINDOW, "tpm": tokens * 4, "window": window},
        {"scenario": "tokens", "rpm": PER_WINDOW * 4, "tpm": tokens, "window": window},
    ]


async def rate_limits(args: argparse.Namespace) -> list[dict[str, Any]]:
    scenario = json.loads(args.scenario)
    out = {
        "part": "batch",
        "measure": "rate",
        "backend": args.backend,
        **scenario,
        "windows_run": args.windows,
        "error": None,
    }
    try:
        out.update(await _rate_run(scenario, args.windows, args.concurrency, args.server_cpu))
    except Exception as exc:
        out["error"] = _error(exc)
    return [out]


async def _rate_run(
    scenario: dict[str, Any], windows: int, concurrency: int, server_cpu: int
) -> dict[str, Any]:
    import anyio

    from sudo_stream import batch

    window = float(scenario["window"])
    # The same limit, per minute: the server's per window, times the windows in a minute.
    rpm = None if scenario["rpm"] is None else math.floor(scenario["rpm"] * 60 / window)
    tpm = None if scenario["tpm"] is None else math.floor(scenario["tpm"] * 60 / window)
    per_window = min(scenario["rpm"] or math.inf, (scenario["tpm"] or math.inf) / FAKE_TOKENS)
    count = int(per_window * (windows + 2))  # more than the run can send: it is stopped
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        requests = Path(scratch, "requests.jsonl")
        write_requests(requests, count)
        with LimitedServer(scenario, server_cpu) as server:
            started = time.monotonic()
            report = None
            async with _client(server.url) as sudo:
                with anyio.move_on_after(windows * window + 2.0):
                    report = await batch.run(
                        sudo, requests, Path(scratch, "out.jsonl"),
                        concurrency=concurrency, rpm=rpm, tpm=tpm, progress=False,
                    )  # fmt: skip
            stopped = time.monotonic()
        usage = server.usage
    if report is not None:
        raise AssertionError(f"the input ran out before {windows} windows: {report}")
    admitted = [(at, tokens) for at, tokens, ok in usage["entries"] if ok]
    if not admitted:
        raise AssertionError("the server admitted nothing")
    first = admitted[0][0]
    whole = min(windows, int((stopped - first) // window))
    counted = [{"requests": 0, "tokens": 0} for _ in range(whole)]
    for at, tokens in admitted:
        index = int((at - first) // window)
        if index < whole:
            counted[index]["requests"] += 1
            counted[index]["tokens"] += tokens
    return {
        "batch_rpm": rpm,
        "batch_tpm": tpm,
        "windows": counted,
        "admitted": usage["admitted"],
        "refused": usage["refused"],
        "tokens_admitted": usage["tokens_admitted"],
        "max_requests_sent": usage["max_requests_sent"],
        "max_tokens_sent": usage["max_tokens_sent"],
        "refused_at": [at - first for at, _, ok in usage["entries"] if not ok][:20],
        "seconds": stopped - started,
        "first_request_after": first - started,
    }


class LimitedServer:
    """:mod:`benchmarks.limited_server` in a child process: ``url`` while it runs,
    ``usage`` (what it logged) once the ``with`` block is over."""

    def __init__(self, scenario: dict[str, Any], cpu: int) -> None:
        self._command = [
            sys.executable, "-m", "benchmarks.limited_server", "--api-key", API_KEY,
            "--window", str(scenario["window"]), "--cpu", str(cpu),
        ]  # fmt: skip
        for name in ("rpm", "tpm"):
            if scenario[name] is not None:
                self._command += [f"--{name}", str(scenario[name])]
        self.url = ""
        self.usage: dict[str, Any] = {}

    def __enter__(self) -> LimitedServer:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("url "):
            self._process.kill()
            raise RuntimeError(f"the rate-limited server did not start (said {line!r})")
        self.url = line.split()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        out, _ = self._process.communicate(timeout=60)  # closes its stdin: it reports, exits
        for line in out.splitlines():
            if line.startswith("usage "):
                self.usage = json.loads(line[len("usage ") :])
        if not self.usage and exc_info[0] is None:
            raise RuntimeError(f"the rate-limited server exited {self._process.returncode}")


# -- memory ----------------------------------------------------------------------------


async def memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    out: dict[str, Any] = {
        "part": "batch",
        "measure": "memory",
        "backend": args.backend,
        "lines": args.requests,
        "concurrency": args.concurrency,
        "error": None,
    }
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        requests = Path(scratch, "requests.jsonl")
        output = Path(scratch, "out.jsonl")
        write_requests(requests, args.requests)
        warmup = Path(scratch, "warmup.jsonl")
        write_requests(warmup, 200)
        try:
            # imports, caches and the allocator's first arenas, outside the measure
            await run_batch(args.url, warmup, Path(scratch, "warmup-out.jsonl"), args.concurrency)
            gc.collect()
            can_reset = reset_peak_rss()
            base = rss_bytes()
            start = time.perf_counter()
            await run_batch(args.url, requests, output, args.concurrency)
            wall = time.perf_counter() - start
            peak = peak_rss_bytes()
            check_output(output, args.requests)
        except Exception as exc:
            out["error"] = _error(exc)
            return [out]
        out["input_bytes"] = requests.stat().st_size  # noqa: ASYNC240 (after the measure)
        out["output_bytes"] = output.stat().st_size  # noqa: ASYNC240
    out.update(
        wall=wall,
        base_rss=base,
        peak_rss=peak if can_reset else None,
        growth=None if not can_reset or peak is None or base is None else peak - base,
    )
    return [out]
