"""The pure core, side by side with openai-python: SSE parse + chunk decode + assembly.

Two in-memory bodies, cut into 64 KiB pieces as a socket would deliver them:

- ``content``: 50,000 OpenAI-shaped content chunks of ~245 bytes (plus the role chunk,
  the finish chunk, the usage chunk and ``[DONE]``);
- ``tool``: one streamed tool call whose JSON arguments arrive in 5,000 small fragments.

Measured per workload (median and spread over ``rounds``):

- ``ours parse+decode``: ``SSEParser.feed`` + ``msgspec.json.Decoder(ChatCompletionChunk)``;
- ``ours absorb``: the same + ``StreamAssembler.absorb`` (what plain chunk iteration and
  ``final_completion()`` cost), then ``completion()``;
- ``ours add+events``: the same with ``StreamAssembler.add`` (typed events) and ``close()``;
- ``ours add+partial`` (tool only): also ``partial_arguments()`` on every fragment;
- ``openai parse+decode``: ``openai._streaming.SSEDecoder.iter_bytes`` + ``sse.json()`` +
  ``construct_type(ChatCompletionChunk)``, exactly what ``openai.Stream`` does per event;
- ``openai assemble``: the same + ``ChatCompletionStreamState.handle_chunk`` (the
  accumulator behind ``client.chat.completions.stream()``), then ``get_final_completion``.

Run: ``python benchmarks/bench_core.py [rounds]``.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from sudo_stream.assembler import StreamAssembler
from sudo_stream.models import ChatCompletionChunk
from sudo_stream.models.events import ToolArgumentsDelta
from sudo_stream.sse import SSEParser

PIECE = 64 * 1024
CONTENT_CHUNKS = 50_000
TOOL_FRAGMENTS = 5_000

_HEAD = (
    '{"id":"chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j","object":"chat.completion.chunk",'
    '"created":1750697159,"model":"gpt-4o-mini",'
    '"system_fingerprint":"fp_ee1d74bde0","choices":[{"index":0,"delta":'
)
_WORDS = [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."]


def _event(delta: str, finish: str | None = None) -> str:
    finish_json = "null" if finish is None else f'"{finish}"'
    return f'data: {_HEAD}{delta},"logprobs":null,"finish_reason":{finish_json}}}]}}\n\n'


def _usage_event() -> str:
    usage = '{"prompt_tokens":12,"completion_tokens":50000,"total_tokens":50012}'
    return "data: " + _HEAD.split(',"choices"')[0] + f',"choices":[],"usage":{usage}}}\n\n'


def content_body(chunks: int = CONTENT_CHUNKS) -> bytes:
    """OpenAI content events of ~245 bytes."""
    parts = [_event('{"role":"assistant","content":"","refusal":null}')]
    for n in range(chunks):
        word = json.dumps(_WORDS[n % len(_WORDS)])
        parts.append(_event(f'{{"content":{word}}}'))
    parts.append(_event("{}", "stop"))
    parts.append(_usage_event())
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def tool_body(fragments: int = TOOL_FRAGMENTS) -> bytes:
    """One tool call; its arguments (a JSON object with a long list) in small fragments."""
    start = (
        '{"tool_calls":[{"index":0,"id":"call_g4Q1vRbE0CaHGOs5if8mHsBq","type":"function",'
        '"function":{"name":"save_items","arguments":""}}]}'
    )
    pieces = ['{"items": [', *(f'"item-{n:05d}", ' for n in range(fragments - 2)), '"end"]}']
    parts = [_event('{"role":"assistant","content":null}'), _event(start)]
    for piece in pieces:
        arguments = json.dumps(piece)
        parts.append(
            _event(f'{{"tool_calls":[{{"index":0,"function":{{"arguments":{arguments}}}}}]}}')
        )
    parts.append(_event("{}", "tool_calls"))
    parts.append(_usage_event())
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def split(body: bytes, size: int = PIECE) -> list[bytes]:
    return [body[n : n + size] for n in range(0, len(body), size)]


# -- ours ---------------------------------------------------------------------------------

_DECODER = msgspec.json.Decoder(ChatCompletionChunk)


def ours_parse_decode(pieces: list[bytes]) -> int:
    parser, decode, count = SSEParser(), _DECODER.decode, 0
    for piece in pieces:
        for event in parser.feed(piece):
            if event.data == "[DONE]":
                return count
            decode(event.data)
            count += 1
    return count


def ours_absorb(pieces: list[bytes]) -> Any:
    parser, decode = SSEParser(), _DECODER.decode
    assembler = StreamAssembler()
    absorb = assembler.absorb
    done = False
    for piece in pieces:
        for event in parser.feed(piece):
            if event.data == "[DONE]":
                done = True
                break
            absorb(decode(event.data))
        if done:
            break
    return assembler.completion()


def ours_add(pieces: list[bytes], partial: bool = False) -> Any:
    parser, decode = SSEParser(), _DECODER.decode
    assembler = StreamAssembler()
    add = assembler.add
    events = 0
    done = False
    for piece in pieces:
        for event in parser.feed(piece):
            if event.data == "[DONE]":
                done = True
                break
            for item in add(decode(event.data)):
                events += 1
                if partial and isinstance(item, ToolArgumentsDelta):
                    item.partial_arguments()
        if done:
            break
    events += len(assembler.close())
    return assembler.completion()


# -- openai-python ------------------------------------------------------------------------


def _openai() -> tuple[Any, Any, Any, Any]:
    from openai._models import construct_type
    from openai._streaming import SSEDecoder
    from openai.lib.streaming.chat._completions import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk as OpenAIChunk

    return SSEDecoder, construct_type, OpenAIChunk, ChatCompletionStreamState


def openai_parse_decode(pieces: list[bytes]) -> int:
    sse_decoder, construct_type, chunk_type, _ = _openai()
    count = 0
    for sse in sse_decoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        construct_type(type_=chunk_type, value=sse.json())
        count += 1
    return count


def openai_assemble(pieces: list[bytes]) -> Any:
    sse_decoder, construct_type, chunk_type, state_type = _openai()
    state = state_type()
    for sse in sse_decoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        state.handle_chunk(construct_type(type_=chunk_type, value=sse.json()))
    return state.get_final_completion()


# -- running ------------------------------------------------------------------------------


def _time(fn: Callable[[], Any], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _check(body: bytes) -> int:
    """Both sides assemble the same message from the body; returns the chunk count."""
    pieces = split(body)
    ours = ours_absorb(pieces)
    assert ours == ours_add(pieces)
    theirs = openai_assemble(pieces)
    mine, other = ours.choices[0].message, theirs.choices[0].message
    assert mine.content == other.content
    assert [(c.id, c.function.name, c.function.arguments) for c in mine.tool_calls or []] == [
        (c.id, c.function.name, c.function.arguments) for c in other.tool_calls or []
    ]
    assert ours.usage is not None and theirs.usage is not None
    assert ours.usage.total_tokens == theirs.usage.total_tokens
    return ours_parse_decode(pieces)


def run(rounds: int = 5, *, bodies: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
    """Time every implementation on both workloads; one dict per (workload, implementation).

    ``bodies`` maps ``content`` and ``tool`` to the SSE bodies to use instead of the
    default ones (the runner passes the bytes its server sends).
    """
    if bodies is None:
        bodies = {"content": content_body(), "tool": tool_body()}
    results: list[dict[str, Any]] = []
    for workload, body in bodies.items():
        chunks = _check(body)
        pieces = split(body)
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("ours parse+decode", partial(ours_parse_decode, pieces)),
            ("ours absorb", partial(ours_absorb, pieces)),
            ("ours add+events", partial(ours_add, pieces)),
        ]
        if workload == "tool":
            cases.append(("ours add+partial", partial(ours_add, pieces, partial=True)))
        cases += [
            ("openai parse+decode", partial(openai_parse_decode, pieces)),
            ("openai assemble", partial(openai_assemble, pieces)),
        ]
        for name, fn in cases:
            times = _time(fn, rounds)
            median = statistics.median(times)
            results.append(
                {
                    "workload": workload,
                    "implementation": name,
                    "chunks": chunks,
                    "bytes": len(body),
                    "rounds": rounds,
                    "median_s": median,
                    "min_s": min(times),
                    "max_s": max(times),
                    "us_per_chunk": median / chunks * 1e6,
                    "chunks_per_s": chunks / median,
                }
            )
    return results


def ratios(results: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    """openai's median time over ours, for the comparable pairs."""
    by_key = {(r["workload"], r["implementation"]): r["median_s"] for r in results}
    pairs = [
        ("ours parse+decode", "openai parse+decode"),
        ("ours absorb", "openai assemble"),
        ("ours add+events", "openai assemble"),
        ("ours add+partial", "openai assemble"),
    ]
    out = []
    for workload in ("content", "tool"):
        for mine, theirs in pairs:
            if (workload, mine) in by_key:
                out.append(
                    (workload, mine, theirs, by_key[workload, theirs] / by_key[workload, mine])
                )
    return out


def main(rounds: int = 5) -> None:
    results = run(rounds)
    print(
        f"{'workload':9} {'implementation':21} {'median ms':>10} {'spread ms':>17} {'us/chunk':>9} {'chunks/s':>11}"
    )
    for r in results:
        spread = f"{r['min_s'] * 1e3:.1f}-{r['max_s'] * 1e3:.1f}"
        print(
            f"{r['workload']:9} {r['implementation']:21} {r['median_s'] * 1e3:10.1f} {spread:>17} "
            f"{r['us_per_chunk']:9.3f} {r['chunks_per_s']:11,.0f}"
        )
    print()
    for workload, mine, theirs, ratio in ratios(results):
        print(f"{workload:9} {theirs} / {mine}: {ratio:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
