"""Builders of realistic OpenAI-shaped ``chat.completion.chunk`` lists, and their completion.

The chunks follow what OpenAI sends: a first chunk with ``role: assistant``, one content (or
tool-argument) delta per chunk, a chunk with an empty delta and the ``finish_reason``, and,
when usage is included, a final chunk with empty ``choices`` and the ``usage`` (every other
chunk then carries ``"usage": null``).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_ids = itertools.count(1)
_WORD = re.compile(r"\s*\S+")


def new_id(prefix: str) -> str:
    """Return a fresh identifier such as ``chatcmpl-fake000001``, unique in this process."""
    return f"{prefix}-fake{next(_ids):06d}"


def split_words(text: str, words_per_chunk: int = 1) -> list[str]:
    """Split ``text`` in pieces of ``words_per_chunk`` words; their concatenation is ``text``.

    Whitespace stays attached to the word after it, as tokenizers do (``"Hello"``,
    ``" world"``); trailing whitespace goes with the last piece.
    """
    if words_per_chunk < 1:
        raise ValueError("words_per_chunk must be at least 1")
    words = _WORD.findall(text)
    rest = text[sum(map(len, words)) :]
    if rest:
        if words:
            words[-1] += rest
        else:
            words = [rest]
    return ["".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]


class _ChunkFactory:
    """Makes the chunks of one completion, all sharing its id, created time and model."""

    def __init__(self, *, id: str | None, model: str, created: int | None, usage: bool) -> None:
        self.id = id or new_id("chatcmpl")
        self.model = model
        self.created = int(time.time()) if created is None else created
        self.usage = usage

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._envelope([choice])

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        chunk = self._envelope([])
        chunk["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return chunk

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if self.usage:
            chunk["usage"] = None
        return chunk


def text_chunks(
    text: str,
    *,
    model: str = "m",
    id: str | None = None,
    created: int | None = None,
    words_per_chunk: int = 1,
    include_usage: bool = True,
    finish_reason: str = "stop",
    reasoning: str | None = None,
    prompt_tokens: int = 8,
) -> list[dict[str, Any]]:
    """Chunks streaming ``text`` as the assistant's reply, ``words_per_chunk`` words a chunk.

    ``reasoning`` is streamed first as ``reasoning_content`` deltas (DeepSeek's name for
    it). Usage counts one token per chunk of text or reasoning.
    """
    make = _ChunkFactory(id=id, model=model, created=created, usage=include_usage)
    chunks = [make.chunk({"role": "assistant", "content": "", "refusal": None})]
    thoughts = split_words(reasoning, words_per_chunk) if reasoning else []
    chunks += [make.chunk({"reasoning_content": piece}) for piece in thoughts]
    pieces = split_words(text, words_per_chunk)
    chunks += [make.chunk({"content": piece}) for piece in pieces]
    chunks.append(make.chunk({}, finish_reason))
    if include_usage:
        chunks.append(make.usage_chunk(prompt_tokens, len(thoughts) + len(pieces)))
    return chunks


def tool_call_chunks(
    name: str | Sequence[tuple[str, str]],
    arguments_json: str = "{}",
    *,
    call_id: str | None = None,
    fragment_size: int = 4,
    model: str = "m",
    id: str | None = None,
    created: int | None = None,
    include_usage: bool = True,
    finish_reason: str = "tool_calls",
    prompt_tokens: int = 8,
) -> list[dict[str, Any]]:
    """Chunks streaming one tool call, or several: pass ``[(name, arguments_json), ...]``.

    Each call starts with a delta carrying its ``index``, ``id``, ``type`` and name with
    empty arguments; its arguments follow in fragments of ``fragment_size`` characters.
    ``call_id`` names a single call; several calls get generated ids.
    """
    if fragment_size < 1:
        raise ValueError("fragment_size must be at least 1")
    calls = [(name, arguments_json)] if isinstance(name, str) else list(name)
    if call_id is not None and len(calls) != 1:
        raise ValueError("call_id names a single call; several calls get generated ids")
    make = _ChunkFactory(id=id, model=model, created=created, usage=include_usage)
    chunks: list[dict[str, Any]] = []
    fragments = 0
    for index, (function, arguments) in enumerate(calls):
        head = {
            "index": index,
            "id": call_id or new_id("call"),
            "type": "function",
            "function": {"name": function, "arguments": ""},
        }
        delta: dict[str, Any] = {"tool_calls": [head]}
        if index == 0:
            delta = {"role": "assistant", "content": None, **delta, "refusal": None}
        chunks.append(make.chunk(delta))
        for start in range(0, len(arguments), fragment_size):
            piece = arguments[start : start + fragment_size]
            call = {"index": index, "function": {"arguments": piece}}
            chunks.append(make.chunk({"tool_calls": [call]}))
            fragments += 1
    chunks.append(make.chunk({}, finish_reason))
    if include_usage:
        chunks.append(make.usage_chunk(prompt_tokens, fragments))
    return chunks


def completion_from_chunks(chunks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``chat.completion`` that OpenAI-shaped ``chunks`` add up to.

    A small reference assembler for the chunks this module builds (and the fake server's
    stored completions): it concatenates content, refusal and reasoning per choice, merges
    tool calls by index and keeps the finish reason and usage. It is not provider-robust.

    A completion always has ``usage`` (the API's document requires it): chunks without
    one (``include_usage=False``) count as this module's builders count, a completion
    token per delta with text, reasoning or arguments, and no prompt tokens (chunks do
    not tell them).
    """
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage: Any = None
    pieces = 0
    for chunk in chunks:
        if "choices" not in chunk:
            continue
        for key in ("id", "created", "model", "system_fingerprint"):
            if chunk.get(key) and key not in head:
                head[key] = chunk[key]
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            _add_choice(choices.setdefault(choice.get("index", 0), _empty_choice()), choice)
            pieces += _has_text(choice.get("delta") or {})
    if usage is None:
        usage = {"prompt_tokens": 0, "completion_tokens": pieces, "total_tokens": pieces}
    out = [_finish_choice(index, choices[index]) for index in sorted(choices)]
    return {
        "id": head.get("id", ""),
        "object": "chat.completion",
        "created": head.get("created", 0),
        "model": head.get("model", ""),
        "system_fingerprint": head.get("system_fingerprint"),
        "choices": out,
        "usage": usage,
    }


def _has_text(delta: Mapping[str, Any]) -> bool:
    """Whether a delta adds text: content, refusal, reasoning or tool-call arguments."""
    if any(delta.get(key) for key in ("content", "refusal", "reasoning_content")):
        return True
    return any((call.get("function") or {}).get("arguments") for call in delta.get("tool_calls") or [])


def _empty_choice() -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "reasoning": None,
        "tools": {},
        "finish_reason": None,
    }


def _add_choice(acc: dict[str, Any], choice: Mapping[str, Any]) -> None:
    delta = choice.get("delta") or {}
    acc["role"] = delta.get("role") or acc["role"]
    for key, target in (
        ("content", "content"),
        ("refusal", "refusal"),
        ("reasoning_content", "reasoning"),
    ):
        piece = delta.get(key)
        if isinstance(piece, str):
            acc[target] = (acc[target] or "") + piece
    for call in delta.get("tool_calls") or []:
        slot = acc["tools"].setdefault(call.get("index", 0), {"id": "", "name": "", "args": ""})
        function = call.get("function") or {}
        slot["id"] = call.get("id") or slot["id"]
        slot["name"] = function.get("name") or slot["name"]
        slot["args"] += function.get("arguments") or ""
    acc["finish_reason"] = choice.get("finish_reason") or acc["finish_reason"]


def _finish_choice(index: int, acc: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": acc["role"],
        "content": acc["content"],
        "refusal": acc["refusal"],
    }
    if acc["reasoning"] is not None:
        message["reasoning_content"] = acc["reasoning"]
    if acc["tools"]:
        message["tool_calls"] = [
            {
                "id": slot["id"],
                "type": "function",
                "function": {"name": slot["name"], "arguments": slot["args"]},
            }
            for _, slot in sorted(acc["tools"].items())
        ]
    return {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": acc["finish_reason"],
    }
