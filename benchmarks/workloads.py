"""The streams the benchmarks serve: names, sizes, and their SSE events.

Every stream is a list of complete SSE events (``data: {...}\\n\\n``, the last one
``data: [DONE]\\n\\n``), built by :mod:`benchmarks.bench_core` so that the in-memory and
over-the-wire measurements use the same bytes. The server sends each event in its own
HTTP chunk; the clients count the JSON chunks they get and check them against
:attr:`Workload.chunks`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import bench_core


@dataclass(frozen=True)
class Sizes:
    """How big each stream is (``--quick`` and ``--smoke`` shrink them)."""

    content_chunks: int = 50_000
    tool_fragments: int = 10_000
    concurrent_streams: int = 1_000
    concurrent_chunks: int = 200
    latency_chunks: int = 20
    bulk_streams: tuple[int, ...] = (100, 500)
    """Streams started at once in the bulk part (each sent whole, ``concurrent_chunks``)."""


FULL = Sizes()
QUICK = Sizes(content_chunks=10_000, tool_fragments=2_000, concurrent_streams=300)
SMOKE = Sizes(
    content_chunks=500,
    tool_fragments=200,
    concurrent_streams=20,
    concurrent_chunks=50,
    latency_chunks=5,
    bulk_streams=(10, 20),
)


@dataclass(frozen=True)
class Workload:
    """One stream the server can send, chosen by the ``x-bench-stream`` request header."""

    name: str
    events: tuple[bytes, ...]
    """Each SSE event with its blank line; the last is ``data: [DONE]``."""

    @property
    def chunks(self) -> int:
        """JSON chunks in the stream (every event but ``[DONE]``)."""
        return len(self.events) - 1

    @property
    def body_bytes(self) -> int:
        """Bytes of SSE text (without the HTTP chunk framing)."""
        return sum(map(len, self.events))

    @property
    def body(self) -> bytes:
        """The whole SSE body, as a parser alone would be fed it."""
        return b"".join(self.events)


def _events(body: bytes) -> tuple[bytes, ...]:
    return tuple(event + b"\n\n" for event in body.split(b"\n\n")[:-1])


def content(chunks: int, name: str = "content") -> Workload:
    """A plain text reply of ``chunks`` chunks (~245 B each): the role chunk, text chunks,
    the finish chunk and the usage chunk, then ``[DONE]``."""
    return Workload(name, _events(bench_core.content_body(max(chunks - 3, 1))))


def tool(fragments: int, name: str = "tool") -> Workload:
    """One tool call whose JSON arguments arrive in ``fragments`` small pieces (~12 B)."""
    return Workload(name, _events(bench_core.tool_body(fragments)))


def all_workloads(sizes: Sizes) -> dict[str, Workload]:
    """Every stream a run may ask for, by name."""
    workloads = [
        content(sizes.content_chunks),
        tool(sizes.tool_fragments),
        content(sizes.concurrent_chunks, "small"),
        content(sizes.latency_chunks, "latency"),
        content(20, "warmup"),
    ]
    return {w.name: w for w in workloads}


COMPLETION = "completion"
"""The name of the one non-streamed answer: a chat completion as JSON, with its usage."""
COMPLETION_TEXT = "Batch answer: short, as many batch answers are."
COMPLETION_TOKENS = 12
"""The usage the completion reports: 8 prompt tokens and 4 completion tokens."""


def completion_body() -> bytes:
    """The JSON body of the non-streamed answer (~300 bytes), the same for every request."""
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": COMPLETION_TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": COMPLETION_TOKENS},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def text_length(workload: Workload) -> int:
    """Characters of content plus tool arguments that the stream assembles to."""
    size = 0
    for event in workload.events[:-1]:
        chunk = json.loads(event[6:])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            size += len(delta.get("content") or "")
            for call in delta.get("tool_calls") or ():
                size += len((call.get("function") or {}).get("arguments") or "")
    return size
