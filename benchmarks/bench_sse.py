"""SSE parser alone: ours against httpx-sse's and openai-python's decoders, same bytes.

One in-memory body of 50,000 chat-completion chunk events (about 255 bytes each, as
OpenAI sends them: compact JSON with raw UTF-8 text in ``data: {...}\\n\\n``, ending with
``data: [DONE]\\n\\n``) is cut into 64 KiB network pieces (also 1 KiB pieces, and one event
per piece), and each parser turns all of it into event objects:

- ours: ``SSEParser.feed`` over the pieces, then ``close()``;
- httpx-sse 0.4: what ``EventSource.iter_sse`` does once httpx hands it the pieces:
  httpx's incremental ``TextDecoder`` (``Response.iter_text``), ``SSELineDecoder``,
  ``line.rstrip("\\n")`` and ``SSEDecoder.decode`` per line;
- openai-python: ``openai._streaming.SSEDecoder().iter_bytes`` over the pieces.

No network and no ``httpx.Response``: only the parsing cost is timed. Run it as a script
(``python benchmarks/bench_sse.py``) or call :func:`run`.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from sudo_stream.sse import SSEParser

N_EVENTS = 50_000
PIECE_SIZE = 64 * 1024

_WORDS = (
    " the", " a", " stream", " of", " tokens", " and", " model", " is", " café", " ok",
    ",", ".", " 42", " naïve", " 🙂", "\n", " JSON", " parser", " Python", " quickly",
)  # fmt: skip


def build_body(n_events: int = N_EVENTS, *, seed: int = 0) -> bytes:
    """A chat-completion SSE body: a role chunk, content chunks, a finish chunk, [DONE]."""
    rng = random.Random(seed)
    base = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o",
        "system_fingerprint": "fp_f9f4fb6dbf",
    }
    out = []
    for i in range(n_events):
        if i == 0:
            delta: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
            finish = None
        elif i == n_events - 1:
            delta, finish = {}, "stop"
        else:
            delta = {"content": "".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))}
            finish = None
        chunk = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        out.append(
            b"data: "
            + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
            + b"\n\n"
        )
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def split_pieces(body: bytes, size: int = PIECE_SIZE) -> list[bytes]:
    """Cut ``body`` into network-sized pieces (they fall anywhere, even inside a char)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def parse_ours(pieces: list[bytes], keep: bool) -> int | list[Any]:
    parser = SSEParser()
    if keep:
        events = []
        for piece in pieces:
            events += parser.feed(piece)
        events += parser.close()
        return events
    n = 0
    for piece in pieces:
        n += len(parser.feed(piece))
    return n + len(parser.close())


def parse_httpx_sse(pieces: list[bytes], keep: bool) -> int | list[Any]:
    from httpx._decoders import TextChunker, TextDecoder
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    # httpx.Response.iter_text ...
    text_decoder = TextDecoder(encoding="utf-8")
    chunker = TextChunker()

    def iter_text() -> Iterator[str]:
        for piece in pieces:
            yield from chunker.decode(text_decoder.decode(piece))
        yield from chunker.decode(text_decoder.flush())
        yield from chunker.flush()

    # ... httpx_sse._api._iter_sse_lines ...
    line_decoder = SSELineDecoder()

    def iter_lines() -> Iterator[str]:
        for text in iter_text():
            yield from line_decoder.decode(text)
        yield from line_decoder.flush()

    # ... and EventSource.iter_sse.
    decoder = SSEDecoder()

    def iter_sse() -> Iterator[Any]:
        for line in iter_lines():
            line = line.rstrip("\n")
            sse = decoder.decode(line)
            if sse is not None:
                yield sse

    if keep:
        return list(iter_sse())
    n = 0
    for _ in iter_sse():
        n += 1
    return n


def parse_openai(pieces: list[bytes], keep: bool) -> int | list[Any]:
    from openai._streaming import SSEDecoder

    if keep:
        return list(SSEDecoder().iter_bytes(iter(pieces)))
    n = 0
    for _ in SSEDecoder().iter_bytes(iter(pieces)):
        n += 1
    return n


PARSERS: dict[str, Callable[[list[bytes], bool], int | list[Any]]] = {
    "sudo_stream": parse_ours,
    "httpx-sse": parse_httpx_sse,
    "openai-python": parse_openai,
}


def run(
    rounds: int = 5,
    *,
    n_events: int = N_EVENTS,
    piece_size: int | None = PIECE_SIZE,
    keep: bool = False,
    body: bytes | None = None,
) -> list[dict[str, Any]]:
    """Time every parser ``rounds`` times on the same pieces; one result dict per parser.

    ``piece_size=None`` feeds one event per piece (what a client sees when the server
    flushes each event in its own HTTP chunk). ``keep=False`` drops each event once it is
    counted, as a streaming consumer does; ``keep=True`` holds all 50,000 in a list, which
    adds the same allocation cost to every parser. ``body`` replaces the generated body
    (the runner passes the bytes its server sends; it must end with ``[DONE]``).

    Keys: ``name``, ``events``, ``us_per_event`` (median), ``min_us``/``max_us`` (spread),
    ``events_per_s`` (median), ``ratio`` (its median time over ours: > 1 is slower) and
    ``ratio_of_mins`` (the same with the best rounds, steadier on a busy machine).
    """
    if body is None:
        body = build_body(n_events)
    if piece_size is None:
        pieces = [block + b"\n\n" for block in body.split(b"\n\n")[:-1]]
    else:
        pieces = split_pieces(body, piece_size)
    expected = body.count(b"\n\n")
    for name, parse in PARSERS.items():
        out = parse(pieces, keep)  # warm up (imports, caches) and check the count
        n = len(out) if isinstance(out, list) else out
        if n != expected:
            raise AssertionError(f"{name} produced {n} events, expected {expected}")
    # Rounds interleave the parsers, so drift in machine load hits them alike.
    times: dict[str, list[float]] = {name: [] for name in PARSERS}
    for _ in range(rounds):
        for name, parse in PARSERS.items():
            gc.collect()
            start = time.perf_counter()
            parse(pieces, keep)
            times[name].append((time.perf_counter() - start) / expected * 1e6)
    results = []
    for name, per_event in times.items():
        median = statistics.median(per_event)
        results.append(
            {
                "name": name,
                "events": expected,
                "body_bytes": len(body),
                "pieces": len(pieces),
                "keep": keep,
                "us_per_event": median,
                "min_us": min(per_event),
                "max_us": max(per_event),
                "events_per_s": 1e6 / median,
            }
        )
    ours, ours_min = results[0]["us_per_event"], results[0]["min_us"]
    for r in results:
        r["ratio"] = r["us_per_event"] / ours
        r["ratio_of_mins"] = r["min_us"] / ours_min
    return results


def _table(title: str, results: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'parser':<14} {'µs/event':>9} {'(min-max)':>14} {'events/s':>11} "
        f"{'x ours':>7} {'(of mins)':>9}"
    )
    for r in results:
        spread = f"{r['min_us']:.3f}-{r['max_us']:.3f}"
        print(
            f"{r['name']:<14} {r['us_per_event']:>9.3f} {spread:>14} "
            f"{r['events_per_s']:>11,.0f} {r['ratio']:>7.2f} {r['ratio_of_mins']:>9.2f}"
        )


def main() -> None:
    body = build_body()
    print(
        f"{N_EVENTS + 1:,} events, {len(body) / (N_EVENTS + 1):.0f} B/event, "
        f"{len(body) / 1e6:.1f} MB; median of 5 interleaved rounds"
    )
    kib = PIECE_SIZE // 1024
    _table(f"{kib} KiB pieces, events consumed as they come", run())
    _table(f"{kib} KiB pieces, all events kept in a list", run(keep=True))
    _table("1 KiB pieces (about 4 events each), consumed", run(piece_size=1024))
    _table("one event per piece, consumed as they come", run(piece_size=None))


if __name__ == "__main__":
    main()
