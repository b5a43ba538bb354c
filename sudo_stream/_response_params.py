"""Keyword parameters of ``responses.create`` / ``create_streaming``, and their checks.

The request fields are declared once here, as for chat completions in ``_params``:
:class:`ResponseParams` types ``**params`` (the call options and every optional field of
:class:`~sudo_stream.models.responses.ResponsesRequest`; :class:`ResponseToolRunParams`
all but ``tools``), ``split_params(..., RESPONSE_FIELDS)`` separates them, and :func:`check_response` refuses what the API would,
before anything is sent, with a ``TypeError`` or ``ValueError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._params import (
    _INT32,
    TOOL_NAME,
    CallOptions,
    _kind,
    _number,
    _strings,
    check_metadata,
)
from .models.request import Tool
from .models.responses import (
    FunctionCallOutput,
    FunctionTool,
    FunctionToolCall,
    InputMessage,
    ItemReference,
    OutputMessage,
    ReasoningItem,
    ResponsesRequest,
)


class ResponseToolRunParams(CallOptions, total=False):
    """Optional parameters of a Responses tool loop's requests: a response's but
    ``tools`` (``run_tools()`` takes functions for it) and ``stream`` (every turn
    streams)."""

    background: bool | None
    conversation: str | Mapping[str, Any] | None
    include: Sequence[str] | None
    instructions: str | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    metadata: Mapping[str, str] | None
    parallel_tool_calls: bool | None
    previous_response_id: str | None
    prompt: Mapping[str, Any] | None
    prompt_cache_key: str | None
    reasoning: Mapping[str, Any] | None
    safety_identifier: str | None
    service_tier: str | None
    store: bool | None
    stream_options: Mapping[str, Any] | None
    temperature: float | None
    text: Mapping[str, Any] | None
    tool_choice: str | Mapping[str, Any] | None
    top_logprobs: int | None
    top_p: float | None
    truncation: str | None
    user: str | None


class ResponseParams(ResponseToolRunParams, total=False):
    """Optional parameters of a response (see OpenAI's Responses API reference)."""

    tools: Sequence[FunctionTool | Tool | Mapping[str, Any]] | None


RESPONSE_FIELDS = frozenset(ResponsesRequest.__struct_fields__) - {"model", "input", "stream"}
"""The request fields ``**params`` may hold (``model`` and ``input`` are positional-or-
keyword arguments of their own; ``stream`` is the operation's to set)."""

_ITEM_STRUCTS = (
    InputMessage,
    FunctionCallOutput,
    ItemReference,
    OutputMessage,
    ReasoningItem,
    FunctionToolCall,
)
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def check_response(model: Any, input: Any, body: Mapping[str, Any]) -> None:
    """Check a response request before it is sent (``body``: the optional fields)."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    _input(input)
    _number("temperature", body.get("temperature"), 0, 2, integer=False)
    _number("top_p", body.get("top_p"), 0, 1, integer=False)
    _number("top_logprobs", body.get("top_logprobs"), 0, 20, integer=True)
    _number("max_output_tokens", body.get("max_output_tokens"), 0, _INT32, integer=True)
    _number("max_tool_calls", body.get("max_tool_calls"), 0, _INT32, integer=True)
    for flag in ("background", "parallel_tool_calls", "store"):
        _kind(flag, body.get(flag), bool, "a bool")
    for text in ("instructions", "previous_response_id", "prompt_cache_key",
                 "safety_identifier", "service_tier", "truncation", "user"):  # fmt: skip
        _kind(text, body.get(text), str, "a string")
    for name in ("prompt", "reasoning", "stream_options", "text"):
        _kind(name, body.get(name), Mapping, "a dict")
    for name in ("conversation", "tool_choice"):
        value = body.get(name)
        if value is not None and not isinstance(value, (str, Mapping)):
            raise TypeError(f"{name} must be a string or a dict, got {type(value).__name__}")
    _strings("include", body.get("include"))
    check_metadata("metadata", body.get("metadata"))
    _tools(body.get("tools"))


def _input(value: Any) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(
            f"input must be a string or a list of input items, got {type(value).__name__}"
        )
    for position, item in enumerate(value):
        _item(position, item)


def _item(position: int, item: Any) -> None:
    where = f"input[{position}]"
    if isinstance(item, _ITEM_STRUCTS):
        return
    if not isinstance(item, Mapping):
        raise TypeError(f"{where} must be a dict or an input item, got {type(item).__name__}")
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"  # an "easy" message: {"role": ..., "content": ...}
    if not isinstance(kind, str):
        raise ValueError(f"{where} needs a string 'type' (or a 'role', for a message)")
    if kind == "message":
        role = item.get("role")
        if role not in _MESSAGE_ROLES:
            roles = ", ".join(sorted(_MESSAGE_ROLES))
            raise ValueError(f"{where} is a message with role {role!r}: it must be one of {roles}")
        content = item.get("content")
        if isinstance(content, (bytes, Mapping)) or not isinstance(content, (str, Sequence)):
            raise TypeError(
                f"{where} content must be a string or a list of parts, got {type(content).__name__}"
            )
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise ValueError(f"{where} is a function_call_output without a 'call_id' string")
        if "output" not in item:
            raise ValueError(f"{where} is a function_call_output without an 'output'")


def _tools(tools: Any) -> None:
    if tools is None:
        return
    if isinstance(tools, (str, Mapping)) or not isinstance(tools, Sequence):
        raise TypeError(f"tools must be a list of tools, got {type(tools).__name__}")
    for position, tool in enumerate(tools):
        where = f"tools[{position}]"
        if isinstance(tool, FunctionTool):
            name: Any = tool.name
        elif isinstance(tool, Tool):
            function = tool.function
            name = function.get("name") if isinstance(function, Mapping) else function.name
        elif isinstance(tool, Mapping):
            kind = tool.get("type")
            if not isinstance(kind, str):
                raise ValueError(f'{where} needs a string \'type\' ("function", "web_search", ...)')
            if kind != "function":
                continue  # a built-in tool: the server knows its fields
            inner = tool.get("function")  # a chat-completions tool: sent flattened
            name = tool.get("name", inner.get("name") if isinstance(inner, Mapping) else None)
        else:
            raise TypeError(
                f"{where} must be a dict, a FunctionTool or a Tool, got {type(tool).__name__}"
            )
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise ValueError(
                f"{where} function name must match [a-zA-Z0-9_-]{{1,64}}, got {name!r}"
            )
