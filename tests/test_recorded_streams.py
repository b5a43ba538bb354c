"""The assembler against 102 chat-completion streams recorded from real providers.

- The 49 ``openai-python__*`` streams were recorded from OpenAI itself: the completion must
  equal openai-python's own (``expected.json``), up to SDK-only keys and nulls.
- For the other 53, openai-python's answer is often wrong (it concatenates repeated ids,
  crashes on indexes starting at 1, loses usage...). They are checked against an oracle
  written here that reads the raw JSON dicts directly, without the assembler.
- Then one test per provider shape worth its own (the index's ``shape_notes``).

Every stream goes through the project's SSE parser and msgspec decoding, and through both
``add`` (events) and ``absorb`` (no events), which must agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sudo_stream.assembler import StreamAssembler, StreamChunkError
from sudo_stream.models import ChatCompletion, ChatCompletionChunk
from sudo_stream.models.events import (
    Finished,
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

DATA = Path(__file__).resolve().parent / "data" / "recorded_streams"
INDEX = json.loads((DATA / "index.json").read_text(encoding="utf-8"))
STREAMS: dict[str, dict[str, Any]] = {entry["name"]: entry for entry in INDEX["streams"]}
OPENAI = sorted(name for name in STREAMS if name.startswith("openai-python__"))
OTHERS = sorted(name for name in STREAMS if not name.startswith("openai-python__"))
DECODER = msgspec.json.Decoder(ChatCompletionChunk)


# -- running a stream ----------------------------------------------------------------------


def body(name: str) -> bytes:
    return (DATA / STREAMS[name]["file"]).read_bytes()


def data_lines(raw: bytes, pieces: list[bytes] | None = None) -> list[str]:
    """The ``data`` of every event before ``[DONE]``, parsed by the project's SSE parser."""
    parser = SSEParser()
    events = []
    for piece in [raw] if pieces is None else pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.close())
    datas = []
    for event in events:
        if event.data == "[DONE]":
            break
        datas.append(event.data)
    return datas


@dataclass
class Run:
    """What the assembler made of a stream."""

    completion: ChatCompletion
    events: list[StreamEvent] = field(default_factory=list)
    error: StreamChunkError | None = None
    finished: bool = False


def run(datas: list[str], *, with_events: bool) -> Run:
    assembler = StreamAssembler()
    events: list[StreamEvent] = []
    error = None
    try:
        for data in datas:
            chunk = DECODER.decode(data)
            if with_events:
                events.extend(assembler.add(chunk))
            else:
                assembler.absorb(chunk)
    except StreamChunkError as exc:
        error = exc
    events.extend(assembler.close())
    return Run(assembler.completion(), events, error, assembler.finished)


def run_both(name: str) -> Run:
    """Run a stream through ``add`` and ``absorb``; they must build the same completion."""
    datas = data_lines(body(name))
    with_events = run(datas, with_events=True)
    without = run(datas, with_events=False)
    assert with_events.completion == without.completion
    assert (with_events.error is None) == (without.error is None)
    assert with_events.finished == without.finished
    return with_events


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


def normalise_expected(completion: dict[str, Any]) -> Any:
    """openai-python's snapshot without its SDK-only keys (``parsed``, ``parsed_arguments``,
    the tool calls' ``index``) and without nulls."""
    completion = json.loads(json.dumps(completion))
    for choice in completion.get("choices", []):
        message = choice.get("message", {})
        message.pop("parsed", None)
        for call in message.get("tool_calls") or []:
            call.pop("index", None)
            call.get("function", {}).pop("parsed_arguments", None)
    return drop_nulls(completion)


# -- the 49 OpenAI streams: equal to openai-python's own answer ----------------------------


@pytest.mark.parametrize("name", OPENAI)
def test_openai_stream_matches_openai_python(name: str) -> None:
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    result = run_both(name)
    if "sdk_would_raise" in expected:
        assert result.error is not None
    else:
        assert result.error is None
    ours = drop_nulls(msgspec.to_builtins(result.completion))
    assert ours == normalise_expected(expected["completion"])


def test_openai_streams_are_49() -> None:
    assert len(OPENAI) == 49
    assert len(OTHERS) == 53
    assert INDEX["count"] == 102


# -- the other 53: against an oracle over the raw JSON ------------------------------------


@dataclass
class OracleCall:
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    key: int | None = None  # the provider's index, if it sends one


@dataclass
class OracleChoice:
    text: list[str] = field(default_factory=list)
    has_text: bool = False
    refusal: list[str] = field(default_factory=list)
    # reasoning text under each name the provider used, in stream order
    reasoning: dict[str, list[str]] = field(default_factory=dict)
    calls: list[OracleCall] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass
class Oracle:
    id: str = ""
    model: str = ""
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    choices: dict[int, OracleChoice] = field(default_factory=dict)

    def reasoning(self, index: int) -> str | None:
        """The reasoning of a choice: the text under the first name the provider used
        (providers that use two names send the same text under both)."""
        by_name = self.choices[index].reasoning
        for name in ("thinking", "reasoning_content", "reasoning", "reasoning_details"):
            text = "".join(by_name.get(name, []))
            if text:
                return text
        return None


def oracle(datas: list[str]) -> Oracle:
    """What a right assembly holds, computed straight from the raw chunk dicts."""
    result = Oracle()
    for data in datas:
        chunk = json.loads(data)
        result.id = result.id or chunk.get("id") or ""
        result.model = result.model or chunk.get("model") or ""
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            result.usage = usage
        if chunk.get("error"):
            result.error = chunk["error"]
            break
        for raw in chunk.get("choices") or []:
            choice = result.choices.setdefault(raw.get("index", 0), OracleChoice())
            delta = raw.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                choice.text.append(content)
                choice.has_text = True
            elif isinstance(content, list):
                for part in content:
                    if part.get("type") == "text":
                        choice.text.append(part["text"])
                        choice.has_text = True
                    elif part.get("type") == "thinking":
                        for piece in part["thinking"]:
                            choice.reasoning.setdefault("thinking", []).append(piece["text"])
            if delta.get("refusal"):
                choice.refusal.append(delta["refusal"])
            for name in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(name), str):
                    choice.reasoning.setdefault(name, []).append(delta[name])
            for item in delta.get("reasoning_details") or []:
                if isinstance(item.get("text"), str):
                    choice.reasoning.setdefault("reasoning_details", []).append(item["text"])
            _oracle_tool_calls(choice, delta.get("tool_calls") or [])
            if raw.get("finish_reason") and choice.finish_reason is None:
                choice.finish_reason = raw["finish_reason"]
    return result


def _oracle_tool_calls(choice: OracleChoice, deltas: list[dict[str, Any]]) -> None:
    """A call is known by its id; a fragment without an id belongs to the latest call with
    the same index, or to the latest call when there is no index."""
    for delta in deltas:
        call_id = delta.get("id") or None
        key = delta.get("index")
        call = None
        if call_id is not None:
            call = next((c for c in choice.calls if c.id == call_id), None)
            if call is None:
                call = OracleCall(id=call_id)
                choice.calls.append(call)
        elif key is not None:
            call = next((c for c in reversed(choice.calls) if c.key == key), None)
        elif choice.calls:
            call = choice.calls[-1]
        if call is None:
            call = OracleCall()
            choice.calls.append(call)
        if key is not None:
            call.key = key
        function = delta.get("function") or {}
        if function.get("name") and not call.name:
            call.name = function["name"]
        call.arguments += function.get("arguments") or ""


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", OTHERS)
def test_third_party_stream_against_oracle(name: str) -> None:
    datas = data_lines(body(name))
    want = oracle(datas)
    result = run_both(name)
    got = result.completion

    # an error inside a 200 stream raises, with what came before it as the partial answer
    if want.error is not None:
        assert result.error is not None
        assert result.error.detail.message == want.error.get("message")
        assert result.error.partial == got
    else:
        assert result.error is None

    assert got.object == "chat.completion"
    assert got.id == want.id
    assert got.model == want.model
    if want.usage is None:
        assert got.usage is None
    else:
        assert got.usage is not None
        assert got.usage.prompt_tokens == want.usage.get("prompt_tokens", 0)
        assert got.usage.completion_tokens == want.usage.get("completion_tokens", 0)
        assert got.usage.total_tokens == want.usage.get("total_tokens", 0)

    assert [choice.index for choice in got.choices] == sorted(want.choices)
    for choice in got.choices:
        expected = want.choices[choice.index]
        message = choice.message
        assert message.role == "assistant"
        assert message.content == ("".join(expected.text) if expected.has_text else None)
        assert (message.refusal or None) == ("".join(expected.refusal) or None)
        assert (message.reasoning_content or None) == want.reasoning(choice.index)
        assert choice.finish_reason == expected.finish_reason
        calls = message.tool_calls or []
        assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
            (c.id, c.name, c.arguments) for c in expected.calls
        ]
        for call in calls:
            assert call.type == "function"
            if _parses(call.function.arguments):
                done = [
                    e
                    for e in result.events
                    if isinstance(e, ToolCallDone)
                    and e.id == call.id
                    and e.choice_index == choice.index
                ]
                assert len(done) == 1
                assert done[0].parse_error is None
                assert done[0].parsed == json.loads(call.function.arguments)

    assert result.finished == (
        bool(want.choices) and all(c.finish_reason for c in want.choices.values())
    )
    check_events_agree(result)


def check_events_agree(result: Run) -> None:
    """The events tell the same story as the completion."""
    got = result.completion
    for choice in got.choices:
        i = choice.index
        texts = [e.text for e in result.events if isinstance(e, TextDelta) and e.choice_index == i]
        assert "".join(texts) == (choice.message.content or "")
        reasoning = [
            e.text for e in result.events if isinstance(e, ReasoningDelta) and e.choice_index == i
        ]
        assert "".join(reasoning) == (choice.message.reasoning_content or "")
        refusal = [
            e.text for e in result.events if isinstance(e, RefusalDelta) and e.choice_index == i
        ]
        assert "".join(refusal) == (choice.message.refusal or "")
        finished = [e for e in result.events if isinstance(e, Finished) and e.choice_index == i]
        assert [e.finish_reason for e in finished] == (
            [choice.finish_reason] if choice.finish_reason else []
        )
        calls = choice.message.tool_calls or []
        started = [
            e for e in result.events if isinstance(e, ToolCallStarted) and e.choice_index == i
        ]
        assert [e.index for e in started] == list(range(len(calls)))
        done = [e for e in result.events if isinstance(e, ToolCallDone) and e.choice_index == i]
        assert [(e.index, e.id, e.name, e.arguments) for e in done] == [
            (n, c.id, c.function.name, c.function.arguments) for n, c in enumerate(calls)
        ]
        for n, call in enumerate(calls):
            fragments = [
                e.delta
                for e in result.events
                if isinstance(e, ToolArgumentsDelta) and e.choice_index == i and e.index == n
            ]
            assert "".join(fragments) == call.function.arguments
    if result.error is None:  # the usage of an error chunk is in the partial, not an event
        usages = [e.usage for e in result.events if isinstance(e, UsageReceived)]
        assert (usages[-1] if usages else None) == got.usage


@pytest.mark.parametrize("name", OPENAI)
def test_openai_stream_events_agree(name: str) -> None:
    check_events_agree(run_both(name))


# -- one test per provider shape ----------------------------------------------------------


def notes(name: str) -> list[str]:
    return list(STREAMS[name].get("shape_notes", []))


def test_repeated_finish_reason_is_kept_once() -> None:
    names = [n for n in STREAMS if "finish_reason repeated on more than one chunk" in str(notes(n))]
    assert len(names) == 4
    for name in names:
        result = run_both(name)
        finished = [e for e in result.events if isinstance(e, Finished)]
        assert len(finished) == 1
        assert result.completion.choices[0].finish_reason == finished[0].finish_reason


def test_openrouter_finish_reason_then_error_chunk() -> None:
    # finish_reason "length" twice, then a chunk with an error object and the usage.
    result = run_both("pydantic-ai__test_openrouter_stream_error")
    assert result.error is not None
    assert result.error.detail.code == 400
    assert result.error.detail.message == "Token limit reached"
    partial = result.error.partial
    assert partial.choices[0].finish_reason == "length"
    assert partial.choices[0].message.reasoning_content == (
        "We need to respond to a greeting. The user"
    )
    assert partial.usage is not None and partial.usage.total_tokens == 53


def test_no_finish_reason_means_not_finished() -> None:
    names = [n for n in STREAMS if "no finish_reason is ever sent" in notes(n)]
    assert len(names) == 4
    for name in names:
        result = run_both(name)
        assert not result.finished
        assert all(choice.finish_reason is None for choice in result.completion.choices)
        assert not any(isinstance(e, Finished) for e in result.events)


def test_snowflake_stream_without_finish_reason_still_assembles() -> None:
    result = run_both("pydantic-ai__test_snowflake_thinking_streaming")
    message = result.completion.choices[0].message
    assert message.reasoning_content and message.reasoning_content.startswith("15 * 27 = 405")
    assert message.content and "405" in message.content
    assert message.refusal == ""  # refusal "" on every delta: a placeholder, never text
    assert message.reasoning_details is not None
    assert message.reasoning_details[0]["text"] == message.reasoning_content
    assert result.completion.id == ""  # the provider never sent one
    assert result.completion.system_fingerprint is None  # "" is a placeholder
    assert result.completion.usage is not None and result.completion.usage.total_tokens == 118


@pytest.mark.parametrize(
    "name",
    [
        "quarkus-langchain4j__azure-openai-gpt-4o-content-filter",
        "vercel-ai__anthropic-openai-compat-tool-call",
    ],
)
def test_done_never_dispatched_ends_at_eof(name: str) -> None:
    # "data: [DONE]" without a blank line after it is never dispatched: the stream simply
    # ends, and the completion is complete all the same.
    raw = body(name)
    assert raw.rstrip().endswith(b"data: [DONE]")
    assert not any(data == "[DONE]" for data in data_lines(raw))
    result = run_both(name)
    assert result.finished
    assert result.completion.choices[0].finish_reason in ("stop", "tool_calls")


def test_groq_error_event_without_done() -> None:
    for name in (
        "pydantic-ai__test_tool_use_failed_error_streaming.0",
        "pydantic-ai__test_tool_use_failed_error_streaming_with_text.0",
    ):
        assert "no [DONE] sentinel" in notes(name)
        result = run_both(name)
        assert result.error is not None
        assert result.error.detail.code == "tool_use_failed"
        assert result.error.detail.type == "invalid_request_error"
        assert not result.finished
        assert result.error.partial.choices[0].message.reasoning_content
        assert result.error.partial.model == "openai/gpt-oss-120b"


def test_placeholder_first_chunk_azure() -> None:
    # First event: choices [], id "", model "", object "", created 0 (prompt filter results).
    name = "vercel-ai__azure-openai-gpt-5-nano-model-router"
    first = json.loads(data_lines(body(name))[0])
    assert first["id"] == "" and first["object"] == "" and first["choices"] == []
    completion = run_both(name).completion
    assert completion.id.startswith("chatcmpl-")
    assert completion.model
    assert completion.created > 0
    assert completion.choices[0].finish_reason == "stop"


def test_tool_call_index_starting_at_1() -> None:
    result = run_both("vercel-ai__anthropic-openai-compat-tool-call")
    message = result.completion.choices[0].message
    assert message.content == "Reading it."
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert (call.id, call.function.name) == ("toolu_sanitized", "read_file")
    assert json.loads(call.function.arguments) == {"path": "a.txt"}
    started = [e for e in result.events if isinstance(e, ToolCallStarted)]
    assert started == [ToolCallStarted(0, 0, "toolu_sanitized", "read_file")]


def test_tool_call_without_index_or_type() -> None:
    result = run_both("vercel-ai__mistral-small-tool-call")
    completion = result.completion
    calls = completion.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "gSIMJiOkT"
    assert calls[0].type == "function"
    assert calls[0].function.name == "weather"
    assert json.loads(calls[0].function.arguments) == {"location": "San Francisco"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 146
    done = [e for e in result.events if isinstance(e, ToolCallDone)]
    assert done[0].parsed == {"location": "San Francisco"}


def test_repeated_placeholder_id_type_and_name() -> None:
    # Alibaba repeats id "" and type "function"; GLM repeats type and sends name "".
    for name, call_id, function in (
        ("vercel-ai__alibaba-qwen3-max-tool-call", "call_eee11723464a4b9eb8cee71d", "weather"),
        (
            "vercel-ai__mistral-api-glm-incremental-tool-call",
            "chatcmpl-tool-90879831ae6504ce",
            "webSearchTool",
        ),
    ):
        calls = run_both(name).completion.choices[0].message.tool_calls
        assert calls is not None and len(calls) == 1
        assert (calls[0].id, calls[0].type, calls[0].function.name) == (
            call_id,
            "function",
            function,
        )
        assert _parses(calls[0].function.arguments)


def test_whole_tool_call_in_one_delta() -> None:
    names = [
        n
        for n in STREAMS
        if STREAMS[n]["features"].get("tool_call_arguments_complete_in_first_delta")
    ]
    assert names
    for name in names:
        result = run_both(name)
        calls = result.completion.choices[0].message.tool_calls
        assert calls is not None
        assert all(_parses(call.function.arguments) for call in calls)


def test_n_greater_than_one_interleaved() -> None:
    for name in [n for n in OPENAI if "multiple_choices" in n]:
        result = run_both(name)
        completion = result.completion
        assert [c.index for c in completion.choices] == [0, 1, 2]
        assert all(c.finish_reason == "stop" for c in completion.choices)
        assert result.finished
        indexes = {
            e.choice_index for e in result.events if isinstance(e, (TextDelta, RefusalDelta))
        }
        assert indexes == {0, 1, 2}


def test_n_greater_than_one_first_seen_out_of_order() -> None:
    # Reorder a real n=3 stream so choice 2 speaks first: the completion is unchanged.
    name = "openai-python__test_parse_pydantic_model_multiple_choices__20240806_9tAC53I4"
    datas = data_lines(body(name))
    parsed = [json.loads(d) for d in datas]
    firsts = {}
    for n, chunk in enumerate(parsed):
        for choice in chunk["choices"]:
            firsts.setdefault(choice["index"], n)
    order = sorted(range(len(datas)), key=lambda n: (n not in (firsts[2],), n))
    reordered = run([datas[n] for n in order], with_events=False)
    assert reordered.completion == run(datas, with_events=False).completion
    assert [c.index for c in reordered.completion.choices] == [0, 1, 2]


def test_usage_on_every_chunk_is_cumulative() -> None:
    name = "vercel-ai__perplexity-sonar-citations"
    assert "usage present on 8 chunks (cumulative)" in notes(name)
    result = run_both(name)
    usages = [e.usage.total_tokens for e in result.events if isinstance(e, UsageReceived)]
    assert usages == [11, 12, 13, 14, 15, 343, 346, 346]
    assert result.completion.usage is not None and result.completion.usage.total_tokens == 346
    # the last chunk is object "chat.completion.done": it carries the finish reason
    assert result.completion.choices[0].finish_reason == "stop"
    assert result.finished
    assert result.completion.choices[0].message.role == "assistant"  # repeated, not doubled


def test_usage_inside_x_groq() -> None:
    # Only inside x_groq (vercel-ai's groq-llama recording has it at the top level too).
    for name in (
        "pydantic-ai__test_groq_model_thinking_part_iter.0",
        "pydantic-ai__test_groq_model_web_search_tool_stream",
    ):
        chunks = [json.loads(d) for d in data_lines(body(name))]
        assert not any(chunk.get("usage") for chunk in chunks)
        usage = run_both(name).completion.usage
        groq = [c["x_groq"]["usage"] for c in chunks if "usage" in c.get("x_groq", {})][-1]
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
            groq["prompt_tokens"],
            groq["completion_tokens"],
            groq["total_tokens"],
        )


def test_usage_with_finish_reason() -> None:
    completion = run_both("vercel-ai__deepseek-chat-text-length").completion
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_content_as_typed_parts() -> None:
    result = run_both("vercel-ai__mistral-magistral-reasoning")
    message = result.completion.choices[0].message
    assert message.content == "2 + 2 = 4"
    assert message.reasoning_content == (
        "The user is asking for 2+2. This is basic arithmetic. 2+2=4."
    )
    mixed = run_both("vercel-ai__mistral-small-thinking-content-parts").completion
    # thinking parts, then a chunk with a thinking part AND a text part, then plain strings
    assert mixed.choices[0].message.content == "391"
    assert (mixed.choices[0].message.reasoning_content or "").endswith("= 391.")


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("vercel-ai__deepseek-reasoner-reasoning", "reasoning_content"),
        ("vercel-ai__groq-qwen3-32b-reasoning", "reasoning"),
        ("pydantic-ai__test_openrouter_streaming_reasoning", "reasoning+reasoning_details"),
        ("pydantic-ai__test_snowflake_thinking_streaming", "reasoning_details"),
        ("pydantic-ai__test_mistral_model_thinking_part_iter", "thinking parts"),
    ],
)
def test_reasoning_whatever_its_name(name: str, field: str) -> None:
    datas = data_lines(body(name))
    result = run_both(name)
    reasoning = result.completion.choices[0].message.reasoning_content
    assert reasoning, field
    assert reasoning == oracle(datas).reasoning(0)


def test_reasoning_sent_under_two_names_is_not_doubled() -> None:
    # OpenRouter sends the same text as `reasoning` and inside `reasoning_details`.
    name = "pydantic-ai__test_openrouter_streaming_reasoning"
    datas = data_lines(body(name))
    reasoning = "".join(
        (json.loads(d)["choices"][0]["delta"].get("reasoning") or "")
        for d in datas
        if json.loads(d)["choices"]
    )
    message = run_both(name).completion.choices[0].message
    assert message.reasoning_content == reasoning
    details = message.reasoning_details
    assert details is not None and len(details) == 1  # fragments merged by their index
    assert details[0]["text"] == reasoning
    assert details[0]["signature"]  # the real signature replaced the "" placeholder
    assert details[0]["type"] == "reasoning.text"


def test_encrypted_reasoning_details_are_kept() -> None:
    message = (
        run_both("pydantic-ai__test_openrouter_stream_with_reasoning").completion.choices[0].message
    )
    assert message.reasoning_details is not None
    assert message.reasoning_details[0]["type"] == "reasoning.encrypted"
    assert message.reasoning_details[0]["data"].startswith("gAAAA")
    assert message.reasoning_content is None


def test_logprobs_and_refusals_concatenate() -> None:
    name = "openai-python__test_refusal_logprobs_events__20240806_9tDU0lrT"
    choice = run_both(name).completion.choices[0]
    assert choice.message.refusal == "I'm very sorry, but I can't assist with that."
    assert choice.logprobs is not None and choice.logprobs.refusal is not None
    assert "".join(t.token for t in choice.logprobs.refusal) == choice.message.refusal
    content = run_both("openai-python__test_content_logprobs_events__20240806_9tDU7wVJ")
    logprobs = content.completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert (
        "".join(t.token for t in logprobs.content) == content.completion.choices[0].message.content
    )


def test_moderation_and_non_chunk_objects_do_not_corrupt() -> None:
    # OpenAI's trailing `moderation` chunk (choices [], usage null) after the usage chunk
    completion = run_both("pydantic-ai__test_openai_moderation_stream").completion
    assert completion.choices[0].message.content == "Paris."
    assert completion.usage is not None and completion.usage.total_tokens == 24
    # Azure's preamble (object "") and Perplexity's chat.completion.done
    azure = run_both("quarkus-langchain4j__azure-openai-gpt-4o-content-filter").completion
    assert azure.choices[0].message.content == "Hallo Welt!"
    assert azure.id == "chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j"


def test_every_chunk_id_differs_first_one_kept() -> None:
    # Groq compound gives every chunk a new id (the last one is literally "stub").
    name = "pydantic-ai__test_groq_model_web_search_tool_stream"
    datas = data_lines(body(name))
    assert len({json.loads(d)["id"] for d in datas}) > 2
    assert run_both(name).completion.id == json.loads(datas[0])["id"]


def test_error_chunk_raises_from_add_and_absorb() -> None:
    for name in STREAMS:
        if STREAMS[name]["features"].get("error_payload_in_stream"):
            datas = data_lines(body(name))
            assert run(datas, with_events=True).error is not None
            assert run(datas, with_events=False).error is not None
