"""Keyword parameters of the operations, as TypedDicts, and their checks before sending.

The request fields are declared once here; the async router and the blocking facade both
take them as ``**params`` (statically typed with ``Unpack``) and both reject unknown
names with a ``TypeError``, as an explicit signature would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec
from typing_extensions import TypedDict

from ._config import RetryLike, TimeoutLike
from .models.request import (
    AudioParameters,
    ChatCompletionRequest,
    ImageGenerationRequest,
    PredictionContent,
    ResponseFormat,
    StreamOptions,
    Tool,
    ToolChoice,
)


class CallOptions(TypedDict, total=False):
    """Per-call options every operation accepts."""

    retries: RetryLike
    """Override the client's retry policy (a RetryConfig, a number of retries, or None)."""
    timeout: TimeoutLike
    """Override the client's time bounds (a Timeout or seconds)."""
    extra_headers: Mapping[str, str]
    """Headers to add to this request."""
    extra_query: Mapping[str, str]
    """Query parameters to add to this request."""
    extra_body: Mapping[str, Any]
    """JSON fields to add to (or override in) the request body."""


class _ChatBaseParams(CallOptions, total=False):
    """Optional parameters of a chat completion but ``tools`` and ``response_format``."""

    audio: AudioParameters | Mapping[str, Any] | None
    frequency_penalty: float | None
    logit_bias: Mapping[str, int] | None
    logprobs: bool | None
    max_completion_tokens: int | None
    metadata: Mapping[str, str] | None
    modalities: Sequence[str] | None
    n: int | None
    parallel_tool_calls: bool | None
    prediction: PredictionContent | Mapping[str, Any] | None
    presence_penalty: float | None
    prompt_cache_key: str | None
    reasoning_effort: str | None
    seed: int | None
    service_tier: str | None
    stop: str | Sequence[str] | None
    store: bool | None
    stream_options: StreamOptions | Mapping[str, Any] | None
    temperature: float | None
    tool_choice: str | ToolChoice | Mapping[str, Any] | None
    top_logprobs: int | None
    top_p: float | None
    user: str | None


class ParseParams(_ChatBaseParams, total=False):
    """Optional parameters of a chat completion but ``response_format`` (``parse()``
    takes a type for it)."""

    tools: Sequence[Tool | Mapping[str, Any]] | None


class ToolRunParams(_ChatBaseParams, total=False):
    """Optional parameters of a tool loop's requests: a chat completion's but ``tools``
    (``run_tools()`` takes functions for it) and ``stream`` (every turn streams)."""

    response_format: ResponseFormat | Mapping[str, Any] | None


class ChatParams(ParseParams, total=False):
    """Optional parameters of a chat completion (see the Sudo API reference)."""

    response_format: ResponseFormat | Mapping[str, Any] | None


class ImageParams(CallOptions, total=False):
    """Optional parameters of an image generation."""

    n: int | None
    response_format: str | None
    quality: str | None
    size: str | None
    style: str | None
    background: str | None
    moderation: str | None
    output_compression: int | None
    output_format: str | None


CALL_OPTIONS = frozenset(CallOptions.__annotations__)
CHAT_FIELDS = frozenset(ChatCompletionRequest.__struct_fields__) - {"messages", "model", "stream"}
IMAGE_FIELDS = frozenset(ImageGenerationRequest.__struct_fields__) - {"prompt", "model"}

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def split_params(
    operation: str, params: Mapping[str, Any], fields: frozenset[str], *, sends_body: bool = True
) -> tuple[dict[str, Any], CallOptions]:
    """Separate request fields from call options; an unknown name is a TypeError, and so
    is ``extra_body`` for an operation that sends no body (it would be dropped)."""
    body: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for name, value in params.items():
        if name in fields:
            body[name] = value
        elif name in CALL_OPTIONS:
            options[name] = value
        else:
            raise TypeError(f"{operation}() got an unexpected keyword argument {name!r}")
    if not sends_body and options.get("extra_body"):
        raise TypeError(f"{operation}() sends no request body: extra_body cannot be sent (use extra_query)")
    return body, cast(CallOptions, options)


_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


def _number(name: str, value: Any, low: float | None, high: float | None, *, integer: bool) -> None:
    if value is None:
        return
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    number = cast(float, value)
    if not math.isfinite(number):  # JSON has none: msgspec would send null, "not given"
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")


def _kind(name: str, value: Any, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def _strings(name: str, value: Any) -> None:
    """A list of strings (``modalities``)."""
    if value is None:
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(value).__name__}")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{position}] must be a string, got {type(item).__name__}")


def check_metadata(name: str, value: Any) -> None:
    """A mapping of strings to strings, as the API types ``metadata``."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of str to str, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"{name} keys and values must be strings, got {key!r}: {item!r}")


def _object(name: str, value: Any, struct: type[msgspec.Struct]) -> None:
    if value is not None and not isinstance(value, (struct, Mapping)):
        raise TypeError(f"{name} must be a dict or {struct.__name__}, got {type(value).__name__}")


def _tool_name(tool: Any) -> Any:
    function = (
        tool.get("function") if isinstance(tool, Mapping) else getattr(tool, "function", None)
    )
    if isinstance(function, Mapping):
        return function.get("name")
    return getattr(function, "name", None)


_CONTENT_ROLES = frozenset({"system", "developer", "user", "tool"})


def _message(position: int, message: Any) -> None:
    """What the API requires of every message: a role, and content where it has none."""
    where = f"messages[{position}]"
    if isinstance(message, Mapping):
        if "role" not in message:
            raise ValueError(f"{where} has no 'role'")
        role = message["role"]
        if not isinstance(role, str):
            raise TypeError(f"{where}['role'] must be a string, got {type(role).__name__}")
        content = message.get("content")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise ValueError(f"{where} is a tool message without a 'tool_call_id' string")
    elif isinstance(message, msgspec.Struct):  # a message struct, or a reply's message
        role = type(message).__struct_config__.tag or getattr(message, "role", None)
        content = getattr(message, "content", None)
    else:
        raise TypeError(
            f"{where} must be a dict or a message struct, got {type(message).__name__}"
        )
    if content is None or content is msgspec.UNSET:
        if role in _CONTENT_ROLES:
            raise ValueError(f"{where} is a {role} message without content")
    elif isinstance(content, (bytes, Mapping)) or not isinstance(content, (str, Sequence)):
        raise TypeError(
            f"{where} content must be a string or a list of parts, got {type(content).__name__}"
        )


def check_chat(messages: Any, model: Any, body: Mapping[str, Any]) -> None:
    """Check what the API documents before anything is sent."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of messages, got {type(messages).__name__}")
    for position, message in enumerate(messages):
        _message(position, message)
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    _number("temperature", body.get("temperature"), 0, 2, integer=False)
    _number("top_p", body.get("top_p"), 0, 1, integer=False)
    _number("frequency_penalty", body.get("frequency_penalty"), -2, 2, integer=False)
    _number("presence_penalty", body.get("presence_penalty"), -2, 2, integer=False)
    _number("top_logprobs", body.get("top_logprobs"), 0, 20, integer=True)
    _number("n", body.get("n"), 0, _INT32, integer=True)
    _number("max_completion_tokens", body.get("max_completion_tokens"), 0, _INT32, integer=True)
    _number("seed", body.get("seed"), -_INT64 - 1, _INT64, integer=True)
    for flag in ("logprobs", "parallel_tool_calls", "store"):
        _kind(flag, body.get(flag), bool, "a bool")
    for text in ("prompt_cache_key", "reasoning_effort", "service_tier", "user"):
        _kind(text, body.get(text), str, "a string")
    _strings("modalities", body.get("modalities"))
    check_metadata("metadata", body.get("metadata"))
    _object("audio", body.get("audio"), AudioParameters)
    _object("prediction", body.get("prediction"), PredictionContent)
    _object("stream_options", body.get("stream_options"), StreamOptions)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, Sequence) or not all(isinstance(s, str) for s in stop):
            raise TypeError("stop must be a string or a list of strings")
        if len(stop) > 4:
            raise ValueError(f"stop takes at most 4 sequences, got {len(stop)}")
    tools = body.get("tools")
    if tools is not None:
        if isinstance(tools, (str, Mapping)) or not isinstance(tools, Sequence):
            raise TypeError("tools must be a list of tools")
        if len(tools) > 128:
            raise ValueError(f"tools takes at most 128 tools, got {len(tools)}")
        for position, tool in enumerate(tools):
            if isinstance(tool, Mapping) and not isinstance(tool.get("type"), str):
                raise ValueError(f"tools[{position}] needs a 'type' (\"function\")")
            name = _tool_name(tool)
            if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
                raise ValueError(
                    f"tools[{position}] function name must match [a-zA-Z0-9_-]{{1,64}}, "
                    f"got {name!r}"
                )


def check_image(prompt: Any, model: Any, body: Mapping[str, Any]) -> None:
    """Check an image request before it is sent."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    _number("n", body.get("n"), 1, 10, integer=True)
    _number("output_compression", body.get("output_compression"), 0, 100, integer=True)
    for text in ("response_format", "quality", "size", "style", "background", "moderation",
                 "output_format"):  # fmt: skip
        _kind(text, body.get(text), str, "a string")
