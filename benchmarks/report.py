"""Tables of a run's results (Markdown, which reads as well in a terminal) and the README.

:func:`tables` renders every part that was run, then the targets with PASS/MISS;
:func:`readme` wraps them with the method, the machine and the command.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from .clients import DRIVERS
from .targets import RESPONSES_PAIRS, Results, Verdict, rate_figures, verdicts

_MB = 1e6
_KIB = 1024


def _label(client: str) -> str:
    driver = DRIVERS.get(client)
    return driver.label if driver is not None else client  # type: ignore[attr-defined]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A Markdown table; ``align`` is one letter per column (l or r, default r but first)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float | None, fmt: str = ",.0f", none: str = "—") -> str:
    return none if value is None else format(value, fmt)


def throughput(results: dict[str, Any]) -> str:
    rows_by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results.get("throughput", []):
        rows_by.setdefault((r["backend"], r["stream"]), []).append(r)
    res = Results(results)
    out = []
    for (backend, stream), rows in rows_by.items():
        chunks, size = rows[0]["chunks"], rows[0]["bytes"]
        raw = res.throughput(backend, stream, "raw")
        ours = res.throughput(backend, stream, "sudo_stream")
        body = []
        for r in rows:
            if r.get("error") or not r["n"]:
                body.append(
                    [_label(r["client"]), "fails", "", "", "", "", "", r.get("error") or ""]
                )
                continue
            median = r["median"]
            cpu = r.get("cpu_median")
            body.append(
                [
                    _label(r["client"]),
                    _num(chunks / median),
                    f"{chunks / r['max']:,.0f}-{chunks / r['min']:,.0f}",
                    _num(size / median / _MB, ".1f"),
                    _num(None if cpu is None else cpu / chunks * 1e6, ".2f"),
                    _num(r["min"] / raw if raw else None, ".2f"),
                    _num(r["min"] / ours if ours else None, ".1f"),
                    str(r["n"]),
                ]
            )
        out.append(
            f"**{stream} stream, {backend}** ({chunks:,} chunks, {size / _MB:.1f} MB of SSE)\n\n"
            + _table(
                [
                    "client",
                    "chunks/s (median)",
                    "spread (chunks/s)",
                    "MB/s",
                    "client CPU µs/chunk",
                    "best ÷ raw's best",
                    "best ÷ sudo_stream's",
                    "rounds",
                ],
                body,
            )
        )
    return "\n\n".join(out)


def sse(results: dict[str, Any]) -> str:
    rows = results.get("sse", [])
    if not rows:
        return ""
    body = []
    for r in rows:
        pieces = "one event per piece" if r["split"] == "event" else "64 KiB pieces"
        body.append(
            [
                pieces,
                r["name"],
                f"{r['us_per_event']:.3f}",
                f"{r['min_us']:.3f}-{r['max_us']:.3f}",
                _num(r["events_per_s"]),
                f"{r['ratio']:.2f}",
            ]
        )
    header = ["pieces", "parser", "µs/event (median)", "spread", "events/s", "time ÷ ours"]
    return _table(header, body, "llrrrr")


def core(results: dict[str, Any]) -> str:
    rows = results.get("core", [])
    if not rows:
        return ""
    body = [
        [
            r["workload"],
            r["implementation"],
            f"{r['us_per_chunk']:.2f}",
            f"{r['min_s'] * 1e3:.0f}-{r['max_s'] * 1e3:.0f}",
            _num(r["chunks_per_s"]),
        ]
        for r in rows
    ]
    header = ["stream", "implementation", "µs/chunk (median)", "spread (ms)", "chunks/s"]
    return _table(header, body, "llrrr")


def concurrency(results: dict[str, Any]) -> str:
    runs = results.get("concurrency", [])
    if not runs:
        return ""
    res = Results(results)
    keys: list[tuple[str, str]] = []
    for r in runs:
        if (r["backend"], r["client"]) not in keys:
            keys.append((r["backend"], r["client"]))
    traced = any(r["tracemalloc"] for r in runs)
    body = []
    for backend, client in keys:
        mine = [r for r in runs if (r["backend"], r["client"]) == (backend, client)]
        timed = [r for r in mine if not r["tracemalloc"] and not r.get("error")]
        errors = [r["error"] for r in mine if r.get("error")]
        stats = res.concurrency(backend, client)
        raw = res.concurrency(backend, "raw")["wall"]
        walls = [r["wall"] for r in timed]
        row = [
            backend,
            _label(client),
            _num(statistics.median(walls) if walls else None, ".2f"),
            f"{min(walls):.2f}-{max(walls):.2f}" if walls else errors[0] if errors else "",
            _num(stats["wall"] / raw if stats["wall"] and raw else None, ".2f"),
            _num(
                None if stats["rss_per_stream"] is None else stats["rss_per_stream"] / _KIB, ".1f"
            ),
        ]
        if traced:
            peak = stats["traced_per_stream"]
            row.append(_num(None if peak is None else peak / _KIB, ".1f"))
        opened = [r["connections"] for r in timed if r.get("connections") is not None]
        peaks = [r["peak_open"] for r in timed if r.get("peak_open") is not None]
        row.append(f"{max(opened):,} / {max(peaks):,}" if opened and peaks else "")
        row.append(str(len(timed)))
        body.append(row)
    header = [
        "loop",
        "client",
        "wall s (median)",
        "spread",
        "best ÷ raw's best",
        "RSS growth KiB/stream",
    ]
    if traced:
        header.append("tracemalloc peak KiB/stream")
    header += ["connections opened / most open at once", "rounds"]
    return _table(header, body, "ll" + "r" * (len(header) - 2))


def bulk(results: dict[str, Any]) -> str:
    runs = results.get("bulk", [])
    if not runs:
        return ""
    res = Results(results)
    keys: list[tuple[str, int, str]] = []
    for r in runs:
        if (r["backend"], r["streams"], r["client"]) not in keys:
            keys.append((r["backend"], r["streams"], r["client"]))
    body = []
    for backend, streams, client in keys:
        key = (backend, streams, client)
        mine = [r for r in runs if (r["backend"], r["streams"], r["client"]) == key]
        timed = [r for r in mine if not r.get("error")]
        errors = [r["error"] for r in mine if r.get("error")]
        best = res.bulk(backend, client, streams)
        raw = res.bulk(backend, "raw", streams)
        walls = [r["wall"] for r in timed]
        opened = [r["connections"] for r in timed if r.get("connections") is not None]
        peaks = [r["peak_open"] for r in timed if r.get("peak_open") is not None]
        body.append(
            [
                backend,
                f"{streams:,}",
                _label(client),
                _num(statistics.median(walls) if walls else None, ".2f"),
                f"{min(walls):.2f}-{max(walls):.2f}" if walls else errors[0] if errors else "",
                _num(_div(best["wall"], raw["wall"]), ".2f"),
                _num(best["cpu"], ".2f"),
                _num(_div(best["cpu"], raw["cpu"]), ".2f"),
                f"{max(opened):,} / {max(peaks):,}" if opened and peaks else "",
                str(len(timed)),
            ]
        )
    header = [
        "loop",
        "streams",
        "client",
        "wall s (median)",
        "spread",
        "best ÷ raw's best",
        "CPU s (best)",
        "CPU ÷ raw's",
        "connections opened / most open at once",
        "rounds",
    ]
    return _table(header, body, "lrl" + "r" * (len(header) - 3))


def _div(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def latency(results: dict[str, Any]) -> str:
    rows = results.get("latency", [])
    if not rows:
        return ""
    body = [
        [
            r["backend"],
            _label(r["client"]),
            f"{r['median'] * 1e3:.3f}",
            f"{r['min'] * 1e3:.3f}-{r['max'] * 1e3:.3f}",
            _num(None if r["added_median"] is None else r["added_median"] * 1e3, "+.3f"),
            _num(None if r.get("added_min") is None else r["added_min"] * 1e3, "+.3f"),
        ]
        for r in rows
    ]
    header = [
        "loop",
        "client",
        "first chunk ms (median)",
        "spread",
        "added over raw, ms (median of pairs)",
        "(of minimums)",
    ]
    return _table(header, body, "llrrrr")


def imports(results: dict[str, Any]) -> str:
    rows = results.get("imports", [])
    if not rows:
        return ""
    openai = Results(results).import_time("openai")
    body = [
        [
            f"`{r['name']}`",
            f"{r['median'] * 1e3:.1f}",
            f"{r['min'] * 1e3:.1f}-{r['max'] * 1e3:.1f}",
            str(r["modules"]),
            _num(r["median"] / openai if openai else None, ".2f"),
        ]
        for r in rows
    ]
    header = ["import", "ms (median)", "spread", "modules loaded", "÷ openai"]
    return _table(header, body)


def batch_overhead(results: dict[str, Any]) -> str:
    res = Results(results)
    rows = res.batch("overhead")
    if not rows:
        return ""
    from .batch import LABELS

    body = []
    for r in rows:
        if r.get("error") or not r["n"]:
            body.append(
                [r["backend"], LABELS[r["client"]], "fails", r.get("error") or "", "", "", "", ""]
            )
            continue
        requests = r["requests"]
        baseline = res.batch_wall(r["backend"], "task-group")
        body.append(
            [
                r["backend"],
                LABELS[r["client"]],
                _num(requests / r["min"]),
                _num(requests / r["median"]),
                f"{requests / r['max']:,.0f}-{requests / r['min']:,.0f}",
                _num(r["cpu_min"] / requests * 1e6, ",.0f"),
                _num(_div(baseline, r["min"]), ".2f"),
                str(r["n"]),
            ]
        )
    first = rows[0]
    header = [
        "loop",
        "client",
        "requests/s (best)",
        "(median)",
        "spread",
        "client CPU µs/request (best)",
        "best ÷ task group's best",
        "rounds",
    ]
    return (
        f"{first['requests']:,} non-streamed requests, {first['concurrency']} in flight\n\n"
        + _table(header, body, "ll" + "r" * (len(header) - 2))
    )


def batch_rate(results: dict[str, Any]) -> str:
    rows = Results(results).batch("rate")
    if not rows:
        return ""
    body = []
    for r in rows:
        limit = f"{r['rpm']:,} requests, {r['tpm']:,} tokens / {r['window']:g} s"
        if r.get("error"):
            body.append([r["scenario"], limit, "fails", r["error"], "", "", "", "", ""])
            continue
        figures = rate_figures(r)
        kind = r["scenario"]
        windows = r["windows"]
        body.append(
            [
                f"{kind} bound",
                limit,
                f"rpm={r['batch_rpm']:,}, tpm={r['batch_tpm']:,}",
                ", ".join(f"{w[kind]:,}" for w in windows),
                _percent(figures["used_mean"]) + f" (least {_percent(figures['used_min'])})",
                f"{r['refused']:,} of {r['admitted'] + r['refused']:,} ({_percent(figures['refused'], '.2f')})",
                f"{r['max_requests_sent']:,} ({_num(figures['max_requests'], '.3f')}x)",
                f"{r['max_tokens_sent']:,} ({_num(figures['max_tokens'], '.3f')}x)",
                f"{r['seconds']:.0f}",
            ]
        )
    header = [
        "scenario",
        "server's limit (RateLimit)",
        "batch.run given",
        "admitted per whole window (binding kind)",
        "share of the limit used",
        "answered 429",
        "most requests sent in any window (÷ limit)",
        "most tokens sent in any window (÷ limit)",
        "run s",
    ]
    return _table(header, body, "lll" + "r" * (len(header) - 3))


def batch_memory(results: dict[str, Any]) -> str:
    rows = Results(results).batch("memory")
    if not rows:
        return ""
    body = []
    for r in rows:
        if r.get("error"):
            body.append([f"{r['lines']:,}", "fails", r["error"], "", "", "", ""])
            continue
        body.append(
            [
                f"{r['lines']:,}",
                f"{r['input_bytes'] / _MB:.1f}",
                f"{r['wall']:.1f}",
                _num(r["lines"] / r["wall"]),
                _num(None if r["base_rss"] is None else r["base_rss"] / _KIB**2, ".1f"),
                _num(None if r["peak_rss"] is None else r["peak_rss"] / _KIB**2, ".1f"),
                _num(None if r["growth"] is None else r["growth"] / _KIB**2, ".2f"),
            ]
        )
    header = [
        "input lines",
        "input MB",
        "wall s",
        "requests/s",
        "RSS before, MiB",
        "peak RSS, MiB",
        "peak growth, MiB",
    ]
    return _table(header, body)


_STRUCTURED_LABELS = {
    "ours": "sudo_stream",
    "openai": "openai-python",
    "instructor": "instructor",
    "chunks": "chunk iteration",
    "events": "`events()`",
    "partial": "`partial_objects()`",
}


def _structured_label(measure: str, implementation: str) -> str:
    if measure == "call":
        return {"ours": "`router.parse()`", "openai": "`chat.completions.parse()`"}[implementation]
    if measure in ("partial", "linear") and implementation == "ours":
        return "`PartialObjects` feed + snapshot"
    if implementation == "ours feed":
        return "`PartialObjects` feed alone"
    if measure == "partial" and implementation == "instructor":
        return "instructor `Partial[...]` per chunk"
    return _STRUCTURED_LABELS.get(implementation, implementation)


def _failed_row(r: dict[str, Any], width: int) -> list[str]:
    row = [f"{r['items']:,}", _structured_label(r["measure"], r["implementation"]), "fails"]
    return row + [r["error"] or ""] + [""] * (width - 4)


def structured_parse(results: dict[str, Any]) -> str:
    res = Results(results)
    out = []
    for measure, what in (
        ("parse", "the completion's body bytes to `message.parsed`, in memory"),
        ("call", "the public call over an in-memory mock transport: request, HTTP layer, parse"),
    ):
        rows = res.structured(measure)
        if not rows:
            continue
        body = []
        for r in rows:
            if r.get("error") or not r["rounds"]:
                body.append(_failed_row(r, 8))
                continue
            ours = res.structured_best(measure, r["items"], "ours")
            body.append(
                [
                    f"{r['items']:,}",
                    _structured_label(measure, r["implementation"]),
                    f"{r['bytes']:,}",
                    f"{r['min_s'] * 1e6:,.1f}",
                    f"{r['median_s'] * 1e6:,.1f}",
                    f"{r['min_s'] * 1e6:,.1f}-{r['max_s'] * 1e6:,.1f}",
                    _num(_div(r["min_s"], ours), ".1f"),
                    str(r["rounds"]),
                ]
            )
        header = [
            "line items",
            "implementation",
            "body bytes",
            "µs per answer (best)",
            "(median)",
            "spread",
            "best ÷ sudo_stream's best",
            "rounds",
        ]
        out.append(f"**{measure}**: {what}\n\n" + _table(header, body, "ll" + "r" * 6))
    return "\n\n".join(out)


def structured_partial(results: dict[str, Any]) -> str:
    res = Results(results)
    rows = res.structured("partial")
    if not rows:
        return ""
    body = []
    for r in rows:
        if r.get("error") or not r["rounds"]:
            body.append(_failed_row(r, 9))
            continue
        ours = res.structured_best("partial", r["items"], "ours")
        chunks = r["chunks"]
        body.append(
            [
                f"{r['items']:,}",
                _structured_label("partial", r["implementation"]),
                f"{r['bytes']:,}",
                f"{chunks:,}",
                f"{r['min_s'] / chunks * 1e6:,.2f}",
                f"{r['median_s'] / chunks * 1e6:,.2f}",
                f"{r['min_s'] * 1e3:,.1f}",
                _num(_div(r["min_s"], ours), ".1f"),
                str(r["rounds"]),
            ]
        )
    header = [
        "line items",
        "implementation",
        "answer bytes",
        "chunks",
        "µs/chunk (best)",
        "(median)",
        "whole stream, ms (best)",
        "best ÷ sudo_stream's best",
        "rounds",
    ]
    return _table(header, body, "ll" + "r" * 7)


def structured_linear(results: dict[str, Any]) -> str:
    res = Results(results)
    rows = sorted(res.structured("linear"), key=lambda r: (r["implementation"], r["items"]))
    if not rows:
        return ""
    body = []
    for r in rows:
        if r.get("error") or not r["rounds"]:
            body.append(_failed_row(r, 10))
            continue
        previous = res.structured_best("linear", r["items"] // 2, r["implementation"])
        body.append(
            [
                f"{r['items']:,}",
                _structured_label("linear", r["implementation"]),
                f"{r['bytes']:,}",
                f"{r['chunks']:,}",
                f"{r['min_s'] * 1e3:,.2f}",
                f"{r['median_s'] * 1e3:,.2f}",
                f"{r['min_s'] * 1e3:,.2f}-{r['max_s'] * 1e3:,.2f}",
                _num(_div(r["min_s"], previous), ".2f"),
                f"{r['min_s'] / r['chunks'] * 1e6:,.2f}",
                str(r["rounds"]),
            ]
        )
    header = [
        "line items",
        "implementation",
        "answer bytes",
        "chunks",
        "whole stream, ms (best)",
        "(median)",
        "spread",
        "best ÷ the half-size answer's best",
        "µs/chunk (best)",
        "rounds",
    ]
    return _table(header, body, "ll" + "r" * 8)


def structured_overhead(results: dict[str, Any]) -> str:
    res = Results(results)
    rows = res.structured("overhead")
    if not rows:
        return ""
    body = []
    for r in rows:
        if r.get("error") or not r["rounds"]:
            body.append(_failed_row(r, 8))
            continue
        chunks = r["chunks"]

        def added(base: str, r: dict[str, Any] = r, chunks: int = chunks) -> str:
            other = res.structured_best("overhead", r["items"], base)
            if other is None or r["implementation"] == base:
                return ""
            return f"{(r['min_s'] - other) / chunks * 1e6:+,.2f}"

        body.append(
            [
                f"{r['items']:,}",
                _structured_label("overhead", r["implementation"]),
                f"{chunks:,}",
                f"{r['min_s'] / chunks * 1e6:,.2f}",
                f"{r['median_s'] / chunks * 1e6:,.2f}",
                added("chunks"),
                added("events") if r["implementation"] == "partial" else "",
                str(r["rounds"]),
            ]
        )
    header = [
        "line items",
        "iteration",
        "chunks",
        "µs/chunk (best)",
        "(median)",
        "added over chunk iteration, µs/chunk",
        "added over `events()`, µs/chunk",
        "rounds",
    ]
    return _table(header, body, "ll" + "r" * 6)


_RESPONSES_LABELS = {
    "ours parse+decode": "sudo_stream: `SSEParser` + `decode_response_event`",
    "ours assemble": "sudo_stream: the same + `ResponseAssembler.add`, final response",
    "openai parse+construct": "openai-python: `SSEDecoder` + `construct_type` (its `Stream`)",
    "openai helper": "openai-python: the same + `ResponseStreamState.handle_event`",
    "ours iteration": "sudo_stream: `create_streaming()` iterated",
    "ours final_response()": "sudo_stream: `create_streaming()`, `final_response()`",
    "openai create(stream=True)": "openai-python: `responses.create(stream=True)` iterated",
    "openai .stream() helper": "openai-python: `responses.stream()` iterated, `get_final_response()`",
}


def responses(results: dict[str, Any]) -> str:
    res = Results(results)
    out = []
    counterpart = {theirs: ours for _, _, ours, theirs, _ in RESPONSES_PAIRS}
    for measure, what in (
        ("memory", "the per-event path, in memory, synchronous"),
        ("call", "the public calls over in-memory mock transports, asyncio"),
    ):
        rows = res.responses(measure)
        if not rows:
            continue
        body = []
        for r in rows:
            label = _RESPONSES_LABELS.get(r["implementation"], r["implementation"])
            if r.get("error") or not r["rounds"]:
                body.append([label, "fails", r["error"] or "", "", "", "", ""])
                continue
            events = r["events"]
            body.append(
                [
                    label,
                    f"{r['min_s'] / events * 1e6:,.2f}",
                    f"{r['median_s'] / events * 1e6:,.2f}",
                    f"{r['min_s'] * 1e3:,.1f}",
                    f"{r['min_s'] * 1e3:,.1f}-{r['max_s'] * 1e3:,.1f}",
                    _num(_div(r["min_s"], res.responses_best(measure, mine)), ".1f")
                    if (mine := counterpart.get(r["implementation"]))
                    else "",
                    str(r["rounds"]),
                ]
            )
        first = rows[0]
        header = [
            "implementation",
            "µs/event (best)",
            "(median)",
            "whole stream, ms (best)",
            "spread",
            "best ÷ sudo_stream's best (the same work)",
            "rounds",
        ]
        head = (
            f"**{measure}**: {what}; {first['events']:,} events, "
            f"{first['bytes'] / 1024:,.0f} KiB in 64 KiB pieces"
        )
        out.append(head + "\n\n" + _table(header, body, "l" + "r" * 6))
    return "\n\n".join(out)


def _percent(share: float | None, fmt: str = ".1f") -> str:
    return "—" if share is None else f"{share * 100:{fmt}}%"


def measured(v: Verdict) -> str:
    """A verdict's measured value as the targets table shows it."""
    if v.measured is None:
        return "—"
    if v.required.endswith("ms"):
        return f"{v.measured:+.3f} ms"
    if v.required.endswith("%"):
        return f"{v.measured:.2f}%"
    if v.required.endswith("MiB"):
        return f"{v.measured:+.2f} MiB"
    return f"{v.measured:.2f}x"


def targets(results: dict[str, Any], *, group: str | None = None) -> str:
    body = []
    for v in verdicts(results, group=group):
        body.append([v.target, v.where, measured(v), v.required, f"**{v.result}**", v.note])
    return _table(["target", "where", "measured", "required", "result", "note"], body, "llrrll")


SECTIONS = (
    ("Single-stream throughput", throughput),
    ("SSE parser alone (same bytes, in memory)", sse),
    ("Parse + decode + assemble in memory (bench_core)", core),
    ("Concurrency", concurrency),
    ("Bulk: streams sent whole at once", bulk),
    ("Time to first chunk", latency),
    ("Import time (fresh interpreter, start-up not counted)", imports),
)
BATCH_SECTIONS = (
    ("Batch: overhead", batch_overhead),
    ("Batch: rate limits", batch_rate),
    ("Batch: memory", batch_memory),
)
STRUCTURED_SECTIONS = (
    ("Structured outputs: parsing an answer", structured_parse),
    ("Structured outputs: partial objects per chunk", structured_partial),
    ("Structured outputs: partial objects, answer doubled", structured_linear),
    ("Structured outputs: partial objects over plain streaming", structured_overhead),
)
RESPONSES_SECTIONS = (("Responses stream: typed events and the assembled response", responses),)


def otel(results: dict[str, Any]) -> str:
    """What each configuration costs a call, and what it adds to no hooks (best rounds)."""
    rows = results.get("otel") or []
    if not rows:
        return ""
    best = {(r["backend"], r["call"]): r["min_s"] for r in rows if r["config"] == "no hooks"}
    body = []
    for r in rows:
        base = best.get((r["backend"], r["call"]))
        added = "" if base is None or r["config"] == "no hooks" else f"{(r['min_s'] - base) * 1e6:+,.0f}"
        body.append(
            [
                r["backend"],
                r["call"],
                r["config"],
                f"{r['min_s'] * 1e6:,.0f}",
                f"{r['median_s'] * 1e6:,.0f}",
                f"{r['min_s'] * 1e6:,.0f}-{r['max_s'] * 1e6:,.0f}",
                added,
                str(r["rounds"]),
            ]
        )
    header = [
        "loop", "call", "hooks", "µs/call (best)", "(median)", "spread",
        "added µs/call (best less no hooks' best)", "rounds",
    ]  # fmt: skip
    calls = rows[0]["calls"]
    return (
        f"{calls:,} calls a round per row, over an in-memory mock transport\n\n"
        + _table(header, body, "lllrrrrr")
    )


OTEL_SECTIONS = (("OpenTelemetry: the cost of a call", otel),)
GROUP_SECTIONS = {
    "streaming": (SECTIONS, "Targets"),
    "batch": (BATCH_SECTIONS, "Batch targets"),
    "structured": (STRUCTURED_SECTIONS, "Structured-output targets"),
    "responses": (RESPONSES_SECTIONS, "Responses-stream targets"),
    "otel": (OTEL_SECTIONS, "OpenTelemetry targets"),
}


def tables(results: dict[str, Any], level: str = "###", *, group: str | None = None) -> str:
    """Every part of the run that has results, then the targets; ``group`` (streaming,
    batch, structured, responses, otel) gives only that group's."""
    if group:
        sections, title = GROUP_SECTIONS[group]
    else:
        sections = tuple(s for g, _ in GROUP_SECTIONS.values() for s in g)
        title = "Targets"
    out = []
    for heading, render in sections:
        text = render(results)
        if text:
            out.append(f"{level} {heading}\n\n{text}")
    if verdicts(results, group=group):
        out.append(f"{level} {title}\n\n{targets(results, group=group)}")
    return "\n\n".join(out)


def machine(info: dict[str, Any]) -> str:
    rows = [
        ["source", info.get("revision", "unknown")],
        ["CPU", f"{info['cpu']} ({info['nproc']} cores)"],
        ["OS", info["os"]],
        ["Python", info["python"]],
        [
            "load average (1, 5, 15 min) at the end",
            ", ".join(f"{x:.2f}" for x in info["load"] or ()),
        ],
        *[[name, version] for name, version in info["versions"].items()],
    ]
    return _table(["", ""], rows, "ll")
