"""The fake Sudo API's endpoints: request data in, a scripted response out. No I/O.

A handler raises ``ValueError`` for a bad request (400) and ``LookupError`` for an unknown
id (404); the dispatcher turns those into error responses.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._chunks import completion_from_chunks, new_id, text_chunks, tool_call_chunks
from ._responses import JSON, ScriptedResponse, Stall, Stream
from ._store import CompletionStore

DEFAULT_REPLY = "Hello! This is a reply from the fake Sudo server."
"""The assistant text of the default chat completion reply."""

DEFAULT_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
    "claude-sonnet-4-20250514",
    "gemini-2.5-pro",
    "deepseek-reasoner",
    "grok-3",
)
"""The models ``GET /v1/models`` lists by default."""

MAX_CHOICES = 128
"""The most choices (``n``) the fake server answers, as OpenAI's limit; more is a 400."""

_OWNERS = {
    "gpt": "openai",
    "claude": "anthropic",
    "gemini": "google",
    "deepseek": "deepseek",
    "grok": "xai",
}


def _png_block(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _tiny_png() -> str:
    """A valid 1x1 transparent PNG, base64-encoded."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8-bit RGBA
    pixels = zlib.compress(b"\x00" + b"\x00" * 4)  # filter byte, one transparent pixel
    png = b"\x89PNG\r\n\x1a\n"
    png += _png_block(b"IHDR", header) + _png_block(b"IDAT", pixels) + _png_block(b"IEND", b"")
    return base64.b64encode(png).decode()


TINY_PNG_B64 = _tiny_png()
"""The ``b64_json`` of every generated image: a 1x1 transparent PNG."""


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    return body


def _required_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"Missing required parameter: '{key}'.")
    return value


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("'metadata' must be an object of string values.")
    return value


def _optional_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string.")
    return value


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ValueError("Missing required parameter: 'messages'.")
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f"'messages[{position}]' must be an object with a string 'role'.")
    return messages


def _prompt_tokens(messages: Sequence[Any]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """A chat completion decided but not yet given: what to send, and what to store when
    the request asked for ``store`` (only on :meth:`commit`, once the answer is sent)."""

    response: ScriptedResponse
    completion: dict[str, Any]
    stored: tuple[list[dict[str, Any]], dict[str, str] | None] | None  # messages, metadata

    @property
    def total_tokens(self) -> int:
        """The answer's ``usage.total_tokens`` (what it costs against a token limit)."""
        return int(self.completion["usage"]["total_tokens"])

    def commit(self, store: CompletionStore) -> ScriptedResponse:
        """Store the completion if asked to; return the response to send."""
        if self.stored is not None:
            messages, metadata = self.stored
            store.add(self.completion, messages, metadata)
        return self.response


def _json_schema(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None  # no schema: any reply will do


def schema_instance(schema: Any, defs: Any = None, depth: int = 0) -> Any:
    """A small value that matches the JSON ``schema`` (the subset strict structured
    outputs use: objects, arrays, scalars, enum, const, anyOf, $ref into $defs); a
    recursive type ends at the first place it may (a null, an empty list)."""
    if not isinstance(schema, dict):
        return None
    defs = schema.get("$defs", {}) if defs is None else defs
    deep = depth > 6
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return schema_instance(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    options = schema.get("anyOf")
    if isinstance(options, list) and options:
        nulls = [o for o in options if isinstance(o, dict) and o.get("type") == "null"]
        others = [o for o in options if o not in nulls]
        return None if (deep and nulls) or not others else schema_instance(others[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: schema_instance(value, defs, depth + 1) for name, value in properties.items()}
    if kind == "array":
        return [] if deep else [schema_instance(schema.get("items", {}), defs, depth + 1)]
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def _function_tools(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request's function tools: name -> parameters schema (None if it has none)."""
    tools = request.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("'tools' must be an array.")
    found: dict[str, Any] = {}
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = function.get("parameters")
    return found


def _tool_to_call(request: Mapping[str, Any], messages: Sequence[Any]) -> tuple[str, str] | None:
    """The call the fake model makes, ``(name, arguments)``, or None when it answers in
    text: it calls a tool when it has tools, may call them (``tool_choice`` is not
    ``"none"``) and has not just been given tool results. The tool is the first, or the
    one ``tool_choice`` names; the arguments an instance of its parameters' schema (``{}``
    for a tool without one)."""
    tools = _function_tools(request)
    choice = request.get("tool_choice")
    if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
        return None
    name = next(iter(tools))
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        name = function["name"]  # obeyed as it is, even naming no tool of the request
    arguments = schema_instance(tools.get(name))
    if not isinstance(arguments, dict):  # parameters that are not an object schema
        arguments = {}
    return name, json.dumps(arguments, separators=(",", ":"))


def _tool_results_reply(messages: Sequence[Any]) -> str:
    """The answer after tool results: it repeats them, each under its tool's name."""
    names: dict[Any, str] = {}
    for message in messages:
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[call.get("id")] = str(call["function"].get("name"))
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content)
        results.append(f"{names.get(message.get('tool_call_id'), 'a tool')} said {content}")
    return "The tools answered: " + "; ".join(reversed(results)) + "."


def create_completion(body: Any, reply: str) -> ChatAnswer:
    """``POST /v1/chat/completions`` without a scripted response: the default reply, a
    call to a tool when the request has tools, an answer that repeats the tools' results
    after them, an instance of the schema of a ``json_schema`` response format."""
    request = _object(body)
    model = _required_str(request, "model")
    messages = _messages(request)
    call = _tool_to_call(request, messages)
    if messages and messages[-1]["role"] == "tool":
        reply = _tool_results_reply(messages)
    schema = _json_schema(request.get("response_format"))
    if schema is not None:  # structured outputs: an instance of the schema it was sent,
        # spaced as models write JSON, so that it streams in word-sized pieces
        reply = json.dumps(schema_instance(schema), separators=(", ", ": "))
    n = request.get("n")
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_CHOICES:
        raise ValueError(f"'n' must be an integer between 0 and {MAX_CHOICES}.")
    tier = _optional_str(request, "service_tier")
    options = request.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ValueError("'stream_options' must be an object.")
    usage = request.get("stream") is not True or options.get("include_usage") is True
    cid, created, tokens = new_id("chatcmpl"), int(time.time()), _prompt_tokens(messages)

    def reply_chunks(include_usage: bool) -> list[dict[str, Any]]:
        if call is not None:
            single = tool_call_chunks(
                call[0], call[1], model=model, id=cid, created=created, prompt_tokens=tokens,
                include_usage=include_usage,
            )  # fmt: skip
        else:
            single = text_chunks(
                reply, model=model, id=cid, created=created, prompt_tokens=tokens,
                include_usage=include_usage,
            )  # fmt: skip
        return _fan_out(single, n, tier)

    chunks = reply_chunks(usage)
    # The completion (stored, or answered whole) always has its usage.
    completion = completion_from_chunks(chunks if usage else reply_chunks(True))
    if tier is not None:
        completion["service_tier"] = tier
    stored = None
    if request.get("store") is True:
        stored = (messages, _metadata(request.get("metadata")))
    response = Stream(chunks) if request.get("stream") is True else JSON(completion)
    return ChatAnswer(response, completion, stored)


def _fan_out(chunks: list[dict[str, Any]], n: int, tier: Any) -> list[dict[str, Any]]:
    """The single-choice ``chunks`` as ``n`` choices, interleaved chunk by chunk as OpenAI
    sends them, each chunk carrying ``service_tier`` when the request set one."""
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        if chunk["choices"]:
            choice = chunk["choices"][0]
            out += [{**chunk, "choices": [{**choice, "index": i}]} for i in range(n)]
        else:  # the usage chunk: the tokens of every choice
            prompt, used = chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"]
            usage = {"prompt_tokens": prompt, "completion_tokens": used * n}
            out.append({**chunk, "usage": {**usage, "total_tokens": prompt + used * n}})
    if not out:  # n=0 and no usage: one empty chunk still names the completion
        out.append({**chunks[0], "choices": []})
    if tier is not None:
        for chunk in out:
            chunk["service_tier"] = tier
    return out


def store_scripted(body: Any, response: ScriptedResponse, store: CompletionStore) -> None:
    """Store the completion a scripted response carries, if the request asked for ``store``."""
    if not isinstance(body, dict) or body.get("store") is not True:
        return
    if isinstance(response, Stall) and response.after is not None:
        response = response.after
    completion: Any = None
    if isinstance(response, Stream) and response.status == 200:
        chunks = [c for c in response.chunks if isinstance(c, Mapping)]
        completion = completion_from_chunks(chunks) if chunks else None
    elif isinstance(response, JSON) and response.status == 200:
        completion = response.body
    if isinstance(completion, dict) and completion.get("id"):
        given = body.get("messages")
        messages = [m for m in given if isinstance(m, dict)] if isinstance(given, list) else []
        try:
            metadata = _metadata(body.get("metadata"))
        except ValueError:
            metadata = None
        store.add(completion, messages, metadata)


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "20")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"'limit' must be an integer, got '{raw}'.") from None


def list_completions(query: Sequence[tuple[str, str]], store: CompletionStore) -> JSON:
    """``GET /v1/chat/completions``: filtered by model and ``metadata[k]=v``, paginated."""
    params = dict(query)
    metadata = {
        k[len("metadata[") : -1]: v
        for k, v in query
        if k.startswith("metadata[") and k.endswith("]")
    }
    return JSON(
        store.list_completions(
            after=params.get("after"),
            limit=_limit(params),
            order=params.get("order", "asc"),
            model=params.get("model"),
            metadata=metadata,
        )
    )


def list_messages(
    completion_id: str, query: Sequence[tuple[str, str]], store: CompletionStore
) -> JSON:
    """``GET /v1/chat/completions/{id}/messages``, paginated."""
    params = dict(query)
    return JSON(
        store.messages(
            completion_id,
            after=params.get("after"),
            limit=_limit(params),
            order=params.get("order", "asc"),
        )
    )


def update_completion(completion_id: str, body: Any, store: CompletionStore) -> JSON:
    """``POST /v1/chat/completions/{id}`` with ``{"metadata": {...}}``."""
    metadata = _metadata(_object(body).get("metadata"))
    if metadata is None:
        raise ValueError("Missing required parameter: 'metadata'.")
    return JSON(store.update(completion_id, metadata))


def delete_completion(completion_id: str, store: CompletionStore) -> JSON:
    """``DELETE /v1/chat/completions/{id}``."""
    store.delete(completion_id)
    return JSON({"id": completion_id, "object": "chat.completion.deleted", "deleted": True})


def generate_image(body: Any) -> JSON:
    """``POST /v1/images/generations``: ``n`` placeholder images as URLs or base64."""
    request = _object(body)
    prompt = _required_str(request, "prompt")
    _required_str(request, "model")
    n = request.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise ValueError("'n' must be an integer between 1 and 10.")
    fmt = request.get("response_format") or "url"
    if fmt not in ("url", "b64_json"):
        raise ValueError("'response_format' must be 'url' or 'b64_json'.")
    data = [
        {"url": f"https://images.fake-sudo.invalid/{new_id('img')}.png"}
        if fmt == "url"
        else {"b64_json": TINY_PNG_B64}
        for _ in range(n)
    ]
    for image in data:
        image["revised_prompt"] = prompt
    result: dict[str, Any] = {"created": int(time.time()), "data": data}
    for key in ("background", "output_format", "quality", "size"):
        value = _optional_str(request, key)
        if value is not None:
            result[key] = value
    return JSON(result)


def list_models(models: Sequence[str]) -> JSON:
    """``GET /v1/models``, in both shapes at once: OpenAI's (``id``, ``owned_by``,
    ``created``) and the seed SDK's (``model_name``, ``model_provider``, ``sudo_model_id``,
    ``created_at``, and a page's ``first_id``, ``last_id`` and ``has_more``)."""

    def owner(model: str) -> str:
        prefix = model.split("-")[0]
        reasoning_o = prefix[:1] == "o" and prefix[1:].isdigit()
        return _OWNERS.get(prefix, "openai" if reasoning_o else "sudo")

    data = [
        {
            "id": m,
            "object": "model",
            "created": 1700000000,
            "owned_by": owner(m),
            "model_name": m,
            "model_provider": owner(m),
            "sudo_model_id": number,
            "created_at": "2023-11-14T22:13:20Z",
        }
        for number, m in enumerate(models, 1)
    ]
    ids = [str(item["sudo_model_id"]) for item in data] or [""]
    return JSON(
        {"object": "list", "data": data, "first_id": ids[0], "last_id": ids[-1], "has_more": False}
    )
