"""A chunk of a streamed chat completion (one SSE event's JSON)."""

from __future__ import annotations

from typing import Any

from ._base import OrJSON, Response
from .common import ChoiceLogprobs, ErrorDetail, Usage


class FunctionDelta(Response):
    """A fragment of a tool call's function: usually a piece of ``arguments``."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(Response):
    """A fragment of a tool call. ``index`` says which call of the message it extends;
    some providers omit it or start at 1."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None


class ChoiceDelta(Response):
    """What one chunk adds to a choice's message.

    ``content`` is usually a string; some providers send a list of typed parts (for
    example Mistral's ``{"type": "thinking", ...}``). Reasoning arrives as
    ``reasoning_content``, ``reasoning`` or ``reasoning_details`` depending on the provider.
    ``audio`` carries pieces of an audio answer (``data`` in base64, ``transcript``).

    The fields after ``tool_calls`` are ones the API's document does not type: each is
    kept as sent when it is not the usual shape (an object for ``audio``, a list for
    ``annotations`` and ``reasoning_details``, text for reasoning).
    """

    role: str | None = None
    content: str | list[Any] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning_content: OrJSON[str | None] = None
    reasoning: OrJSON[str | None] = None
    reasoning_details: Any = None
    annotations: Any = None
    audio: Any = None
    function_call: OrJSON[FunctionDelta | None] = None


class ChunkChoice(Response):
    """One choice inside a chunk. ``logprobs`` of another shape than the usual object is
    kept as sent (the API's document leaves it untyped)."""

    # Fields in the order OpenAI-compatible servers send them: msgspec decodes a little
    # faster when the JSON keys come in field order.
    index: int = 0
    delta: ChoiceDelta | None = None
    logprobs: OrJSON[ChoiceLogprobs | None] = None
    finish_reason: str | None = None


class ProviderExtras(Response):
    """A provider's own object on a chunk (Groq's ``x_groq``), which may carry usage."""

    id: str | None = None
    usage: Usage | None = None


class ChatCompletionChunk(Response):
    """One streamed chunk of a chat completion.

    ``error`` (not in the API's document) is read as an :class:`ErrorDetail` whatever it
    holds: a bare value (``"error": "overloaded"``) lands in its ``detail``. ``x_groq`` of
    another shape than the usual object is kept as sent.
    """

    # In wire order (see ChunkChoice).
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    service_tier: str | None = None
    system_fingerprint: str | None = None
    choices: list[ChunkChoice] = []
    usage: Usage | None = None
    error: ErrorDetail | None = None
    x_groq: OrJSON[ProviderExtras | None] = None
