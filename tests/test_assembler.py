"""Unit and property tests of StreamAssembler, with hand-written chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sudo_stream.assembler as assembler_module
from sudo_stream._partial_json import PartialJSON
from sudo_stream.assembler import StreamAssembler, StreamChunkError
from sudo_stream.models import ChatCompletion, ChatCompletionChunk, ErrorDetail, Usage
from sudo_stream.models._lenient import decode_lenient
from sudo_stream.models.events import (
    Finished,
    LogprobsDelta,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReceived,
)
from sudo_stream.sse import SSEParser

DECODER = msgspec.json.Decoder(ChatCompletionChunk)
DATA = Path(__file__).resolve().parent / "data" / "recorded_streams"
INDEX = json.loads((DATA / "index.json").read_text(encoding="utf-8"))

# -- building chunks -----------------------------------------------------------------------


def chunk(*choices: dict[str, Any], **top: Any) -> ChatCompletionChunk:
    """A chunk as it comes off the wire (JSON decoded by msgspec)."""
    payload: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": list(choices),
    }
    payload.update(top)
    return DECODER.decode(json.dumps(payload))


def choice(index: int = 0, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
    logprobs = delta.pop("logprobs", None)
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}


def call(**fields: Any) -> dict[str, Any]:
    """A tool-call delta with exactly the given keys (``name``/``arguments`` go under
    ``function``)."""
    function = {k: fields.pop(k) for k in ("name", "arguments") if k in fields}
    if function:
        fields["function"] = function
    return fields


def feed(chunks: list[ChatCompletionChunk]) -> tuple[list[StreamEvent], StreamAssembler]:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    for item in chunks:
        events.extend(assembler.add(item))
    events.extend(assembler.close())
    # the event-free path builds the same completion
    quiet = StreamAssembler()
    for item in chunks:
        quiet.absorb(item)
    quiet.close()
    assert quiet.completion() == assembler.completion()
    assert quiet.finished == assembler.finished
    return events, assembler


def message(assembler: StreamAssembler, index: int = 0) -> Any:
    return next(c for c in assembler.completion().choices if c.index == index).message


# -- repeated and placeholder values ------------------------------------------------------


def test_role_repeated_on_every_delta_is_not_concatenated() -> None:
    _, asm = feed(
        [
            chunk(choice(role="assistant", content="a")),
            chunk(choice(role="assistant", content="b")),
            chunk(choice(role="", content="c")),
            chunk(choice(role=None, content="d", finish_reason="stop")),
        ]
    )
    assert message(asm).role == "assistant"
    assert message(asm).content == "abcd"


def test_role_defaults_to_assistant() -> None:
    _, asm = feed([chunk(choice(content="x"))])
    assert message(asm).role == "assistant"


def test_tool_call_id_type_name_repeated_and_placeholders() -> None:
    _, asm = feed(
        [
            chunk(
                choice(
                    tool_calls=[
                        call(index=0, id="call_1", type="function", name="get", arguments="")
                    ]
                )
            ),
            chunk(
                choice(
                    tool_calls=[
                        call(index=0, id="call_1", type="function", name="get", arguments='{"a"')
                    ]
                )
            ),
            chunk(choice(tool_calls=[call(index=0, id="", type="", name="", arguments=": 1")])),
            chunk(choice(tool_calls=[call(index=0, id=None, type=None, name=None, arguments="}")])),
            chunk(choice(finish_reason="tool_calls")),
        ]
    )
    calls = message(asm).tool_calls
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("call_1", "function", "get", '{"a": 1}')
    ]


def test_placeholder_before_real_value_is_replaced() -> None:
    _, asm = feed(
        [
            chunk(choice(role="", tool_calls=[call(index=0, id="", name="", arguments="{")])),
            chunk(
                choice(
                    role="assistant",
                    tool_calls=[call(index=0, id="call_9", name="f", arguments="}")],
                )
            ),
        ]
    )
    msg = message(asm)
    assert msg.role == "assistant"
    assert (msg.tool_calls[0].id, msg.tool_calls[0].function.name) == ("call_9", "f")
    assert msg.tool_calls[0].type == "function"  # never sent: the only type there is


def test_first_chunk_placeholder_metadata() -> None:
    _, asm = feed(
        [
            chunk(id="", model="", created=0, object="", system_fingerprint="", service_tier=""),
            chunk(choice(content="hi"), id="real", model="gpt", created=5, system_fingerprint="fp"),
            chunk(
                choice(content="!"), id="other", model="other", created=9, service_tier="default"
            ),
        ]
    )
    completion = asm.completion()
    assert (completion.id, completion.model, completion.created) == ("real", "gpt", 5)
    assert (completion.system_fingerprint, completion.service_tier) == ("fp", "default")
    assert completion.object == "chat.completion"


# -- tool calls ---------------------------------------------------------------------------


def test_whole_tool_call_in_one_chunk() -> None:
    events, asm = feed(
        [
            chunk(
                choice(
                    finish_reason="tool_calls",
                    tool_calls=[
                        call(index=0, id="c1", type="function", name="f", arguments='{"x": [1, 2]}')
                    ],
                )
            )
        ]
    )
    assert events == [
        ToolCallStarted(0, 0, "c1", "f"),
        ToolArgumentsDelta(0, 0, "c1", "f", '{"x": [1, 2]}'),
        ToolCallDone(0, 0, "c1", "f", '{"x": [1, 2]}', {"x": [1, 2]}, None),
        Finished(0, "tool_calls"),
    ]
    assert asm.finished


def test_two_whole_calls_in_one_delta() -> None:
    _, asm = feed(
        [
            chunk(
                choice(
                    tool_calls=[
                        call(index=0, id="a", name="f", arguments="{}"),
                        call(index=1, id="b", name="g", arguments="[]"),
                    ]
                )
            )
        ]
    )
    assert [(c.id, c.function.arguments) for c in message(asm).tool_calls] == [
        ("a", "{}"),
        ("b", "[]"),
    ]


def test_tool_call_indexes_starting_at_1_are_renumbered() -> None:
    events, asm = feed(
        [
            chunk(choice(content="text first")),
            chunk(choice(tool_calls=[call(index=1, id="t1", name="f", arguments="")])),
            chunk(choice(tool_calls=[call(index=1, arguments='{"a":')])),
            chunk(choice(tool_calls=[call(index=2, id="t2", name="g", arguments="{}")])),
            chunk(choice(tool_calls=[call(index=1, arguments="1}")])),
            chunk(choice(finish_reason="tool_calls")),
        ]
    )
    calls = message(asm).tool_calls
    assert [(c.id, c.function.arguments) for c in calls] == [("t1", '{"a":1}'), ("t2", "{}")]
    assert [(e.index, e.id) for e in events if isinstance(e, ToolCallStarted)] == [
        (0, "t1"),
        (1, "t2"),
    ]
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [(e.index, e.parsed) for e in done] == [(0, {"a": 1}), (1, {})]


def test_tool_calls_without_index() -> None:
    _, asm = feed(
        [
            chunk(choice(tool_calls=[call(id="a", name="f", arguments='{"q"')])),
            chunk(choice(tool_calls=[call(arguments=': "x"}')])),  # no id, no index: continues
            chunk(choice(tool_calls=[call(id="a", arguments="")])),  # same id: continues
            chunk(choice(tool_calls=[call(id="b", name="g", arguments="{}")])),  # new id: new call
            chunk(choice(tool_calls=[call(arguments="")])),
            chunk(choice(finish_reason="tool_calls")),
        ]
    )
    calls = message(asm).tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", '{"q": "x"}'),
        ("b", "g", "{}"),
    ]


def test_same_index_with_a_new_id_is_a_new_call() -> None:
    # Some gateways number every parallel call 0; the id tells them apart.
    _, asm = feed(
        [
            chunk(choice(tool_calls=[call(index=0, id="a", name="f", arguments="{}")])),
            chunk(choice(tool_calls=[call(index=0, id="b", name="g", arguments="{")])),
            chunk(choice(tool_calls=[call(index=0, arguments="}")])),
        ]
    )
    calls = message(asm).tool_calls
    assert [(c.id, c.function.arguments) for c in calls] == [("a", "{}"), ("b", "{}")]


@pytest.mark.parametrize("key", [{}, {"index": 0, "id": ""}], ids=["no-index", "index-0-empty-id"])
def test_whole_calls_without_ids_are_told_apart(key: dict[str, Any]) -> None:
    # Gemini's OpenAI-compatible shape: each call whole in its chunk, no id to tell them apart.
    events, asm = feed(
        [
            chunk(choice(role="assistant", tool_calls=[call(**key, name="get_a", arguments='{"x": 1}')])),
            chunk(choice(tool_calls=[call(**key, name="get_b", arguments='{"y": 2}')])),
            chunk(choice(tool_calls=[call(**key, name="get_b", arguments='{"y": 3}')])),  # same name
            chunk(choice(finish_reason="tool_calls")),
        ]
    )
    calls = message(asm).tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_a", '{"x": 1}'), ("get_b", '{"y": 2}'), ("get_b", '{"y": 3}')
    ]
    assert [e.parse_error for e in events if isinstance(e, ToolCallDone)] == [None] * 3


def test_a_name_repeated_on_every_fragment_stays_one_call() -> None:
    fragments = ['{"a": ', '{"b": 1}', ', "c": [1]', "}"]  # one opens a nested object
    _, asm = feed(
        [chunk(choice(tool_calls=[call(index=0, name="f", arguments=part)])) for part in fragments]
    )
    calls = message(asm).tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [("f", "".join(fragments))]


def test_an_audio_answer_is_joined() -> None:
    _, asm = feed(
        [
            chunk(choice(role="assistant", audio={"id": "aud_1", "transcript": "Hel", "data": "AAA", "expires_at": 1})),
            chunk(choice(audio={"transcript": "lo", "data": "BBB"})),
            chunk(choice(finish_reason="stop")),
        ]
    )
    assert message(asm).audio == {"id": "aud_1", "expires_at": 1, "transcript": "Hello", "data": "AAABBB"}


def test_deeply_nested_arguments_are_no_exception() -> None:
    deep = "[" * 5000 + "]" * 5000
    events, _ = feed(
        [chunk(choice(tool_calls=[call(index=0, id="a", name="f", arguments=deep)])),
         chunk(choice(finish_reason="tool_calls"))]
    )
    (done,) = [e for e in events if isinstance(e, ToolCallDone)]
    assert done.parse_error is None and isinstance(done.parsed, list)


def test_tool_calls_of_each_choice_are_separate() -> None:
    _, asm = feed(
        [
            chunk(choice(1, tool_calls=[call(index=0, id="b0", name="g", arguments="[1")])),
            chunk(choice(0, tool_calls=[call(index=0, id="a0", name="f", arguments="[2")])),
            chunk(choice(1, tool_calls=[call(index=0, arguments="]")])),
            chunk(choice(0, tool_calls=[call(index=0, arguments="]")])),
        ]
    )
    assert message(asm, 0).tool_calls[0].function.arguments == "[2]"
    assert message(asm, 1).tool_calls[0].function.arguments == "[1]"


def test_tool_call_done_parse_error_and_empty_arguments() -> None:
    events, _ = feed(
        [
            chunk(choice(tool_calls=[call(index=0, id="a", name="f", arguments='{"x": ')])),
            chunk(choice(tool_calls=[call(index=1, id="b", name="g", arguments="")])),
            chunk(choice(tool_calls=[call(index=2, id="c", name="h", arguments='{"ok": true}')])),
            chunk(choice(finish_reason="length")),
        ]
    )
    done = {e.id: e for e in events if isinstance(e, ToolCallDone)}
    assert done["a"].parsed is None
    assert isinstance(done["a"].parse_error, str) and done["a"].parse_error
    assert (done["b"].parsed, done["b"].parse_error) == ({}, None)
    assert (done["c"].parsed, done["c"].parse_error) == ({"ok": True}, None)


TRICKY_ARGUMENTS = [
    '{"a": NaN}',
    '{"a": Infinity}',
    "[-Infinity]",
    '{"a": 1, "a": 2}',
    '{"big": 123456789012345678901234567890}',
    '{"s": "\\ud800"}',
    '{"f": 1.5e300, "g": -0.0}',
    "[01]",
    "[1,]",
    '{"a": 1} x',
    "  [true, false, null]  ",
    '"just a string"',
    "42",
    '{"c": "tab\there"}',
    '{"u": "caf\\u00e9 \u00e9"}',
]


@pytest.mark.parametrize("text", TRICKY_ARGUMENTS)
def test_tool_call_done_same_with_or_without_partial_parsing(text: str) -> None:
    """Validation without a partial parser (json.loads) agrees with PartialJSON.finish()."""
    results = []
    for ask_partial in (False, True):
        assembler = StreamAssembler()
        events: list[StreamEvent] = []
        for n in range(0, len(text), 3):
            delta = call(index=0, arguments=text[n : n + 3])
            if n == 0:
                delta.update(id="x", name="f")
            events += assembler.add(chunk(choice(tool_calls=[delta])))
        if ask_partial:
            for event in events:
                if isinstance(event, ToolArgumentsDelta):
                    event.partial_arguments()
        (done,) = assembler.close()
        assert isinstance(done, ToolCallDone)
        results.append((json.dumps(done.parsed), done.parse_error))
    assert results[0] == results[1]
    try:
        expected = json.loads(text, parse_constant=lambda name: 1 / 0)
    except (ValueError, ZeroDivisionError):
        assert results[0][1] is not None
    else:
        assert results[0] == (json.dumps(expected), None)


def test_tool_call_done_at_close_when_no_finish_reason() -> None:
    assembler = StreamAssembler()
    events = assembler.add(
        chunk(choice(tool_calls=[call(index=0, id="a", name="f", arguments="[1]")]))
    )
    assert not any(isinstance(e, ToolCallDone) for e in events)
    assert not assembler.finished
    closing = assembler.close()
    assert closing == [ToolCallDone(0, 0, "a", "f", "[1]", [1], None)]
    assert assembler.close() == []  # idempotent


def test_close_after_absorb_flushes_only_unfinished_calls() -> None:
    assembler = StreamAssembler()
    assembler.absorb(chunk(choice(0, tool_calls=[call(index=0, id="a", name="f", arguments="{}")])))
    assembler.absorb(chunk(choice(0, finish_reason="tool_calls")))
    assembler.absorb(chunk(choice(1, tool_calls=[call(index=0, id="b", name="g", arguments="{}")])))
    assert [e.id for e in assembler.close() if isinstance(e, ToolCallDone)] == ["b"]


def test_legacy_function_call() -> None:
    _, asm = feed(
        [
            chunk(choice(role="assistant", function_call={"name": "f", "arguments": ""})),
            chunk(choice(function_call={"name": "f", "arguments": '{"a"'})),
            chunk(choice(function_call={"arguments": ": 1}"}, finish_reason="function_call")),
        ]
    )
    function_call = message(asm).function_call
    assert (function_call.name, function_call.arguments) == ("f", '{"a": 1}')


# -- partial arguments --------------------------------------------------------------------


FRAGMENTS = ['{"city', '": "Par', 'is", "days": [1', ", 2", "]}"]


def _argument_events() -> list[ToolArgumentsDelta]:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    events += assembler.add(
        chunk(choice(tool_calls=[call(index=0, id="a", name="weather", arguments="")]))
    )
    for fragment in FRAGMENTS:
        events += assembler.add(chunk(choice(tool_calls=[call(index=0, arguments=fragment)])))
    return [e for e in events if isinstance(e, ToolArgumentsDelta)]


def test_partial_arguments_while_streaming() -> None:
    deltas = _argument_events()
    assert [e.delta for e in deltas] == FRAGMENTS
    assert all((e.id, e.name, e.index, e.choice_index) == ("a", "weather", 0, 0) for e in deltas)
    values = [e.partial_arguments() for e in deltas]
    assert values == [
        {},  # the key is not complete yet
        {"city": "Par"},
        {"city": "Paris", "days": [1]},
        {"city": "Paris", "days": [1, 2]},
        {"city": "Paris", "days": [1, 2]},
    ]
    values[3]["days"].append(99)  # each value is a fresh copy
    assert deltas[4].partial_arguments() == {"city": "Paris", "days": [1, 2]}


def test_partial_arguments_of_invalid_json_stop_at_the_error() -> None:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    for n, fragment in enumerate(['{"a": 1', ", oops", ', "b": 2}']):
        delta = call(index=0, arguments=fragment)
        if n == 0:
            delta.update(id="x", name="f")
        events += assembler.add(chunk(choice(tool_calls=[delta])))
    deltas = [e for e in events if isinstance(e, ToolArgumentsDelta)]
    assert [e.partial_arguments() for e in deltas] == [{"a": 1}, {"a": 1}, {"a": 1}]
    (done,) = assembler.close()
    assert isinstance(done, ToolCallDone)
    assert done.parsed is None
    assert done.parse_error is not None and "offset 9" in done.parse_error
    assert done.arguments == '{"a": 1, oops, "b": 2}'


def test_hand_made_arguments_delta() -> None:
    assert ToolArgumentsDelta(0, 0, None, None, '{"a": [1').partial_arguments() == {"a": [1]}
    assert ToolArgumentsDelta(0, 0, None, None, "}").partial_arguments() is None


def test_partial_arguments_asked_late_or_out_of_order() -> None:
    in_order = [e.partial_arguments() for e in _argument_events()]
    deltas = _argument_events()
    late = {n: deltas[n].partial_arguments() for n in (3, 1, 4, 0, 2)}
    assert [late[n] for n in range(5)] == in_order
    assert deltas[3].partial_arguments() is late[3]  # cached on the event


def test_partial_arguments_feed_each_fragment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fed: list[str] = []

    class Spy(PartialJSON):
        def feed(self, fragment: str) -> Any:
            fed.append(fragment)
            return super().feed(fragment)

    monkeypatch.setattr(assembler_module, "PartialJSON", Spy)
    fragments = ['{"n": [', *(f"{i}, " for i in range(300)), "300]}"]
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    for n, fragment in enumerate(fragments):
        delta = (
            call(index=0, arguments=fragment)
            if n
            else call(index=0, id="a", name="f", arguments=fragment)
        )
        for event in assembler.add(chunk(choice(tool_calls=[delta]))):
            if isinstance(event, ToolArgumentsDelta):
                event.partial_arguments()
                events.append(event)
    assert fed == fragments  # linear: every fragment fed exactly once, never the prefix again
    done = assembler.add(chunk(choice(finish_reason="tool_calls")))
    assert done[0] == ToolCallDone(
        0, 0, "a", "f", "".join(fragments), {"n": list(range(301))}, None
    )
    assert fed == fragments  # the finished parser was reused, nothing re-fed


def test_partial_arguments_never_asked_builds_no_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []

    class Spy(PartialJSON):
        def __init__(self) -> None:
            made.append(1)
            super().__init__()

    monkeypatch.setattr(assembler_module, "PartialJSON", Spy)
    assembler = StreamAssembler()
    for fragment in FRAGMENTS:
        assembler.add(chunk(choice(tool_calls=[call(index=0, id="a", arguments=fragment)])))
    assert made == []


# -- choices ------------------------------------------------------------------------------


def test_choices_first_seen_out_of_order_and_interleaved() -> None:
    events, asm = feed(
        [
            chunk(choice(2, role="assistant", content="c")),
            chunk(choice(0, role="assistant", content="a")),
            chunk(choice(1, content="b"), choice(2, content="C")),
            chunk(choice(0, content="A", finish_reason="stop")),
            chunk(choice(1, content="B", finish_reason="stop")),
        ]
    )
    completion = asm.completion()
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "aA", "stop"),
        (1, "bB", "stop"),
        (2, "cC", None),
    ]
    assert not asm.finished
    assert [(e.choice_index, e.text) for e in events if isinstance(e, TextDelta)] == [
        (2, "c"),
        (0, "a"),
        (1, "b"),
        (2, "C"),
        (0, "A"),
        (1, "B"),
    ]


def test_finished_needs_every_choice() -> None:
    assembler = StreamAssembler()
    assert not assembler.finished  # nothing seen yet
    assembler.absorb(chunk(choice(0, content="x", finish_reason="stop"), choice(1, content="y")))
    assert not assembler.finished
    assembler.absorb(chunk(choice(1, finish_reason="length")))
    assert assembler.finished


# -- content parts and reasoning ----------------------------------------------------------


def test_content_as_list_of_parts() -> None:
    events, asm = feed(
        [
            chunk(
                choice(
                    content=[{"type": "thinking", "thinking": [{"type": "text", "text": "hmm "}]}]
                )
            ),
            chunk(
                choice(
                    content=[{"type": "thinking", "thinking": "ok"}, {"type": "text", "text": "4"}]
                )
            ),
            chunk(choice(content=[{"type": "image_url", "image_url": {"url": "x"}}])),
            chunk(choice(content="2", finish_reason="stop")),
        ]
    )
    assert message(asm).content == "42"
    assert message(asm).reasoning_content == "hmm ok"
    assert [type(e).__name__ for e in events] == [
        "ReasoningDelta",
        "ReasoningDelta",
        "TextDelta",
        "TextDelta",
        "Finished",
    ]


@pytest.mark.parametrize("name", ["reasoning_content", "reasoning"])
def test_reasoning_names(name: str) -> None:
    events, asm = feed(
        [chunk(choice(**{name: "think"})), chunk(choice(**{name: "ing"}, content="ok"))]
    )
    assert message(asm).reasoning_content == "thinking"
    assert message(asm).content == "ok"
    assert events[:2] == [ReasoningDelta(0, "think"), ReasoningDelta(0, "ing")]


def test_reasoning_under_two_names_in_one_delta_is_not_doubled() -> None:
    detail = {"type": "reasoning.text", "text": "abc", "index": 0}
    _, asm = feed(
        [
            chunk(choice(reasoning="abc", reasoning_content="abc", reasoning_details=[detail])),
            chunk(
                choice(
                    reasoning="d",
                    reasoning_details=[{"type": "reasoning.text", "text": "d", "index": 0}],
                )
            ),
        ]
    )
    msg = message(asm)
    assert msg.reasoning_content == "abcd"
    assert msg.reasoning_details == [{"type": "reasoning.text", "text": "abcd", "index": 0}]


def test_reasoning_details_alone() -> None:
    _, asm = feed(
        [
            chunk(
                choice(
                    reasoning_details=[
                        {"type": "reasoning.text", "text": "a", "index": 0, "signature": ""}
                    ]
                )
            ),
            chunk(choice(reasoning_details=[{"type": "reasoning.text", "text": "b", "index": 0}])),
            chunk(
                choice(
                    reasoning_details=[{"type": "reasoning.text", "signature": "sig", "index": 0}]
                )
            ),
            chunk(
                choice(
                    reasoning_details=[{"type": "reasoning.summary", "summary": "S", "index": 1}]
                )
            ),
            chunk(
                choice(
                    reasoning_details=[{"type": "reasoning.encrypted", "data": "xyz", "index": 2}]
                )
            ),
            chunk(choice(reasoning_details=[{"type": "reasoning.text", "text": "!"}])),  # no index
        ]
    )
    msg = message(asm)
    assert msg.reasoning_content == "abS!"
    assert msg.reasoning_details == [
        {"type": "reasoning.text", "index": 0, "signature": "sig", "text": "ab"},
        {"type": "reasoning.summary", "index": 1, "summary": "S"},
        {"type": "reasoning.encrypted", "index": 2, "data": "xyz"},
        {"type": "reasoning.text", "text": "!"},
    ]


def test_no_reasoning_stays_none() -> None:
    _, asm = feed(
        [chunk(choice(content="x", reasoning=None, reasoning_content=None, reasoning_details=[]))]
    )
    assert message(asm).reasoning_content is None


# -- usage, finish reason, logprobs, refusal ----------------------------------------------


def test_usage_in_a_chunk_without_choices() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    events, asm = feed(
        [
            chunk(choice(content="x", finish_reason="stop")),
            chunk(usage=usage),
            chunk(usage=None),  # null never overwrites
        ]
    )
    assert asm.completion().usage == Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    assert [e for e in events if isinstance(e, UsageReceived)] == [
        UsageReceived(Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5))
    ]


def test_usage_on_every_chunk_last_wins() -> None:
    _, asm = feed(
        [
            chunk(
                choice(content=str(n)),
                usage={"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
            )
            for n in range(1, 6)
        ]
    )
    assert asm.completion().usage == Usage(prompt_tokens=1, completion_tokens=5, total_tokens=6)


def test_usage_inside_x_groq_and_with_finish_reason() -> None:
    groq = {
        "id": "req",
        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8, "queue_time": 0.1},
    }
    _, asm = feed([chunk(choice(content="x", finish_reason="stop"), x_groq=groq)])
    assert asm.completion().usage == Usage(prompt_tokens=7, completion_tokens=1, total_tokens=8)
    assert asm.completion().choices[0].finish_reason == "stop"


def test_finish_reason_first_real_one_wins() -> None:
    events, asm = feed(
        [
            chunk(choice(content="x", finish_reason="")),  # placeholder
            chunk(choice(finish_reason="stop")),
            chunk(choice(finish_reason="stop")),
            chunk(choice(finish_reason="length")),
        ]
    )
    assert asm.completion().choices[0].finish_reason == "stop"
    assert [e for e in events if isinstance(e, Finished)] == [Finished(0, "stop")]


def test_finish_reason_never_comes() -> None:
    _, asm = feed([chunk(choice(content="x")), chunk(choice(content="y"))])
    assert asm.completion().choices[0].finish_reason is None
    assert not asm.finished


def _lp(*tokens: str) -> list[dict[str, Any]]:
    return [
        {"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens
    ]


def test_logprobs_and_refusal_concatenate() -> None:
    events, asm = feed(
        [
            chunk(
                choice(
                    role="assistant",
                    content=None,
                    refusal="",
                    logprobs={"content": None, "refusal": []},
                )
            ),
            chunk(choice(refusal="I can", logprobs={"content": None, "refusal": _lp("I", " can")})),
            chunk(choice(refusal="not.", logprobs={"content": None, "refusal": _lp("not", ".")})),
            chunk(choice(finish_reason="stop")),
        ]
    )
    result = asm.completion().choices[0]
    assert result.message.refusal == "I cannot."
    assert result.message.content is None
    assert result.logprobs is not None and result.logprobs.content is None
    assert [t.token for t in result.logprobs.refusal] == ["I", " can", "not", "."]
    assert [e.text for e in events if isinstance(e, RefusalDelta)] == ["I can", "not."]
    lp_events = [e for e in events if isinstance(e, LogprobsDelta)]
    assert [[t.token for t in e.refusal] for e in lp_events] == [["I", " can"], ["not", "."]]


def test_content_logprobs() -> None:
    _, asm = feed(
        [
            chunk(choice(content="", logprobs=None)),
            chunk(choice(content="Hi", logprobs={"content": _lp("Hi")})),
            chunk(choice(content="!", logprobs={"content": _lp("!")}, finish_reason="stop")),
        ]
    )
    logprobs = asm.completion().choices[0].logprobs
    assert logprobs is not None and [t.token for t in logprobs.content] == ["Hi", "!"]


def test_empty_strings_make_the_field_present() -> None:
    # like openai-python: a field sent as "" is "" in the completion, one never sent is None
    _, asm = feed([chunk(choice(role="assistant", content="", refusal=None))])
    assert message(asm).content == ""
    assert message(asm).refusal is None


def test_annotations_accumulate() -> None:
    first = {"type": "url_citation", "url_citation": {"url": "a"}}
    second = {"type": "url_citation", "url_citation": {"url": "b"}}
    _, asm = feed(
        [chunk(choice(content="x", annotations=[first])), chunk(choice(annotations=[second]))]
    )
    assert message(asm).annotations == [first, second]


def lenient_chunk(*choices: dict[str, Any], **top: Any) -> ChatCompletionChunk:
    """A chunk as the stream decodes it: strictly, else by the second pass (which keeps
    values of another shape in the fields the API's document leaves untyped)."""
    payload = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
               "model": "m", "choices": list(choices), **top}
    data = json.dumps(payload)
    try:
        return DECODER.decode(data)
    except msgspec.ValidationError:
        return decode_lenient(data, ChatCompletionChunk)


def test_values_of_another_shape_are_carried_to_the_completion() -> None:
    odd = {"reasoning": {"effort": "low"}, "reasoning_content": 7, "audio": "UklGRg==",
           "function_call": "lookup", "annotations": {"type": "url"}, "reasoning_details": "opaque"}
    events, asm = feed(
        [
            lenient_chunk(choice(role="assistant", content="a", logprobs=1.5, **odd)),
            lenient_chunk(choice(content="b", logprobs=-2, annotations=[{"type": "file"}])),
            lenient_chunk(choice(finish_reason="stop"), usage={"prompt_tokens": 1, "completion_tokens": 2,
                          "total_tokens": 3, "completion_tokens_details": [], "prompt_tokens_details": 0}),
        ]
    )
    done = asm.completion()
    got = done.choices[0].message
    assert got.content == "ab" and done.choices[0].finish_reason == "stop"
    assert (got.reasoning, got.reasoning_content, got.audio, got.function_call) == (
        {"effort": "low"}, 7, "UklGRg==", "lookup")
    assert got.annotations == [{"type": "url"}, {"type": "file"}]  # another value: one more item
    assert got.reasoning_details == ["opaque"]
    assert done.choices[0].logprobs == -2  # values that cannot be joined: the last one
    assert done.usage is not None and done.usage.completion_tokens_details == []
    assert done.usage.prompt_tokens_details == 0 and done.usage.total_tokens == 3
    assert not any(isinstance(e, (LogprobsDelta, ReasoningDelta)) for e in events)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b"]


def test_pieces_of_the_usual_shape_win_over_values_of_another() -> None:
    _, asm = feed(
        [
            lenient_chunk(choice(content="a", reasoning_content="thinking", audio={"data": "AA"},
                                 function_call={"name": "f", "arguments": "{"}, logprobs={"content": _lp("a")})),
            lenient_chunk(choice(content="b", reasoning_content=["odd"], audio=5, function_call=[1],
                                 logprobs="odd")),
            lenient_chunk(choice(finish_reason="stop")),
        ]
    )
    got = message(asm)
    assert got.reasoning_content == "thinking" and got.audio == {"data": "AA"}
    assert got.function_call is not None and got.function_call.name == "f"
    logprobs = asm.completion().choices[0].logprobs
    assert logprobs is not None and [t.token for t in logprobs.content] == ["a"]


def test_details_and_provider_objects_of_another_shape() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1}}
    _, asm = feed(
        [
            lenient_chunk(choice(content="x", reasoning_details=[{"type": "reasoning.text", "text": "t"}, 5])),
            lenient_chunk(choice(finish_reason="stop"), x_groq="queued", usage=usage),
        ]
    )
    got = message(asm)
    assert got.reasoning_content == "t" and got.reasoning_details == [{"type": "reasoning.text", "text": "t"}, 5]
    first, second = asm.completion().usage, asm.completion().usage
    assert first == second and first is not None and first.prompt_tokens_details is not second.prompt_tokens_details  # type: ignore[union-attr]


def test_non_chunk_objects_are_harmless() -> None:
    _, asm = feed(
        [
            chunk(
                id="", model="", object="", created=0, prompt_filter_results=[{"prompt_index": 0}]
            ),
            chunk(choice(role="assistant", content="The")),
            chunk(choice(role="assistant", content=" end")),
            chunk(
                choice(role="assistant", content="", finish_reason="stop"),
                object="chat.completion.done",
            ),
        ]
    )
    assert message(asm).content == "The end"
    assert asm.finished


# -- errors inside the stream -------------------------------------------------------------


@pytest.mark.parametrize("use_add", [True, False])
def test_error_chunk_raises_with_partial(use_add: bool) -> None:
    assembler = StreamAssembler()
    assembler.add(chunk(choice(content="half")))
    error_chunk = chunk(
        error={"message": "Token limit reached", "code": 400},
        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    )
    with pytest.raises(StreamChunkError) as info:
        if use_add:
            assembler.add(error_chunk)
        else:
            assembler.absorb(error_chunk)
    assert info.value.detail == ErrorDetail(message="Token limit reached", code=400)
    assert "Token limit reached" in str(info.value)
    assert isinstance(info.value.partial, ChatCompletion)
    assert info.value.partial.choices[0].message.content == "half"
    assert info.value.partial.usage is not None and info.value.partial.usage.total_tokens == 2
    assert assembler.error == info.value.detail
    assert not assembler.finished


def test_error_only_event_with_no_other_fields() -> None:
    data = '{"error":{"message":"boom","type":"invalid_request_error","code":"tool_use_failed"}}'
    assembler = StreamAssembler()
    with pytest.raises(StreamChunkError) as info:
        assembler.add(DECODER.decode(data))
    assert info.value.detail.code == "tool_use_failed"


def test_null_or_empty_error_is_not_an_error() -> None:
    _, asm = feed([chunk(choice(content="a"), error=None), chunk(choice(content="b"), error={})])
    assert message(asm).content == "ab"
    assert asm.error is None


# -- events ------------------------------------------------------------------------------


def test_events_in_order_for_a_full_stream() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    events, _ = feed(
        [
            chunk(choice(role="assistant", content="")),
            chunk(choice(reasoning_content="plan")),
            chunk(choice(content="Hi")),
            chunk(
                choice(tool_calls=[call(index=0, id="c", type="function", name="f", arguments="")])
            ),
            chunk(choice(tool_calls=[call(index=0, arguments='{"a":1}')])),
            chunk(choice(finish_reason="tool_calls")),
            chunk(usage=usage),
        ]
    )
    assert events == [
        ReasoningDelta(0, "plan"),
        TextDelta(0, "Hi"),
        ToolCallStarted(0, 0, "c", "f"),
        ToolArgumentsDelta(0, 0, "c", "f", '{"a":1}'),
        ToolCallDone(0, 0, "c", "f", '{"a":1}', {"a": 1}, None),
        Finished(0, "tool_calls"),
        UsageReceived(Usage(prompt_tokens=9, completion_tokens=4, total_tokens=13)),
    ]


def test_events_are_immutable_and_matchable() -> None:
    event: StreamEvent = TextDelta(1, "x")
    with pytest.raises(AttributeError):
        event.text = "y"  # type: ignore[misc]
    match event:
        case TextDelta(choice_index=1, text=text):
            assert text == "x"
        case _:  # pragma: no cover
            pytest.fail("no match")
    match ToolArgumentsDelta(0, 2, "id", "f", "{"):
        case ToolArgumentsDelta(0, index, _, name, delta):
            assert (index, name, delta) == (2, "f", "{")
        case _:  # pragma: no cover
            pytest.fail("no match")
    assert (
        msgspec.json.encode(TextDelta(0, "x"))
        == b'{"type":"text_delta","choice_index":0,"text":"x"}'
    )


# -- snapshots ----------------------------------------------------------------------------


def test_completion_mid_stream_does_not_alias_state() -> None:
    assembler = StreamAssembler()
    assembler.add(
        chunk(
            choice(content="ab", tool_calls=[call(index=0, id="c", name="f", arguments="{")]),
            usage={
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "total_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        )
    )
    assembler.add(
        chunk(
            choice(
                reasoning_details=[{"type": "reasoning.text", "text": "r", "index": 0}],
                annotations=[{"type": "x"}],
                logprobs={"content": _lp("ab")},
            )
        )
    )
    first = assembler.completion()
    again = assembler.completion()
    assert first == again and first is not again
    # vandalise the first snapshot
    msg = first.choices[0].message
    msg.content = "zzz"
    msg.tool_calls[0].function.arguments = "broken"
    msg.tool_calls.append(msg.tool_calls[0])
    msg.reasoning_details[0]["text"] = "broken"
    msg.annotations.append("broken")
    first.choices[0].logprobs.content.clear()
    first.choices.clear()
    first.usage.total_tokens = 999
    first.usage.prompt_tokens_details.cached_tokens = 999
    assert assembler.completion() == again
    assembler.add(
        chunk(choice(content="c", tool_calls=[call(index=0, arguments="}")], finish_reason="stop"))
    )
    final = assembler.completion()
    assert final.choices[0].message.content == "abc"
    assert final.choices[0].message.tool_calls[0].function.arguments == "{}"
    assert again.choices[0].message.content == "ab"  # old snapshots stay as they were
    assert again.choices[0].message.tool_calls[0].function.arguments == "{"


def test_completion_before_any_chunk() -> None:
    completion = StreamAssembler().completion()
    assert completion == ChatCompletion(object="chat.completion")
    assert completion.choices == []


# -- properties ---------------------------------------------------------------------------

SMALL_STREAMS = [entry["name"] for entry in INDEX["streams"] if entry["features"]["bytes"] < 40_000]


def _events_and_completion(raw: bytes, pieces: list[bytes]) -> tuple[list[StreamEvent], Any]:
    parser = SSEParser()
    sse = []
    for piece in pieces:
        sse.extend(parser.feed(piece))
    sse.extend(parser.close())
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    error = None
    try:
        for event in sse:
            if event.data == "[DONE]":
                break
            events.extend(assembler.add(DECODER.decode(event.data)))
    except StreamChunkError as exc:
        error = (exc.detail, exc.partial)
    events.extend(assembler.close())
    partials = [e.partial_arguments() for e in events if isinstance(e, ToolArgumentsDelta)]
    return events, (assembler.completion(), error, assembler.finished, partials)


_BASELINES: dict[str, tuple[list[StreamEvent], Any]] = {}


def _baseline(name: str) -> tuple[bytes, tuple[list[StreamEvent], Any]]:
    raw = (DATA / f"{name}.sse").read_bytes()
    if name not in _BASELINES:
        _BASELINES[name] = _events_and_completion(raw, [raw])
    return raw, _BASELINES[name]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_rechunking_of_the_bytes_gives_the_same_result(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SMALL_STREAMS))
    raw, expected = _baseline(name)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert _events_and_completion(raw, pieces) == expected


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def _resplit(chunks: list[dict[str, Any]], data: st.DataObject) -> list[dict[str, Any]]:
    """Split the text and argument strings of single-choice chunks over more chunks."""
    out = []
    for raw in chunks:
        choices = raw.get("choices") or []
        if len(choices) != 1 or not isinstance(choices[0].get("delta"), dict):
            out.append(raw)
            continue
        delta = choices[0]["delta"]
        calls = delta.get("tool_calls") or []
        targets: list[tuple[dict[str, Any], str]] = []
        if isinstance(delta.get("content"), str) and delta["content"]:
            targets.append((delta, "content"))
        if len(calls) == 1 and (calls[0].get("function") or {}).get("arguments"):
            targets.append((calls[0]["function"], "arguments"))
        if not targets:
            out.append(raw)
            continue
        holder, key = data.draw(st.sampled_from(targets))
        pieces = _split(holder[key], data.draw(st.lists(st.integers(0, 10_000), max_size=4)))
        if len(pieces) == 1:
            out.append(raw)
            continue
        holder[key] = pieces[0]
        # the first piece keeps everything else but the finish reason and usage
        first = json.loads(json.dumps(raw))
        first["choices"][0]["finish_reason"] = None
        first.pop("usage", None)
        first.get("x_groq", {}).pop("usage", None)
        out.append(first)
        for n, piece in enumerate(pieces[1:], start=2):
            follow = json.loads(json.dumps(raw)) if n == len(pieces) else {}
            if n < len(pieces):
                follow = {
                    "id": raw.get("id", ""),
                    "choices": [{"index": choices[0].get("index", 0)}],
                }
            choice_ = follow["choices"][0]
            if key == "content":
                choice_["delta"] = {"content": piece}
            else:
                continuation: dict[str, Any] = {"function": {"arguments": piece}}
                if "index" in calls[0]:
                    continuation["index"] = calls[0]["index"]
                choice_["delta"] = {"tool_calls": [continuation]}
            choice_.pop("logprobs", None)
            out.append(follow)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_splitting_deltas_over_more_chunks_gives_the_same_completion(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SMALL_STREAMS))
    raw, _ = _baseline(name)
    chunks = []
    for event in SSEParser().feed(raw):
        if event.data == "[DONE]":
            break
        parsed = json.loads(event.data)
        if parsed.get("error"):
            break
        chunks.append(parsed)
    want = StreamAssembler()
    for item in chunks:
        want.absorb(DECODER.decode(json.dumps(item)))
    got = StreamAssembler()
    for item in _resplit(json.loads(json.dumps(chunks)), data):
        got.absorb(DECODER.decode(json.dumps(item)))
    assert got.completion() == want.completion()
    assert got.finished == want.finished


# -- long texts -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["content", "reasoning_content", "refusal"])
def test_long_text_is_whole_however_often_it_is_read(field: str) -> None:
    """Text is joined a block of deltas at a time: every delta is kept, in order, whether
    the completion is read never, at every delta, or at block boundaries."""
    pieces = [f"<{i}é>" if i % 7 else "" for i in range(300)]
    name = {"reasoning_content": "reasoning_content"}.get(field, field)
    for read_every in (0, 1, 31, 32, 33):
        assembler = StreamAssembler()
        for i, piece in enumerate(pieces):
            assembler.absorb(chunk(choice(**{field: piece})))
            if read_every and i % read_every == 0:
                assert getattr(message(assembler), name) == "".join(pieces[: i + 1])
        assembler.close()
        assert getattr(message(assembler), name) == "".join(pieces)


def test_text_holds_a_string_per_block_not_per_delta() -> None:
    assembler = StreamAssembler()
    for i in range(320):
        assembler.absorb(chunk(choice(content=f" w{i}")))
    text = assembler._by_index[0].content
    assert text is not None
    assert len(text.blocks) == 320 // assembler_module._TEXT_BLOCK
    assert len(text.tail) == 0
