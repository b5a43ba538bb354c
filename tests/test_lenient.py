"""Near misses of real OpenAI-compatible servers: decoded, not fatal (sudo_stream.models._lenient)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.models import ChoiceLogprobs, ErrorDetail
from sudo_stream.models._lenient import decode_lenient
from sudo_stream.models.chunk import ChatCompletionChunk

from .helpers import MESSAGES


def chunk(**fields: Any) -> dict[str, Any]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
    return {**base, **fields}


def tool_delta(**call: Any) -> dict[str, Any]:
    return chunk(choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}}])


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (chunk(id=None, model=None, created=None), lambda c: (c.id, c.model, c.created) == ("", "", 0)),
        (chunk(choices=None), lambda c: c.choices == []),
        (chunk(created=1712345678.0), lambda c: c.created == 1712345678),
        (chunk(created=1712345678.5), lambda c: c.created == 1712345678),
        (chunk(usage={"prompt_tokens": 3, "completion_tokens": None, "total_tokens": None}),
         lambda c: c.usage is not None and (c.usage.prompt_tokens, c.usage.completion_tokens) == (3, 0)),
        (tool_delta(id=7, function={"name": "f", "arguments": "{}"}),
         lambda c: c.choices[0].delta.tool_calls[0].id == "7"),
        (tool_delta(id="t", function={"name": "f", "arguments": {"x": [1, 2]}}),
         lambda c: json.loads(c.choices[0].delta.tool_calls[0].function.arguments) == {"x": [1, 2]}),
        (chunk(choices=[{"index": 0, "delta": {"content": "a"},
                         "logprobs": {"content": [{"token": "a", "logprob": -1, "top_logprobs": None}]}}]),
         lambda c: c.choices[0].logprobs.content[0].top_logprobs == []),
    ],
    ids=["null-head", "null-choices", "float-created", "fractional-created", "null-usage-counts",
         "numeric-tool-id", "object-arguments", "null-top-logprobs"],
)
def test_near_misses_decode(raw: dict[str, Any], check: Any) -> None:
    data = json.dumps(raw).encode()
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(data, type=ChatCompletionChunk)  # the strict decoder refuses it
    assert check(decode_lenient(data, ChatCompletionChunk))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"choices": [{"index": 0, "delta": {"content": 5}}]}',  # a number for text and parts
        b'{"usage": {"prompt_tokens": "many"}}',  # the document types the counts
        b'{"choices": 7}',
    ],
)
def test_what_does_not_fit_still_fails(raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_lenient(raw, ChatCompletionChunk)


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_a_stream_and_an_answer_with_near_misses_come_through(server: testing.FakeSudoServer) -> None:
    chunks = testing.text_chunks("lenient servers exist")
    odd = [{**c, "system_fingerprint": None, "created": float(c["created"])} for c in chunks]
    odd[-1] = {**odd[-1], "usage": {**odd[-1]["usage"], "total_tokens": None}}
    completion = testing.completion_from_chunks(chunks)
    server.enqueue(testing.Stream(odd), testing.JSON({**completion, "created": 1.0, "usage": None, "choices": None}))
    async with ss.AsyncSudo(server_url=server.url) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            final = await stream.final_completion()
        assert final.choices[0].message.content == "lenient servers exist"
        assert final.usage is not None and final.usage.total_tokens == 0
        answer = await sudo.router.create(messages=MESSAGES, model="m")
        assert answer.id == completion["id"] and answer.created == 1 and answer.choices == []


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (chunk(choices=[{"index": 0, "delta": {"content": "a"}, "logprobs": {"content": []}},
                        {"index": 1, "delta": {"content": "b"}, "logprobs": 5}]),
         lambda c: isinstance(c.choices[0].logprobs, ChoiceLogprobs) and c.choices[1].logprobs == 5),
        (chunk(x_groq={"id": "g", "usage": {"prompt_tokens": 2, "completion_tokens_details": "n/a"}}),
         lambda c: c.x_groq.id == "g" and c.x_groq.usage.prompt_tokens == 2
         and c.x_groq.usage.completion_tokens_details == "n/a"),
        (chunk(x_groq={"usage": "n/a"}), lambda c: c.x_groq == {"usage": "n/a"}),
        (chunk(choices=[{"index": 0, "delta": {"reasoning_content": 5, "refusal": 5.5}}]),
         lambda c: c.choices[0].delta.reasoning_content == 5 and c.choices[0].delta.refusal == "5.5"),
        (chunk(choices=[{"index": 0, "delta": {"function_call": {"name": 1, "arguments": {"a": 1}}}}]),
         lambda c: (c.choices[0].delta.function_call.name, c.choices[0].delta.function_call.arguments) == ("1", '{"a":1}')),
        (chunk(choices=[{"index": 0, "delta": {}, "logprobs": {"content": [{"token": "a", "logprob": -1, "top_logprobs": None}]}}]),
         lambda c: isinstance(c.choices[0].logprobs, ChoiceLogprobs)),
        (chunk(error="overloaded"), lambda c: c.error == ErrorDetail(detail="overloaded")),
        (chunk(error=["a", 1]), lambda c: c.error.describe() == '["a",1]'),
        (chunk(error=False), lambda c: c.error is None),
    ],
    ids=["per-choice", "kept-inside-a-typed-field", "whole-field-kept", "not-bent-to-text",
         "typed-when-its-shape-fits", "insides-bent-as-anywhere", "bare-error", "error-list", "false-error"],
)
def test_untyped_fields_keep_values_of_another_shape(raw: dict[str, Any], check: Any) -> None:
    """Fields the document leaves untyped (OrJSON): typed when the shape fits (insides bent
    as anywhere), else kept as sent, at any depth; a bare ``error`` value is its detail."""
    data = json.dumps(raw).encode()
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(data, type=ChatCompletionChunk)
    assert check(decode_lenient(data, ChatCompletionChunk))


def test_every_untyped_field_is_marked() -> None:
    """The response fields the API's documents leave untyped or do not list, and only
    those, keep values of another shape (OrJSON) or take any value (Any)."""
    from sudo_stream.models import (
        ChatCompletion,
        ChatCompletionMessage,
        Choice,
        ChoiceDelta,
        ChunkChoice,
        StoredMessage,
        Usage,
    )
    from sudo_stream.models._lenient import _kept_as_sent

    kept = {cls.__name__: sorted(_kept_as_sent(cls)) for cls in
            (ChatCompletion, ChatCompletionMessage, Choice, ChoiceDelta, ChunkChoice, ChatCompletionChunk, StoredMessage, Usage)}
    assert kept == {
        "ChatCompletion": ["metadata"],
        "ChatCompletionMessage": ["function_call", "reasoning", "reasoning_content"],
        "Choice": ["logprobs"],
        "ChoiceDelta": ["function_call", "reasoning", "reasoning_content"],
        "ChunkChoice": ["logprobs"],
        "ChatCompletionChunk": ["x_groq"],
        "StoredMessage": ["function_call", "refusal", "tool_call_id", "tool_calls"],
        "Usage": ["completion_tokens_details", "prompt_tokens_details"],
    }
