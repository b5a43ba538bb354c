"""ResponseAssembler: recorded-shape streams assemble to the server's final object, at every
point of the stream; lost, repeated or misplaced events, failures and streams cut short
are problems carrying what the server said, with the partial response readable."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sudo_stream.models.response_events import (
    ResponseOutputItemAddedEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    decode_response_event,
)
from sudo_stream.models.responses import (
    FunctionToolCall,
    OutputMessage,
    ReasoningItem,
    Refusal,
    Response,
    UnknownItem,
    convert_response,
)
from sudo_stream.response_assembler import ResponseAssembler, ResponseStreamProblem
from sudo_stream.sse import SSEParser

RESPONSES = Path(__file__).resolve().parent / "data" / "responses"
STREAMS = sorted(path.stem for path in RESPONSES.glob("*.sse"))
FINISHED = [name for name in STREAMS if json.loads(
    (RESPONSES / f"{name}.expected.json").read_text())["final"] is not None]  # fmt: skip
FAILING = [name for name in STREAMS if name not in FINISHED]


def raw_events(name: str) -> list[dict[str, Any]]:
    parser = SSEParser()
    events = parser.feed((RESPONSES / f"{name}.sse").read_bytes()) + parser.close()
    return [json.loads(event.data) for event in events]


def expected(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RESPONSES / f"{name}.expected.json").read_text())
    return loaded


def decoded(events: list[dict[str, Any]]) -> list[ResponseStreamEvent]:
    return [decode_response_event(json.dumps(event)) for event in events]


def assemble(events: list[dict[str, Any]]) -> tuple[ResponseAssembler, Response]:
    assembler = ResponseAssembler()
    for event in decoded(events):
        assembler.add(event)
    return assembler, assembler.close()


def renumbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def delta_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


# --- recorded streams ----------------------------------------------------------------


@pytest.mark.parametrize("name", FINISHED)
def test_a_recorded_stream_assembles_to_its_final_object(name: str) -> None:
    assembler, final = assemble(raw_events(name))
    want = expected(name)
    assert final == convert_response(want["final"])
    assert final.output_text == want["output_text"]
    assert assembler.done
    assert assembler.response() == final
    assert assembler.close() is final  # closing again gives the same answer


@pytest.mark.parametrize("name", STREAMS)
def test_a_snapshot_at_every_point_is_consistent(name: str) -> None:
    """After every prefix of the events, the snapshot holds the text streamed so far,
    and taking snapshots changes nothing of the final answer."""
    events = raw_events(name)
    assembler = ResponseAssembler()
    streamed = ""
    for position, event in enumerate(decoded(events)):
        snapshot = assembler.response()
        assert snapshot.output_text == streamed or position == len(events) - 1
        assert len(snapshot.output) <= len(events)
        try:
            assembler.add(event)
        except ResponseStreamProblem:
            assert name in FAILING and position == len(events) - 1
            return
        if isinstance(event, ResponseTextDeltaEvent):
            streamed += event.delta
        if not assembler.done:
            assert snapshot.status != "completed"
    assert assembler.close() == convert_response(expected(name)["final"])


@pytest.mark.parametrize("name", ["router_unnumbered", "error_event", "text"])
def test_every_byte_split_of_the_wire_assembles_the_same(name: str) -> None:
    data = (RESPONSES / f"{name}.sse").read_bytes()
    step = 1 if len(data) < 2000 else 7
    whole = raw_events(name)
    for split in range(0, len(data) + 1, step):
        parser = SSEParser()
        events = parser.feed(data[:split]) + parser.feed(data[split:]) + parser.close()
        assert [json.loads(e.data) for e in events] == whole, split


def test_a_router_without_item_events_and_an_empty_final_output() -> None:
    # No sequence numbers, no output_item events, and a final object without output:
    # the deltas make the item and fill the final output.
    events = raw_events("router_unnumbered")
    assert all("sequence_number" not in e for e in events)
    _, final = assemble(events)
    (message,) = final.output
    assert isinstance(message, OutputMessage)
    assert message.id == "msg_router_1"
    assert final.output_text == delta_text(events)
    assert final.usage is not None and final.usage.total_tokens == 23


def test_items_of_every_kind_in_order() -> None:
    _, final = assemble(raw_events("several_items"))
    kinds = [type(item) for item in final.output]
    assert kinds == [ReasoningItem, UnknownItem, OutputMessage, FunctionToolCall]
    assert final.function_calls[0].parsed_arguments() == {"city": "Paris", "unit": "c"}


def test_an_incomplete_response_is_final_not_an_error() -> None:
    assembler, final = assemble(raw_events("incomplete"))
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output_text == delta_text(raw_events("incomplete"))
    assert assembler.done


def test_assembled_items_without_the_final_object_match_it() -> None:
    """The deltas alone (the final object's output emptied) build the same items."""
    for name in FINISHED:
        events = raw_events(name)
        *body, end = copy.deepcopy(events)
        end["response"]["output"] = []
        _, final = assemble([*body, end])
        want = convert_response(expected(name)["final"]).output
        assert final.output == want, name


def test_assembled_items_from_deltas_only() -> None:
    """Without any .done event or item done, the deltas alone make the text, summary and
    arguments (the final object then agrees)."""
    for name in ("reasoning", "function_calls", "refusal", "text"):
        events = [e for e in raw_events(name) if not e["type"].endswith(".done") or e["type"] == "response.completed"]
        _, final = assemble(renumbered(events))
        assert final == convert_response(expected(name)["final"])


# --- done values --------------------------------------------------------------------------


def text_stream(deltas: list[str], done: str | None, final_text: str | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "r", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "message", "id": "m", "role": "assistant", "content": []}},
    ]  # fmt: skip
    for delta in deltas:
        events.append({"type": "response.output_text.delta", "item_id": "m", "output_index": 0,
                       "content_index": 0, "delta": delta})  # fmt: skip
    if done is not None:
        events.append({"type": "response.output_text.done", "item_id": "m", "output_index": 0,
                       "content_index": 0, "text": done})  # fmt: skip
    output = [] if final_text is None else [
        {"type": "message", "id": "m", "role": "assistant",
         "content": [{"type": "output_text", "text": final_text, "annotations": []}]}]  # fmt: skip
    events.append({"type": "response.completed", "response": {"id": "r", "status": "completed", "output": output}})
    return renumbered(events)


def test_the_done_text_wins_over_the_deltas() -> None:
    _, final = assemble(text_stream(["Hel", "lo"], "Hello!", None))
    assert final.output_text == "Hello!"


def test_an_empty_done_text_is_a_placeholder() -> None:
    _, final = assemble(text_stream(["Hel", "lo"], "", None))
    assert final.output_text == "Hello"


def test_a_final_object_that_disagrees_with_the_stream_is_a_problem() -> None:
    assembler = ResponseAssembler()
    events = decoded(text_stream(["Hel", "lo"], None, "Help"))
    for event in events[:-1]:
        assembler.add(event)
    with pytest.raises(ResponseStreamProblem, match=r"content 0 differs between the stream .*'text:Hello'.* and the final response .*'text:Help'"):
        assembler.add(events[-1])
    assert assembler.response().output_text == "Help"  # the server's object stays readable
    with pytest.raises(ResponseStreamProblem, match="differs"):
        assembler.close()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda out: out[1].update(arguments='{"city":"Lima","unit":"c"}'), "output item 1's arguments differ"),
        (lambda out: out.pop(), "lists 1 output items, but the stream delivered item 1"),
        (lambda out: out[0].update(type="custom_tool_call"), "output item 0 streamed as a function_call is a custom_tool_call"),
    ],
)  # fmt: skip
def test_final_function_calls_are_checked(change: Any, match: str) -> None:
    events = raw_events("function_calls")
    change(events[-1]["response"]["output"])
    with pytest.raises(ResponseStreamProblem, match=match):
        assemble(events)


def test_a_final_summary_that_disagrees_is_a_problem() -> None:
    events = raw_events("reasoning")
    events[-1]["response"]["output"][0]["summary"][1]["text"] = "Something else."
    with pytest.raises(ResponseStreamProblem, match="output item 0 summary 1 differs"):
        assemble(events)


def test_what_the_stream_did_not_deliver_comes_from_the_final_object() -> None:
    """An item the stream only announced (no text) takes the final object's text."""
    events = text_stream([], None, "Whole")
    _, final = assemble(events)
    assert final.output_text == "Whole"


# --- sequence numbers -------------------------------------------------------------------


def test_sequence_numbers_absent_on_every_event_are_not_checked() -> None:
    events = [{k: v for k, v in e.items() if k != "sequence_number"} for e in raw_events("text")]
    _, final = assemble(events)
    assert final == convert_response(expected("text")["final"])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda ev: ev.pop(10), "has sequence_number 11 where 10 was expected \\(an event was lost\\)"),
        (lambda ev: ev.insert(10, ev[9]), "has sequence_number 9 where 10 was expected \\(repeated or out of order\\)"),
        (lambda ev: ev.insert(10, ev.pop(11)), "has sequence_number 11 where 10 was expected"),
        (lambda ev: ev[10].pop("sequence_number"), "has no sequence_number; 10 was expected"),
    ],
    ids=["gap", "repeated", "out-of-order", "missing"],
)  # fmt: skip
def test_a_misplaced_event_is_a_problem_naming_the_numbers(edit: Any, match: str) -> None:
    events = raw_events("text")
    edit(events)
    assembler = ResponseAssembler()
    with pytest.raises(ResponseStreamProblem, match=match) as caught:
        for event in decoded(events):
            assembler.add(event)
    assert caught.value.detail is None
    assert assembler.done
    assert assembler.response().output_text  # the text so far stays readable
    with pytest.raises(ResponseStreamProblem, match=match):
        assembler.close()


def test_a_number_after_unnumbered_events_is_a_problem() -> None:
    events = [{k: v for k, v in e.items() if k != "sequence_number"} for e in raw_events("text")]
    events[5]["sequence_number"] = 5
    with pytest.raises(ResponseStreamProblem, match="has sequence_number 5, but the events before it had none"):
        assemble(events)


def test_numbering_may_start_anywhere() -> None:
    events = [{**e, "sequence_number": e["sequence_number"] + 40} for e in raw_events("text")]
    _, final = assemble(events)
    assert final.output_text == expected("text")["output_text"]


# --- failures and streams cut short ------------------------------------------------------


@pytest.mark.parametrize("name", FINISHED)
def test_a_stream_without_its_terminal_event_is_a_problem(name: str) -> None:
    events = raw_events(name)[:-1]
    assembler = ResponseAssembler()
    for event in decoded(events):
        assembler.add(event)
    assert not assembler.done
    with pytest.raises(ResponseStreamProblem, match=r"the stream ended before response.completed") as caught:
        assembler.close()
    assert f"({len(events)} events, the last a {events[-1]['type']} event)" in str(caught.value)
    partial = assembler.response()
    assert partial.status == "in_progress"
    assert partial.output_text == delta_text(events)


def test_an_empty_stream_is_a_problem() -> None:
    with pytest.raises(ResponseStreamProblem, match=r"\(0 events\)"):
        ResponseAssembler().close()
    assert ResponseAssembler().response().output == []


def test_a_failed_response_carries_the_error_and_the_partial_text() -> None:
    events = raw_events("failed")
    assembler = ResponseAssembler()
    with pytest.raises(ResponseStreamProblem, match="the response failed: server_error: The model produced") as caught:
        for event in decoded(events):
            assembler.add(event)
    assert caught.value.detail is not None
    assert caught.value.detail.code == "server_error"
    assert assembler.done
    partial = assembler.response()
    assert partial.status == "failed"
    assert partial.output_text == "The three primary colours are"
    with pytest.raises(ResponseStreamProblem) as again:
        assembler.close()
    assert again.value is caught.value


def test_an_error_event_carries_the_detail() -> None:
    assembler = ResponseAssembler()
    with pytest.raises(ResponseStreamProblem, match="the stream reported an error: rate_limit_exceeded") as caught:
        for event in decoded(raw_events("error_event")):
            assembler.add(event)
    assert caught.value.detail is not None
    assert caught.value.detail.code == "rate_limit_exceeded"
    assert (caught.value.detail.message or "").startswith("Rate limit reached")
    assert assembler.done


def test_an_event_after_the_end_is_a_problem() -> None:
    events = raw_events("text")
    events.append({**events[-2], "sequence_number": len(events)})
    with pytest.raises(ResponseStreamProblem, match=r"a response.output_item.done event came after the end"):
        assemble(events)


def test_a_delta_of_the_wrong_kind_for_its_item_is_a_problem() -> None:
    events = raw_events("function_calls")[:4]
    events.append({"type": "response.output_text.delta", "item_id": "x", "output_index": 0,
                   "content_index": 0, "delta": "hi", "sequence_number": 4})  # fmt: skip
    assembler = ResponseAssembler()
    with pytest.raises(ResponseStreamProblem, match=r"response.output_text.delta event for output item 0, which is a function_call"):
        for event in decoded(events):
            assembler.add(event)


def test_an_item_added_twice_is_a_problem() -> None:
    events = raw_events("text")
    added = next(i for i, e in enumerate(events) if e["type"] == "response.output_item.added")
    events.insert(added + 1, events[added])
    with pytest.raises(ResponseStreamProblem, match="output item 0 was added twice"):
        assemble(renumbered(events))


def test_refusals_assemble() -> None:
    _, final = assemble(raw_events("refusal"))
    message = final.output[0]
    assert isinstance(message, OutputMessage)
    assert isinstance(message.content[0], Refusal)
    assert message.refusal == "I'm sorry, but I can't help with that request."


# --- size ------------------------------------------------------------------------------------


def test_a_long_stream_assembles_in_linear_structure() -> None:
    """20,000 deltas, with a snapshot every 1,000: each snapshot joins what came since the
    last one (the pieces are kept joined), and the final text is whole."""
    count = 20_000
    assembler = ResponseAssembler()
    assembler.add(ResponseOutputItemAddedEvent(output_index=0, item=OutputMessage(id="m")))
    for n in range(count):
        assembler.add(ResponseTextDeltaEvent(item_id="m", delta=f"{n % 10}"))
        if n % 1000 == 999:
            assert len(assembler.response().output_text) == n + 1
    text = assembler.response().output_text
    assert len(text) == count
    assert text[:12] == "012345678901"


@pytest.mark.parametrize(
    "module",
    ["sudo_stream.response_assembler", "sudo_stream.models.response_events",
     "sudo_stream._response_params"],
)  # fmt: skip
def test_the_core_imports_no_io(module: str) -> None:
    code = f"import sys; import {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"httpx", "httpcore", "anyio", "trio", "tenacity", "asyncio"}


def test_an_item_announced_after_its_first_delta_is_the_same_item() -> None:
    events = raw_events("text")
    added = next(i for i, e in enumerate(events) if e["type"] == "response.output_item.added")
    events.insert(added + 3, events.pop(added))  # after content_part.added and a delta
    _, final = assemble(renumbered(events))
    assert final == convert_response(expected("text")["final"])
