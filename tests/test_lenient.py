"""Near misses of real OpenAI-compatible servers: decoded, not fatal (sudo_stream.models._lenient)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import testing
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
        b'{"choices": [{"index": 0, "logprobs": {"content": [{"token": "a", "logprob": null}]}}]}',
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
