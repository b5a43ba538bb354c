"""The events of a streamed response (``POST /v1/responses`` with ``stream: true``).

Each SSE event's ``data`` is one JSON object whose ``type`` names it; the classes here are
frozen msgspec structs tagged by that ``type``, with the wire's field names
(``sequence_number``, ``output_index``, ``content_index``, ``summary_index``,
``item_id``, ``delta``, ``text``, ``item``, ``part``, ``response``). They work with
``match``::

    match event:
        case ResponseTextDeltaEvent(delta=delta):
            print(delta, end="")
        case ResponseFunctionCallArgumentsDoneEvent(arguments=arguments):
            ...

An event of another type is kept as :class:`UnknownResponseEvent` (its type and JSON),
never an error: the API adds event types (tool progress, audio, ...) faster than any
client. :func:`decode_response_event` decodes one event in one msgspec call when its
type and all the item types inside it are known.

``sequence_number`` is ``None`` when the server sent none (some routers do not).
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from ._tagged import convert_tolerant
from .common import ErrorDetail
from .events import ToolCallResult, TurnStarted
from .responses import (
    _UNKNOWNS,
    OutputContent,
    OutputItem,
    Response,
    SummaryText,
)


class _Event(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag_field="type",
             repr_omit_defaults=True):  # fmt: skip
    """Base of the typed events."""

    sequence_number: int | None = None

    @property
    def type(self) -> str:
        """The event's ``type``, as on the wire (``response.output_text.delta``, ...)."""
        return self.__struct_config__.tag  # type: ignore[return-value]


# --- the response's life -----------------------------------------------------------


class ResponseCreatedEvent(_Event, frozen=True, gc=False, kw_only=True, tag="response.created"):
    """The response was created; ``response`` has no output yet."""

    response: Response


class ResponseQueuedEvent(_Event, frozen=True, gc=False, kw_only=True, tag="response.queued"):
    """The response waits for capacity (background responses)."""

    response: Response


class ResponseInProgressEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.in_progress"
):
    """The model is generating the response."""

    response: Response


class ResponseCompletedEvent(_Event, frozen=True, gc=False, kw_only=True, tag="response.completed"):
    """The response is complete; ``response`` is the whole of it, usage included."""

    response: Response


class ResponseIncompleteEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.incomplete"
):
    """The response ended early (``response.incomplete_details.reason`` says why, such
    as ``max_output_tokens``): a final response, not an error."""

    response: Response


class ResponseFailedEvent(_Event, frozen=True, gc=False, kw_only=True, tag="response.failed"):
    """The response failed; ``response.error`` says why."""

    response: Response


class ResponseErrorEvent(_Event, frozen=True, gc=False, kw_only=True, tag="error"):
    """An error in the stream (the ``error`` event)."""

    code: Any = None
    message: str | None = None
    param: Any = None

    def detail(self) -> ErrorDetail:
        """This error as an :class:`~sudo_stream.models.common.ErrorDetail`."""
        return ErrorDetail(message=self.message, code=self.code, param=self.param)


# --- output items -----------------------------------------------------------------------


class ResponseOutputItemAddedEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.output_item.added"
):
    """A new output item begins at ``output_index`` (its content still empty)."""

    output_index: int = 0
    item: OutputItem


class ResponseOutputItemDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.output_item.done"
):
    """The output item at ``output_index`` is complete: ``item`` is the whole of it."""

    output_index: int = 0
    item: OutputItem


class ResponseContentPartAddedEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.content_part.added"
):
    """A new content part of a message item begins."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: OutputContent


class ResponseContentPartDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.content_part.done"
):
    """A content part of a message item is complete: ``part`` is the whole of it."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: OutputContent


# --- text and refusals ------------------------------------------------------------------


class ResponseTextDeltaEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.output_text.delta"
):
    """A piece of an ``output_text`` part's text."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""
    logprobs: Any = None


class ResponseTextDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.output_text.done"
):
    """An ``output_text`` part's whole text."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str = ""
    logprobs: Any = None


class ResponseTextAnnotationAddedEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.output_text.annotation.added"
):
    """An annotation (a citation, a file path) of an ``output_text`` part, kept as sent."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    annotation_index: int = 0
    annotation: Any = None


class ResponseRefusalDeltaEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.refusal.delta"
):
    """A piece of a refusal."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseRefusalDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.refusal.done"
):
    """A refusal's whole text."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    refusal: str = ""


# --- reasoning ----------------------------------------------------------------------------


class ResponseReasoningSummaryPartAddedEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_summary_part.added"
):
    """A new part of a reasoning item's summary begins."""

    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    part: SummaryText


class ResponseReasoningSummaryPartDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_summary_part.done"
):
    """A part of a reasoning item's summary is complete."""

    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    part: SummaryText


class ResponseReasoningSummaryTextDeltaEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_summary_text.delta"
):
    """A piece of a reasoning summary part's text."""

    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    delta: str = ""


class ResponseReasoningSummaryTextDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_summary_text.done"
):
    """A reasoning summary part's whole text."""

    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    text: str = ""


class ResponseReasoningTextDeltaEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_text.delta"
):
    """A piece of a reasoning item's raw reasoning text (open-weight models)."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseReasoningTextDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.reasoning_text.done"
):
    """A reasoning item's whole raw reasoning text part."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str = ""


# --- function calls ----------------------------------------------------------------------


class ResponseFunctionCallArgumentsDeltaEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.function_call_arguments.delta"
):
    """A piece of a function call's JSON arguments."""

    item_id: str = ""
    output_index: int = 0
    delta: str = ""


class ResponseFunctionCallArgumentsDoneEvent(
    _Event, frozen=True, gc=False, kw_only=True, tag="response.function_call_arguments.done"
):
    """A function call's whole JSON arguments (``name`` too, from newer servers)."""

    item_id: str = ""
    output_index: int = 0
    arguments: str = ""
    name: str | None = None


class UnknownResponseEvent(msgspec.Struct, frozen=True, gc=False):
    """An event of a type this client does not know: its ``type`` and its JSON object."""

    type: str
    data: dict[str, Any]

    @property
    def sequence_number(self) -> int | None:
        """The event's ``sequence_number``, when it has an integer one."""
        value = self.data.get("sequence_number")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


KnownResponseEvent = Union[
    ResponseCreatedEvent,
    ResponseQueuedEvent,
    ResponseInProgressEvent,
    ResponseCompletedEvent,
    ResponseIncompleteEvent,
    ResponseFailedEvent,
    ResponseErrorEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseTextAnnotationAddedEvent,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
]
"""Every event type this client knows."""

ResponseStreamEvent = Union[KnownResponseEvent, UnknownResponseEvent]
"""An event of a response stream: a known one, or an :class:`UnknownResponseEvent`."""

ResponseToolRunEvent = Union[TurnStarted, ResponseStreamEvent, ToolCallResult]
"""Any event a Responses tool loop (``responses.run_tools``) yields: its turns' stream
events, each turn announced by ``TurnStarted``, and a ``ToolCallResult`` per function call
it ran."""

TERMINAL_EVENTS = (ResponseCompletedEvent, ResponseIncompleteEvent, ResponseFailedEvent)
"""The events that end a response stream (``error`` ends it as well, as a failure)."""

_KNOWN_TYPES = frozenset(
    cls.__struct_config__.tag
    for cls in KnownResponseEvent.__args__  # type: ignore[attr-defined]
)
_event_decoder: msgspec.json.Decoder[KnownResponseEvent] = msgspec.json.Decoder(KnownResponseEvent)


def decode_response_event(data: str | bytes) -> ResponseStreamEvent:
    """Decode one event's ``data``.

    One msgspec decode when the type and every item inside are known; otherwise the JSON
    is read once more: an unknown event type becomes an :class:`UnknownResponseEvent`,
    unknown item or part types inside a known event are kept as sent. Raises
    ``msgspec.DecodeError`` for what is not JSON and ``msgspec.ValidationError`` for what
    is no event (not an object, no string ``type``, a known event with wrong fields).
    """
    try:
        return _event_decoder.decode(data)
    except msgspec.ValidationError:
        value = msgspec.json.decode(data)
    if not isinstance(value, dict):
        raise msgspec.ValidationError(f"a response event must be a JSON object, got {value!r:.80}")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise msgspec.ValidationError(f"a response event needs a string 'type', got {kind!r:.80}")
    if kind not in _KNOWN_TYPES:
        return UnknownResponseEvent(kind, value)
    event: KnownResponseEvent = convert_tolerant(value, KnownResponseEvent, _UNKNOWNS)  # type: ignore[arg-type]
    return event
