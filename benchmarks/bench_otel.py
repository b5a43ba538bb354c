"""What OpenTelemetry adds to a call (issue 18): the same calls with no hooks, with an
empty ``ss.Hooks`` (the hook machinery alone), and with
:class:`sudo_stream.otel.OpenTelemetryHooks` on the API's no-ops (no SDK) and on an SDK
(a ``TracerProvider`` whose ``SimpleSpanProcessor`` exports each span at its end to an
``InMemorySpanExporter``, a ``MeterProvider`` with an ``InMemoryMetricReader``: the work a
real exporter's batching processor starts from, without its I/O).

The calls, each client over an in-memory ``httpx.MockTransport`` (so that the time is the
client's alone, no server or socket in it): ``create()``, a non-streamed chat completion
with usage; and a stream of ``CHUNKS`` content chunks with usage, read with
``final_completion()`` (its per-chunk work is the same with or without hooks: they run
per call, and once at the first chunk).

Timing: the configurations take turns in each round (so drift in load hits them alike),
``calls`` calls a round each; µs per call of the best round, and the best round's
difference to no hooks: the cost OpenTelemetry adds to a call. Each round first checks
that the SDK configuration made a span per call.

Run: ``python -m benchmarks.bench_otel [rounds] [calls]``.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

CHUNKS = 50
BACKENDS = ("asyncio", "trio")
CONFIGS = (
    "no hooks",
    "empty ss.Hooks()",
    "OpenTelemetryHooks, no SDK (API no-ops)",
    "OpenTelemetryHooks, SDK (in-memory exporter)",
)
CALLS = ("create()", f"stream of {CHUNKS} chunks, final_completion()")
QUESTION = [{"role": "user", "content": "How do streams end?"}]


def _bodies() -> tuple[bytes, list[bytes]]:
    """The JSON answer of ``create()`` and the SSE pieces of the stream."""
    from sudo_stream import testing

    chunks = testing.text_chunks(" ".join(["word"] * CHUNKS), model="gpt-bench")
    completion = testing.completion_from_chunks(chunks)
    events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
    return json.dumps(completion).encode(), events


async def _measure(rounds: int, calls: int, backend: str) -> list[dict[str, Any]]:
    import httpx
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import sudo_stream as ss
    from sudo_stream.otel import OpenTelemetryHooks

    answer, events = _bodies()

    async def streamed() -> Any:
        for event in events:
            yield event

    def respond(request: httpx.Request) -> httpx.Response:
        if b'"stream":true' in request.content:
            return httpx.Response(
                200, content=streamed(), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    hooks: dict[str, Any] = {
        "no hooks": None,
        "empty ss.Hooks()": [ss.Hooks()],
        "OpenTelemetryHooks, no SDK (API no-ops)": [OpenTelemetryHooks()],
        "OpenTelemetryHooks, SDK (in-memory exporter)": [
            OpenTelemetryHooks(tracer_provider=tracer_provider, meter_provider=meter_provider)
        ],
    }
    cases: dict[tuple[str, str], Callable[[], Awaitable[Any]]] = {}
    async with AsyncExitStack() as stack:
        for config, hook in hooks.items():
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.MockTransport(respond))
            )
            sudo = await stack.enter_async_context(
                ss.AsyncSudo(
                    api_key="k", server_url="http://bench.test", http_client=http, hooks=hook
                )
            )

            async def create(sudo: ss.AsyncSudo = sudo) -> Any:
                return await sudo.router.create(messages=QUESTION, model="gpt-bench")

            async def stream(sudo: ss.AsyncSudo = sudo) -> Any:
                async with sudo.router.create_streaming(
                    messages=QUESTION, model="gpt-bench", stream_options={"include_usage": True}
                ) as s:
                    return await s.final_completion()

            cases[(config, CALLS[0])] = create
            cases[(config, CALLS[1])] = stream
        for call in cases.values():  # warm up, and check the answers
            completion = await call()
            assert completion.usage is not None and completion.choices[0].message.content
        times: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
        for _ in range(rounds):
            for key, call in cases.items():
                exporter.clear()
                gc.collect()
                start = time.perf_counter()
                for _ in range(calls):
                    await call()
                times[key].append((time.perf_counter() - start) / calls)
                if key[0] == CONFIGS[3] and len(exporter.get_finished_spans()) != calls:
                    raise AssertionError("the SDK configuration did not make a span per call")
    return [
        {
            "part": "otel",
            "backend": backend,
            "config": config,
            "call": call,
            "calls": calls,
            "rounds": len(t),
            "min_s": min(t),
            "median_s": statistics.median(t),
            "max_s": max(t),
        }
        for (config, call), t in times.items()
    ]


def run(rounds: int = 7, *, calls: int = 300) -> list[dict[str, Any]]:
    """Every configuration and call on each loop; one dict per (loop, configuration, call)."""
    import anyio

    out: list[dict[str, Any]] = []
    for backend in BACKENDS:
        out += anyio.run(_measure, rounds, calls, backend, backend=backend)
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rows = run(rounds, calls=calls)
    best = {(r["backend"], r["call"]): r["min_s"] for r in rows if r["config"] == CONFIGS[0]}
    for r in rows:
        added = (r["min_s"] - best[(r["backend"], r["call"])]) * 1e6
        print(
            f"{r['backend']:8} {r['call']:40} {r['config']:45} "
            f"{r['min_s'] * 1e6:8.1f} µs/call (median {r['median_s'] * 1e6:8.1f})  +{added:6.1f} µs"
        )


if __name__ == "__main__":
    main()
