"""A Responses API stream side by side with openai-python (issue 17), on the same bytes.

The stream: one realistic response as OpenAI sends it (``event:`` + ``data:`` lines,
``sequence_number`` from 0, ``obfuscation`` padding on every delta, no ``[DONE]``), built
with :func:`sudo_stream.testing.response_events`: ``response.created``,
``response.in_progress``, a reasoning item whose two summary parts stream word by word, a
message whose text of ``words`` words streams one word a delta (the bulk of the stream),
a function call whose JSON arguments stream in 8-character fragments, then
``response.completed`` carrying the whole response with its usage. The body is cut into
64 KiB pieces, as a socket delivers them.

Measured (every side checked first to give the same text, summaries, arguments, usage and
event count from the same bytes):

- ``memory``: the per-event path in memory, synchronous, no I/O.
  ``ours parse+decode``: ``SSEParser.feed`` + ``decode_response_event`` per event (the
  typed events alone). ``ours assemble``: the same + ``ResponseAssembler.add`` per event,
  then ``close()`` (the final response, checked against ``response.completed``'s): what
  iterating a ``ResponseStream`` does per event (it assembles as it goes) and what
  ``final_response()`` costs. ``openai parse+construct``: exactly what openai-python's
  ``Stream``/``AsyncStream`` does per event for ``responses.create(stream=True)``:
  ``SSEDecoder.iter_bytes``, ``sse.json()``, its ``error`` check, then
  ``construct_type(ResponseStreamEvent)`` (its default, non-strict response processing).
  ``openai helper``: the same + ``ResponseStreamState.handle_event`` per event (the
  accumulator behind ``responses.stream()``: the snapshot built from the deltas, the
  semantic events with their ``snapshot``, and ``parse_response`` of the completed
  response), then the final response it keeps.
- ``call``: the public calls, async on one asyncio loop, each client over an in-memory
  ``MockTransport`` (httpx for us, httpx2 for openai-python 3) that answers with the same
  64 KiB pieces as a streamed body: building and sending the request, the client's HTTP
  and stream layers, then the per-event work above. ``ours iteration``: ``async with
  sudo.responses.create_streaming(...)``, its events iterated (typed events, the
  assembler running: ``ResponseStream`` always assembles). ``ours final_response()``:
  the same stream's ``final_response()`` alone. ``openai create(stream=True)``: ``await
  client.responses.create(..., stream=True)``, its events iterated. ``openai .stream()
  helper``: ``async with client.responses.stream(...)``, its events iterated, then
  ``get_final_response()``.

Timing: the implementations of a measure take turns in each round (so drift in load hits
them alike), one whole stream a round each; ratios compare best rounds, as the rest of
the benchmarks do.

Run: ``python -m benchmarks.bench_responses [rounds] [words]``.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import cache, partial
from typing import Any

from sudo_stream.models.response_events import decode_response_event
from sudo_stream.response_assembler import ResponseAssembler
from sudo_stream.sse import SSEParser

from .measure import failed_row, part_row

PIECE = 64 * 1024
WORDS = 4_000
"""Text deltas in the default stream (one word each)."""
FRAGMENT = 8
"""Characters per function-call arguments delta."""
MODEL = "gpt-4.1-2025-04-14"

_WORDS = (
    "the", "stream", "of", "a", "response", "arrives", "word", "by", "and", "each", "delta",
    "carries", "its", "item", "index", "sequence", "number", "model", "writes", "answer",
    "while", "client", "reads", "events", "in", "order", "text", "grows", "until", "done",
)  # fmt: skip


def _text(words: int, seed: int) -> str:
    rng = random.Random(seed)
    out = []
    for n in range(words):
        word = rng.choice(_WORDS)
        out.append(word.capitalize() if n == 0 or out[-1].endswith(".") else word)
        if n % 14 == 13:
            out[-1] += "."
    return " ".join(out) + "."


def _arguments() -> str:
    """A function call's arguments: a JSON object of ~600 characters."""
    rows = [{"sku": f"SKU-{n:05d}", "quantity": n % 7 + 1, "gift": n % 3 == 0} for n in range(12)]
    return json.dumps({"order_id": "ORD-20261203-0042", "lines": rows}, separators=(",", ":"))


def events(words: int = WORDS) -> list[dict[str, Any]]:
    """The events of the benchmark's response, as the dicts of their ``data`` JSON."""
    from sudo_stream.testing import response_events

    out = response_events(
        _text(words, 1),
        model=MODEL,
        id="resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b",
        created_at=1756315696,
        reasoning=[_text(max(words // 40, 5), 2), _text(max(words // 40, 5), 3)],
        function_calls=[
            {
                "name": "place_order",
                "arguments": _arguments(),
                "call_id": "call_g4Q1vRbE0CaHGOs5if8mHsBq",
                "id": "fc_68af4031c7a08193a1e5b9f1d6c0e2a705438e46b5f69a3b",
            }
        ],
        input_tokens=42,
        fragment_size=FRAGMENT,
    )
    rng = random.Random(4)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for event in out:
        if event["type"].endswith(".delta"):  # OpenAI pads every delta to hide its length
            pad = max(16 - len(event["delta"]), 2)
            event["obfuscation"] = "".join(rng.choice(alphabet) for _ in range(pad))
    return out


def body(items: list[dict[str, Any]]) -> bytes:
    """The SSE body of ``items``, as OpenAI writes it: ``event:`` then ``data:``."""
    return "".join(
        f"event: {item['type']}\ndata: {json.dumps(item, separators=(',', ':'))}\n\n"
        for item in items
    ).encode()


def split(data: bytes, size: int = PIECE) -> list[bytes]:
    return [data[n : n + size] for n in range(0, len(data), size)]


# -- ours, in memory ------------------------------------------------------------------------


def ours_parse_decode(pieces: list[bytes]) -> int:
    """The typed events alone: SSE parsing and one decode per event."""
    parser, decode, count = SSEParser(), decode_response_event, 0
    for piece in pieces:
        for sse in parser.feed(piece):
            decode(sse.data)
            count += 1
    return count


def ours_assemble(pieces: list[bytes]) -> Any:
    """The typed events, each through the assembler, then the final response: the work
    of iterating a ``ResponseStream`` (and of ``final_response()``) in memory."""
    parser, decode = SSEParser(), decode_response_event
    assembler = ResponseAssembler()
    add = assembler.add
    for piece in pieces:
        for sse in parser.feed(piece):
            add(decode(sse.data))
    return assembler.close()


# -- openai-python, in memory ---------------------------------------------------------------


@cache
def _openai() -> tuple[Any, Any, Any, Any, Any]:
    from openai._models import construct_type
    from openai._streaming import SSEDecoder
    from openai._utils import is_mapping
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent

    return SSEDecoder, construct_type, ResponseStreamEvent, ResponseStreamState, is_mapping


def _openai_events(pieces: list[bytes]) -> Any:
    """What openai-python's ``Stream.__stream__`` does per event of a Responses stream."""
    sse_decoder, construct_type, event_type, _, is_mapping = _openai()
    for sse in sse_decoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        data = sse.json()
        if is_mapping(data) and data.get("error"):
            raise AssertionError("an error event")
        yield construct_type(type_=event_type, value=data)


def openai_parse_construct(pieces: list[bytes]) -> int:
    count = 0
    for _ in _openai_events(pieces):
        count += 1
    return count


def openai_helper(pieces: list[bytes]) -> Any:
    """The same, each event through ``responses.stream()``'s accumulator; the final
    response it keeps."""
    from openai import _types

    # what responses.stream() passes for no text_format and no tools (NOT_GIVEN in older releases)
    unset = getattr(_types, "omit", _types.NOT_GIVEN)
    state = _openai()[3](text_format=unset, input_tools=unset)
    handle = state.handle_event
    for event in _openai_events(pieces):
        handle(event)
    return state._completed_response


# -- the public calls over mock transports --------------------------------------------------


_INPUT = "Summarise the order and place it."


async def ours_iterate(sudo: Any) -> int:
    count = 0
    async with sudo.responses.create_streaming(model=MODEL, input=_INPUT) as stream:
        async for _ in stream:
            count += 1
    return count


async def ours_final(sudo: Any) -> Any:
    async with sudo.responses.create_streaming(model=MODEL, input=_INPUT) as stream:
        return await stream.final_response()


async def openai_iterate(client: Any) -> int:
    count = 0
    stream = await client.responses.create(model=MODEL, input=_INPUT, stream=True)
    async with stream:
        async for _ in stream:
            count += 1
    return count


async def openai_stream_helper(client: Any) -> Any:
    async with client.responses.stream(model=MODEL, input=_INPUT) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_response()


# -- checks ---------------------------------------------------------------------------------


def _kind(item: Any) -> Any:
    """An output item's type: a pydantic model's field, a msgspec struct's tag."""
    config = getattr(item, "__struct_config__", None)
    return item.type if config is None else config.tag


def _essence(response: Any) -> tuple[Any, ...]:
    """What a final response must agree on, on either side: the text, the reasoning
    summaries, the function call, the usage, the status."""
    text, summaries, calls = "", [], []
    for item in response.output:
        kind = _kind(item)
        if kind == "message":
            text += "".join(part.text for part in item.content if _kind(part) == "output_text")
        elif kind == "reasoning":
            summaries += [part.text for part in item.summary]
        elif kind == "function_call":
            calls.append((item.call_id, item.name, item.arguments))
    usage = response.usage
    return (
        response.id,
        response.status,
        text,
        summaries,
        calls,
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
    )


def expected(items: list[dict[str, Any]]) -> tuple[Any, ...]:
    """The essence of the response the events describe (from the events themselves)."""
    text = "".join(e["delta"] for e in items if e["type"] == "response.output_text.delta")
    summaries = [e["text"] for e in items if e["type"] == "response.reasoning_summary_text.done"]
    call = next(e["item"] for e in items if e["type"] == "response.output_item.added"
                and e["item"]["type"] == "function_call")  # fmt: skip
    arguments = "".join(
        e["delta"] for e in items if e["type"] == "response.function_call_arguments.delta"
    )
    final = items[-1]["response"]
    usage = final["usage"]
    return (
        final["id"],
        "completed",
        text,
        summaries,
        [(call["call_id"], call["name"], arguments)],
        (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]),
    )


def check_openai_types(pieces: list[bytes]) -> None:
    """openai-python builds every event as its own class: a release whose union lacks a
    type builds it as another class (openai 1.75 and before: the reasoning-summary events
    as ``ResponseAudioDeltaEvent``), which is not the same work."""
    from typing import get_args

    for event in _openai_events(pieces):
        field = type(event).model_fields.get("type")
        if field is None or event.type not in get_args(field.annotation):
            raise AssertionError(
                f"openai-python builds {event.type} as {type(event).__name__}: "
                "too old for this stream (openai>=1.76 types every event)"
            )


def _check(name: str, got: Any, count: int, items: list[dict[str, Any]]) -> None:
    """``got`` (a final response) and ``count`` (events iterated) are the stream's."""
    if _essence(got) != expected(items):
        raise AssertionError(f"{name}: the final response differs from the stream's")
    if count != len(items):
        raise AssertionError(f"{name}: {count} events, the stream has {len(items)}")


def check_memory(side: str, items: list[dict[str, Any]], pieces: list[bytes]) -> None:
    """``side`` (ours, openai) gets the stream right in memory."""
    if side == "ours":
        _check(side, ours_assemble(pieces), ours_parse_decode(pieces), items)
    else:
        check_openai_types(pieces)
        _check(side, openai_helper(pieces), openai_parse_construct(pieces), items)


# -- timing ---------------------------------------------------------------------------------


def _row(measure: str, implementation: str, times: list[float], **extra: Any) -> dict[str, Any]:
    return part_row("responses", measure, implementation, times, **extra)


def _failed(measure: str, implementation: str, exc: BaseException, **extra: Any) -> dict[str, Any]:
    return failed_row("responses", measure, implementation, exc, **extra)


MEMORY = {
    "ours": ("ours parse+decode", "ours assemble"),
    "openai": ("openai parse+construct", "openai helper"),
}
CALL = {
    "ours": ("ours iteration", "ours final_response()"),
    "openai": ("openai create(stream=True)", "openai .stream() helper"),
}
"""Each side's implementations; a side that fails its check is reported, the other
still measured."""


def _in_order(measure: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = [name for names in (MEMORY if measure == "memory" else CALL).values() for name in names]
    return sorted(rows, key=lambda r: order.index(r["implementation"]))


def measure_memory(items: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    data = body(items)
    pieces = split(data)
    extra = {"events": len(items), "bytes": len(data)}
    implementations: dict[str, Callable[[list[bytes]], Any]] = {
        "ours parse+decode": ours_parse_decode,
        "ours assemble": ours_assemble,
        "openai parse+construct": openai_parse_construct,
        "openai helper": openai_helper,
    }
    out = []
    for side, names in MEMORY.items():
        try:
            check_memory(side, items, pieces)
        except Exception as exc:  # a side that cannot run is reported, not fatal
            out += [_failed("memory", name, exc, **extra) for name in names]
            for name in names:
                del implementations[name]
    times: dict[str, list[float]] = {name: [] for name in implementations}
    for _ in range(rounds):
        for name, fn in implementations.items():
            gc.collect()
            start = time.perf_counter()
            fn(pieces)
            times[name].append(time.perf_counter() - start)
    out += [_row("memory", name, t, **extra) for name, t in times.items()]
    return _in_order("memory", out)


def measure_call(items: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """The public calls over mock transports, on one asyncio loop."""
    import anyio

    data = body(items)
    extra = {"events": len(items), "bytes": len(data)}
    return _in_order("call", anyio.run(_measure_call, items, data, rounds, extra))


async def _measure_call(
    items: list[dict[str, Any]], data: bytes, rounds: int, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    import httpx

    import sudo_stream as ss

    pieces = split(data)
    headers = {"content-type": "text/event-stream"}

    async def streamed() -> Any:
        for piece in pieces:
            yield piece

    def ours_answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=streamed(), headers=headers)

    out: list[dict[str, Any]] = []
    cases: dict[str, Callable[[], Awaitable[Any]]] = {}
    async with AsyncExitStack() as stack:
        ours_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.MockTransport(ours_answer))
        )
        sudo = await stack.enter_async_context(
            ss.AsyncSudo(
                api_key="k", server_url="http://bench.test", http_client=ours_http, retries=0
            )
        )
        try:
            _check("ours", await ours_final(sudo), await ours_iterate(sudo), items)
        except Exception as exc:
            out += [_failed("call", name, exc, **extra) for name in CALL["ours"]]
        else:
            cases["ours iteration"] = partial(ours_iterate, sudo)
            cases["ours final_response()"] = partial(ours_final, sudo)
        try:
            openai = await _openai_client(stack, pieces, headers)
            check_openai_types(pieces)
            _check(
                "openai", await openai_stream_helper(openai), await openai_iterate(openai), items
            )
        except Exception as exc:
            out += [_failed("call", name, exc, **extra) for name in CALL["openai"]]
        else:
            cases["openai create(stream=True)"] = partial(openai_iterate, openai)
            cases["openai .stream() helper"] = partial(openai_stream_helper, openai)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, call in cases.items():
                gc.collect()
                start = time.perf_counter()
                await call()
                times[name].append(time.perf_counter() - start)
    return out + [_row("call", name, t, **extra) for name, t in times.items()]


async def _openai_client(
    stack: AsyncExitStack, pieces: list[bytes], headers: dict[str, str]
) -> Any:
    """openai-python's client over a mock transport answering ``pieces``."""
    import httpx
    from openai import AsyncOpenAI, _base_client

    # openai-python 3 runs on httpx2, its own fork of httpx; earlier releases on httpx
    openai_httpx: Any = getattr(_base_client, "httpx2", httpx)

    async def streamed() -> Any:
        for piece in pieces:
            yield piece

    def answer(request: Any) -> Any:
        return openai_httpx.Response(200, content=streamed(), headers=headers)

    http = await stack.enter_async_context(
        openai_httpx.AsyncClient(transport=openai_httpx.MockTransport(answer))
    )
    return AsyncOpenAI(
        api_key="k", base_url="http://bench.test/v1", http_client=http, max_retries=0
    )


def run(rounds: int = 5, *, words: int = WORDS) -> list[dict[str, Any]]:
    """Both measures on the stream of ``words`` text deltas; one dict per (measure,
    implementation)."""
    items = events(words)
    return measure_memory(items, rounds) + measure_call(items, rounds)


RATIOS = (
    ("memory", "openai parse+construct", "ours parse+decode"),
    ("memory", "openai helper", "ours assemble"),
    ("call", "openai create(stream=True)", "ours iteration"),
    ("call", "openai .stream() helper", "ours final_response()"),
)
"""(measure, theirs, ours): the pairs compared."""


def main(rounds: int = 5, words: int = WORDS) -> None:
    results = run(rounds, words=words)
    best = {(r["measure"], r["implementation"]): r for r in results}
    for r in results:
        if r["error"]:
            print(f"{r['measure']:6} {r['implementation']:26} {r['error']}")
            continue
        print(
            f"{r['measure']:6} {r['implementation']:26} best {r['min_s'] * 1e3:9.2f} ms  "
            f"median {r['median_s'] * 1e3:9.2f} ms  "
            f"{r['min_s'] / r['events'] * 1e6:8.2f} µs/event"
        )
    print()
    for measure, theirs, ours in RATIOS:
        a, b = best.get((measure, theirs)), best.get((measure, ours))
        if a and b and not a["error"] and not b["error"]:
            print(f"{measure:6} {theirs} / {ours}: {a['min_s'] / b['min_s']:.1f}x")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
