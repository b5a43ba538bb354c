"""The request and response contract: the seed's OpenAPI document, checked over real sockets.

Every body the client builds is sent to the fake server, recorded there, and validated
against the document's ``ChatCompletionRequest`` (and the supplement's metadata-update and
image-request schemas; see tests/contract.py). Every answer of the fake server is captured
raw from the socket and validated against the schema of its operation. Answers that the
document allows but that are not the usual shape decode instead of failing the call.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.models import (
    AssistantAudioId,
    AssistantMessage,
    AudioParameters,
    DeveloperMessage,
    FunctionCall,
    FunctionDefinition,
    InputAudio,
    InputAudioPart,
    InputFilePart,
    InputImagePart,
    InputTextPart,
    JSONSchemaFormat,
    PredictionContent,
    ResponseFormat,
    StreamOptions,
    SystemMessage,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
    ToolMessage,
    UserMessage,
)

from . import contract
from .helpers import MESSAGES

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parent.parent / "README.md"


def sent(server: testing.FakeSudoServer) -> Any:
    """The JSON body of the last request the server received."""
    return server.requests[-1].json()


async def chat_body(server: testing.FakeSudoServer, *, streaming: bool, **kwargs: Any) -> Any:
    """Send a chat completion (read to its end), return the body the server received."""
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        if streaming:
            async with sudo.router.create_streaming(**kwargs) as stream:
                await stream.final_completion()
        else:
            await sudo.router.create(**kwargs)
    return sent(server)


# -- what the client sends ----------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True], ids=["create", "create_streaming"])
async def test_stop_as_one_string_is_sent_as_a_list(
    server: testing.FakeSudoServer, streaming: bool
) -> None:
    body = await chat_body(server, streaming=streaming, messages=MESSAGES, model="m", stop="END")
    assert body["stop"] == ["END"]
    contract.check("ChatCompletionRequest", body)
    body = await chat_body(server, streaming=streaming, messages=MESSAGES, model="m", stop=None)
    assert body["stop"] is None  # an explicit null is still sent: the document allows it


NON_FINITE = [math.nan, math.inf, -math.inf]
NON_FINITE_PLACES: dict[str, tuple[Callable[[float], dict[str, Any]], str]] = {
    "temperature": (lambda x: {"temperature": x}, "temperature"),
    "top_p": (lambda x: {"top_p": x}, "top_p"),
    "frequency_penalty": (lambda x: {"frequency_penalty": x}, "frequency_penalty"),
    "presence_penalty": (lambda x: {"presence_penalty": x}, "presence_penalty"),
    "tool-schema-dict": (
        lambda x: {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"maximum": x}}}]},
        "tools[0].function.parameters.maximum",
    ),
    "tool-schema-struct": (
        lambda x: {"tools": [Tool(function=FunctionDefinition(name="f", parameters={"enum": [1, x]}))]},
        "tools[0].function.parameters.enum[1]",
    ),
    "response-format": (
        lambda x: {"response_format": ResponseFormat(type="json_schema", json_schema=JSONSchemaFormat(name="s", schema={"minimum": x}))},
        "response_format.json_schema.schema.minimum",
    ),
    "message-part": (
        lambda x: {"messages": [{"role": "user", "content": [{"type": "input_text", "text": "t", "weight": x}]}]},
        "messages[0].content[0].weight",
    ),
    "tool-choice": (
        lambda x: {"tool_choice": {"type": "function", "function": {"name": "f"}, "score": x}},
        "tool_choice.score",
    ),
    "extra-body": (lambda x: {"extra_body": {"temperature": x}}, "temperature"),
    "extra-body-nested": (
        lambda x: {"extra_body": {"provider": {"weights": [0.5, x]}}},
        "provider.weights[1]",
    ),
}


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("place", NON_FINITE_PLACES)
@pytest.mark.parametrize("streaming", [False, True], ids=["create", "create_streaming"])
async def test_non_finite_numbers_are_refused_before_sending(
    server: testing.FakeSudoServer, streaming: bool, place: str, value: float
) -> None:
    build, where = NON_FINITE_PLACES[place]
    call = {"messages": MESSAGES, "model": "m", **build(value)}
    with pytest.raises(ValueError, match=rf"^{re.escape(where)} must be a finite number"):
        await chat_body(server, streaming=streaming, **call)
    assert server.requests == []  # nothing went out


async def test_non_finite_numbers_are_refused_in_every_body(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        with pytest.raises(ValueError, match=r"^quality_score must be a finite number"):
            await sudo.router.generate_image(prompt="p", model="m", extra_body={"quality_score": math.inf})
        with pytest.raises(ValueError, match=r"^weight must be a finite number"):
            await sudo.router.update_chat_completion("c", metadata={}, extra_body={"weight": math.nan})
    assert server.requests == []


@pytest.mark.parametrize("streaming", [False, True], ids=["create", "create_streaming"])
async def test_logit_bias_values_are_sent_as_integers(
    server: testing.FakeSudoServer, streaming: bool
) -> None:
    biases = {"50256": -100.0, "42": 5, 7: 100.0}
    body = await chat_body(server, streaming=streaming, messages=MESSAGES, model="m", logit_bias=biases)
    assert b'"50256":-100,' in server.requests[-1].body  # not -100.0
    assert body["logit_bias"] == {"50256": -100, "42": 5, "7": 100}
    assert all(type(bias) is int for bias in body["logit_bias"].values())
    contract.check("ChatCompletionRequest", body)


@pytest.mark.parametrize(
    ("biases", "error", "message"),
    [
        ({"1": 0.5}, ValueError, r"logit_bias\['1'\] must be a whole number, got 0.5"),
        ({"1": math.nan}, ValueError, r"logit_bias\['1'\] must be a whole number"),
        ({"1": 101}, ValueError, r"logit_bias\['1'\] must be between -100 and 100"),
        ({"1": True}, TypeError, r"logit_bias\['1'\] must be an int"),
        ({"1": "5"}, TypeError, r"logit_bias\['1'\] must be an int"),
        ({1.5: 5}, TypeError, r"logit_bias keys must be token ids"),
    ],
)
async def test_logit_bias_refuses_what_is_no_integer_bias(
    server: testing.FakeSudoServer, biases: dict[Any, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await chat_body(server, streaming=False, messages=MESSAGES, model="m", logit_bias=biases)
    assert server.requests == []


CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TYPED_CALL = ToolCall(id="call_1", function=FunctionCall(name="get_weather", arguments='{"city": "Paris"}'))


async def replied_message(server: testing.FakeSudoServer) -> ss.ChatCompletionMessage:
    """The message of a real reply with only a tool call (content null), streamed."""
    server.enqueue(testing.Stream(testing.tool_call_chunks("get_weather", '{"city": "Paris"}', call_id="call_1")))
    async with ss.AsyncSudo(server_url=server.url) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            message = (await stream.final_completion()).choices[0].message
    assert message.content is None and message.tool_calls
    return message


ASSISTANT_TURNS: dict[str, Callable[[ss.ChatCompletionMessage], Any]] = {
    "to_param": lambda reply: reply.to_param(),
    "the-reply-itself": lambda reply: reply,
    "typed-tool-calls-only": lambda reply: AssistantMessage(tool_calls=[TYPED_CALL]),
    "typed-content-none": lambda reply: AssistantMessage(content=None, tool_calls=[CALL]),
    "dict-content-null": lambda reply: {"role": "assistant", "content": None, "tool_calls": [CALL]},
    "dict-without-content": lambda reply: {"role": "assistant", "tool_calls": [CALL]},
}


@pytest.mark.parametrize("turn", ASSISTANT_TURNS)
@pytest.mark.parametrize("streaming", [False, True], ids=["create", "create_streaming"])
async def test_assistant_tool_call_turns_are_sent_with_empty_content(
    server: testing.FakeSudoServer, streaming: bool, turn: str
) -> None:
    reply = await replied_message(server)
    assistant = ASSISTANT_TURNS[turn](reply)
    original = dict(assistant) if isinstance(assistant, dict) else None
    tool = {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'}
    body = await chat_body(server, streaming=streaming, messages=[*MESSAGES, assistant, tool], model="m")
    contract.check("ChatCompletionRequest", body)
    sent_assistant = body["messages"][1]
    assert sent_assistant["content"] == ""
    assert sent_assistant["tool_calls"] == [CALL]
    if original is not None:
        assert assistant == original  # the caller's dict is not changed


async def test_the_readme_tool_loop_sends_conforming_bodies(
    server: testing.FakeSudoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    code = re.search(r"<!-- test: tools -->\n```python\n(.*?)^```", text, re.S | re.M)
    assert code is not None
    server.enqueue(
        testing.Stream(testing.tool_call_chunks("get_weather", '{"city": "Paris"}')),
        testing.Stream(testing.text_chunks("It is sunny in Paris.")),
    )
    monkeypatch.setenv("SUDO_SERVER_URL", server.url)
    monkeypatch.delenv("SUDO_API_KEY", raising=False)
    program = code.group(1).replace("anyio.run(main)", "")
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(program, "README.md (tools)", "exec"), namespace)
    await namespace["main"]()
    assert "It is sunny in Paris." in capsys.readouterr().out
    bodies = [request.json() for request in server.requests]
    assert [[m["role"] for m in b["messages"]] for b in bodies] == [["user"], ["user", "assistant", "tool"]]
    for body in bodies:
        contract.check("ChatCompletionRequest", body)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"messages": [{"role": "user", "content": None}]}, ValueError, r"messages\[0\] is a user message without content"),
        ({"messages": [{"role": "system"}]}, ValueError, r"messages\[0\] is a system message without content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, ValueError, r"messages\[0\] is a tool message without a 'tool_call_id'"),
        ({"messages": [{"role": "user", "content": 5}]}, TypeError, r"messages\[0\] content must be a string or a list"),
        ({"messages": [UserMessage(content=None)]}, ValueError, r"messages\[0\] is a user message without content"),  # type: ignore[arg-type]
        ({"messages": [{"role": 1, "content": "x"}]}, TypeError, r"messages\[0\]\['role'\] must be a string"),
        ({"store": "yes"}, TypeError, "store must be a bool"),
        ({"logprobs": 1}, TypeError, "logprobs must be a bool"),
        ({"user": 5}, TypeError, "user must be a string"),
        ({"service_tier": ["auto"]}, TypeError, "service_tier must be a string"),
        ({"modalities": "text"}, TypeError, "modalities must be a list of strings"),
        ({"modalities": ["text", 1]}, TypeError, r"modalities\[1\] must be a string"),
        ({"metadata": {"k": 1}}, TypeError, "metadata keys and values must be strings"),
        ({"audio": "alloy"}, TypeError, "audio must be a dict or AudioParameters"),
        ({"stream_options": True}, TypeError, "stream_options must be a dict or StreamOptions"),
        ({"tools": [{"function": {"name": "f"}}]}, ValueError, r"tools\[0\] needs a 'type'"),
        ({"n": 2**31}, ValueError, "n must be between"),
        ({"max_completion_tokens": 2**31}, ValueError, "max_completion_tokens must be between"),
        ({"seed": 2**63}, ValueError, "seed must be between"),
    ],
)
async def test_what_the_document_forbids_is_refused_before_sending(
    server: testing.FakeSudoServer, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await chat_body(server, streaming=False, **{"messages": MESSAGES, "model": "m", **kwargs})
    assert server.requests == []


async def test_metadata_update_sends_only_strings(server: testing.FakeSudoServer) -> None:
    stored = server.store_completion({"model": "m"})
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        with pytest.raises(TypeError, match="metadata keys and values must be strings"):
            await sudo.router.update_chat_completion(stored["id"], metadata={"k": 1})  # type: ignore[dict-item]
        assert server.requests == []
        await sudo.router.update_chat_completion(stored["id"], metadata={"k": "v"}, extra_body={"x": 1})
    assert sent(server) == {"metadata": {"k": "v"}, "x": 1}  # extra_body is not dropped
    contract.check("UpdateChatCompletionRequestBody", sent(server))


# -- every parameter, typed and as dicts: the body always conforms (hypothesis) ------------

OMIT = object()
texts = st.text(max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
json_leaves = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | finite | texts
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
schemas = st.dictionaries(st.sampled_from(["type", "minimum", "enum", "properties", "x"]), json_values, max_size=3)
tool_names = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)


def typed_or_dict(struct: type, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The struct built from ``fields``, or the same as a plain dict (absent fields left out)."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        values = {name: draw(strategy) for name, strategy in fields.items()}
        values = {name: value for name, value in values.items() if value is not OMIT}
        if draw(st.booleans()):
            return struct(**values)
        tag = struct.__struct_config__.tag
        plain = {struct.__struct_config__.tag_field: tag} if tag is not None else {}
        for name, value in values.items():
            plain[name] = value
        return plain

    return build()


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(OMIT) | strategy


parts = st.one_of(
    typed_or_dict(InputTextPart, text=texts),
    typed_or_dict(InputImagePart, detail=st.sampled_from(["low", "high", "auto"]),
                  image_url=maybe(st.none() | texts), file_id=maybe(st.none() | texts)),
    typed_or_dict(InputFilePart, file_data=maybe(st.none() | texts), file_id=maybe(st.none() | texts),
                  file_url=maybe(st.none() | texts), filename=maybe(st.none() | texts)),
    typed_or_dict(InputAudioPart, input_audio=typed_or_dict(InputAudio, data=texts, format=st.sampled_from(["wav", "mp3"]))),
)
content = texts | st.lists(parts, max_size=3)
names = maybe(st.none() | texts)
typed_calls = st.lists(
    st.builds(lambda i, n, a: ToolCall(id=i, function=FunctionCall(name=n, arguments=a)), texts, tool_names, texts),
    min_size=1, max_size=2,
)
calls = typed_calls | st.lists(
    st.builds(lambda i, n, a: {"id": i, "type": "function", "function": {"name": n, "arguments": a}}, texts, tool_names, texts),
    min_size=1, max_size=2,
)
assistant_content = st.just(OMIT) | st.none() | content
messages = st.lists(
    st.one_of(
        typed_or_dict(SystemMessage, content=content, name=names),
        typed_or_dict(DeveloperMessage, content=content, name=names),
        typed_or_dict(UserMessage, content=content, name=names),
        typed_or_dict(AssistantMessage, content=assistant_content, name=names, refusal=maybe(st.none() | texts),
                      tool_calls=maybe(st.none() | calls), audio=maybe(st.none() | typed_or_dict(AssistantAudioId, id=texts))),
        typed_or_dict(ToolMessage, content=content, tool_call_id=texts),
        st.builds(lambda c, t: ss.ChatCompletionMessage(content=c, tool_calls=t), st.none() | texts, st.none() | typed_calls),
    ),
    max_size=4,
)
tools = st.lists(
    typed_or_dict(Tool, function=typed_or_dict(FunctionDefinition, name=tool_names, description=maybe(st.none() | texts),
                                              parameters=maybe(schemas), strict=maybe(st.none() | st.booleans()))),
    max_size=2,
)
CHAT_PARAMETERS: dict[str, st.SearchStrategy[Any]] = {
    "audio": typed_or_dict(AudioParameters, voice=texts, format=texts),
    "frequency_penalty": st.floats(-2, 2),
    "logit_bias": st.dictionaries(st.integers(0, 200_000).map(str) | st.integers(0, 200_000),
                                  st.integers(-100, 100) | st.integers(-100, 100).map(float), max_size=3),
    "logprobs": st.booleans(),
    "max_completion_tokens": st.integers(0, 2**31 - 1),
    "metadata": st.dictionaries(texts, texts, max_size=3),
    "modalities": st.lists(st.sampled_from(["text", "audio"]), max_size=2),
    "n": st.integers(0, 3),
    "parallel_tool_calls": st.booleans(),
    "prediction": typed_or_dict(PredictionContent, content=texts),
    "presence_penalty": st.floats(-2, 2),
    "prompt_cache_key": texts,
    "reasoning_effort": st.sampled_from(["low", "medium", "high"]),
    "response_format": st.one_of(
        typed_or_dict(ResponseFormat, type=st.sampled_from(["text", "json_object"])),
        typed_or_dict(ResponseFormat, type=st.just("json_schema"), json_schema=typed_or_dict(
            JSONSchemaFormat, name=tool_names, schema=maybe(schemas), description=maybe(texts), strict=maybe(st.none() | st.booleans()))),
    ),
    "seed": st.integers(-(2**63), 2**63 - 1),
    "service_tier": st.sampled_from(["auto", "default", "flex"]),
    "stop": texts | st.lists(texts, max_size=4),
    "store": st.booleans(),
    "stream_options": typed_or_dict(StreamOptions, include_usage=maybe(st.none() | st.booleans())),
    "temperature": st.floats(0, 2),
    "tool_choice": st.sampled_from(["none", "auto", "required"])
    | typed_or_dict(ToolChoice, function=typed_or_dict(ToolChoiceFunction, name=tool_names)),
    "tools": tools,
    "top_logprobs": st.integers(0, 20),
    "top_p": st.floats(0, 1),
    "user": texts,
}


def test_the_table_covers_every_parameter() -> None:
    from sudo_stream._params import CALL_OPTIONS, CHAT_FIELDS, ChatParams

    assert set(CHAT_PARAMETERS) == CHAT_FIELDS == set(ChatParams.__annotations__) - CALL_OPTIONS


@st.composite
def chat_calls(draw: st.DrawFn) -> dict[str, Any]:
    call: dict[str, Any] = {"messages": draw(messages), "model": draw(texts.filter(bool))}
    for name, strategy in CHAT_PARAMETERS.items():
        value = draw(st.sampled_from(["omit", "null", "value"]))
        if value == "null":
            call[name] = None
        elif value == "value":
            call[name] = draw(strategy)
    if draw(st.booleans()):
        call["extra_body"] = draw(st.dictionaries(st.sampled_from(["max_tokens", "provider", "top_k"]), json_values, max_size=2))
    return call


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(call=chat_calls(), streaming=st.booleans())
async def test_every_chat_body_conforms(server: testing.FakeSudoServer, call: dict[str, Any], streaming: bool) -> None:
    before = len(server.requests)
    body = await chat_body(server, streaming=streaming, **call)
    assert len(server.requests) == before + 1
    contract.check("ChatCompletionRequest", body)
    extra = call.get("extra_body") or {}
    for name in CHAT_PARAMETERS:
        if name in extra:
            continue
        if name not in call:
            assert name not in body  # not given: not sent
        elif call[name] is None:
            assert body[name] is None  # an explicit null is sent: the document allows it
        else:
            assert body[name] is not None
    assert len(body["messages"]) == len(call["messages"])


IMAGE_PARAMETERS: dict[str, st.SearchStrategy[Any]] = {
    # the values the supplement's enums (the seed SDK's) list; other strings are sent as given
    "n": st.integers(1, 10),
    "response_format": st.sampled_from(["url", "b64_json"]),
    "quality": st.sampled_from(["standard", "hd"]),
    "size": st.sampled_from(["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"]),
    "style": st.sampled_from(["vivid", "natural"]),
    "background": texts,
    "moderation": texts,
    "output_compression": st.integers(0, 100),
    "output_format": st.sampled_from(["png", "jpeg", "webp"]),
}


def test_the_image_table_covers_every_parameter() -> None:
    from sudo_stream._params import IMAGE_FIELDS

    assert set(IMAGE_PARAMETERS) == IMAGE_FIELDS


@st.composite
def image_calls(draw: st.DrawFn) -> dict[str, Any]:
    call: dict[str, Any] = {"prompt": draw(texts.filter(bool)), "model": draw(texts.filter(bool))}
    for name, strategy in IMAGE_PARAMETERS.items():
        choice = draw(st.sampled_from(["omit", "null", "value"]))
        if choice != "omit":
            call[name] = None if choice == "null" else draw(strategy)
    return call


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=image_calls())
async def test_every_image_body_conforms(server: testing.FakeSudoServer, call: dict[str, Any]) -> None:
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        await sudo.router.generate_image(**call)
    body = sent(server)
    contract.check("ImageGenerationRequest", body)
    assert body == call  # every value given, null included, sent as given


# -- answers the document allows decode, whatever its untyped fields hold ------------------


def completion_with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A whole answer, valid under the document, with ``value`` at ``path``."""
    answer = testing.completion_from_chunks(testing.text_chunks("typed text"))
    answer["usage"]["completion_tokens_details"] = {"reasoning_tokens": 0}
    target: Any = answer
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return answer


def attribute(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step] if isinstance(step, int) else getattr(value, step)
    return value


UNTYPED_IN_ANSWERS: list[tuple[tuple[str | int, ...], Any]] = [
    (("usage", "completion_tokens_details"), []),
    (("usage", "completion_tokens_details"), {"reasoning_tokens": "some"}),
    (("usage", "prompt_tokens_details"), 12),
    (("choices", 0, "logprobs"), 0.5),
    (("choices", 0, "logprobs"), "none"),
    (("choices", 0, "logprobs"), {"content": [{"token": "a"}]}),
    (("choices", 0, "message", "annotations"), {"type": "url_citation"}),
    (("choices", 0, "message", "audio"), "UklGRg=="),
    (("choices", 0, "message", "reasoning_content"), {"text": "thought"}),
    (("choices", 0, "message", "reasoning"), ["thought"]),
    (("choices", 0, "message", "reasoning_details"), {"type": "reasoning.text"}),
    (("choices", 0, "message", "function_call"), "get_weather"),
    (("metadata",), {"attempt": 2}),
]


@pytest.mark.parametrize(("path", "value"), UNTYPED_IN_ANSWERS,
                         ids=[f"{'.'.join(map(str, p))}={json.dumps(v)}" for p, v in UNTYPED_IN_ANSWERS])
async def test_an_answer_the_document_allows_decodes_with_its_untyped_values_as_sent(
    server: testing.FakeSudoServer, path: tuple[str | int, ...], value: Any
) -> None:
    answer = completion_with(path, value)
    if path != ("metadata",):  # not in the document (the SDK's ChatCompletion has it)
        contract.check("ChatCompletion", answer)
    server.enqueue(testing.JSON(answer))
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        completion = await sudo.router.create(messages=MESSAGES, model="m")
    assert attribute(completion, path) == value
    assert completion.choices[0].message.content == "typed text"  # the rest stays typed
    assert completion.usage is not None and completion.usage.total_tokens > 0


def chunk_with(delta: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": "x", **(delta or {})}, "finish_reason": None}
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{**choice, **fields.pop("choice", {})}], **fields}


USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
Getter = Callable[[Any], Any]
UNTYPED_IN_CHUNKS: dict[str, tuple[dict[str, Any], Any, Getter, Getter, Any]] = {
    # the chunk; the value as sent; where the chunk holds it; where the completion holds
    # it; what the completion holds (a list gathers any value as one more item)
    "delta.audio": (chunk_with({"audio": "UklGRg=="}), "UklGRg==", lambda c: c.choices[0].delta.audio,
                    lambda f: f.choices[0].message.audio, "UklGRg=="),
    "delta.annotations": (chunk_with({"annotations": {"type": "url"}}), {"type": "url"},
                          lambda c: c.choices[0].delta.annotations,
                          lambda f: f.choices[0].message.annotations, [{"type": "url"}]),
    "delta.reasoning_content": (chunk_with({"reasoning_content": {"text": "t"}}), {"text": "t"},
                                lambda c: c.choices[0].delta.reasoning_content,
                                lambda f: f.choices[0].message.reasoning_content, {"text": "t"}),
    "delta.reasoning": (chunk_with({"reasoning": 7}), 7, lambda c: c.choices[0].delta.reasoning,
                        lambda f: f.choices[0].message.reasoning, 7),
    "delta.reasoning_details": (chunk_with({"reasoning_details": "opaque"}), "opaque",
                                lambda c: c.choices[0].delta.reasoning_details,
                                lambda f: f.choices[0].message.reasoning_details, ["opaque"]),
    "delta.function_call": (chunk_with({"function_call": "f"}), "f", lambda c: c.choices[0].delta.function_call,
                            lambda f: f.choices[0].message.function_call, "f"),
    "choice.logprobs": (chunk_with(choice={"logprobs": -0.25}), -0.25, lambda c: c.choices[0].logprobs,
                        lambda f: f.choices[0].logprobs, -0.25),
    "usage.completion_tokens_details": (
        chunk_with(usage={**USAGE, "completion_tokens_details": []}), [],
        lambda c: c.usage.completion_tokens_details, lambda f: f.usage.completion_tokens_details, []),
    "x_groq": (chunk_with(x_groq="x"), "x", lambda c: c.x_groq, lambda f: f.usage, None),
}


@pytest.mark.parametrize("case", UNTYPED_IN_CHUNKS)
async def test_a_stream_decodes_with_untyped_values_as_sent(server: testing.FakeSudoServer, case: str) -> None:
    chunk, sent_value, in_chunk, in_completion, assembled = UNTYPED_IN_CHUNKS[case]
    finish = {**chunk_with(), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    server.enqueue(testing.Stream([chunk, finish]))
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            chunks = [item async for item in stream]
            final = await stream.final_completion()
    assert in_chunk(chunks[0]) == sent_value
    assert in_completion(final) == assembled
    assert final.choices[0].message.content == "x" and final.choices[0].finish_reason == "stop"


async def test_a_bare_error_value_in_a_stream_is_its_error(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Stream([chunk_with(), {**chunk_with(), "choices": [], "error": "overloaded"}]))
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            with pytest.raises(ss.StreamError, match="overloaded") as caught:
                await stream.final_completion()
    assert caught.value.error is not None and caught.value.error.detail == "overloaded"
    assert caught.value.partial is not None and caught.value.partial.choices[0].message.content == "x"


async def test_the_seed_sdks_model_list_decodes(server: testing.FakeSudoServer) -> None:
    listed = {"data": [{"created_at": "2025-01-01T00:00:00Z", "model_name": "gpt-4o", "model_provider": "openai",
                        "sudo_model_id": 1}], "first_id": "1", "last_id": "1", "has_more": False}
    contract.check("SupportedModelsList", listed)
    server.enqueue(testing.JSON(listed), method="GET", path="/v1/models")
    async with ss.AsyncSudo(server_url=server.url, retries=0) as sudo:
        models = await sudo.router.get_supported_models()
    assert [(m.id, m.model_provider, m.sudo_model_id) for m in models.data] == [("gpt-4o", "openai", 1)]
    assert models.first_id == "1" and not models.has_more


# -- what the fake server answers: every answer conforms ------------------------------------


class Answers:
    """Talks to the fake server with plain httpx (real sockets) and validates every raw
    answer against the schema of its operation (errors against ErrorResponse)."""

    def __init__(self, http: Any) -> None:
        self.http = http
        self.checked: list[str] = []

    async def __call__(self, method: str, path: str, schema: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        assert (response.status_code >= 400) is (schema == ""), (method, path, kwargs, response.text[:200])
        assert response.headers["content-type"].startswith(
            "text/event-stream" if schema == "ChatCompletionChunk" else "application/json"
        ), (method, path, response.status_code)
        if response.status_code >= 400:
            contract.check("ErrorResponse", response.json())
            self.checked.append(f"{response.status_code} ErrorResponse")
            return response.json()
        assert response.status_code == 200
        if schema != "ChatCompletionChunk":
            contract.check(schema, response.json())
            self.checked.append(schema)
            return response.json()
        events = re.findall(rb"^data: (.*)\n\n", response.content, re.M)
        assert events[-1] == b"[DONE]"
        chunks = [json.loads(event) for event in events[:-1]]
        for position, chunk in enumerate(chunks):
            found = contract.problems("ChatCompletionChunk", chunk)
            assert not found, f"chunk {position} of {len(chunks)}: " + "\n".join(found)
        self.checked.append(f"{len(chunks)} x ChatCompletionChunk")
        return chunks


async def test_every_answer_of_the_fake_server_conforms(anyio_backend: str) -> None:
    import httpx

    async with testing.FakeSudoServer(api_key="sk-contract") as server, httpx.AsyncClient(
        base_url=server.url, headers={"authorization": "Bearer sk-contract"}, timeout=10
    ) as http:
        answer = Answers(http)
        chat = "/v1/chat/completions"
        user = [{"role": "user", "content": "hi"}]
        # the default reply, whole and streamed, in every variant
        for extra in ({}, {"n": 0}, {"n": 3}, {"service_tier": "flex"}, {"n": 2, "service_tier": "auto"},
                      {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"}):
            await answer("POST", chat, "ChatCompletion", json={"model": "m", "messages": user, **extra})
            for usage in (None, {"include_usage": True}, {"include_usage": False}):
                options = {} if usage is None else {"stream_options": usage}
                await answer("POST", chat, "ChatCompletionChunk",
                             json={"model": "m", "messages": user, "stream": True, **options, **extra})
        # what the chunk builders make, scripted, whole and streamed (tool calls included)
        built = [
            testing.text_chunks("plain", include_usage=False),
            testing.text_chunks("thought out", reasoning="first this", words_per_chunk=2),
            testing.tool_call_chunks("get_weather", '{"city": "Paris"}'),
            testing.tool_call_chunks([("a", '{"x": 1}'), ("b", "{}")], include_usage=False),
        ]
        for chunks in built:
            server.enqueue(testing.Stream(chunks), testing.JSON(testing.completion_from_chunks(chunks)))
            await answer("POST", chat, "ChatCompletionChunk", json={"model": "m", "messages": user, "stream": True})
            await answer("POST", chat, "ChatCompletion", json={"model": "m", "messages": user})
        # stored completions: created, scripted and seeded; listed, read, updated, deleted
        parts = [{"type": "input_text", "text": "look"}, {"type": "input_image", "detail": "low", "image_url": "https://x.invalid/i.png"},
                 {"type": "input_file", "file_id": "file-1", "filename": "a.pdf"}, {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
                 {"type": "input_image", "detail": "auto", "file_id": "file-2"}]
        conversation = [
            {"role": "system", "content": "be brief", "name": None},
            {"role": "user", "content": parts},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ]
        first = await answer("POST", chat, "ChatCompletion",
                             json={"model": "m", "messages": conversation, "store": True, "metadata": {"k": "v"}})
        await answer("POST", chat, "ChatCompletionChunk",
                     json={"model": "m", "messages": user, "store": True, "stream": True})
        server.enqueue(testing.Stream(built[0]), testing.JSON({"id": "chatcmpl-scripted", "model": "j", "choices": []}))
        for _ in range(2):
            await http.post(chat, json={"model": "m", "messages": user, "store": True})
        seeded = server.store_completion({"model": "seeded"}, [{"role": "user", "content": "stored question"}])
        await answer("GET", chat, "ChatCompletionList")
        await answer("GET", chat, "ChatCompletionList", params={"limit": "2", "order": "desc"})
        await answer("GET", chat, "ChatCompletionList", params={"model": "nobody"})  # an empty page
        for completion_id in (first["id"], seeded["id"], "chatcmpl-scripted"):
            await answer("GET", f"{chat}/{completion_id}", "StoredChatCompletion")
        await answer("POST", f"{chat}/{first['id']}", "StoredChatCompletion", json={"metadata": {"k": "w"}})
        await answer("GET", f"{chat}/{first['id']}/messages", "ChatMessageList")
        await answer("GET", f"{chat}/{first['id']}/messages", "ChatMessageList", params={"limit": "1", "after": f"{first['id']}-0"})
        await answer("GET", f"{chat}/{seeded['id']}/messages", "ChatMessageList")
        await answer("DELETE", f"{chat}/{seeded['id']}", "ChatDeletionConfirmation")
        # images, the model list
        for extra in ({}, {"n": 3, "response_format": "b64_json", "size": "256x256", "quality": "hd", "background": "transparent"}):
            await answer("POST", "/v1/images/generations", "ImageGeneration", json={"prompt": "a cat", "model": "m", **extra})
        await answer("GET", "/v1/models", "SupportedModelsList")
        # errors: every kind the server makes itself, and scripted ones with its default body
        await answer("GET", chat, "", headers={"authorization": "Bearer wrong"})
        await answer("POST", chat, "", content=b"{oops", headers={"content-type": "application/json"})
        await answer("POST", chat, "", json={"model": "m", "messages": user, "n": 500})
        await answer("POST", chat, "", json={"model": "m", "messages": user, "service_tier": 5})
        await answer("POST", chat, "", json={"model": "m", "messages": [5]})
        await answer("POST", "/v1/images/generations", "", json={"prompt": "p", "model": "m", "size": 1024})
        await answer("GET", f"{chat}/{seeded['id']}", "")
        await answer("GET", "/v2/nothing", "")
        for status in (400, 404, 409, 422, 429, 500, 503):
            server.enqueue(testing.Error(status))
            await answer("POST", chat, "", json={"model": "m", "messages": user})
        assert server.errors == []
    assert len(answer.checked) > 60
