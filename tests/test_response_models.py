"""The Responses API's wire types: recorded-shape responses and events decode to the typed
structs, unknown item, part and event types are kept (never an error), output items encode
back to the wire, and the request we encode is the one the seed SDK (sudo-ai) sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

import sudo_stream as ss
from sudo_stream._response_params import RESPONSE_FIELDS, check_response
from sudo_stream.models.request import encode
from sudo_stream.models.response_events import (
    ResponseErrorEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextAnnotationAddedEvent,
    UnknownResponseEvent,
    decode_response_event,
)
from sudo_stream.models.responses import (
    FunctionCallOutput,
    FunctionTool,
    FunctionToolCall,
    InputMessage,
    OutputMessage,
    OutputText,
    ReasoningItem,
    Response,
    ResponsesRequest,
    UnknownContent,
    UnknownItem,
    convert_response,
    decode_response,
)
from sudo_stream.sse import SSEParser

RESPONSES = Path(__file__).resolve().parent / "data" / "responses"
STREAMS = sorted(path.stem for path in RESPONSES.glob("*.sse"))


def wire_events(name: str) -> list[tuple[str, str]]:
    """The (SSE event name, data) pairs of a recorded stream."""
    parser = SSEParser()
    events = parser.feed((RESPONSES / f"{name}.sse").read_bytes()) + parser.close()
    return [(event.event, event.data) for event in events]


def expected(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RESPONSES / f"{name}.expected.json").read_text())
    return loaded


def final_objects() -> list[tuple[str, dict[str, Any]]]:
    """The terminal events' response objects of the recorded streams."""
    out = []
    for name in STREAMS:
        for _, data in wire_events(name):
            value = json.loads(data)
            if value["type"] in ("response.completed", "response.incomplete", "response.failed"):
                out.append((name, value["response"]))
    return out


# --- events ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_recorded_event_decodes_to_its_type(name: str) -> None:
    for event_name, data in wire_events(name):
        event = decode_response_event(data)
        value = json.loads(data)
        assert event.type == value["type"]
        if event_name != "message":  # the SSE event line names the same type
            assert event_name == value["type"]
        assert event.sequence_number == value.get("sequence_number")
        if isinstance(event, UnknownResponseEvent):
            assert event.data == value
            assert value["type"].startswith("response.web_search_call.")
            continue
        for field in ("output_index", "content_index", "summary_index", "item_id", "delta", "text"):
            if field in value:
                assert getattr(event, field) == value[field], field


def test_event_fields_follow_the_wire() -> None:
    events = [decode_response_event(data) for _, data in wire_events("reasoning")]
    summary = next(e for e in events if isinstance(e, ResponseReasoningSummaryTextDeltaEvent))
    assert (summary.output_index, summary.summary_index) == (0, 0)
    assert summary.item_id.startswith("rs_")
    annotation = next(e for e in events if isinstance(e, ResponseTextAnnotationAddedEvent))
    assert annotation.annotation["type"] == "url_citation"
    added = next(e for e in events if isinstance(e, ResponseOutputItemAddedEvent))
    assert isinstance(added.item, ReasoningItem)
    done = [e for e in events if isinstance(e, ResponseOutputItemDoneEvent)]
    assert isinstance(done[0].item, ReasoningItem)
    assert done[0].item.encrypted_content
    assert isinstance(done[1].item, OutputMessage)
    calls = [decode_response_event(d) for _, d in wire_events("function_calls")]
    args = [e for e in calls if isinstance(e, ResponseFunctionCallArgumentsDoneEvent)]
    assert [json.loads(e.arguments)["city"] for e in args] == ["Paris", "Bogotá"]


def test_an_unknown_event_type_is_kept_with_its_data() -> None:
    data = {"type": "response.audio.delta", "sequence_number": 7, "delta": "AAEC"}
    event = decode_response_event(json.dumps(data))
    assert event == UnknownResponseEvent("response.audio.delta", data)
    assert event.sequence_number == 7
    assert decode_response_event(b'{"type": "x.y"}').sequence_number is None


def test_an_unknown_item_inside_a_known_event_is_kept() -> None:
    item = {"type": "mcp_call", "id": "mcp_1", "server_label": "deepwiki", "arguments": "{}"}
    event = decode_response_event(
        json.dumps(
            {"type": "response.output_item.added", "sequence_number": 3, "output_index": 2, "item": item}
        )
    )
    assert isinstance(event, ResponseOutputItemAddedEvent)
    assert (event.sequence_number, event.output_index) == (3, 2)
    assert isinstance(event.item, UnknownItem)
    assert event.item == item
    assert (event.item.type, event.item.id) == ("mcp_call", "mcp_1")


def test_an_error_event_carries_its_detail() -> None:
    ((_, data),) = [w for w in wire_events("error_event") if '"error"' in w[1][:20]]
    event = decode_response_event(data)
    assert isinstance(event, ResponseErrorEvent)
    assert event.code == "rate_limit_exceeded"
    assert event.detail().describe().startswith("rate_limit_exceeded: Rate limit reached")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json", msgspec.DecodeError),
        (b"[1, 2]", msgspec.ValidationError),
        (b'{"delta": "x"}', msgspec.ValidationError),
        (b'{"type": 5}', msgspec.ValidationError),
        (b'{"type": "response.output_text.delta", "delta": 5}', msgspec.ValidationError),
    ],
)
def test_what_is_no_event_is_an_error(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_response_event(data)


# --- responses --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), final_objects(), ids=lambda v: v if isinstance(v, str) else "")
def test_recorded_responses_decode(name: str, value: dict[str, Any]) -> None:
    response = decode_response(json.dumps(value))
    assert response == convert_response(value)
    assert (response.id, response.status, response.model) == (value["id"], value["status"], value["model"])
    assert len(response.output) == len(value["output"])
    for item, raw in zip(response.output, value["output"], strict=True):
        if isinstance(item, UnknownItem):
            assert item.type == raw["type"]
        assert msgspec.json.decode(msgspec.json.encode(item)) == raw  # encodes back as sent
    want = expected(name)
    if want["output_text"] is not None and value["output"]:  # a router's may be empty
        assert response.output_text == want["output_text"]


def test_response_conveniences() -> None:
    response = decode_response(json.dumps(expected("several_items")["final"]))
    kinds = [type(item) for item in response.output]
    assert kinds == [ReasoningItem, UnknownItem, OutputMessage, FunctionToolCall]
    assert response.output_text.startswith("Tomorrow in Paris")
    (call,) = response.function_calls
    assert call.parsed_arguments() == {"city": "Paris", "unit": "c"}
    reasoning = response.output[0]
    assert isinstance(reasoning, ReasoningItem)
    assert reasoning.summary_text.startswith("**Looking up the forecast**")
    assert response.usage is not None
    assert response.usage.output_tokens_details is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 64
    assert response.usage.input_tokens_details is not None
    assert response.usage.input_tokens_details.cached_tokens == 1024
    incomplete = decode_response(json.dumps(expected("incomplete")["final"]))
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details is not None
    assert incomplete.incomplete_details.reason == "max_output_tokens"
    refusal = decode_response(json.dumps(expected("refusal")["final"]))
    message = refusal.output[0]
    assert isinstance(message, OutputMessage)
    assert message.refusal == "I'm sorry, but I can't help with that request."
    assert (message.text, refusal.output_text) == ("", "")


def test_a_failed_response_carries_its_error() -> None:
    ((_, value),) = [f for f in final_objects() if f[0] == "failed"]
    response = decode_response(json.dumps(value))
    assert response.status == "failed"
    assert response.error is not None
    assert response.error.code == "server_error"
    assert "invalid content" in (response.error.message or "")


def test_bad_function_arguments_are_a_value_error_naming_the_call() -> None:
    call = FunctionToolCall(call_id="call_1", name="get_weather", arguments='{"city": "Par')
    with pytest.raises(ValueError, match=r"'get_weather' \(call_1\) are not JSON"):
        call.parsed_arguments()
    assert FunctionToolCall(name="f").parsed_arguments() == {}


def test_unknown_items_and_parts_are_kept_as_sent_and_encode_back() -> None:
    value = {
        "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m",
        "output": [
            {"type": "file_search_call", "id": "fs_1", "queries": ["q"], "results": None,
             "status": "completed"},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_audio", "transcript": "hi"},
                         {"type": "output_text", "text": "Hi", "annotations": []}]},
        ],
    }  # fmt: skip
    response = decode_response(json.dumps(value))
    unknown, message = response.output
    assert isinstance(unknown, UnknownItem)
    assert unknown == value["output"][0]
    assert isinstance(message, OutputMessage)
    part, text = message.content
    assert isinstance(part, UnknownContent)
    assert part.type == "output_audio"
    assert isinstance(text, OutputText)
    assert response.output_text == "Hi"
    assert msgspec.json.decode(msgspec.json.encode(response.output)) == value["output"]


def test_near_misses_decode() -> None:
    value = {"id": "r", "created_at": 1741476542.0, "output": None, "usage": None,
             "status": "completed", "model": "m"}  # fmt: skip
    response = decode_response(json.dumps(value))
    assert (response.created_at, response.output, response.usage) == (1741476542, [], None)
    with_null_list = {"id": "r", "output": [{"type": "message", "content": None}]}
    message = decode_response(json.dumps(with_null_list)).output[0]
    assert isinstance(message, OutputMessage)
    assert message.content == []
    with pytest.raises(msgspec.ValidationError):
        decode_response(b'{"id": ["not", "a", "string"]}')


def test_the_fast_path_needs_no_second_pass() -> None:
    # A response with only known types decodes in one strict call: the tolerant pass is
    # not needed (the strict decoder alone accepts it).
    for _, value in final_objects():
        if all(item["type"] in ("message", "reasoning", "function_call") for item in value["output"]):
            assert isinstance(msgspec.json.decode(json.dumps(value), type=Response), Response)


# --- requests -------------------------------------------------------------------------------


def test_output_items_go_back_as_input() -> None:
    response = decode_response(json.dumps(expected("function_calls")["final"]))
    body = ResponsesRequest(
        model="gpt-4.1",
        input=[
            InputMessage(role="user", content="Weather in Paris and Bogotá?"),
            *response.output,
            *[FunctionCallOutput(call_id=c.call_id, output='{"temp": 14}') for c in response.function_calls],
        ],
    )
    sent = json.loads(encode(body))
    assert sent["input"][0] == {"type": "message", "role": "user", "content": "Weather in Paris and Bogotá?"}
    assert sent["input"][1:3] == expected("function_calls")["final"]["output"]
    assert sent["input"][3] == {"type": "function_call_output", "call_id": "call_Qk7yLr2mN8pX3vB1",
                                "output": '{"temp": 14}'}  # fmt: skip
    bare = FunctionToolCall(call_id="c", name="f", arguments="{}")
    assert json.loads(encode(bare)) == {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}


def test_chat_shaped_tools_are_sent_flat() -> None:
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return city

    definition = ss.tool(get_weather).definition
    chat_struct = ss.models.Tool(function=ss.models.FunctionDefinition(name="lookup", parameters={}))
    flat = {"type": "function", "name": "search", "parameters": {"type": "object"}}
    builtin = {"type": "web_search"}
    tools = [definition, chat_struct, flat, builtin, FunctionTool(name="typed", strict=True)]
    request = ResponsesRequest(model="m", input="hi", tools=tools)
    sent = json.loads(encode(request))["tools"]
    assert sent[0] == {"type": "function", **definition["function"]}
    assert sent[1] == {"type": "function", "name": "lookup", "parameters": {}}
    assert sent[2:4] == [flat, builtin]
    assert sent[4] == {"type": "function", "name": "typed", "strict": True}
    assert tools[0] is definition  # the caller's list is not changed


SEED_CALL: dict[str, Any] = {
    "model": "gpt-4.1",
    "instructions": "Answer briefly.",
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "low", "summary": "auto"},
    "text": {"format": {"type": "text"}},
    "previous_response_id": "resp_0",
    "store": True,
    "metadata": {"run": "7"},
    "max_output_tokens": 256,
    "max_tool_calls": 3,
    "temperature": 0.5,
    "top_p": 0.9,
    "top_logprobs": 2,
    "truncation": "auto",
    "include": ["reasoning.encrypted_content"],
    "service_tier": "auto",
    "background": False,
    "prompt_cache_key": "k",
    "safety_identifier": "u1",
    "conversation": "conv_1",
    "prompt": {"id": "pmpt_1"},
    "stream_options": {"include_obfuscation": False},
}
SEED_INPUT = [
    {"role": "user", "content": "Weather in Paris?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "14 C"},
]


def seed_body(**kwargs: Any) -> Any:
    sudo_ai = pytest.importorskip("sudo_ai")
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=expected("text")["final"])

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with sudo_ai.Sudo(server_url="http://seed.test", api_key="k", client=client) as sdk:
        sdk.responses.create_response(**kwargs)
    return json.loads(sent[-1].content)


@pytest.mark.parametrize("given", ["Weather in Paris?", SEED_INPUT], ids=["text", "items"])
def test_the_request_is_the_one_the_seed_sdk_sends(given: Any) -> None:
    ours = json.loads(encode(ResponsesRequest(input=given, stream=False, **SEED_CALL)))
    assert ours == seed_body(input_=given, **SEED_CALL)


def test_every_seed_request_field_is_ours() -> None:
    sudo_ai = pytest.importorskip("sudo_ai")
    seed_fields = set(sudo_ai.models.ResponsesRequest.model_fields)
    assert seed_fields <= set(ResponsesRequest.__struct_fields__)
    assert seed_fields - {"model", "input", "stream"} <= RESPONSE_FIELDS
    assert "user" in RESPONSE_FIELDS  # OpenAI's, which the seed lacks


# --- checks before sending -------------------------------------------------------------------


def test_a_good_request_passes_the_checks() -> None:
    def lookup(query: str) -> str:
        """Look something up."""
        return query

    check_response("gpt-4.1", SEED_INPUT, SEED_CALL)
    check_response("m", "hi", {"tools": [FunctionTool(name="f"), ss.tool(lookup).definition]})
    check_response("m", [InputMessage(role="user", content="x"), UnknownItem(type="x")], {})


@pytest.mark.parametrize(
    ("model", "input", "body", "error", "match"),
    [
        ("", "hi", {}, ValueError, "model must be a non-empty string"),
        (None, "hi", {}, ValueError, "model must be a non-empty string"),
        ("m", None, {}, TypeError, "input must be a string or a list of input items"),
        ("m", {"role": "user"}, {}, TypeError, "input must be a string or a list"),
        ("m", [3], {}, TypeError, r"input\[0\] must be a dict or an input item"),
        ("m", [{"content": "x"}], {}, ValueError, r"input\[0\] needs a string 'type'"),
        ("m", [{"role": "tool", "content": "x"}], {}, ValueError, r"input\[0\] is a message with role 'tool'"),
        ("m", [{"role": "user", "content": 3}], {}, TypeError, r"input\[0\] content must be"),
        ("m", [{"type": "function_call_output", "output": "x"}], {}, ValueError, "without a 'call_id'"),
        ("m", [{"type": "function_call_output", "call_id": "c"}], {}, ValueError, "without an 'output'"),
        ("m", "hi", {"temperature": 3}, ValueError, "temperature must be between 0 and 2"),
        ("m", "hi", {"temperature": float("nan")}, ValueError, "temperature must be a finite number"),
        ("m", "hi", {"top_p": "1"}, TypeError, "top_p must be a number"),
        ("m", "hi", {"max_output_tokens": 1.5}, TypeError, "max_output_tokens must be an int"),
        ("m", "hi", {"max_output_tokens": -1}, ValueError, "max_output_tokens must be between"),
        ("m", "hi", {"top_logprobs": 21}, ValueError, "top_logprobs must be between 0 and 20"),
        ("m", "hi", {"store": "yes"}, TypeError, "store must be a bool"),
        ("m", "hi", {"instructions": ["x"]}, TypeError, "instructions must be a string"),
        ("m", "hi", {"reasoning": "high"}, TypeError, "reasoning must be a dict"),
        ("m", "hi", {"tool_choice": 1}, TypeError, "tool_choice must be a string or a dict"),
        ("m", "hi", {"include": "reasoning.encrypted_content"}, TypeError, "include must be a list of strings"),
        ("m", "hi", {"metadata": {"k": 1}}, TypeError, "metadata keys and values must be strings"),
        ("m", "hi", {"tools": {"type": "function"}}, TypeError, "tools must be a list of tools"),
        ("m", "hi", {"tools": [{"name": "f"}]}, ValueError, r"tools\[0\] needs a string 'type'"),
        ("m", "hi", {"tools": [{"type": "function", "name": "a b"}]}, ValueError, r"tools\[0\] function name must match"),
        ("m", "hi", {"tools": [{"type": "function", "function": {}}]}, ValueError, r"tools\[0\] function name must match"),
        ("m", "hi", {"tools": [3]}, TypeError, r"tools\[0\] must be a dict, a FunctionTool or a Tool"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_naming_the_field(
    model: Any, input: Any, body: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        check_response(model, input, body)
