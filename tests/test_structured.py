"""Structured outputs from Python types: strict schemas, router.parse() over real sockets,
refusals, answers cut short or malformed. Every async test runs on asyncio and trio."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal

import msgspec
import pytest
from typing_extensions import TypedDict

from sudo_stream import AsyncSudo, Sudo, testing
from sudo_stream.structured import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    StructuredOutputError,
    response_format,
    strict_schema,
)
from sudo_stream.testing._endpoints import schema_instance

from . import contract


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(msgspec.Struct):
    name: str
    title: str  # a field named like a JSON Schema keyword stays a field
    qty: int = 1


class Node(msgspec.Struct):
    label: str
    children: list[Node] = []


class Order(msgspec.Struct):
    id: int
    items: list[Item]
    color: Color
    kind: Literal["a", "b"]
    note: str | None = None
    pick: int | str = 0
    tree: Node | None = None


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Weather(TypedDict):
    city: str
    celsius: float


ALLOWED = {
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum",
    "const", "$ref", "$defs", "description", "pattern", "format", "minItems", "maxItems",
    "minimum", "maximum", "minLength", "maxLength",
}  # fmt: skip


def keywords(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for schema in value.values():
                    keywords(schema, found)
            else:
                found.add(key)
                keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            keywords(item, found)
    return found


def objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += objects(value)
    elif isinstance(node, list):
        for item in node:
            found += objects(item)
    return found


@pytest.mark.parametrize("tp", [Order, Item, Node, Point, Weather])
def test_schemas_are_strict(tp: Any) -> None:
    schema = strict_schema(tp)
    assert schema["type"] == "object"  # the root is an object, never a $ref
    assert keywords(schema, set()) <= ALLOWED
    for node in objects(schema):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    # what it describes decodes into the type
    assert msgspec.convert(schema_instance(schema), tp) is not None


def test_optional_fields_may_be_null_and_recursion_keeps_its_definition() -> None:
    schema = strict_schema(Order)
    assert {"type": "null"} in schema["properties"]["note"]["anyOf"]
    assert schema["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    assert "title" in schema["$defs"]["Item"]["properties"]
    assert "Order" not in schema["$defs"]  # the root is inlined, not repeated
    assert strict_schema(Node)["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }


@pytest.mark.parametrize(
    ("tp", "message"),
    [(list[int], "must describe a JSON object"), (dict[str, int], "a mapping with arbitrary keys")],
)
def test_types_strict_mode_cannot_express_are_refused(tp: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        strict_schema(tp)

    class Tagged(msgspec.Struct):
        tags: dict[str, int]

    with pytest.raises(TypeError, match=r"Tagged\.tags is a mapping with arbitrary keys"):
        strict_schema(Tagged)


def test_response_format_names_the_type() -> None:
    fmt = response_format(Weather, description="the weather")
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Weather"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["description"] == "the weather"


@pytest.mark.anyio
async def test_parse_decodes_the_answer_into_the_type(server: testing.FakeSudoServer) -> None:
    async with AsyncSudo("key", server.url) as sudo:
        completion = await sudo.router.parse(
            messages=[{"role": "user", "content": "An order, please."}],
            model="gpt-4o-mini",
            response_format=Order,
            temperature=0,
        )
    order = completion.choices[0].message.parsed
    assert isinstance(order, Order)
    assert order.items[0] == Item(name="text", title="text", qty=1)
    assert order.color is Color.BLUE
    body = server.requests[-1].json()
    contract.check("ChatCompletionRequest", body)
    assert body["response_format"] == response_format(Order)
    assert body["temperature"] == 0


def _answer(content: str | None, finish: str = "stop", refusal: str | None = None) -> testing.JSON:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return testing.JSON(
        {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
         "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    )  # fmt: skip


@pytest.mark.anyio
async def test_a_refusal_leaves_parsed_none(server: testing.FakeSudoServer) -> None:
    server.enqueue(_answer(None, refusal="I can't help with that."))
    async with AsyncSudo("key", server.url) as sudo:
        completion = await sudo.router.parse(messages=[{"role": "user", "content": "x"}], model="m", response_format=Point)
    message = completion.choices[0].message
    assert message.parsed is None and message.refusal == "I can't help with that."


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error", "raw"),
    [
        (_answer('{"x": 1.0, "y"', "length"), LengthFinishReasonError, '{"x": 1.0, "y"'),
        (_answer('{"x": 1', "content_filter"), ContentFilterFinishReasonError, '{"x": 1'),
        (_answer('{"x": 1.0}'), StructuredOutputError, '{"x": 1.0}'),
        (_answer("not json"), StructuredOutputError, "not json"),
        (_answer('{"x": "far", "y": 2}'), StructuredOutputError, '{"x": "far", "y": 2}'),
    ],
)
async def test_an_answer_that_is_not_an_instance_is_a_typed_error_with_its_text(
    server: testing.FakeSudoServer, answer: testing.JSON, error: type[Exception], raw: str
) -> None:
    server.enqueue(answer)
    async with AsyncSudo("key", server.url) as sudo:
        with pytest.raises(error) as caught:
            await sudo.router.parse(messages=[{"role": "user", "content": "x"}], model="m", response_format=Point)
    assert isinstance(caught.value, StructuredOutputError)
    assert caught.value.raw == raw


def test_the_blocking_client_parses_too() -> None:
    with testing.serve_in_thread() as server, Sudo("key", server.url) as sudo:
        completion = sudo.router.parse(
            messages=[{"role": "user", "content": "weather?"}], model="m", response_format=Weather
        )
    assert completion.choices[0].message.parsed == {"city": "text", "celsius": 1.5}
    assert json.loads(server.requests[-1].body)["response_format"]["json_schema"]["name"] == "Weather"


@pytest.mark.anyio
async def test_a_pydantic_model_works_too(server: testing.FakeSudoServer) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Ticket(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        title: str
        priority: int
        labels: list[str]
        assignee: str | None = None

    schema = strict_schema(Ticket)
    assert keywords(schema, set()) <= ALLOWED
    assert schema["required"] == ["title", "priority", "labels", "assignee"]
    assert schema["additionalProperties"] is False
    async with AsyncSudo("key", server.url) as sudo:
        completion = await sudo.router.parse(messages=[{"role": "user", "content": "x"}], model="m", response_format=Ticket)
    ticket = completion.choices[0].message.parsed
    assert isinstance(ticket, Ticket)
    assert ticket.labels == ["text"]
    server.enqueue(_answer('{"title": "t", "priority": "high", "labels": [], "assignee": null}'))
    async with AsyncSudo("key", server.url) as sudo:
        with pytest.raises(StructuredOutputError, match="not a Ticket") as caught:
            await sudo.router.parse(messages=[{"role": "user", "content": "x"}], model="m", response_format=Ticket)
    assert '"priority": "high"' in (caught.value.raw or "")


def test_the_schema_is_derived_once_per_type_and_strict_schema_gives_a_copy() -> None:
    first = response_format(Order)["json_schema"]["schema"]
    assert response_format(Order)["json_schema"]["schema"] is first  # made once, shared
    mine = strict_schema(Order)
    assert mine == first and mine is not first
    mine["properties"].clear()  # the caller's own copy: the shared one is untouched
    assert response_format(Order)["json_schema"]["schema"]["properties"]
