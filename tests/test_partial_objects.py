"""Structured answers as they stream: ``PartialObjects`` over every split of recorded and
generated answers, objects checked as they close, and ``create_streaming(response_format=)``
over real sockets on asyncio and trio (and the blocking facade)."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from typing_extensions import TypedDict

from sudo_stream import AsyncSudo, ParsedChatStream, Sudo, testing
from sudo_stream._partial_json import PartialJSON
from sudo_stream.sse import SSEParser
from sudo_stream.structured import (
    LengthFinishReasonError,
    PartialObjects,
    StructuredOutputError,
    strict_schema,
)
from sudo_stream.testing._endpoints import schema_instance

RECORDED = Path(__file__).parent / "data" / "recorded_streams"


class Units(enum.Enum):
    C = "c"
    F = "f"


class Location(msgspec.Struct):
    """The type openai-python's recorded structured-output tests asked for."""

    city: str
    temperature: float
    units: Literal["c", "f"]


class Step(msgspec.Struct):
    text: str
    minutes: int


@dataclasses.dataclass
class Tool:
    name: str
    units: Units


class Note(TypedDict):
    author: str
    stars: int


class Recipe(msgspec.Struct):
    title: str
    steps: list[Step]
    tools: list[Tool]
    note: Note | None
    serves: int | str
    kind: Literal["sweet", "savory"]
    tags: list[str]


RECIPE = Recipe(
    title="Pancakes \u00e9 \"fluffy\"",
    steps=[Step("Whisk the eggs", 2), Step("Fry, \\ flip", 5)],
    tools=[Tool("pan", Units.C)],
    note={"author": "Ann", "stars": 5},
    serves="four",
    kind="sweet",
    tags=["breakfast", "quick"],
)


def recorded(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, expected completion) of the recorded openai-python streams of ``kind``."""
    found = []
    for path in sorted(RECORDED.glob(f"openai-python__{kind}__*.expected.json")):
        found.append((path.name, json.loads(path.read_text(encoding="utf-8"))["completion"]))
    assert found, kind
    return found


def is_prefix_of(partial: Any, final: Any) -> bool:
    """Whether ``partial`` is what a prefix of ``final``'s JSON text can complete to."""
    if isinstance(partial, dict):
        return isinstance(final, dict) and all(
            key in final and is_prefix_of(value, final[key]) for key, value in partial.items()
        )
    if isinstance(partial, list):
        return (
            isinstance(final, list)
            and len(partial) <= len(final)
            and all(is_prefix_of(a, b) for a, b in zip(partial, final, strict=False))
        )
    if isinstance(partial, str):
        return isinstance(final, str) and final.startswith(partial)
    if isinstance(partial, (int, float)) and not isinstance(partial, bool):
        return isinstance(final, (int, float)) and not isinstance(final, bool)
    return partial == final


def check_every_split(text: str, tp: Any) -> None:
    final = json.loads(text)
    expected = msgspec.json.decode(text, type=tp)
    for cut in range(len(text) + 1):
        parser = PartialObjects(tp)
        parser.feed(text[:cut])
        before = parser.snapshot()
        assert is_prefix_of(before, final), (cut, before)
        parser.feed(text[cut:])
        assert parser.snapshot() == final
        assert parser.finish() == expected


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (name, choice["message"]["content"])
        for name, completion in recorded("test_parse_pydantic_model")
        + recorded("test_parse_pydantic_model_multiple_choices")
        for choice in completion["choices"]
        if choice["message"]["content"]
    ],
)
def test_every_split_of_recorded_answers(name: str, content: str) -> None:
    check_every_split(content, Location)


def test_every_split_of_a_nested_answer() -> None:
    check_every_split(msgspec.json.encode(RECIPE).decode(), Recipe)
    check_every_split(json.dumps(msgspec.to_builtins(RECIPE), indent=2), Recipe)
    # and of what the fake server answers for the schema
    check_every_split(json.dumps(schema_instance(strict_schema(Recipe))), Recipe)


def test_a_snapshot_every_character_never_raises_and_only_grows() -> None:
    text = json.dumps(msgspec.to_builtins(RECIPE), indent=1)
    parser = PartialObjects(Recipe)
    final = json.loads(text)
    assert parser.snapshot() == {}
    for char in text:
        parser.feed(char)
        assert is_prefix_of(parser.snapshot(), final)
    assert parser.finish() == RECIPE
    assert parser.text == text


def test_complete_parts_are_shared_between_snapshots_open_ones_copied() -> None:
    """Why a snapshot per chunk stays linear: a closed object is not copied again."""
    parser = PartialObjects(Recipe)
    parser.feed('{"title": "x", "steps": [{"text": "a", "minutes": 1}, {"text": "b')
    first = parser.snapshot()
    parser.feed('c", "minutes": 2}, {"te')
    second = parser.snapshot()
    assert second["steps"][0] is first["steps"][0]  # closed: shared
    assert first["steps"][1] == {"text": "b"}  # open: a copy, unchanged by later feeding
    assert second["steps"][1] == {"text": "bc", "minutes": 2}
    assert second["steps"] is not first["steps"]
    snapshot = parser.snapshot()
    snapshot["steps"].append("mine")  # an open container is the caller's copy
    assert "mine" not in parser.snapshot()["steps"]


def test_snapshot_shares_only_complete_containers_at_any_depth() -> None:
    parser = PartialJSON()
    parser.feed('{"a": [[1, 2], [3, [4')
    value = parser.snapshot()
    assert value == {"a": [[1, 2], [3, [4]]]}
    assert value["a"][0] is parser.snapshot()["a"][0]
    assert parser.snapshot(default="none") == value
    empty = PartialJSON()
    assert empty.snapshot(default="none") == "none"
    empty.feed('"ab')
    assert empty.snapshot() == "ab"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"title": "x", "steps": [{"text": "a", "minutes": "2"}', r"\$\.steps\[0\]\.minutes"),
        ('{"title": "x", "steps": [], "tools": [{"name": "pan", "units": "k"}', r"\$\.tools\[0\]\.units"),
        ('{"title": "x", "steps": [], "tools": [], "note": {"author": "A"}', r"\$\.note.*stars"),
        ('{"title": "x", "steps": [{"minutes": 1}', r"\$\.steps\[0\].*text"),
    ],
)
def test_an_object_that_breaks_the_schema_fails_as_it_closes(text: str, where: str) -> None:
    parser = PartialObjects(Recipe)
    parser.feed(text[:-1])  # open: incomplete is never an error
    with pytest.raises(StructuredOutputError, match=where) as caught:
        parser.feed(text[-1])
    assert caught.value.raw == text
    with pytest.raises(StructuredOutputError, match=where):
        parser.feed(" ")  # and it stays failed


def test_the_root_is_validated_once_at_the_end() -> None:
    parser = PartialObjects(Location)
    parser.feed('{"city": 1, "temperature": 3, "units": "c"}')  # the root is not checked early
    assert parser.snapshot() == {"city": 1, "temperature": 3, "units": "c"}
    with pytest.raises(StructuredOutputError, match=r"not a Location.*\$\.city") as caught:
        parser.finish()
    assert caught.value.raw == '{"city": 1, "temperature": 3, "units": "c"}'


def test_not_json_fails_at_once_with_the_text() -> None:
    parser = PartialObjects(Location)
    parser.feed('{"city": "Paris"')
    with pytest.raises(StructuredOutputError, match="not JSON") as caught:
        parser.feed(" oops")
    assert caught.value.raw == '{"city": "Paris" oops'
    truncated = PartialObjects(Location)
    truncated.feed('{"city": "Par')
    assert truncated.snapshot() == {"city": "Par"}
    with pytest.raises(StructuredOutputError, match="not a Location"):
        truncated.finish()


class Cat(msgspec.Struct, tag=True):
    lives: int


class Dog(msgspec.Struct, tag=True):
    good: bool


class Pets(msgspec.Struct):
    pets: list[Cat | Dog]


def test_ambiguous_unions_and_pydantic_models_are_checked_at_the_end() -> None:
    parser = PartialObjects(Pets)
    parser.feed('{"pets": [{"type": "Cat", "lives": "nine"}]}')  # not checked: which type?
    with pytest.raises(StructuredOutputError, match=r"\$\.pets\[0\]\.lives"):
        parser.finish()

    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        n: int

    class Outer(pydantic.BaseModel):
        inner: Inner

    model = PartialObjects(Outer)
    model.feed('{"inner": {"n": "x"}}')  # pydantic describes itself: checked once, whole
    with pytest.raises(StructuredOutputError, match="not a Outer"):
        model.finish()
    good = PartialObjects(Outer)
    good.feed('{"inner": {"n": 2}}')
    assert good.finish() == Outer(inner=Inner(n=2))


# -- over real sockets ---------------------------------------------------------------------

QUESTION = [{"role": "user", "content": "A recipe, please."}]


def recorded_chunks(name: str) -> list[dict[str, Any]]:
    parser = SSEParser()
    events = parser.feed((RECORDED / name.replace(".expected.json", ".sse")).read_bytes())
    events += parser.close()
    return [json.loads(event.data) for event in events if event.data != "[DONE]"]


@pytest.mark.anyio
async def test_create_streaming_with_a_type_streams_partial_objects(
    server: testing.FakeSudoServer,
) -> None:
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        request = sudo.router.create_streaming(messages=QUESTION, model="m", response_format=Recipe)
        async with request as stream:
            assert isinstance(stream, ParsedChatStream) and "Recipe" in repr(stream)
            snapshots = [snapshot async for snapshot in stream.partial_objects()]
            completion = await stream.final_completion()
            assert await stream.final_completion() is completion  # decoded once, kept
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Recipe)
    content = completion.choices[0].message.content
    assert content is not None and parsed == msgspec.json.decode(content, type=Recipe)
    assert len(snapshots) > 5  # it streamed, piece by piece
    assert snapshots[-1] == json.loads(content)
    assert all(is_prefix_of(snapshot, snapshots[-1]) for snapshot in snapshots)
    sent = json.loads(server.requests[-1].body)
    assert sent["response_format"]["json_schema"]["schema"] == strict_schema(Recipe)
    assert sent["response_format"]["json_schema"]["strict"] is True


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name",
    [
        name
        for name, completion in recorded("test_parse_pydantic_model_multiple_choices")
        if all(choice["message"]["content"] for choice in completion["choices"])
    ][:2],
)
async def test_recorded_streams_in_small_pieces(server: testing.FakeSudoServer, name: str) -> None:
    expected = json.loads((RECORDED / name).read_text(encoding="utf-8"))["completion"]
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        for choice in (0, 2):
            server.enqueue(testing.Stream(recorded_chunks(name), piece_size=7))
            async with sudo.router.create_streaming(
                messages=QUESTION, model="gpt-4o", response_format=Location, n=3
            ) as stream:
                snapshots = [snapshot async for snapshot in stream.partial_objects(choice)]
                completion = await stream.final_completion()
            content = expected["choices"][choice]["message"]["content"]
            assert snapshots[-1] == json.loads(content)
            assert completion.choices[choice].message.parsed == msgspec.json.decode(
                content, type=Location
            )


@pytest.mark.anyio
async def test_a_stream_cut_by_the_token_limit_raises_at_the_end(
    server: testing.FakeSudoServer,
) -> None:
    chunks = testing.text_chunks('{"city": "San Fran', finish_reason="length")
    server.enqueue(testing.Stream(chunks))
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", response_format=Location
        ) as stream:
            snapshots = [snapshot async for snapshot in stream.partial_objects()]
            assert snapshots[-1] == {"city": "San Fran"}  # what came is shown, not an error
            with pytest.raises(LengthFinishReasonError) as caught:
                await stream.final_completion()
    assert caught.value.raw == '{"city": "San Fran'


@pytest.mark.anyio
async def test_a_refusal_streams_no_object(server: testing.FakeSudoServer) -> None:
    (name, _), *_ = recorded("test_parse_pydantic_model_refusal")
    server.enqueue(testing.Stream(recorded_chunks(name), piece_size=5))
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", response_format=Location
        ) as stream:
            assert [snapshot async for snapshot in stream.partial_objects()] == []
            message = (await stream.final_completion()).choices[0].message
    assert message.parsed is None and message.refusal


@pytest.mark.anyio
async def test_an_answer_that_breaks_the_schema_fails_early_and_closes_the_stream(
    server: testing.FakeSudoServer,
) -> None:
    text = '{"title": "x", "steps": [{"text": "a", "minutes": "soon"}, {"text": "more to come"}]}'
    server.enqueue(testing.Stream(testing.text_chunks(text)))
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", response_format=Recipe
        ) as stream:
            seen = []
            with pytest.raises(StructuredOutputError, match=r"\$\.steps\[0\]\.minutes") as caught:
                async for snapshot in stream.partial_objects():
                    seen.append(snapshot)
            assert stream.closed
    assert caught.value.raw is not None and "more to come" not in caught.value.raw
    assert seen and seen[-1]["steps"][0]["text"] == "a"


@pytest.mark.anyio
async def test_create_refuses_a_type_and_points_to_parse(server: testing.FakeSudoServer) -> None:
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        with pytest.raises(TypeError, match=r"call parse\(\)"):
            await sudo.router.create(messages=QUESTION, model="m", response_format=Location)  # type: ignore[typeddict-item]
    assert server.requests == []


def test_blocking_streams_partial_objects() -> None:
    with testing.serve_in_thread() as server, Sudo(api_key="k", server_url=server.url) as sudo:
        with sudo.router.create_streaming(
            messages=QUESTION, model="m", response_format=Recipe
        ) as stream:
            snapshots = list(stream.partial_objects())
            parsed = stream.final_completion().choices[0].message.parsed
        plain = sudo.router.create_streaming(messages=QUESTION, model="m")
        with plain:
            assert not hasattr(plain, "partial_objects")
    assert isinstance(parsed, Recipe)
    assert snapshots[-1] == msgspec.to_builtins(parsed)
