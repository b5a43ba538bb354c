"""The Responses API (``POST /v1/responses``): the request, the response and its items.

A :class:`Response` holds a list of output items, a union tagged by ``type``:
:class:`OutputMessage` (text parts with annotations, or a refusal), :class:`ReasoningItem`
(summary parts), :class:`FunctionToolCall`; any other item type (web or file searches,
computer, MCP and custom tool calls, ... and whatever comes next) is kept as an
:class:`UnknownItem`, the item's JSON as sent, never an error. Content parts of another
type than ``output_text`` and ``refusal`` are kept as :class:`UnknownContent` the same way.

Decode with :func:`decode_response`: one msgspec decode when every tag is known; the
second pass (``_tagged``) only for answers that hold an unknown type or a near miss.

Output items encode back to the wire shape (fields that were absent stay absent, unknown
items as they came), so ``input=[*previous.output, {"type": "function_call_output", ...}]``
sends a conversation on as the API expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import msgspec
from msgspec import UNSET, UnsetType

from ._base import Request
from ._base import Response as _Wire
from ._tagged import Unknowns, convert_tolerant
from .common import ErrorDetail
from .request import FunctionDefinition, InputFilePart, InputImagePart, InputTextPart, Tool

# --- content parts of an output message ---------------------------------------------


class _Part(_Wire, tag_field="type"):
    """Base of the typed content parts."""


class OutputText(_Part, tag="output_text"):
    """Text the model wrote; ``annotations`` (citations, file paths) are kept as sent."""

    text: str = ""
    annotations: list[Any] = []
    logprobs: list[Any] | UnsetType | None = UNSET


class Refusal(_Part, tag="refusal"):
    """The model's refusal to answer."""

    refusal: str = ""


class UnknownContent(dict[str, Any]):
    """A content part of a type this client does not know, kept exactly as sent (it is
    the part's JSON object, and encodes back to it)."""

    @property
    def type(self) -> str:
        """The part's ``type``, as sent."""
        kind = self.get("type")
        return kind if isinstance(kind, str) else ""


if TYPE_CHECKING:
    OutputContent = Union[OutputText, Refusal, UnknownContent]
else:  # what msgspec decodes: the second pass puts UnknownContent in
    OutputContent = Union[OutputText, Refusal]
"""A part of an output message's ``content``."""

# --- output items ---------------------------------------------------------------------


class _Item(_Wire, tag_field="type"):
    """Base of the typed output items.

    Every field has a default, so that a router that leaves one out (or sends ``null``)
    still decodes. The fields the API may leave out default to ``UNSET`` (not ``None``):
    an item sent back in a request's ``input`` then goes without them, as it came,
    rather than with a ``null`` the API may refuse."""


class OutputMessage(_Item, tag="message"):
    """A message of the model: text parts (with annotations) or a refusal."""

    id: str = ""
    role: str = "assistant"
    status: str | UnsetType | None = UNSET
    content: list[OutputContent] = []

    @property
    def text(self) -> str:
        """The text of this message's ``output_text`` parts, joined."""
        return "".join(part.text for part in self.content if isinstance(part, OutputText))

    @property
    def refusal(self) -> str | None:
        """The text of this message's refusal parts, joined; None when it has none."""
        parts = [part.refusal for part in self.content if isinstance(part, Refusal)]
        return "".join(parts) if parts else None


class SummaryText(_Wire):
    """A part of a reasoning summary (``type`` is ``summary_text``)."""

    type: str = "summary_text"
    text: str = ""


class ReasoningText(_Wire):
    """A part of a reasoning item's raw reasoning (``type`` is ``reasoning_text``), which
    open-weight models send."""

    type: str = "reasoning_text"
    text: str = ""


class ReasoningItem(_Item, tag="reasoning"):
    """The model's reasoning: summary parts, raw reasoning text (when the model shows it)
    and ``encrypted_content`` (when ``include`` asked for it, to send back)."""

    id: str = ""
    summary: list[SummaryText] = []
    content: list[ReasoningText] | UnsetType | None = UNSET
    encrypted_content: str | UnsetType | None = UNSET
    status: str | UnsetType | None = UNSET

    @property
    def summary_text(self) -> str:
        """The summary parts' text, one paragraph each."""
        return "\n\n".join(part.text for part in self.summary)


class FunctionToolCall(_Item, tag="function_call"):
    """A call of one of the request's function tools. ``arguments`` is JSON text, as
    sent; :meth:`parsed_arguments` decodes it."""

    id: str | UnsetType | None = UNSET
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    status: str | UnsetType | None = UNSET

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON; a ``ValueError`` naming the function when
        they are not JSON."""
        try:
            return msgspec.json.decode(self.arguments or "{}")
        except msgspec.DecodeError as exc:
            raise ValueError(
                f"the arguments of function call {self.name!r} ({self.call_id}) are not "
                f"JSON: {exc}: {self.arguments[:200]!r}"
            ) from None


class UnknownItem(dict[str, Any]):
    """An output item of a type this client does not know, kept exactly as sent (it is
    the item's JSON object, and encodes back to it)."""

    @property
    def type(self) -> str:
        """The item's ``type``, as sent."""
        kind = self.get("type")
        return kind if isinstance(kind, str) else ""

    @property
    def id(self) -> str | None:
        """The item's ``id``, if it has a string one."""
        value = self.get("id")
        return value if isinstance(value, str) else None


if TYPE_CHECKING:
    OutputItem = Union[OutputMessage, ReasoningItem, FunctionToolCall, UnknownItem]
else:  # what msgspec decodes: the second pass puts UnknownItem in
    OutputItem = Union[OutputMessage, ReasoningItem, FunctionToolCall]
"""An item of a response's ``output``."""

# --- the response ---------------------------------------------------------------------


class InputTokensDetails(_Wire):
    """Breakdown of the input tokens."""

    cached_tokens: int | None = None


class OutputTokensDetails(_Wire):
    """Breakdown of the output tokens."""

    reasoning_tokens: int | None = None


class ResponseUsage(_Wire):
    """Token usage of a response."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class IncompleteDetails(_Wire):
    """Why a response is incomplete (``max_output_tokens``, ``content_filter``, ...)."""

    reason: str | None = None


class Response(_Wire):
    """A model response: its status, output items and usage, and the settings it was
    made with, as the server echoes them (those are kept as sent).

    ``status`` is ``completed``, ``incomplete`` (see ``incomplete_details``), ``failed``
    (see ``error``), ``in_progress``, ``queued`` or ``cancelled``.
    """

    id: str = ""
    object: str = "response"
    created_at: int = 0
    status: str | None = None
    model: str = ""
    output: list[OutputItem] = []
    usage: ResponseUsage | None = None
    error: ErrorDetail | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: Any = None
    metadata: Any = None
    previous_response_id: str | None = None
    tools: Any = None
    tool_choice: Any = None
    parallel_tool_calls: Any = None
    temperature: Any = None
    top_p: Any = None
    max_output_tokens: Any = None
    reasoning: Any = None
    text: Any = None
    truncation: Any = None
    store: Any = None
    background: Any = None
    service_tier: Any = None
    user: Any = None
    conversation: Any = None
    prompt: Any = None
    prompt_cache_key: Any = None
    safety_identifier: Any = None
    top_logprobs: Any = None
    max_tool_calls: Any = None

    @property
    def output_text(self) -> str:
        """The text of every ``output_text`` part of every message item, joined (as
        openai-python's ``Response.output_text``)."""
        return "".join(
            part.text
            for item in self.output
            if isinstance(item, OutputMessage)
            for part in item.content
            if isinstance(part, OutputText)
        )

    @property
    def function_calls(self) -> list[FunctionToolCall]:
        """The function calls among the output items, in order."""
        return [item for item in self.output if isinstance(item, FunctionToolCall)]


_UNKNOWNS: Unknowns = {OutputMessage: UnknownItem, OutputText: UnknownContent}
_response_decoder = msgspec.json.Decoder(Response)


def decode_response(data: bytes | str) -> Response:
    """Decode a response body: one strict decode, and the tolerant pass (unknown item and
    part types kept, ``null`` for defaults) only when that fails.

    Raises ``msgspec.DecodeError`` for what is not JSON and ``msgspec.ValidationError``
    for what is no response even so.
    """
    try:
        return _response_decoder.decode(data)
    except msgspec.ValidationError:
        return convert_response(msgspec.json.decode(data))


def convert_response(value: Any) -> Response:
    """A :class:`Response` from plain JSON values (``dict``), tolerantly."""
    return convert_tolerant(value, Response, _UNKNOWNS)


# --- the request ----------------------------------------------------------------------


class InputMessage(Request, tag_field="type", tag="message"):
    """A message of the conversation: ``role`` ``user``, ``system``, ``developer`` or
    ``assistant``; ``content`` a string or a list of parts (``input_text``,
    ``input_image``, ``input_file``; an assistant's earlier text as ``output_text``)."""

    role: str
    content: str | Sequence[InputTextPart | InputImagePart | InputFilePart | Mapping[str, Any]]


class FunctionCallOutput(Request, tag_field="type", tag="function_call_output"):
    """The result of a function call, sent back with the call's ``call_id``."""

    call_id: str
    output: str | Sequence[Mapping[str, Any]]


class ItemReference(Request, tag_field="type", tag="item_reference"):
    """An earlier item, by id (with ``store``)."""

    id: str


class FunctionTool(Request, tag_field="type", tag="function"):
    """A function the model may call (the Responses API's flat shape: ``name`` and
    ``parameters`` at the top level, not under ``function``)."""

    name: str
    parameters: Mapping[str, Any] | UnsetType | None = UNSET
    strict: bool | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET


InputItem = Union[
    InputMessage,
    FunctionCallOutput,
    ItemReference,
    OutputMessage,
    ReasoningItem,
    FunctionToolCall,
    UnknownItem,
]
"""An item of a request's ``input``; a plain dict works as well."""

ResponseInput = Union[str, Sequence[Union[InputItem, Mapping[str, Any]]]]
"""A request's ``input``: a string (one user message) or a list of items."""


class ResponsesRequest(Request):
    """The body of ``POST /v1/responses``, with every field of the seed SDK's
    ``ResponsesRequest`` (and OpenAI's ``user``).

    Function tools are sent in the Responses API's flat shape: a chat-completions tool (a
    :class:`~sudo_stream.models.request.Tool`, or a dict ``{"type": "function",
    "function": {...}}`` such as ``ss.tool(f).definition``) is sent as
    ``{"type": "function", "name": ..., "parameters": ..., ...}``. The caller's list is
    never changed.
    """

    model: str
    input: ResponseInput
    background: bool | UnsetType | None = UNSET
    conversation: str | Mapping[str, Any] | UnsetType | None = UNSET
    include: Sequence[str] | UnsetType | None = UNSET
    instructions: str | UnsetType | None = UNSET
    max_output_tokens: int | UnsetType | None = UNSET
    max_tool_calls: int | UnsetType | None = UNSET
    metadata: Mapping[str, str] | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    previous_response_id: str | UnsetType | None = UNSET
    prompt: Mapping[str, Any] | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    reasoning: Mapping[str, Any] | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: Mapping[str, Any] | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    text: Mapping[str, Any] | UnsetType | None = UNSET
    tool_choice: str | Mapping[str, Any] | UnsetType | None = UNSET
    tools: Sequence[FunctionTool | Tool | Mapping[str, Any]] | UnsetType | None = UNSET
    top_logprobs: int | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    truncation: str | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        tools = self.tools
        if (
            isinstance(tools, Sequence)
            and not isinstance(tools, (str, bytes))
            and any(_chat_function(tool) is not None for tool in tools)
        ):
            self.tools = [_flat_tool(tool) for tool in tools]


def _chat_function(tool: Any) -> Any:
    """The function of a chat-completions tool (``{"type": "function", "function": {...}}``
    or a ``Tool``), or None for anything else."""
    if isinstance(tool, Tool):
        return tool.function
    if (
        isinstance(tool, Mapping)
        and tool.get("type") == "function"
        and "name" not in tool
        and isinstance(tool.get("function"), (Mapping, FunctionDefinition))
    ):
        return tool["function"]
    return None


def _flat_tool(tool: Any) -> Any:
    function = _chat_function(tool)
    if function is None:
        return tool
    if isinstance(function, FunctionDefinition):
        function = msgspec.structs.asdict(function)
    flat = {"type": "function"}
    flat.update((key, value) for key, value in function.items() if value is not UNSET)
    return flat
