"""Request building: the JSON we send for the seed's parameters is the JSON the seed SDK
(sudo-ai) sends for the same call; unknown or invalid arguments never reach the network.

Both clients talk to an ``httpx.MockTransport`` that records the request (unit tests of
request building; the integration tests use the real fake server).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import sudo_stream as ss

sudo_ai = pytest.importorskip("sudo_ai")

pytestmark = pytest.mark.anyio

COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
SSE_BODY = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
IMAGE = {"created": 1, "data": [{"url": "https://example.invalid/i.png"}]}


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/images/generations"):
        return httpx.Response(200, json=IMAGE)
    if json.loads(request.content).get("stream"):
        return httpx.Response(200, content=SSE_BODY, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=COMPLETION)


def seed_body(operation: str, **kwargs: Any) -> Any:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with sudo_ai.Sudo(server_url="http://seed.test", api_key="k", client=client) as sdk:
        result = getattr(sdk.router, operation)(**kwargs)
        if operation == "create_streaming":
            with result as events:
                list(events)
    return json.loads(sent[-1].content)


async def our_body(operation: str, **kwargs: Any) -> Any:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        async with ss.AsyncSudo(server_url="http://ours.test", api_key="k", http_client=http) as sudo:
            if operation == "create_streaming":
                async with sudo.router.create_streaming(**kwargs) as stream:
                    await stream.final_completion()
            else:
                await getattr(sudo.router, operation)(**kwargs)
    return json.loads(sent[-1].content)


MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png", "detail": "low"}}]},
    {"role": "assistant", "content": "hello", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object", "properties": {}}, "strict": True}}]

CHAT_CASES: list[dict[str, Any]] = [
    {"messages": [], "model": "Camry"},
    {"messages": MESSAGES, "model": "gpt-4o", "temperature": 0.2, "top_p": 0.9, "n": 2, "seed": 7,
     "stop": ["END", "STOP"], "max_completion_tokens": 100, "presence_penalty": 0.5,
     "frequency_penalty": -0.5, "logit_bias": {"50256": -100.0}, "logprobs": True, "top_logprobs": 3,
     "user": "u1", "store": True, "metadata": {"k": "v"}, "parallel_tool_calls": False,
     "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
     "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": True}},
     "reasoning_effort": "high", "service_tier": "auto", "prompt_cache_key": "pk",
     "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"},
     "prediction": {"type": "content", "content": "draft"}},
    {"messages": MESSAGES[:2], "model": "m", "temperature": None, "tool_choice": "none", "stream_options": {"include_usage": True}},
]


@pytest.mark.parametrize("operation", ["create", "create_streaming"])
@pytest.mark.parametrize("case", range(len(CHAT_CASES)))
async def test_chat_bodies_match_the_seed_sdk(operation: str, case: int) -> None:
    kwargs = dict(CHAT_CASES[case])
    if operation == "create":  # the seed documents these for streaming only
        kwargs.pop("stream_options", None)
        kwargs.pop("user", None)
    ours = await our_body(operation, **kwargs)
    seed = seed_body(operation, **kwargs)
    assert ours == seed
    assert ours["stream"] is (operation == "create_streaming")


async def test_image_body_matches_the_seed_sdk() -> None:
    kwargs = {"prompt": "a cat", "model": "dall-e-3", "n": 1, "response_format": "b64_json", "quality": "hd",
              "size": "1024x1024", "style": "vivid", "background": "transparent", "moderation": "low",
              "output_compression": 80, "output_format": "png"}
    assert await our_body("generate_image", **kwargs) == seed_body("generate_image", **kwargs)


async def test_both_content_part_dialects_are_sent_as_given() -> None:
    from sudo_stream.models import InputImagePart, InputTextPart, TextPart, UserMessage

    parts = [InputTextPart(text="a"), InputImagePart(image_url="https://example.invalid/i.png"), TextPart(text="b")]
    body = await our_body("create", messages=[UserMessage(content=parts), MESSAGES[1]], model="m")
    assert body["messages"][0]["content"] == [
        {"type": "input_text", "text": "a"},
        {"type": "input_image", "detail": "auto", "image_url": "https://example.invalid/i.png"},
        {"type": "text", "text": "b"},
    ]
    assert body["messages"][1] == MESSAGES[1]


async def test_extra_body_adds_and_overrides() -> None:
    body = await our_body("create", messages=[], model="m", temperature=1.0, extra_body={"temperature": 0.1, "max_tokens": 5})
    assert body == {"messages": [], "model": "m", "stream": False, "temperature": 0.1, "max_tokens": 5}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"temperature": 2.5}, ValueError, "temperature"),
        ({"temperature": -0.1}, ValueError, "temperature"),
        ({"temperature": "hot"}, TypeError, "temperature"),
        ({"top_logprobs": 21}, ValueError, "top_logprobs"),
        ({"top_logprobs": -1}, ValueError, "top_logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, ValueError, "stop"),
        ({"n": -1}, ValueError, "n must"),
        ({"n": 1.5}, TypeError, "n must"),
        ({"tools": [{"type": "function", "function": {"name": f"t{i}"}} for i in range(129)]}, ValueError, "128"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, ValueError, "tools\\[0\\]"),
        ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, ValueError, "tools\\[0\\]"),
        ({"temprature": 1.0}, TypeError, "temprature"),
        ({"messages": "hi"}, TypeError, "messages"),
        ({"messages": [{"content": "no role"}]}, ValueError, "role"),
        ({"model": ""}, ValueError, "model"),
    ],
)
@pytest.mark.parametrize("operation", ["create", "create_streaming"])
async def test_invalid_arguments_are_rejected_before_sending(
    operation: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    call = {"messages": [{"role": "user", "content": "hi"}], "model": "m", **kwargs}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        async with ss.AsyncSudo(server_url="http://ours.test", http_client=http) as sudo:
            with pytest.raises(error, match=message):
                if operation == "create":
                    await sudo.router.create(**call)
                else:
                    await sudo.router.create_streaming(**call)
    assert sent == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 11}, "n must"), ({"output_compression": 101}, "output_compression"), ({"prompt": ""}, "prompt"), ({"colour": "red"}, "colour")],
)
async def test_invalid_image_arguments(kwargs: dict[str, Any], message: str) -> None:
    async with ss.AsyncSudo(server_url="http://ours.test") as sudo:
        with pytest.raises((ValueError, TypeError), match=message):
            await sudo.router.generate_image(**{"prompt": "p", "model": "m", **kwargs})


async def test_stream_flag_must_match_the_operation() -> None:
    async with ss.AsyncSudo(server_url="http://ours.test") as sudo:
        with pytest.raises(ValueError, match="create_streaming"):
            await sudo.router.create(messages=[], model="m", stream=True)
        with pytest.raises(ValueError, match="create\\(\\)"):
            sudo.router.create_streaming(messages=[], model="m", stream=False)


async def test_create_takes_stream_none_and_n_zero_as_the_schema_allows() -> None:
    body = await our_body("create", messages=[], model="m", stream=None, n=0)
    assert body == {"messages": [], "model": "m", "stream": False, "n": 0}


async def test_a_typed_prediction_is_sent_with_its_type() -> None:
    from sudo_stream.models import PredictionContent

    body = await our_body("create", messages=[], model="m", prediction=PredictionContent(content="draft"))
    assert body["prediction"] == {"type": "content", "content": "draft"}


def test_environment_configures_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_API_KEY", "sk-from-env-abcdef")
    monkeypatch.setenv("SUDO_SERVER_URL", "http://env.test/api/")
    client = ss.AsyncSudo()
    assert client.server_url == "http://env.test/api"
    assert "sk-from-env" not in repr(client)
    monkeypatch.delenv("SUDO_SERVER_URL")
    assert ss.AsyncSudo().server_url == "https://sudoapp.dev/api"


@pytest.mark.parametrize("url", ["ftp://x.test", "sudoapp.dev/api", "file:///etc/passwd"])
def test_server_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="server_url"):
        ss.AsyncSudo(server_url=url)
