"""Request bodies: messages (both content-part dialects), tools, and the two request kinds.

Every optional field defaults to ``msgspec.UNSET`` and is then not sent; ``None`` sends
``null``. Plain dicts are accepted wherever a struct is (they are sent as given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import msgspec
from msgspec import UNSET, UnsetType

from ._base import Request
from .common import ToolCall

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
    """An earlier reply of the model, sent back as history."""

    content: MessageContent | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    refusal: str | UnsetType | None = UNSET
    tool_calls: Sequence[ToolCall | Mapping[str, Any]] | UnsetType | None = UNSET
    audio: AssistantAudioId | UnsetType | None = UNSET


class ToolMessage(Request, tag_field="role", tag="tool"):
    """The result of a tool call."""

    content: MessageContent
    tool_call_id: str


ChatMessage = Union[SystemMessage, DeveloperMessage, UserMessage, AssistantMessage, ToolMessage]
"""A message of the conversation; a plain dict with a ``role`` works as well."""

MessageParam = Union[ChatMessage, Mapping[str, Any]]

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
    """The body of ``POST /v1/chat/completions`` with every parameter of the Sudo API."""

    messages: Sequence[MessageParam]
    model: str
    audio: AudioParameters | Mapping[str, Any] | UnsetType | None = UNSET
    frequency_penalty: float | UnsetType | None = UNSET
    logit_bias: Mapping[str, float] | UnsetType | None = UNSET
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
    """Encode a request body to JSON bytes."""
    return msgspec.json.encode(body)
