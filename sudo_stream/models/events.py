"""Typed events of a streamed chat completion, made by ``StreamAssembler.add``.

Every event is small, read-only (frozen structs; ``ToolArgumentsDelta`` by convention) and
usable with ``match`` by keyword::

    for event in assembler.add(chunk):
        match event:
            case TextDelta(choice_index=0, text=text):
                print(text, end="")
            case ToolCallDone(name=name, parsed=args, parse_error=None):
                run(name, args)

Why two kinds of class: the events are ``msgspec.Struct`` (frozen, ``gc=False``, tagged by
``type``): built from C, about four times cheaper than a ``__slots__`` class, and they
encode to JSON as they are. ``ToolArgumentsDelta`` alone is a ``__slots__`` class, because it
carries hidden lazy state: a link to its tool call, so that ``partial_arguments()`` feeds the
call's incremental parser only the fragments it has not seen yet, and only when asked.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, Union

import msgspec

from .common import TokenLogprob, Usage

_UNCOMPUTED: Any = object()


class _Event(msgspec.Struct, frozen=True, gc=False, tag_field="type"):
    """Base of the struct events."""


class TextDelta(_Event, frozen=True, gc=False, tag="text_delta"):
    """A piece of a choice's message text."""

    choice_index: int
    text: str


class ReasoningDelta(_Event, frozen=True, gc=False, tag="reasoning_delta"):
    """A piece of a choice's reasoning, whatever the provider called it
    (``reasoning_content``, ``reasoning``, ``reasoning_details`` or a thinking part)."""

    choice_index: int
    text: str


class RefusalDelta(_Event, frozen=True, gc=False, tag="refusal_delta"):
    """A piece of a choice's refusal message."""

    choice_index: int
    text: str


class ToolCallStarted(_Event, frozen=True, gc=False, tag="tool_call_started"):
    """A tool call was seen for the first time.

    ``index`` is the call's position in the assembled message's ``tool_calls`` (from 0, in
    order of first appearance), not the provider's raw index. ``id`` and ``name`` are
    ``None`` if the provider has not sent them yet.
    """

    choice_index: int
    index: int
    id: str | None
    name: str | None


class ToolCallDone(_Event, frozen=True, gc=False, tag="tool_call_done"):
    """A tool call is complete: its choice got a finish reason, or the stream ended.

    ``arguments`` is the full JSON text. ``parsed`` is its validated value, or ``None``
    with ``parse_error`` saying what is wrong (invalid JSON is not an exception). Empty
    arguments (some providers send ``""`` for a tool without parameters) parse as ``{}``.
    """

    choice_index: int
    index: int
    id: str
    name: str
    arguments: str
    parsed: Any
    parse_error: str | None


class LogprobsDelta(_Event, frozen=True, gc=False, tag="logprobs_delta"):
    """Log probabilities of the tokens a chunk added to a choice."""

    choice_index: int
    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None


class UsageReceived(_Event, frozen=True, gc=False, tag="usage"):
    """A chunk carried token usage (the latest is the total; some providers send a
    running count on every chunk)."""

    usage: Usage


class Finished(_Event, frozen=True, gc=False, tag="finished"):
    """A choice got its finish reason (sent once per choice, for the first real one)."""

    choice_index: int
    finish_reason: str


class TurnStarted(_Event, frozen=True, gc=False, tag="turn_started"):
    """A tool loop (``router.run_tools``, ``responses.run_tools``) asks the model again:
    ``turn`` counts from 1. The turn's stream events follow."""

    turn: int


class ToolCallResult(_Event, frozen=True, gc=False, tag="tool_call_result"):
    """A tool loop ran one of the model's tool calls; ``content`` is what goes back to
    the model. ``index`` and ``id`` are those of the call (``ToolCallDone``); in a
    Responses tool loop, ``id`` is the call's ``call_id`` and ``index`` its position among
    the response's function calls.

    ``is_error`` is set when the call could not give a result: an unknown tool, arguments
    that do not fit its signature, an exception, a timeout. ``content`` then says what went
    wrong, for the model to correct itself.
    """

    index: int
    id: str
    name: str
    content: str
    is_error: bool


class _ArgumentSource(Protocol):
    """What a ``ToolArgumentsDelta`` asks for its partial arguments (the assembler's call
    state): the best-effort value of the first ``upto`` argument fragments."""

    def partial_value(self, upto: int) -> Any: ...  # pragma: no cover


class ToolArgumentsDelta:
    """A fragment of a tool call's JSON arguments.

    ``partial_arguments()`` returns the arguments received up to and including this
    fragment, parsed as partial JSON (``{"city": "Par"}`` from ``{"city": "Par``). It is
    computed on demand and incrementally: the call's parser is fed only the fragments it
    has not seen, so parsing costs linear time overall however often it is asked. Each
    answer is a fresh copy of the value so far, which costs its size.
    """

    __slots__ = ("_source", "_upto", "_value", "choice_index", "delta", "id", "index", "name")
    __match_args__ = ("choice_index", "index", "id", "name", "delta")

    choice_index: int
    index: int
    id: str | None
    name: str | None
    delta: str

    def __init__(
        self,
        choice_index: int,
        index: int,
        id: str | None,
        name: str | None,
        delta: str,
        *,
        source: _ArgumentSource | None = None,
        upto: int = 0,
    ) -> None:
        self.choice_index = choice_index
        self.index = index
        self.id = id
        self.name = name
        self.delta = delta
        self._source = source
        self._upto = upto
        self._value: Any = _UNCOMPUTED

    def partial_arguments(self) -> Any:
        """The arguments so far (up to this fragment) as a best-effort partial JSON value."""
        if self._value is _UNCOMPUTED:
            if self._source is None:  # made by hand, not by an assembler: just this fragment
                from .._partial_json import PartialJSON, PartialJSONError

                parser = PartialJSON()
                with contextlib.suppress(PartialJSONError):
                    parser.feed(self.delta)
                self._value = parser.value()
            else:
                self._value = self._source.partial_value(self._upto)
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolArgumentsDelta):
            return NotImplemented
        return (
            self.choice_index == other.choice_index
            and self.index == other.index
            and self.id == other.id
            and self.name == other.name
            and self.delta == other.delta
        )

    def __hash__(self) -> int:
        return hash((self.choice_index, self.index, self.id, self.name, self.delta))

    def __repr__(self) -> str:
        return (
            f"ToolArgumentsDelta(choice_index={self.choice_index}, index={self.index}, "
            f"id={self.id!r}, name={self.name!r}, delta={self.delta!r})"
        )


StreamEvent = Union[
    TextDelta,
    ReasoningDelta,
    RefusalDelta,
    ToolCallStarted,
    ToolArgumentsDelta,
    ToolCallDone,
    LogprobsDelta,
    UsageReceived,
    Finished,
]
"""Any event ``StreamAssembler.add`` or ``close`` returns."""


ToolRunEvent = Union[
    TurnStarted,
    TextDelta,
    ReasoningDelta,
    RefusalDelta,
    ToolCallStarted,
    ToolArgumentsDelta,
    ToolCallDone,
    LogprobsDelta,
    UsageReceived,
    Finished,
    ToolCallResult,
]
"""Any event a tool loop (``router.run_tools``) yields: its turns' stream events, each
turn announced by ``TurnStarted``, and a ``ToolCallResult`` per tool call it ran."""
