"""Structured outputs side by side with openai-python and instructor (issue 16), in memory.

One realistic answer, an order: a customer with an address, a list of line items (each
with a literal, an enum, an optional and a list of tags), optional notes. The same model is
written once as ``msgspec.Struct`` types (ours) and once as pydantic models (theirs), and
answers of several sizes (the number of line items) are made from a fixed seed, as compact
JSON, the way a model writes a strict structured output.

Measured (each side given the same bytes, each check that it got the same object first):

- ``parse``: a non-streamed chat completion's body bytes to a completion whose
  ``choices[0].message.parsed`` is the typed object. Ours: ``msgspec.json.decode(body,
  type=ParsedChatCompletion[Any])`` then ``structured.parse_choices(completion, Order)``,
  exactly what ``router.parse`` does after the HTTP layer. Theirs: exactly what
  openai-python's ``chat.completions.parse()`` does after its HTTP layer:
  ``json.loads`` of the body (``response.json()``), ``construct_type(ChatCompletion)``
  (its non-strict response processing), then ``parse_chat_completion`` (the ``post_parser``
  that ``parse()`` installs: ``model_validate_json`` of the content and the
  ``ParsedChatCompletion`` built around it).
- ``call``: the public calls, ``router.parse(response_format=Order)`` and
  ``chat.completions.parse(response_format=OrderModel)``, each over an in-memory
  ``MockTransport`` (httpx for us, httpx2 for openai-python 3) that answers with the same
  bytes: request building (the strict schema from the type, the JSON body), the client's
  HTTP layer, then the parsing above. Async on both sides, one event loop (asyncio).
- ``partial``: a streamed answer's content deltas (a few characters each, as a model
  streams tokens) turned into a partial object after every delta. Ours:
  ``PartialObjects(Order)``, ``feed(delta)`` then ``snapshot()`` on every delta, then
  ``finish()`` (the object, validated once). Theirs: ``instructor.Partial[OrderModel]
  .model_from_chunks(deltas)``, the per-chunk loop behind instructor's
  ``create_partial``/``Partial`` streaming (the deltas already taken out of the chunks,
  as ours are): it appends the delta, re-parses the whole text so far with jiter
  (partial mode), checks which parts are complete, builds the partial model and
  validates the complete items, then validates the whole at the end.
- ``linear``: ours alone at N, 2N and 4N line items (total seconds of one whole stream;
  the ratio of the totals), with and without the snapshots.
- ``overhead``: what the partial objects add to plain streaming of the same stream: the
  SSE body of the answer (one content delta per event, OpenAI-shaped chunks) through
  ``SSEParser`` + chunk decoding + ``StreamAssembler.absorb`` (chunk iteration's work),
  through ``StreamAssembler.add`` (``events()``'s work, which ``partial_objects()``
  reads), and the latter with ``feed`` + ``snapshot()`` on every text delta (what
  ``partial_objects()`` does per chunk).

Timing: every implementation of a measure takes its turn in each round (so drift in load
hits them alike); a round of the fast ``parse``/``call`` rows repeats the call enough
times to last ~50 ms. The ratios compare best rounds (as the rest of the benchmarks do).

Run: ``python -m benchmarks.bench_structured [rounds]``.
"""

from __future__ import annotations

import enum
import gc
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache, partial
from typing import Any, Literal

import msgspec

from sudo_stream import structured
from sudo_stream.models.parsed import ParsedChatCompletion

from .measure import failed_row, part_row

# -- the answer, as msgspec types ---------------------------------------------------------


class Priority(enum.Enum):
    LOW = "low"
    NORMAL = "normal"
    URGENT = "urgent"


Country = Literal["US", "GB", "DE", "FR", "JP"]
Category = Literal["kitchen", "garden", "office", "outdoor", "toys"]


class Address(msgspec.Struct):
    street: str
    city: str
    postcode: str
    country: Country


class Customer(msgspec.Struct):
    name: str
    email: str | None
    address: Address


class LineItem(msgspec.Struct):
    sku: str
    description: str
    category: Category
    quantity: int
    unit_price: float
    discount: float | None
    tags: list[str]


class Order(msgspec.Struct):
    order_id: str
    status: Literal["pending", "shipped", "delivered"]
    priority: Priority
    customer: Customer
    items: list[LineItem]
    notes: str | None
    total: float


# -- the same, as pydantic models (pydantic is imported only when measured) ----------------


@cache
def pydantic_order() -> type[Any]:
    """``OrderModel``: the pydantic twin of :class:`Order`."""
    from pydantic import BaseModel

    class AddressModel(BaseModel):
        street: str
        city: str
        postcode: str
        country: Country

    class CustomerModel(BaseModel):
        name: str
        email: str | None
        address: AddressModel

    class LineItemModel(BaseModel):
        sku: str
        description: str
        category: Category
        quantity: int
        unit_price: float
        discount: float | None
        tags: list[str]

    class OrderModel(BaseModel):
        order_id: str
        status: Literal["pending", "shipped", "delivered"]
        priority: Priority
        customer: CustomerModel
        items: list[LineItemModel]
        notes: str | None
        total: float

    return OrderModel


# -- answers ------------------------------------------------------------------------------

_WORDS = (
    "stainless", "steel", "water", "bottle", "insulated", "lid", "ceramic", "mug", "set",
    "bamboo", "cutting", "board", "garden", "hose", "nozzle", "brass", "desk", "lamp", "led",
    "notebook", "dotted", "grid", "camping", "chair", "folding", "kite", "nylon", "puzzle",
    "wooden", "blocks", "cast", "iron", "skillet", "seed", "tray", "compost", "bin",
)  # fmt: skip
_TAGS = ("gift", "fragile", "eco", "bulk", "sale", "new", "heavy", "backorder")


def _item(n: int) -> dict[str, Any]:
    """Line item ``n``, the same in every answer (so that an answer of 2N items holds the
    N of the smaller one, and N more like them)."""
    rng = random.Random(n)
    return {
        "sku": f"SKU-{n:05d}",
        "description": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8))),
        "category": rng.choice(["kitchen", "garden", "office", "outdoor", "toys"]),
        "quantity": rng.randint(1, 12),
        "unit_price": rng.randint(99, 99_999) / 100,
        "discount": None if rng.random() < 0.6 else rng.randint(5, 30) / 100,
        "tags": rng.sample(_TAGS, rng.randint(0, 3)),
    }


def answer(items: int) -> str:
    """The JSON text of an order with ``items`` line items, compact, as a model writes a
    structured output."""
    lines = [_item(n) for n in range(items)]
    order = {
        "order_id": "ORD-20261203-0042",
        "status": "shipped",
        "priority": Priority.URGENT.value,
        "customer": {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {
                "street": "12 St James's Square",
                "city": "London",
                "postcode": "SW1Y 4JH",
                "country": "GB",
            },
        },
        "items": lines,
        "notes": "Leave the parcel with the concierge, please.",
        "total": round(sum(i["quantity"] * i["unit_price"] for i in lines), 2),
    }
    return json.dumps(order, separators=(",", ":"), ensure_ascii=False)


def completion_body(text: str) -> bytes:
    """A non-streamed chat completion (OpenAI's shape, every field it sends) answering
    with ``text``."""
    body = {
        "id": "chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j",
        "object": "chat.completion",
        "created": 1750697159,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 180,
            "completion_tokens": len(text) // 4,
            "total_tokens": 180 + len(text) // 4,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_ee1d74bde0",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deltas(text: str) -> list[str]:
    """``text`` cut as a model streams it: pieces of 1 to 7 characters (4 on average, a
    token's worth), from a fixed seed."""
    rng = random.Random(len(text))
    out, at = [], 0
    while at < len(text):
        size = rng.randint(1, 7)
        out.append(text[at : at + size])
        at += size
    return out


def stream_body(pieces: list[str]) -> bytes:
    """The SSE body of a chat completion stream whose content deltas are ``pieces``."""
    from .bench_core import _event

    events = [_event('{"role":"assistant","content":"","refusal":null}')]
    events += [_event(json.dumps({"content": piece})) for piece in pieces]
    events.append(_event("{}", "stop"))
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


# -- parse: ours ----------------------------------------------------------------------------

_PARSED_ANY = ParsedChatCompletion[Any]


def ours_parse(body: bytes) -> Any:
    completion = msgspec.json.decode(body, type=_PARSED_ANY)
    return structured.parse_choices(completion, Order)


async def ours_call(sudo: Any) -> Any:
    return await sudo.router.parse(
        messages=[{"role": "user", "content": "Extract the order."}],
        model="gpt-4o-2024-08-06",
        response_format=Order,
    )


# -- parse: openai-python -------------------------------------------------------------------


@cache
def _openai_parsing() -> tuple[Any, Any, Any, Any]:
    from openai._models import construct_type

    try:
        from openai._types import omit  # openai 2 and later
    except ImportError:  # before: the same "not given" marker under its old name
        from openai._types import NOT_GIVEN as omit
    from openai.lib._parsing._completions import parse_chat_completion
    from openai.types.chat import ChatCompletion

    return construct_type, ChatCompletion, parse_chat_completion, omit


def openai_parse(body: bytes) -> Any:
    construct_type, chat_completion, parse_chat_completion, omit = _openai_parsing()
    completion = construct_type(type_=chat_completion, value=json.loads(body))
    return parse_chat_completion(
        response_format=pydantic_order(), input_tools=omit, chat_completion=completion
    )


async def openai_call(client: Any) -> Any:
    return await client.chat.completions.parse(
        messages=[{"role": "user", "content": "Extract the order."}],
        model="gpt-4o-2024-08-06",
        response_format=pydantic_order(),
    )


# -- partial objects ------------------------------------------------------------------------


def ours_partial(pieces: list[str]) -> Any:
    from sudo_stream.structured import PartialObjects

    parser = PartialObjects(Order)
    feed, snapshot = parser.feed, parser.snapshot
    for piece in pieces:
        feed(piece)
        snapshot()
    return parser.finish()


def instructor_partial(pieces: list[str]) -> Any:
    from instructor import Partial

    last = None
    for last in Partial[pydantic_order()].model_from_chunks(iter(pieces)):  # noqa: B007
        pass
    return last


def plain_chunks(sse_pieces: list[bytes]) -> Any:
    """Plain chunk iteration's work on a stream: SSE, chunk decoding, assembly."""
    from .bench_core import ours_absorb

    return ours_absorb(sse_pieces)


def plain_events(sse_pieces: list[bytes]) -> Any:
    """Event iteration's work (``events()``, which ``partial_objects()`` reads): SSE,
    chunk decoding, ``StreamAssembler.add``."""
    from .bench_core import ours_add

    return ours_add(sse_pieces)


def partial_stream(sse_pieces: list[bytes]) -> tuple[Any, Order]:
    """What ``partial_objects()`` does on a stream, in memory: event iteration, and on
    every text delta ``feed`` and ``snapshot()``; then the completion and the object."""
    from sudo_stream.assembler import StreamAssembler
    from sudo_stream.models import ChatCompletionChunk
    from sudo_stream.models.events import TextDelta
    from sudo_stream.sse import SSEParser
    from sudo_stream.structured import PartialObjects

    parser, decode = SSEParser(), msgspec.json.Decoder(ChatCompletionChunk).decode
    assembler = StreamAssembler()
    add = assembler.add
    partial = PartialObjects(Order)
    feed, snapshot = partial.feed, partial.snapshot
    for piece in sse_pieces:
        for event in parser.feed(piece):
            if event.data == "[DONE]":
                assembler.close()
                return assembler.completion(), partial.finish()
            for item in add(decode(event.data)):
                if type(item) is TextDelta and item.choice_index == 0:
                    feed(item.text)
                    snapshot()
    raise AssertionError("no [DONE]")


# -- checks ---------------------------------------------------------------------------------


def _expected(items: int) -> tuple[Order, Any]:
    text = answer(items)
    return msgspec.json.decode(text, type=Order), pydantic_order().model_validate_json(text)


def _same(ours: Order, theirs: Any) -> None:
    mine = msgspec.to_builtins(ours)
    other = theirs.model_dump(mode="json")
    if mine != other:
        raise AssertionError("ours and theirs disagree on the answer")


def check_parse(items: int) -> None:
    expected, expected_model = _expected(items)
    body = completion_body(answer(items))
    ours = ours_parse(body).choices[0].message.parsed
    theirs = openai_parse(body).choices[0].message.parsed
    if ours != expected or theirs != expected_model:
        raise AssertionError(f"parse of {items} items: wrong object")
    _same(ours, theirs)


def check_partial(items: int, implementation: str) -> None:
    """``implementation``'s last object of the streamed answer is the whole answer."""
    expected, expected_model = _expected(items)
    pieces = deltas(answer(items))
    if implementation == "ours":
        ok = ours_partial(pieces) == expected
    else:
        ok = instructor_partial(pieces) == expected_model
    if not ok:
        raise AssertionError(f"{implementation}, {items} items: wrong final object")


# -- timing ---------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Seconds per call of ``fn``, over ``repeat`` calls in a row."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def _repeat_for(fn: Callable[[], Any], seconds: float = 0.05) -> int:
    """How many calls of ``fn`` take about ``seconds`` (after a warm-up call)."""
    fn()
    once = _timed(fn)
    return max(1, int(seconds / max(once, 1e-7)))


def _rounds(
    cases: dict[str, Callable[[], Any]], rounds: int, repeat: dict[str, int]
) -> Iterator[tuple[str, list[float]]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            gc.collect()
            times[name].append(_timed(fn, repeat[name]))
    yield from times.items()


def _row(measure: str, implementation: str, times: list[float], **extra: Any) -> dict[str, Any]:
    return part_row("structured", measure, implementation, times, **extra)


def _failed(measure: str, implementation: str, exc: BaseException, **extra: Any) -> dict[str, Any]:
    return failed_row("structured", measure, implementation, exc, **extra)


def measure_parse(items: int, rounds: int) -> list[dict[str, Any]]:
    check_parse(items)
    body = completion_body(answer(items))
    cases = {"ours": lambda: ours_parse(body), "openai": lambda: openai_parse(body)}
    repeat = {name: _repeat_for(fn) for name, fn in cases.items()}
    extra = {"items": items, "bytes": len(body)}
    return [_row("parse", name, times, **extra) for name, times in _rounds(cases, rounds, repeat)]


def measure_call(items: int, rounds: int) -> list[dict[str, Any]]:
    """The public calls over mock transports, on one asyncio loop."""
    import anyio

    return anyio.run(_measure_call, items, rounds)


async def _measure_call(items: int, rounds: int) -> list[dict[str, Any]]:
    import httpx
    from openai import AsyncOpenAI, _base_client

    # openai-python 3 runs on httpx2, its own fork of httpx; earlier releases on httpx
    openai_httpx: Any = getattr(_base_client, "httpx2", httpx)

    import sudo_stream as ss

    body = completion_body(answer(items))
    headers = {"content-type": "application/json"}
    expected, expected_model = _expected(items)

    def ours_answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers=headers)

    def openai_answer(request: Any) -> Any:
        return openai_httpx.Response(200, content=body, headers=headers)

    ours_http = httpx.AsyncClient(transport=httpx.MockTransport(ours_answer))
    openai_http = openai_httpx.AsyncClient(transport=openai_httpx.MockTransport(openai_answer))
    async with (
        ours_http,
        openai_http,
        ss.AsyncSudo(
            api_key="k", server_url="http://bench.test", http_client=ours_http, retries=0
        ) as sudo,
    ):
        openai = AsyncOpenAI(
            api_key="k", base_url="http://bench.test/v1", http_client=openai_http, max_retries=0
        )
        ours = (await ours_call(sudo)).choices[0].message.parsed
        theirs = (await openai_call(openai)).choices[0].message.parsed
        if ours != expected or theirs != expected_model:
            raise AssertionError(f"call of {items} items: wrong object")

        async def repeat_for(call: Callable[[], Any]) -> int:
            await call()
            start = time.perf_counter()
            await call()
            return max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))

        cases = {"ours": lambda: ours_call(sudo), "openai": lambda: openai_call(openai)}
        repeat = {name: await repeat_for(call) for name, call in cases.items()}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, call in cases.items():
                gc.collect()
                start = time.perf_counter()
                for _ in range(repeat[name]):
                    await call()
                times[name].append((time.perf_counter() - start) / repeat[name])
    extra = {"items": items, "bytes": len(body)}
    return [_row("call", name, t, **extra) for name, t in times.items()]


def measure_partial(items: int, rounds: int) -> list[dict[str, Any]]:
    text = answer(items)
    pieces = deltas(text)
    extra = {"items": items, "bytes": len(text.encode()), "chunks": len(pieces)}
    out = []
    cases = {"ours": lambda: ours_partial(pieces), "instructor": lambda: instructor_partial(pieces)}
    for name in list(cases):
        try:
            check_partial(items, name)
        except Exception as exc:  # a side that cannot run is reported, not fatal
            out.append(_failed("partial", name, exc, **extra))
            del cases[name]
    out += [
        _row("partial", name, times, **extra)
        for name, times in _rounds(cases, rounds, dict.fromkeys(cases, 1))
    ]
    return out


def ours_feed(pieces: list[str]) -> Any:
    """``ours_partial`` without the snapshots: the parse alone."""
    from sudo_stream.structured import PartialObjects

    parser = PartialObjects(Order)
    feed = parser.feed
    for piece in pieces:
        feed(piece)
    return parser.finish()


def measure_linear(items: int, rounds: int) -> list[dict[str, Any]]:
    """Ours at ``items``, twice and four times as many, sizes interleaved round by round;
    with a snapshot after every delta (``ours``) and without (``ours feed``: where a
    growing cost comes from). Twice the rounds of the other measures: they are short,
    and a ratio of two minimums wants both steady."""
    sizes = (items, 2 * items, 4 * items)
    streams = {n: deltas(answer(n)) for n in sizes}
    implementations = {"ours": ours_partial, "ours feed": ours_feed}
    try:
        for n in sizes:
            check_partial(n, "ours")
    except Exception as exc:
        return [_failed("linear", "ours", exc, items=n) for n in sizes]
    cases = {
        (name, n): partial(fn, streams[n]) for name, fn in implementations.items() for n in sizes
    }
    times: dict[tuple[str, int], list[float]] = {key: [] for key in cases}
    for _ in range(2 * rounds):
        for key, fn in cases.items():
            gc.collect()
            times[key].append(_timed(fn))
    return [
        _row(
            "linear",
            name,
            times[name, n],
            items=n,
            bytes=len(answer(n).encode()),
            chunks=len(streams[n]),
        )
        for name, n in cases
    ]


def measure_overhead(items: int, rounds: int) -> list[dict[str, Any]]:
    from .bench_core import split

    text = answer(items)
    pieces = deltas(text)
    sse = split(stream_body(pieces))
    extra = {"items": items, "bytes": len(text.encode()), "chunks": len(pieces)}
    cases = {
        "chunks": lambda: plain_chunks(sse),
        "events": lambda: plain_events(sse),
        "partial": lambda: partial_stream(sse),
    }
    try:
        completion, obj = partial_stream(sse)
        if completion.choices[0].message.content != text or obj != msgspec.json.decode(
            text, type=Order
        ):
            raise AssertionError("the stream did not assemble to the answer")
    except Exception as exc:
        return [_failed("overhead", name, exc, **extra) for name in cases]
    return [
        _row("overhead", name, times, **extra)
        for name, times in _rounds(cases, rounds, dict.fromkeys(cases, 1))
    ]


def run(
    rounds: int = 5,
    *,
    parse_items: Sequence[int] = (20, 200),
    partial_items: Sequence[int] = (20, 50),
    linear_items: int = 100,
) -> list[dict[str, Any]]:
    """Every measure; one dict per (measure, size, implementation)."""
    results: list[dict[str, Any]] = []
    for items in parse_items:
        results += measure_parse(items, rounds)
    for items in parse_items:
        results += measure_call(items, rounds)
    for items in partial_items:
        results += measure_partial(items, rounds)
    results += measure_linear(linear_items, rounds)
    results += measure_overhead(linear_items, rounds)
    return results


def main(rounds: int = 5) -> None:
    for r in run(rounds):
        if r["error"]:
            print(f"{r['measure']:9} {r['items']:5} {r['implementation']:11} {r['error']}")
            continue
        per = r["min_s"] / r.get("chunks", 1) * 1e6
        print(
            f"{r['measure']:9} {r['items']:5} {r['implementation']:11} "
            f"best {r['min_s'] * 1e6:12,.1f} µs  median {r['median_s'] * 1e6:12,.1f} µs"
            + (f"  {per:8.2f} µs/chunk" if "chunks" in r else "")
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
