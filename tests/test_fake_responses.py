"""The fake server's Responses API (``POST /v1/responses``), driven by plain httpx over real
sockets: plain and streamed answers in OpenAI's shapes, 400s, stored responses, scripted
streams and faults on this path, and the command line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from sudo_stream import testing
from sudo_stream.models.response_events import (
    ResponseTextDeltaEvent,
    UnknownResponseEvent,
    decode_response_event,
)
from sudo_stream.models.responses import (
    FunctionToolCall,
    OutputMessage,
    ReasoningItem,
    Response,
    decode_response,
)
from sudo_stream.response_assembler import ResponseAssembler, ResponseStreamProblem
from sudo_stream.sse import SSEParser

pytestmark = pytest.mark.anyio

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}


@pytest.fixture
async def client(server: testing.FakeSudoServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        yield http


def sse(data: bytes) -> list[tuple[str, str]]:
    parser = SSEParser()
    return [(e.event, e.data) for e in parser.feed(data) + parser.close()]


def assembled(data: bytes) -> Response:
    assembler = ResponseAssembler()
    for _, payload in sse(data):
        assembler.add(decode_response_event(payload))
    return assembler.close()


async def test_a_plain_response(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/responses", json={"model": "gpt-4.1", "input": "Hello there"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-request-id"]
    response = decode_response(answer.content)
    assert (response.object, response.status, response.model) == ("response", "completed", "gpt-4.1")
    assert response.output_text == testing.DEFAULT_REPLY
    (message,) = response.output
    assert isinstance(message, OutputMessage)
    assert message.status == "completed"
    assert response.usage is not None
    assert response.usage.input_tokens == 2
    assert response.usage.total_tokens == 2 + response.usage.output_tokens
    assert response.usage.output_tokens == len(testing.split_words(testing.DEFAULT_REPLY))


async def test_a_streamed_response_as_openai_sends_it(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-4.1", "input": [{"role": "user", "content": "Hi"}], "stream": True,
            "instructions": "Be brief.", "metadata": {"k": "v"}}  # fmt: skip
    answer = await client.post("/v1/responses", json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    events = sse(answer.content)
    assert b"[DONE]" not in answer.content
    types = [json.loads(data)["type"] for _, data in events]
    assert [name for name, _ in events] == types  # an event: line names each
    assert [json.loads(data)["sequence_number"] for _, data in events] == list(range(len(events)))
    assert types[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]  # fmt: skip
    assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]  # fmt: skip
    deltas = [decode_response_event(d) for _, d in events]
    pieces = [e.delta for e in deltas if isinstance(e, ResponseTextDeltaEvent)]
    assert pieces == testing.split_words(testing.DEFAULT_REPLY)  # word-sized deltas
    final = assembled(answer.content)
    assert final.output_text == testing.DEFAULT_REPLY
    assert (final.instructions, final.metadata) == ("Be brief.", {"k": "v"})  # echoed
    assert final.usage is not None and final.usage.output_tokens == len(pieces)


async def test_reasoning_comes_first_with_a_summary(client: httpx.AsyncClient) -> None:
    body = {"model": "o4-mini", "input": "Why?", "reasoning": {"effort": "low", "summary": "auto"}}
    plain = decode_response((await client.post("/v1/responses", json=body)).content)
    streamed = assembled((await client.post("/v1/responses", json={**body, "stream": True})).content)
    for response in (plain, streamed):
        reasoning, message = response.output
        assert isinstance(reasoning, ReasoningItem)
        assert reasoning.summary_text.startswith("**")
        assert isinstance(message, OutputMessage)
        assert response.usage is not None and response.usage.output_tokens_details is not None
        assert response.usage.output_tokens_details.reasoning_tokens == len(
            testing.split_words(reasoning.summary_text)
        )


@pytest.mark.parametrize("stream", [False, True])
async def test_tools_give_a_function_call_then_a_text_answer(
    client: httpx.AsyncClient, stream: bool
) -> None:
    first: dict[str, Any] = {"model": "gpt-4.1", "input": "Weather in Paris?", "tools": [WEATHER, {"type": "web_search"}],
                             "stream": stream}  # fmt: skip
    answer = await client.post("/v1/responses", json=first)
    response = assembled(answer.content) if stream else decode_response(answer.content)
    (call,) = response.output
    assert isinstance(call, FunctionToolCall)
    assert call.name == "get_weather"
    assert call.parsed_arguments() == {"city": "text", "unit": "c"}  # an instance of the schema
    follow_up = {**first, "input": [
        {"role": "user", "content": "Weather in Paris?"},
        json.loads(msgspec.json.encode(call)),
        {"type": "function_call_output", "call_id": call.call_id, "output": "14 C"},
    ]}  # fmt: skip
    answer = await client.post("/v1/responses", json=follow_up)
    response = assembled(answer.content) if stream else decode_response(answer.content)
    assert response.output_text == testing.DEFAULT_REPLY
    none = await client.post("/v1/responses", json={**first, "tool_choice": "none", "stream": False})
    assert decode_response(none.content).output_text == testing.DEFAULT_REPLY


async def test_max_output_tokens_cuts_the_answer_short(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "input": "Tell me", "max_output_tokens": 3, "stream": True}
    answer = await client.post("/v1/responses", json=body)
    types = [json.loads(d)["type"] for _, d in sse(answer.content)]
    assert types[-1] == "response.incomplete"
    final = assembled(answer.content)
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output_text == "".join(testing.split_words(testing.DEFAULT_REPLY)[:3])


async def test_a_json_schema_text_format_gets_an_instance(client: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
              "required": ["n", "tags"], "additionalProperties": False}  # fmt: skip
    body = {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "s", "schema": schema, "strict": True}}}
    response = decode_response((await client.post("/v1/responses", json=body)).content)
    assert json.loads(response.output_text) == {"n": 1, "tags": ["text"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "The request body must be a JSON object."),
        ({"input": "hi"}, "Missing required parameter: 'model'."),
        ({"model": "m"}, "Missing required parameter: 'input'."),
        ({"model": "m", "input": {"role": "user"}}, "Missing required parameter: 'input'."),
        ({"model": "m", "input": ["hi"]}, "Invalid type for 'input[0]': expected an object."),
        ({"model": "m", "input": [{"content": "hi"}]}, "Missing required parameter: 'input[0].type'."),
        ({"model": "m", "input": "hi", "tools": {"type": "function"}}, "Invalid type for 'tools': expected an array."),
        ({"model": "m", "input": "hi", "tools": [{"type": "function"}]}, "Missing required parameter: 'tools[0].name'."),
        ({"model": "m", "input": "hi", "stream": "yes"}, "Invalid type for 'stream': expected a boolean."),
        ({"model": "m", "input": "hi", "max_output_tokens": -1}, "Invalid 'max_output_tokens'"),
    ],
)  # fmt: skip
async def test_a_bad_request_is_a_400(client: httpx.AsyncClient, body: Any, message: str) -> None:
    answer = await client.post("/v1/responses", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/responses", content=b"{", headers={"content-type": "application/json"})
    assert answer.status_code == 400


async def test_a_stored_response_can_be_fetched(client: httpx.AsyncClient) -> None:
    stored = (await client.post("/v1/responses", json={"model": "m", "input": "x", "store": True})).json()
    fetched = await client.get(f"/v1/responses/{stored['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == stored
    streamed = assembled((await client.post("/v1/responses", json={"model": "m", "input": "x", "store": True, "stream": True})).content)
    assert decode_response((await client.get(f"/v1/responses/{streamed.id}")).content) == streamed
    unstored = (await client.post("/v1/responses", json={"model": "m", "input": "x"})).json()
    missing = await client.get(f"/v1/responses/{unstored['id']}")
    assert missing.status_code == 404
    assert unstored["id"] in missing.json()["error"]["message"]


async def test_a_scripted_stream_is_sent_as_scripted(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    events = testing.response_events(
        "Two calls:", model="gpt-4.1", id="resp_scripted", reasoning=["First.", "Second."],
        function_calls=[("a", '{"x": 1}'), {"name": "b", "arguments": "{}", "call_id": "call_b"}],
    )  # fmt: skip
    server.enqueue(testing.response_stream(events, piece_size=5), path="/v1/responses")
    answer = await client.post("/v1/responses", json={"model": "ignored", "input": "x"})
    assert [json.loads(d) for _, d in sse(answer.content)] == events
    final = assembled(answer.content)
    assert final == decode_response(json.dumps(testing.final_response(events)))
    assert final.id == "resp_scripted"
    assert [type(item) for item in final.output] == [ReasoningItem, OutputMessage, FunctionToolCall, FunctionToolCall]
    assert [call.call_id for call in final.function_calls][1] == "call_b"
    assert server.pending_responses == 0
    again = await client.post("/v1/responses", json={"model": "m", "input": "x"})
    assert decode_response(again.content).output_text == testing.DEFAULT_REPLY  # the queue is spent


async def test_builders_script_exact_streams() -> None:
    events = testing.response_events(None, refusal="No.", sequence_numbers=False, id="r")
    assert all("sequence_number" not in e for e in events)
    assert [e["type"] for e in events if "refusal" in e["type"]] == ["response.refusal.delta", "response.refusal.done"]
    cut = testing.response_events("a b c", incomplete_reason="content_filter")
    assert testing.final_response(cut)["incomplete_details"] == {"reason": "content_filter"}
    with pytest.raises(ValueError, match=r"no response\.completed"):
        testing.final_response(cut[:-1])
    with pytest.raises(ValueError, match="fragment_size"):
        testing.response_events("x", fragment_size=0)


async def test_an_unknown_event_in_a_script_reaches_the_client(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    events = testing.response_events("Hi")
    events.insert(2, {"type": "response.audio.delta", "sequence_number": 2, "delta": "AA"})
    events = [{**e, "sequence_number": n} for n, e in enumerate(events)]
    server.enqueue(testing.response_stream(events), path="/v1/responses")
    data = (await client.post("/v1/responses", json={"model": "m", "input": "x"})).content
    decoded = [decode_response_event(d) for _, d in sse(data)]
    assert isinstance(decoded[2], UnknownResponseEvent)
    assert assembled(data).output_text == "Hi"


async def test_scripted_faults_work_on_this_path(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    events = testing.response_events("one two three four")
    cut_at = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.delta") + 2
    server.enqueue(
        testing.Error(429, headers=[("Retry-After", "1")]),
        testing.response_stream([*events[:cut_at], testing.Drop()]),
        testing.Stall(0.05, after=testing.response_stream(events)),
        path="/v1/responses",
    )
    limited = await client.post("/v1/responses", json={"model": "m", "input": "x"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", "/v1/responses", json={"model": "m", "input": "x"}) as answer:
            async for piece in answer.aiter_raw():
                received += piece
    assembler = ResponseAssembler()
    for _, data in sse(received):
        assembler.add(decode_response_event(data))
    with pytest.raises(ResponseStreamProblem, match=r"ended before response\.completed"):
        assembler.close()
    assert assembler.response().output_text == "one two"
    with anyio.fail_after(10):
        late = await client.post("/v1/responses", json={"model": "m", "input": "x"})
    assert assembled(late.content).output_text == "one two three four"


async def test_plain_streams_keep_their_data_only_lines(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(testing.Stream([{"type": "t", "n": 1}]))
    answer = await client.post("/v1/chat/completions", json={})
    assert answer.content == b'data: {"type":"t","n":1}\n\ndata: [DONE]\n\n'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX-only")
def test_the_command_line_serves_the_responses_api() -> None:
    command = [sys.executable, "-m", "sudo_stream.testing", "--port", str(_free_port())]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            with httpx.Client(base_url=url, timeout=10.0) as http:
                answer = http.post("/v1/responses", json={"model": "m", "input": "hi", "stream": True})
            assert assembled(answer.content).output_text == testing.DEFAULT_REPLY
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
