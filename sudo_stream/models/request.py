"""Request bodies: messages (both content-part dialects), tools, and the two request kinds.

Every optional field defaults to ``msgspec.UNSET`` and is then not sent; ``None`` sends
``null``. Plain dicts are accepted wherever a struct is (they are sent as given, but for
the few shapes :class:`ChatCompletionRequest` puts in the API's own form).

The Sudo dialect of content parts (``input_text``, ``input_image``, ``input_file``,
``input_audio``) is the one the API's OpenAPI document lists; OpenAI's dialect (``text``,
``image_url``, ``file``, ``refusal``) is sent as given for the router's OpenAI
compatibility, outside that document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Union

import msgspec
from msgspec import UNSET, UnsetType

from ._base import Request
from .common import ToolCall
from .completion import ChatCompletionMessage

# --- content parts: OpenAI's dialect -------------------------------------------------


class TextPart(Request, tag_field="type", tag="text"):
    """Text content (OpenAI dialect)."""

    text: str


class ImageURL(Request):
    """An image by URL or data URL."""

    url: str
    detail: str | UnsetType = UNSET


class ImageURLPart(Request, tag_field="type", tag="image_url"):
    """An image (OpenAI dialect)."""

    image_url: ImageURL


class InputAudio(Request):
    """Base64 audio and its format (``wav``, ``mp3``)."""

    data: str
    format: str


class InputAudioPart(Request, tag_field="type", tag="input_audio"):
    """Audio input (same shape in both dialects)."""

    input_audio: InputAudio


class FileData(Request):
    """A file by id or inline base64 data."""

    file_data: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET


class FilePart(Request, tag_field="type", tag="file"):
    """A file (OpenAI dialect)."""

    file: FileData


class RefusalPart(Request, tag_field="type", tag="refusal"):
    """A refusal inside an assistant message."""

    refusal: str


# --- content parts: the Sudo OpenAPI dialect -----------------------------------------


class InputTextPart(Request, tag_field="type", tag="input_text"):
    """Text content (Sudo dialect)."""

    text: str


class InputImagePart(Request, tag_field="type", tag="input_image"):
    """An image (Sudo dialect): by URL or by uploaded file id."""

    detail: str | UnsetType = UNSET
    image_url: str | UnsetType | None = UNSET
    file_id: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        # The API requires ``detail``; "auto" is its documented neutral value.
        if self.detail is UNSET:
            self.detail = "auto"


class InputFilePart(Request, tag_field="type", tag="input_file"):
    """A document (Sudo dialect): inline data, URL or uploaded file id."""

    file_data: str | UnsetType | None = UNSET
    file_id: str | UnsetType | None = UNSET
    file_url: str | UnsetType | None = UNSET
    filename: str | UnsetType | None = UNSET


ContentPart = Union[
    TextPart,
    ImageURLPart,
    InputAudioPart,
    FilePart,
    RefusalPart,
    InputTextPart,
    InputImagePart,
    InputFilePart,
]
"""A typed part of message content, in either dialect."""

MessageContent = Union[str, Sequence[ContentPart | Mapping[str, Any]]]

# --- messages ---------------------------------------------------------------------


class SystemMessage(Request, tag_field="role", tag="system"):
    """Instructions from the application."""

    content: MessageContent
    name: str | UnsetType | None = UNSET


class DeveloperMessage(Request, tag_field="role", tag="developer"):
    """Instructions from the developer (newer models' name for system)."""

    content: MessageContent
    name: str | UnsetType | None = UNSET


class UserMessage(Request, tag_field="role", tag="user"):
    """A message from the end user."""

    content: MessageContent
    name: str | UnsetType | None = UNSET


class AssistantAudioId(Request):
    """A reference to an earlier audio reply."""

    id: str


class AssistantMessage(Request, tag_field="role", tag="assistant"):
    """An earlier reply of the model, sent back as history.

    ``content`` is sent as ``""`` when not given or ``None`` (a reply with only tool
    calls): the API requires an assistant message's content, as a string or a list of
    parts, and has no ``null`` for it.
    """

    content: MessageContent | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    refusal: str | UnsetType | None = UNSET
    tool_calls: Sequence[ToolCall | Mapping[str, Any]] | UnsetType | None = UNSET
    audio: AssistantAudioId | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.content is UNSET or self.content is None:
            self.content = ""


class ToolMessage(Request, tag_field="role", tag="tool"):
    """The result of a tool call."""

    content: MessageContent
    tool_call_id: str


ChatMessage = Union[SystemMessage, DeveloperMessage, UserMessage, AssistantMessage, ToolMessage]
"""A message of the conversation; a plain dict with a ``role`` works as well."""

MessageParam = Union[ChatMessage, ChatCompletionMessage, Mapping[str, Any]]
"""A message to send: a message struct, a plain dict, or a reply's own message (sent as
its ``to_param()``)."""

# --- tools and options ----------------------------------------------------------------


class FunctionDefinition(Request):
    """A function the model may call. ``parameters`` is a JSON Schema object."""

    name: str
    description: str | UnsetType | None = UNSET
    parameters: Mapping[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class Tool(Request, tag_field="type", tag="function"):
    """A tool the model may call (only functions exist today)."""

    function: FunctionDefinition | Mapping[str, Any]


class ToolChoiceFunction(Request):
    """Names the function a forced tool choice must call."""

    name: str


class ToolChoice(Request, tag_field="type", tag="function"):
    """Forces the model to call one function."""

    function: ToolChoiceFunction


class AudioParameters(Request):
    """Audio output options (``voice`` and ``format``)."""

    voice: str
    format: str


class PredictionContent(Request, tag_field="type", tag="content"):
    """A predicted output that speeds up regeneration of mostly-known text."""

    content: str | Sequence[ContentPart | Mapping[str, Any]]


class StreamOptions(Request):
    """Streaming options; ``include_usage`` adds a final usage chunk."""

    include_usage: bool | UnsetType | None = UNSET


class JSONSchemaFormat(Request):
    """A JSON schema for Structured Outputs."""

    name: str
    schema: Mapping[str, Any] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class ResponseFormat(Request):
    """``{"type": "text" | "json_object" | "json_schema", "json_schema": {...}}``."""

    type: str
    json_schema: JSONSchemaFormat | Mapping[str, Any] | UnsetType = UNSET


class ChatCompletionRequest(Request):
    """The body of ``POST /v1/chat/completions`` with every parameter of the Sudo API.

    A few values are put in the form the API's document requires: ``stop="END"`` is sent
    as ``["END"]``; ``logit_bias`` values as integers (``-100.0`` as ``-100``; a fraction
    is a ``ValueError``); an assistant message given as a dict with ``content`` missing or
    ``None`` (a reply with only tool calls) as a copy with ``content: ""``, as
    :class:`AssistantMessage` does; a reply's own :class:`ChatCompletionMessage` as its
    ``to_param()``.
    """

    messages: Sequence[MessageParam]
    model: str
    audio: AudioParameters | Mapping[str, Any] | UnsetType | None = UNSET
    frequency_penalty: float | UnsetType | None = UNSET
    logit_bias: Mapping[str, int] | UnsetType | None = UNSET
    logprobs: bool | UnsetType | None = UNSET
    max_completion_tokens: int | UnsetType | None = UNSET
    metadata: Mapping[str, str] | UnsetType | None = UNSET
    modalities: Sequence[str] | UnsetType | None = UNSET
    n: int | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    prediction: PredictionContent | Mapping[str, Any] | UnsetType | None = UNSET
    presence_penalty: float | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    reasoning_effort: str | UnsetType | None = UNSET
    response_format: ResponseFormat | Mapping[str, Any] | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    stop: str | Sequence[str] | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | Mapping[str, Any] | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    tool_choice: str | ToolChoice | Mapping[str, Any] | UnsetType | None = UNSET
    tools: Sequence[Tool | Mapping[str, Any]] | UnsetType | None = UNSET
    top_logprobs: int | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if isinstance(self.logit_bias, Mapping):
            self.logit_bias = _integer_biases(self.logit_bias)
        copied: list[MessageParam] | None = None
        for position, message in enumerate(self.messages):
            if isinstance(message, ChatCompletionMessage):
                conforming: MessageParam = message.to_param()
            elif (
                isinstance(message, Mapping)
                and message.get("role") == "assistant"
                and message.get("content") is None
            ):
                conforming = {**message, "content": ""}
            else:
                continue
            if copied is None:
                copied = list(self.messages)  # the caller's list is never changed
            copied[position] = conforming
        if copied is not None:
            self.messages = copied


def _integer_biases(biases: Mapping[Any, Any]) -> dict[str, int]:
    """``logit_bias`` with integer values, as the API types them (``-100.0`` -> ``-100``)."""
    out: dict[str, int] = {}
    for token, bias in biases.items():
        if isinstance(token, bool) or not isinstance(token, (str, int)):
            raise TypeError(f"logit_bias keys must be token ids, got {token!r}")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)):
            raise TypeError(f"logit_bias[{token!r}] must be an int, got {type(bias).__name__}")
        if isinstance(bias, float) and not (math.isfinite(bias) and bias.is_integer()):
            raise ValueError(f"logit_bias[{token!r}] must be a whole number, got {bias!r}")
        if not -100 <= bias <= 100:
            raise ValueError(f"logit_bias[{token!r}] must be between -100 and 100, got {bias!r}")
        out[str(token)] = int(bias)
    return out


class ImageGenerationRequest(Request):
    """The body of ``POST /v1/images/generations``."""

    prompt: str
    model: str
    n: int | UnsetType | None = UNSET
    response_format: str | UnsetType | None = UNSET
    quality: str | UnsetType | None = UNSET
    size: str | UnsetType | None = UNSET
    style: str | UnsetType | None = UNSET
    background: str | UnsetType | None = UNSET
    moderation: str | UnsetType | None = UNSET
    output_compression: int | UnsetType | None = UNSET
    output_format: str | UnsetType | None = UNSET


def encode(body: msgspec.Struct | Mapping[str, Any]) -> bytes:
    """Encode a request body to JSON bytes.

    A NaN or an infinity anywhere in it is a ``ValueError`` naming where: JSON has no such
    numbers, and msgspec writes them as ``null``, which the API reads as "not given".
    """
    data = msgspec.json.encode(body)
    if b"null" in data:  # only then can a non-finite number be in there
        _refuse_non_finite(msgspec.to_builtins(body))
    return data


def encode_with_extra(
    body: msgspec.Struct | Mapping[str, Any], extra_body: Mapping[str, Any] | None
) -> bytes:
    """:func:`encode`, with ``extra_body``'s keys added over the body's own."""
    if not extra_body:
        return encode(body)
    merged = msgspec.to_builtins(body)
    merged.update(extra_body)
    return encode(merged)


def _refuse_non_finite(value: Any) -> None:
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                where = path.lstrip(".") or "the body"
                raise ValueError(
                    f"{where} must be a finite number, got {item!r} (JSON has no NaN or "
                    "infinity: it would be sent as null)"
                )
        elif isinstance(item, dict):
            pending.extend((f"{path}.{key}", inner) for key, inner in item.items())
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", inner) for index, inner in enumerate(item))
