"""Response stream events in, a :class:`Response` out. Pure: no I/O, no clock.

:class:`ResponseAssembler` is fed the decoded events of one ``POST /v1/responses`` stream
in arrival order (:meth:`~ResponseAssembler.add`), gives the response assembled so far at
any time (:meth:`~ResponseAssembler.response`) and the final one when the stream ends
(:meth:`~ResponseAssembler.close`). Anything wrong with the stream raises
:class:`ResponseStreamProblem`; the response so far stays readable.

The rules:

- Output items are built by ``output_index`` from ``response.output_item.added`` and the
  deltas of their text, refusal, reasoning summary, reasoning text and function-call
  arguments (by ``content_index`` / ``summary_index``), joined once, when asked for.
  A delta for an item that was never announced starts one (some routers skip the
  ``added`` events, or send them late: a late one completes that item); a delta of the
  wrong kind for its item (text for a function call) is a problem.
- The ``*.done`` events and ``response.output_item.done`` state the whole value, and
  win over the joined deltas when they differ: they are the server's own account of the
  item, and what ``response.completed`` will repeat. An empty value never overwrites a
  real one (routers send ``""`` placeholders).
- ``sequence_number``: when the first event has one, every event must have the next
  one; a repeat, a step back or a gap (a lost event) is a problem naming the expected
  and the received number. When the first event has none, none may have one.
- ``response.completed`` / ``response.incomplete`` carry the whole response: it is the
  final response, checked against what the stream delivered. For every output item the
  stream delivered, each text part, refusal, summary part and function-call arguments
  the stream delivered (non-empty) must be the same in the server's object, at the same
  index and of the same item type, and the object must not list fewer items: otherwise
  a problem (the stream and the server's own summary disagree: something was lost or
  corrupted on the way). What the stream did not deliver (items no event streamed,
  annotations, statuses, usage) is taken from the server's object as it is. When that
  object's ``output`` is empty (some routers leave it so), the assembled items fill it.
- ``response.incomplete`` is a final response, not an error (``status`` is
  ``incomplete``, ``incomplete_details.reason`` says why).
- ``response.failed`` and ``error`` events raise :class:`ResponseStreamProblem` carrying
  the server's error detail; so does the end of the stream without a terminal event
  (:meth:`~ResponseAssembler.close`), and any event after the terminal one.
- Events of unknown types count for the sequence, and are otherwise left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from .assembler import _TEXT_BLOCK, _Text
from .models.common import ErrorDetail
from .models.response_events import (
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseQueuedEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseStreamEvent,
    ResponseTextAnnotationAddedEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from .models.responses import (
    FunctionToolCall,
    OutputContent,
    OutputItem,
    OutputMessage,
    OutputText,
    ReasoningItem,
    ReasoningText,
    Refusal,
    Response,
    SummaryText,
    UnknownContent,
    UnknownItem,
)

__all__ = ["ResponseAssembler", "ResponseStreamProblem"]

_replace = msgspec.structs.replace
_FIRST: Any = object()  # no event seen yet: the first one says whether they are numbered

_MESSAGE, _REASONING, _FUNCTION = "message", "reasoning", "function_call"


class ResponseStreamProblem(Exception):
    """What is wrong with a response stream: a ``response.failed`` or ``error`` event
    (``detail`` is the server's error), a lost or misplaced event, an end without a
    terminal event, or a final object that disagrees with the stream (``detail`` None).
    The stream layer turns it into a ``StreamError``."""

    def __init__(self, message: str, detail: ErrorDetail | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class _Piece:
    """One text-bearing piece of an item (a content part, a summary part, a reasoning
    text part, or a function call's arguments): its deltas and its stated whole."""

    __slots__ = ("annotations", "kind", "stated", "text")

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "output_text" / "refusal" / another part type
        self.text = _Text()
        self.stated = ""  # the whole value a .done event gave
        self.annotations: list[Any] | None = None

    def value(self) -> str:
        return self.stated or self.text.value()


class _Item:
    """One output item being assembled."""

    __slots__ = ("arguments", "given", "id", "kind", "name", "parts", "reasoning", "summary")

    def __init__(self, kind: str, item_id: str, given: OutputItem | None = None) -> None:
        self.kind = kind
        self.id = item_id
        self.given = given  # the item an output_item event carried (the done one wins)
        self.parts: dict[int, _Piece] = {}
        self.summary: dict[int, _Piece] = {}
        self.reasoning: dict[int, _Piece] = {}
        self.arguments: _Piece | None = None
        self.name = ""

    def piece(self, table: dict[int, _Piece], index: int, kind: str) -> _Piece:
        piece = table.get(index)
        if piece is None:
            piece = table[index] = _Piece(kind)
        return piece

    def call_arguments(self) -> _Piece:
        if self.arguments is None:
            self.arguments = _Piece("arguments")
        return self.arguments

    def build(self) -> OutputItem:
        """The item as assembled: the given item, its empty texts filled from the stream."""
        given = self.given
        if self.kind == _MESSAGE:
            base = given if isinstance(given, OutputMessage) else OutputMessage(id=self.id)
            return _replace(base, content=_merged_content(base.content, self.parts))
        if self.kind == _REASONING:
            base_r = given if isinstance(given, ReasoningItem) else ReasoningItem(id=self.id)
            summary = _merged_texts(base_r.summary, self.summary, SummaryText)
            if not self.reasoning:
                return _replace(base_r, summary=summary)
            given_content = base_r.content if isinstance(base_r.content, list) else []
            content = _merged_texts(given_content, self.reasoning, ReasoningText)
            return _replace(base_r, summary=summary, content=content)
        if self.kind == _FUNCTION:
            base_f = given if isinstance(given, FunctionToolCall) else FunctionToolCall(id=self.id)
            arguments = base_f.arguments or (self.arguments.value() if self.arguments else "")
            return _replace(base_f, arguments=arguments, name=base_f.name or self.name)
        return given if given is not None else UnknownItem(type=self.kind, id=self.id)


def _merged_content(given: list[OutputContent], pieces: dict[int, _Piece]) -> list[OutputContent]:
    if not pieces:
        return list(given)
    out: list[OutputContent] = []
    for index in range(max(len(given), max(pieces) + 1)):
        part = given[index] if index < len(given) else None
        piece = pieces.get(index)
        if piece is None:
            if part is not None:
                out.append(part)
            continue
        if piece.kind == "refusal":
            stated = part.refusal if isinstance(part, Refusal) else ""
            out.append(Refusal(refusal=stated or piece.value()))
        elif piece.kind == "output_text":
            text = part.text if isinstance(part, OutputText) else ""
            new = OutputText(text=text or piece.value())
            if isinstance(part, OutputText):
                new = _replace(part, text=new.text)
            if piece.annotations and not new.annotations:
                new = _replace(new, annotations=list(piece.annotations))
            out.append(new)
        elif part is not None:
            out.append(part)
        else:
            out.append(UnknownContent(type=piece.kind))
    return out


def _merged_texts(
    given: list[Any], pieces: dict[int, _Piece], make: Callable[..., Any]
) -> list[Any]:
    if not pieces:
        return list(given)
    out = []
    for index in range(max(len(given), max(pieces) + 1)):
        part = given[index] if index < len(given) else None
        piece = pieces.get(index)
        if piece is None:
            out.append(part if part is not None else make())
        elif part is not None and part.text:
            out.append(part)
        else:
            out.append(make(text=piece.value()))
    return out


def _kind(item: OutputItem) -> str:
    return item.type if isinstance(item, UnknownItem) else type(item).__struct_config__.tag  # type: ignore[return-value]


def _item_id(item: OutputItem) -> str:
    value = item.id
    return value if isinstance(value, str) else ""


class ResponseAssembler:
    """Assembles one response stream (see the module docstring for the rules)."""

    __slots__ = ("_base", "_count", "_ended", "_final", "_items", "_last", "_next", "_problem",
                 "_terminal")  # fmt: skip

    def __init__(self) -> None:
        self._items: list[_Item | None] = []
        self._base = Response(status="in_progress")  # the latest response object sent
        self._terminal: Response | None = None
        self._final: Response | None = None
        self._problem: ResponseStreamProblem | None = None
        self._next: Any = _FIRST  # the expected next sequence_number (None: unnumbered)
        self._ended = False  # a terminal event or a problem: nothing more may come
        self._count = 0
        self._last: ResponseStreamEvent | None = None

    @property
    def done(self) -> bool:
        """Whether a terminal event arrived (``response.completed``, ``.incomplete``,
        ``.failed``, or an ``error`` event): nothing more is expected."""
        return self._ended

    def add(self, event: ResponseStreamEvent) -> None:
        """Absorb one event, in wire order. Raises :class:`ResponseStreamProblem` for a
        failed response, an error event, or an event out of place."""
        seq = event.sequence_number
        if seq != self._next:
            self._sequence(seq, event)
        elif seq is not None:
            self._next = seq + 1
        self._count += 1
        if self._ended:
            self._fail(f"a {event.type} event came after the end of the response")
        self._last = event
        if type(event) is ResponseTextDeltaEvent:  # most events: kept inline, it is the hot path
            index, items = event.output_index, self._items
            item = items[index] if 0 <= index < len(items) else None
            if item is None or item.kind != _MESSAGE:
                item = self._at(index, _MESSAGE, event.item_id, event)
            piece = item.parts.get(event.content_index)
            if piece is None:
                piece = item.piece(item.parts, event.content_index, "output_text")
            tail = piece.text.tail
            tail.append(event.delta)
            if len(tail) >= _TEXT_BLOCK:
                piece.text.seal()
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def response(self) -> Response:
        """The response assembled so far: a snapshot, partial while streaming (status
        ``in_progress``), the final one after a terminal event."""
        if self._final is not None:
            return self._final
        items = self._built()
        base = self._terminal or self._base
        if base.output and self._terminal is not None:
            return base
        return _replace(base, output=items)

    def close(self) -> Response:
        """The stream ended: the final response. Raises :class:`ResponseStreamProblem`
        when the stream failed or ended without a terminal event."""
        if self._problem is not None:
            raise self._problem
        if self._final is None:
            last = f", the last a {self._last.type} event" if self._last is not None else ""
            raise ResponseStreamProblem(
                "the stream ended before response.completed (or .incomplete / .failed): "
                f"the response is cut short ({self._count} events{last})"
            )
        return self._final

    # --- the sequence ------------------------------------------------------------

    def _sequence(self, seq: int | None, event: ResponseStreamEvent) -> None:
        expected = self._next
        if expected is _FIRST:
            self._next = None if seq is None else seq + 1
            return
        if expected is None:
            self._fail(
                f"a {event.type} event has sequence_number {seq}, but the events before it had none"
            )
        if seq is None:
            self._fail(f"a {event.type} event has no sequence_number; {expected} was expected")
        what = "an event was lost" if seq > expected else "repeated or out of order"
        self._fail(
            f"a {event.type} event has sequence_number {seq} where {expected} was expected ({what})"
        )

    def _fail(self, message: str, detail: ErrorDetail | None = None) -> None:
        problem = ResponseStreamProblem(message, detail)
        if self._problem is None:
            self._problem = problem
        self._ended = True
        raise problem

    # --- items -----------------------------------------------------------------

    def _built(self) -> list[OutputItem]:
        return [item.build() for item in self._items if item is not None]

    def _at(self, index: int, kind: str, item_id: str, event: ResponseStreamEvent) -> _Item:
        items = self._items
        item = items[index] if 0 <= index < len(items) else None
        if item is None:
            item = self._put(index, _Item(kind, item_id))
        elif item.kind != kind:
            self._fail(f"a {event.type} event for output item {index}, which is a {item.kind}")
        return item

    def _put(self, index: int, item: _Item) -> _Item:
        if index < 0:
            self._fail(f"an event names output item {index}")
        items = self._items
        if index >= len(items):
            items.extend([None] * (index + 1 - len(items)))
        items[index] = item
        return item

    # --- handlers (one per event type; see _HANDLERS) ------------------------------

    def _on_response(
        self, event: ResponseCreatedEvent | ResponseQueuedEvent | ResponseInProgressEvent
    ) -> None:
        self._base = event.response

    def _on_item_added(self, event: ResponseOutputItemAddedEvent) -> None:
        index, item = event.output_index, event.item
        known = self._items[index] if 0 <= index < len(self._items) else None
        if known is None:
            self._put(index, _Item(_kind(item), _item_id(item), item))
        elif known.given is None and known.kind == _kind(item):
            known.given = item  # its deltas came first: announced late, not twice
        else:
            self._fail(f"output item {index} was added twice")

    def _on_item_done(self, event: ResponseOutputItemDoneEvent) -> None:
        index, item = event.output_index, event.item
        known = self._items[index] if 0 <= index < len(self._items) else None
        if known is None:
            self._put(index, _Item(_kind(item), _item_id(item), item))
        elif known.kind != _kind(item):
            self._fail(
                f"output item {index} was added as a {known.kind} and done as a {_kind(item)}"
            )
        else:
            known.given = item

    def _on_part(self, event: ResponseContentPartAddedEvent | ResponseContentPartDoneEvent) -> None:
        item = self._at(event.output_index, _MESSAGE, event.item_id, event)
        part = event.part
        kind = part.type if isinstance(part, UnknownContent) else part.__struct_config__.tag
        piece = item.piece(item.parts, event.content_index, str(kind))
        if isinstance(part, OutputText):
            piece.stated = part.text or piece.stated
            if part.annotations:
                piece.annotations = list(part.annotations)
        elif isinstance(part, Refusal):
            piece.stated = part.refusal or piece.stated

    def _on_text_done(self, event: ResponseTextDoneEvent) -> None:
        item = self._at(event.output_index, _MESSAGE, event.item_id, event)
        piece = item.piece(item.parts, event.content_index, "output_text")
        piece.stated = event.text or piece.stated

    def _on_annotation(self, event: ResponseTextAnnotationAddedEvent) -> None:
        item = self._at(event.output_index, _MESSAGE, event.item_id, event)
        piece = item.piece(item.parts, event.content_index, "output_text")
        if piece.annotations is None:
            piece.annotations = []
        piece.annotations.append(event.annotation)

    def _on_refusal_delta(self, event: ResponseRefusalDeltaEvent) -> None:
        item = self._at(event.output_index, _MESSAGE, event.item_id, event)
        item.piece(item.parts, event.content_index, "refusal").text.add(event.delta)

    def _on_refusal_done(self, event: ResponseRefusalDoneEvent) -> None:
        item = self._at(event.output_index, _MESSAGE, event.item_id, event)
        piece = item.piece(item.parts, event.content_index, "refusal")
        piece.stated = event.refusal or piece.stated

    def _on_summary_part(
        self,
        event: ResponseReasoningSummaryPartAddedEvent | ResponseReasoningSummaryPartDoneEvent,
    ) -> None:
        item = self._at(event.output_index, _REASONING, event.item_id, event)
        piece = item.piece(item.summary, event.summary_index, "summary_text")
        piece.stated = event.part.text or piece.stated

    def _on_summary_delta(self, event: ResponseReasoningSummaryTextDeltaEvent) -> None:
        item = self._at(event.output_index, _REASONING, event.item_id, event)
        item.piece(item.summary, event.summary_index, "summary_text").text.add(event.delta)

    def _on_summary_done(self, event: ResponseReasoningSummaryTextDoneEvent) -> None:
        item = self._at(event.output_index, _REASONING, event.item_id, event)
        piece = item.piece(item.summary, event.summary_index, "summary_text")
        piece.stated = event.text or piece.stated

    def _on_reasoning_delta(self, event: ResponseReasoningTextDeltaEvent) -> None:
        item = self._at(event.output_index, _REASONING, event.item_id, event)
        item.piece(item.reasoning, event.content_index, "reasoning_text").text.add(event.delta)

    def _on_reasoning_done(self, event: ResponseReasoningTextDoneEvent) -> None:
        item = self._at(event.output_index, _REASONING, event.item_id, event)
        piece = item.piece(item.reasoning, event.content_index, "reasoning_text")
        piece.stated = event.text or piece.stated

    def _on_arguments_delta(self, event: ResponseFunctionCallArgumentsDeltaEvent) -> None:
        item = self._at(event.output_index, _FUNCTION, event.item_id, event)
        item.call_arguments().text.add(event.delta)

    def _on_arguments_done(self, event: ResponseFunctionCallArgumentsDoneEvent) -> None:
        item = self._at(event.output_index, _FUNCTION, event.item_id, event)
        piece = item.call_arguments()
        piece.stated = event.arguments or piece.stated
        if event.name:
            item.name = event.name

    def _on_end(self, event: ResponseCompletedEvent | ResponseIncompleteEvent) -> None:
        sent = event.response
        self._terminal = sent
        self._ended = True
        built = self._built()
        if not sent.output:
            self._final = _replace(sent, output=built)
            return
        self._check(sent)
        self._final = sent

    def _on_failed(self, event: ResponseFailedEvent) -> None:
        sent = event.response
        self._terminal = sent
        self._ended = True
        detail = sent.error
        what = detail.describe() if detail is not None else "no error detail was sent"
        self._fail(f"the response failed: {what}", detail)

    def _on_error(self, event: ResponseErrorEvent) -> None:
        detail = event.detail()
        self._fail(f"the stream reported an error: {detail.describe()}", detail)

    # --- the check against the server's final object ----------------------------------

    def _check(self, sent: Response) -> None:
        theirs = sent.output
        for index, item in enumerate(self._items):
            if item is None:
                continue
            if index >= len(theirs):
                self._fail(
                    f"the final response lists {len(theirs)} output items, but the stream "
                    f"delivered item {index} (a {item.kind})"
                )
            mine, other = item.build(), theirs[index]
            if _kind(mine) != _kind(other):
                self._fail(
                    f"output item {index} streamed as a {_kind(mine)} is a {_kind(other)} "
                    "in the final response"
                )
            where = f"output item {index}"
            if isinstance(mine, OutputMessage) and isinstance(other, OutputMessage):
                for ci, part in enumerate(mine.content):
                    self._same(f"{where} content {ci}", _text_of(part), other.content, ci, _text_of)
            elif isinstance(mine, ReasoningItem) and isinstance(other, ReasoningItem):
                for si, summary in enumerate(mine.summary):
                    self._same(
                        f"{where} summary {si}", summary.text, other.summary, si, _summary_of
                    )
            elif (
                isinstance(mine, FunctionToolCall)
                and isinstance(other, FunctionToolCall)
                and mine.arguments
                and mine.arguments != other.arguments
            ):
                self._fail(
                    f"{where}'s arguments differ between the stream "
                    f"({_short(mine.arguments)}) and the final response "
                    f"({_short(other.arguments)})"
                )

    def _same(
        self, where: str, text: str, others: list[Any], index: int, text_of: Callable[[Any], str]
    ) -> None:
        if not text:
            return  # nothing delivered here: the final object's value stands
        other = text_of(others[index]) if index < len(others) else None
        if other != text:
            theirs = "nothing" if other is None else _short(other)
            self._fail(
                f"{where} differs between the stream ({_short(text)}) and the final "
                f"response ({theirs})"
            )


def _text_of(part: Any) -> str:
    if isinstance(part, OutputText):
        return "text:" + part.text if part.text else ""
    if isinstance(part, Refusal):
        return "refusal:" + part.refusal if part.refusal else ""
    return ""


def _summary_of(part: Any) -> str:
    return part.text if isinstance(part, SummaryText) else ""


def _short(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:40]) + f"...({len(text)} chars)"


_HANDLERS: dict[type, Callable[[ResponseAssembler, Any], None]] = {
    ResponseCreatedEvent: ResponseAssembler._on_response,
    ResponseQueuedEvent: ResponseAssembler._on_response,
    ResponseInProgressEvent: ResponseAssembler._on_response,
    ResponseOutputItemAddedEvent: ResponseAssembler._on_item_added,
    ResponseOutputItemDoneEvent: ResponseAssembler._on_item_done,
    ResponseContentPartAddedEvent: ResponseAssembler._on_part,
    ResponseContentPartDoneEvent: ResponseAssembler._on_part,
    ResponseTextDoneEvent: ResponseAssembler._on_text_done,
    ResponseTextAnnotationAddedEvent: ResponseAssembler._on_annotation,
    ResponseRefusalDeltaEvent: ResponseAssembler._on_refusal_delta,
    ResponseRefusalDoneEvent: ResponseAssembler._on_refusal_done,
    ResponseReasoningSummaryPartAddedEvent: ResponseAssembler._on_summary_part,
    ResponseReasoningSummaryPartDoneEvent: ResponseAssembler._on_summary_part,
    ResponseReasoningSummaryTextDeltaEvent: ResponseAssembler._on_summary_delta,
    ResponseReasoningSummaryTextDoneEvent: ResponseAssembler._on_summary_done,
    ResponseReasoningTextDeltaEvent: ResponseAssembler._on_reasoning_delta,
    ResponseReasoningTextDoneEvent: ResponseAssembler._on_reasoning_done,
    ResponseFunctionCallArgumentsDeltaEvent: ResponseAssembler._on_arguments_delta,
    ResponseFunctionCallArgumentsDoneEvent: ResponseAssembler._on_arguments_done,
    ResponseCompletedEvent: ResponseAssembler._on_end,
    ResponseIncompleteEvent: ResponseAssembler._on_end,
    ResponseFailedEvent: ResponseAssembler._on_failed,
    ResponseErrorEvent: ResponseAssembler._on_error,
}
