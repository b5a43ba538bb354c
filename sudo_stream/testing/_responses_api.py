"""The fake Responses API (``POST /v1/responses``): request data in, a scripted response out.
No I/O.

:func:`response_events` builds the events of one streamed response in OpenAI's shapes
and order (``response.created``, ``response.in_progress``, then per output item
``output_item.added``, its parts and deltas, their ``.done`` events and
``output_item.done``, then ``response.completed`` or ``response.incomplete`` carrying the
whole response with its usage), numbered by ``sequence_number`` from 0; tests script exact
streams with it (:func:`response_stream` wraps them as a :class:`Stream` with ``event:``
lines and no ``[DONE]``, as OpenAI sends them). :func:`create_response` answers a request
the way the fake server does without a script.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._chunks import new_id, split_words
from ._endpoints import schema_instance
from ._responses import JSON, ScriptedResponse, Stream, StreamItem

RESPONSES_PATH = "/v1/responses"
"""The path of the Responses API."""

DEFAULT_SUMMARY = "**Answering the question**\n\nThe fake server thinks briefly, then answers."
"""The reasoning summary of a request that asks for ``reasoning``."""

FunctionCallSpec = tuple[str, str] | Mapping[str, Any]
"""A function call to stream: ``(name, arguments_json)`` or a dict with ``name``,
``arguments`` and optionally ``call_id`` and ``id``."""


def response_events(
    text: str | None = "Hello! This is a reply from the fake Sudo server.",
    *,
    model: str = "m",
    id: str | None = None,
    created_at: int | None = None,
    reasoning: str | Sequence[str] | None = None,
    function_calls: Sequence[FunctionCallSpec] = (),
    refusal: str | None = None,
    incomplete_reason: str | None = None,
    input_tokens: int = 8,
    fragment_size: int = 8,
    sequence_numbers: bool = True,
    echo: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The events of one streamed response, each a dict as its ``data`` JSON.

    Output items come in this order: a reasoning item (one summary part per string of
    ``reasoning``), a message with ``text`` (word-sized deltas; ``None``: no message)
    or with a ``refusal``, then each function call (arguments in ``fragment_size``
    character deltas). With ``incomplete_reason`` the message stops unfinished and the
    stream ends with ``response.incomplete``. Usage counts one output token per delta.
    ``echo`` adds fields to the response object (the request's settings, as the API
    echoes them).
    """
    if fragment_size < 1:
        raise ValueError("fragment_size must be at least 1")
    builder = _Events(
        id or new_id("resp"),
        model,
        int(time.time()) if created_at is None else created_at,
        sequence_numbers,
        echo or {},
    )
    builder.start()
    if reasoning is not None:
        builder.reasoning([reasoning] if isinstance(reasoning, str) else list(reasoning))
    if refusal is not None:
        builder.refusal(refusal)
    elif text is not None:
        builder.message(text, cut=incomplete_reason is not None)
    for call in function_calls:
        builder.function_call(call, fragment_size)
    builder.end(input_tokens, incomplete_reason)
    return builder.events


def response_stream(events: Sequence[StreamItem], **options: Any) -> Stream:
    """``events`` as OpenAI streams them: an ``event: <type>`` line before each ``data:``
    line, and no ``[DONE]``. ``options`` are :class:`Stream`'s (``piece_size``,
    ``delay``, ``headers``, ...)."""
    options.setdefault("done", False)
    return Stream(events, named_events=True, **options)


def final_response(events: Sequence[StreamItem]) -> dict[str, Any]:
    """The response object of the terminal event of ``events`` (a copy)."""
    for event in reversed(events):
        if isinstance(event, Mapping) and event.get("type") in _TERMINAL:
            return copy.deepcopy(dict(event["response"]))
    raise ValueError("the events have no response.completed, .incomplete or .failed event")


_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


class _Events:
    """Builds the events of one response, numbering them and counting output tokens."""

    def __init__(
        self, rid: str, model: str, created_at: int, numbered: bool, echo: Mapping[str, Any]
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.numbered = numbered
        self.output: list[dict[str, Any]] = []
        self.output_tokens = 0
        self.reasoning_tokens = 0
        self.response: dict[str, Any] = {
            "id": rid, "object": "response", "created_at": created_at, "status": "in_progress",
            "background": False, "error": None, "incomplete_details": None,
            "instructions": None, "max_output_tokens": None, "model": model, "output": [],
            "parallel_tool_calls": True, "previous_response_id": None, "reasoning": None,
            "service_tier": "default", "store": False, "temperature": 1.0,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
            "top_p": 1.0, "truncation": "disabled", "usage": None, "user": None,
            "metadata": {},
        }  # fmt: skip
        self.response.update(copy.deepcopy(dict(echo)))

    def add(self, kind: str, **fields: Any) -> None:
        event: dict[str, Any] = {"type": kind}
        if self.numbered:
            event["sequence_number"] = len(self.events)
        event.update(fields)
        self.events.append(event)

    def start(self) -> None:
        self.add("response.created", response=copy.deepcopy(self.response))
        self.add("response.in_progress", response=copy.deepcopy(self.response))

    def item(self, item: dict[str, Any]) -> int:
        index = len(self.output)
        self.output.append(item)
        self.add("response.output_item.added", output_index=index, item=copy.deepcopy(item))
        return index

    def reasoning(self, summaries: list[str]) -> None:
        rid = new_id("rs")
        index = self.item({"id": rid, "type": "reasoning", "summary": []})
        parts = []
        where = {"item_id": rid, "output_index": index}
        for si, text in enumerate(summaries):
            self.add("response.reasoning_summary_part.added", **where, summary_index=si,
                     part={"type": "summary_text", "text": ""})  # fmt: skip
            for piece in split_words(text):
                self.add("response.reasoning_summary_text.delta", **where, summary_index=si,
                         delta=piece)  # fmt: skip
                self.reasoning_tokens += 1
            self.add("response.reasoning_summary_text.done", **where, summary_index=si, text=text)
            part = {"type": "summary_text", "text": text}
            self.add("response.reasoning_summary_part.done", **where, summary_index=si, part=part)
            parts.append(part)
        self.finish(index, {"id": rid, "type": "reasoning", "summary": parts})

    def message(self, text: str, *, cut: bool) -> None:
        mid = new_id("msg")
        index = self.item(
            {"id": mid, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        )
        where = {"item_id": mid, "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        self.add("response.content_part.added", **where, part=empty)
        for piece in split_words(text) if text else []:
            self.add("response.output_text.delta", **where, delta=piece, logprobs=[])
            self.output_tokens += 1
        part = {**empty, "text": text}
        if not cut:
            self.add("response.output_text.done", **where, text=text, logprobs=[])
            self.add("response.content_part.done", **where, part=part)
        status = "incomplete" if cut else "completed"
        self.finish(index, {"id": mid, "type": "message", "status": status, "content": [part],
                            "role": "assistant"})  # fmt: skip

    def refusal(self, text: str) -> None:
        mid = new_id("msg")
        index = self.item(
            {"id": mid, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        )
        where = {"item_id": mid, "output_index": index, "content_index": 0}
        self.add("response.content_part.added", **where, part={"type": "refusal", "refusal": ""})
        for piece in split_words(text):
            self.add("response.refusal.delta", **where, delta=piece)
            self.output_tokens += 1
        self.add("response.refusal.done", **where, refusal=text)
        part = {"type": "refusal", "refusal": text}
        self.add("response.content_part.done", **where, part=part)
        self.finish(index, {"id": mid, "type": "message", "status": "completed", "content": [part],
                            "role": "assistant"})  # fmt: skip

    def function_call(self, call: FunctionCallSpec, fragment_size: int) -> None:
        if isinstance(call, Mapping):
            name, arguments = str(call["name"]), str(call.get("arguments", "{}"))
            call_id, fid = call.get("call_id"), call.get("id")
        else:
            (name, arguments), call_id, fid = call, None, None
        fid = fid or new_id("fc")
        item = {"id": fid, "type": "function_call", "status": "in_progress", "arguments": "",
                "call_id": call_id or new_id("call"), "name": name}  # fmt: skip
        index = self.item(item)
        where = {"item_id": fid, "output_index": index}
        for start in range(0, len(arguments), fragment_size):
            delta = arguments[start : start + fragment_size]
            self.add("response.function_call_arguments.delta", **where, delta=delta)
            self.output_tokens += 1
        self.add("response.function_call_arguments.done", **where, arguments=arguments)
        self.finish(index, {**item, "status": "completed", "arguments": arguments})

    def finish(self, index: int, item: dict[str, Any]) -> None:
        self.output[index] = item
        self.add("response.output_item.done", output_index=index, item=copy.deepcopy(item))

    def end(self, input_tokens: int, incomplete_reason: str | None) -> None:
        output_tokens = self.output_tokens + self.reasoning_tokens
        final = {
            **self.response,
            "status": "completed" if incomplete_reason is None else "incomplete",
            "output": self.output,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
                "total_tokens": input_tokens + output_tokens,
            },
        }
        if incomplete_reason is not None:
            final["incomplete_details"] = {"reason": incomplete_reason}
        kind = "response.completed" if incomplete_reason is None else "response.incomplete"
        self.add(kind, response=copy.deepcopy(final))


# --- the endpoint ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseAnswer:
    """A response decided but not yet given: what to send, and the response object to
    store when the request asked for ``store`` (only on :meth:`commit`)."""

    response: ScriptedResponse
    body: dict[str, Any]
    store: bool

    @property
    def total_tokens(self) -> int:
        """The answer's ``usage.total_tokens`` (what it costs against a token limit)."""
        return int(self.body["usage"]["total_tokens"])

    def commit(self, stored: dict[str, dict[str, Any]]) -> ScriptedResponse:
        """Store the response object if asked to; return the response to send."""
        if self.store:
            stored[self.body["id"]] = copy.deepcopy(self.body)
        return self.response


_ECHOED = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls",
           "previous_response_id", "reasoning", "service_tier", "store", "temperature",
           "text", "tool_choice", "tools", "top_p", "truncation", "user")  # fmt: skip


def create_response(body: Any, reply: str) -> ResponseAnswer:
    """``POST /v1/responses`` without a scripted response.

    The answer: a reasoning item first when the request has ``reasoning``; a call of the
    first function tool (its arguments an instance of the tool's parameters schema)
    when the request has one, unless the last input item is a ``function_call_output``
    or ``tool_choice`` is ``"none"``; otherwise a message with ``reply`` (an instance of
    the schema, for ``text.format`` ``json_schema``), cut short with status
    ``incomplete`` when it has more words than ``max_output_tokens``. ``ValueError`` for
    a request the API would refuse (400).
    """
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("Missing required parameter: 'model'.")
    given = body.get("input")
    items = _input_items(given)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("Invalid type for 'tools': expected an array.")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ValueError("Invalid type for 'stream': expected a boolean.")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError("Invalid 'max_output_tokens': expected a non-negative integer.")
    reasoning = body.get("reasoning")
    call = _function_call(tools or [], items, body.get("tool_choice"))
    text: str | None = None if call is not None else _reply(body.get("text"), reply)
    reason = None
    if text is not None and limit is not None:
        pieces = split_words(text)
        if len(pieces) > limit:
            text, reason = "".join(pieces[:limit]), "max_output_tokens"
    echo = {key: body[key] for key in _ECHOED if key in body}
    events = response_events(
        text,
        model=model,
        reasoning=DEFAULT_SUMMARY if isinstance(reasoning, dict) else None,
        function_calls=[call] if call is not None else (),
        incomplete_reason=reason,
        input_tokens=_input_tokens(given),
        echo=echo,
    )
    final = final_response(events)
    response: ScriptedResponse = response_stream(events) if stream is True else JSON(final)
    return ResponseAnswer(response, final, body.get("store") is True)


def _input_items(given: Any) -> list[dict[str, Any]]:
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list):
        raise ValueError("Missing required parameter: 'input'.")
    for position, item in enumerate(given):
        if not isinstance(item, dict):
            raise ValueError(f"Invalid type for 'input[{position}]': expected an object.")
        if "type" not in item and not isinstance(item.get("role"), str):
            raise ValueError(f"Missing required parameter: 'input[{position}].type'.")
    return given


def _function_call(
    tools: list[Any], items: list[dict[str, Any]], choice: Any
) -> tuple[str, str] | None:
    if choice == "none" or (items and items[-1].get("type") == "function_call_output"):
        return None
    for position, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Missing required parameter: 'tools[{position}].name'.")
        arguments = schema_instance(tool.get("parameters") or {"type": "object"})
        return name, json.dumps(arguments if arguments is not None else {})
    return None


def _reply(text_options: Any, reply: str) -> str:
    fmt = text_options.get("format") if isinstance(text_options, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return json.dumps(schema_instance(fmt["schema"]), separators=(", ", ": "))
    return reply


def _input_tokens(given: Any) -> int:
    if isinstance(given, str):
        return len(given.split())
    return sum(len(json.dumps(item).split()) for item in given)
