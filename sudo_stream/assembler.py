"""Chunks in, typed events and a ``ChatCompletion`` out. Pure: no I/O, no clock.

``StreamAssembler`` is fed decoded chunks in arrival order. It has two entry points that
build the same completion:

- ``absorb(chunk)`` only accumulates. It is what plain chunk iteration uses, so a consumer
  that never asks for events pays for none.
- ``add(chunk)`` accumulates and returns the events the chunk produced.

``close()`` ends the stream (flushing ``ToolCallDone`` for calls whose choice never got a
finish reason) and ``completion()`` returns a fresh snapshot at any time.

The rules that make assembly provider-robust (each one is seen in real recordings):

- ``role``, tool-call ``id``, ``type`` and ``function.name`` keep their first non-empty
  value; repeats are not concatenated and ``""``/``null`` placeholders never overwrite.
  Text, refusal, reasoning and tool-call argument fragments are concatenated.
- A tool-call delta with an ``index`` extends the call with that index, unless it carries
  an ``id`` different from that call's (then it starts a new call). Without an ``index``,
  a delta whose ``id`` differs from the last call's starts a new call; otherwise it extends
  the last call. Output calls are numbered from 0 in order of first appearance, whatever
  the provider's indexes (some start at 1).
- Choices may interleave and arrive in any order; the completion lists them by index.
- ``content`` may be a list of typed parts: ``text`` parts are text, ``thinking`` parts
  (Mistral) are reasoning. Reasoning under ``reasoning_content``, ``reasoning`` or
  ``reasoning_details`` all goes to ``message.reasoning_content``, one name per delta, so a
  provider sending the same text under two names is not doubled. ``reasoning_details``
  items are kept too, merged by their ``index``.
- Usage: the last non-null value wins (in any chunk, with or without choices, or inside
  Groq's ``x_groq``). ``id``, ``model``, ``created``, ``system_fingerprint`` and
  ``service_tier`` come from the first chunk that has a non-empty value.
- A choice's finish reason is the first non-empty one; repeats are ignored.
- Chunks whose ``object`` is not ``chat.completion.chunk`` (Azure's prompt-filter preamble
  with ``object: ""``, Perplexity's final ``chat.completion.done``) are assembled like any
  chunk: they hold no text to double, and the latter holds the finish reason.
- A chunk with an ``error`` object raises ``StreamChunkError`` with the completion so far.
- Fields the API's document leaves untyped may hold another JSON type than the usual one
  (the decoder keeps such values as sent). Lists (``annotations``, ``reasoning_details``)
  take any other value as one more item. Values that cannot be joined (reasoning that is
  not text, ``audio`` that is not an object, ``function_call`` and ``logprobs`` that are
  not objects) are carried to the same field of the completion, the last one winning,
  when no piece of the usual shape came for it; such a ``logprobs`` has no
  ``LogprobsDelta`` event.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from ._partial_json import PartialJSON, PartialJSONError
from .models.chunk import (
    ChatCompletionChunk,
    ChoiceDelta,
    FunctionDelta,
    ProviderExtras,
    ToolCallDelta,
)
from .models.common import ChoiceLogprobs, ErrorDetail, FunctionCall, ToolCall, Usage
from .models.completion import ChatCompletion, ChatCompletionMessage, Choice
from .models.events import (
    Finished,
    LogprobsDelta,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReceived,
)

__all__ = ["StreamAssembler", "StreamChunkError"]

_replace = msgspec.structs.replace


class StreamChunkError(Exception):
    """A chunk of a 200 stream carried an ``error`` object.

    ``detail`` is that error; ``partial`` the completion assembled before it. The client
    turns this into ``sudo_stream.errors.StreamError``.
    """

    def __init__(self, detail: ErrorDetail, partial: ChatCompletion) -> None:
        super().__init__(detail.describe())
        self.detail = detail
        self.partial = partial


def _joined(parts: list[str] | None) -> str | None:
    """The concatenation of text pieces, compacting the list so the next join is cheap."""
    if parts is None:
        return None
    if len(parts) == 1:
        return parts[0]
    text = "".join(parts)
    parts.clear()
    parts.append(text)
    return text


class _Text:
    """Text received in pieces, joined a block of pieces at a time: an open stream holds
    a string per 32 deltas rather than one per delta (~50 bytes of header each, more than
    most deltas' text), times thousands of open streams. Each character is copied once
    on the way (and once more by :meth:`value`)."""

    __slots__ = ("blocks", "tail")

    def __init__(self, first: str = "") -> None:
        self.blocks: list[str] = []
        self.tail = [first]

    def add(self, piece: str) -> None:
        tail = self.tail
        tail.append(piece)
        if len(tail) >= _TEXT_BLOCK:
            self.seal()

    def seal(self) -> None:
        """Join the pieces received since the last block into one."""
        self.blocks.append("".join(self.tail))
        self.tail.clear()

    def value(self) -> str:
        """The whole text (kept joined, so the next call is cheap)."""
        if self.tail:
            self.seal()
        blocks = self.blocks
        if len(blocks) != 1:
            blocks[:] = ["".join(blocks)]
        return blocks[0]


_TEXT_BLOCK = 32
_DETAIL_TEXTS = ("text", "summary", "data")  # joined across a reasoning detail's fragments
_AUDIO_TEXTS = ("data", "transcript")  # joined across an audio answer's fragments


def _value(text: _Text | None) -> str | None:
    return None if text is None else text.value()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _best_effort(fragments: list[str]) -> Any:
    """The partial value of some fragments, parsed afresh."""
    parser = PartialJSON()
    try:
        for fragment in fragments:
            parser.feed(fragment)
    except PartialJSONError:
        pass
    return parser.value()


def _error_is_set(error: ErrorDetail) -> bool:
    return any(value is not None for value in msgspec.structs.astuple(error))


def _copy_usage(usage: Usage | None) -> Usage | None:
    if usage is None:
        return None
    completion_details = usage.completion_tokens_details
    prompt_details = usage.prompt_tokens_details
    return _replace(
        usage,
        completion_tokens_details=_copy_struct(completion_details),
        prompt_tokens_details=_copy_struct(prompt_details),
    )


def _copy_struct(value: Any) -> Any:
    """A copy of a struct; anything else (a value kept as sent) as it is."""
    return _replace(value) if isinstance(value, msgspec.Struct) else value


def _provider_usage(chunk: ChatCompletionChunk) -> Usage | None:
    extras = chunk.x_groq
    return extras.usage if isinstance(extras, ProviderExtras) else None


class _ToolCall:
    """One tool call being assembled. Argument fragments are kept as sent (the partial
    parser is fed from them lazily); their concatenation is cached."""

    __slots__ = (
        "done",
        "fed",
        "id",
        "joined",
        "joined_count",
        "key",
        "name",
        "parser",
        "parts",
        "position",
        "type",
    )

    def __init__(self, position: int, key: int | None) -> None:
        self.position = position
        self.key = key  # the index its deltas carry (None if they carry none)
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []
        self.joined = ""
        self.joined_count = 0
        self.parser: PartialJSON | None = None
        self.fed = 0
        self.done = False

    def arguments(self) -> str:
        parts = self.parts
        if len(parts) != self.joined_count:
            self.joined += "".join(parts[self.joined_count :])
            self.joined_count = len(parts)
        return self.joined

    def restarted_by(self, function: FunctionDelta) -> bool:
        """Whether a delta without an id that names ``function`` is a second whole call
        under this one's index (or none), as some providers send them: another name, or the
        same name with a new object after complete arguments. (Providers that repeat the
        name on every fragment send no "{" after a complete object.)"""
        name = function.name
        if not name or not self.name or not self.parts:
            return False
        if name != self.name:
            return True
        fresh = function.arguments
        if not fresh or not fresh.lstrip().startswith("{"):
            return False
        try:
            json.loads(self.arguments())
        except (ValueError, RecursionError):
            return False
        return True

    def partial_value(self, upto: int) -> Any:
        """The best-effort value of the first ``upto`` fragments (see ToolArgumentsDelta)."""
        if self.fed > upto:  # the parser is past this fragment: an old event asked late
            return _best_effort(self.parts[:upto])
        parser = self.parser
        if parser is None:
            parser = self.parser = PartialJSON()
        try:
            for fragment in self.parts[self.fed : upto]:
                parser.feed(fragment)
        except PartialJSONError:
            pass  # not JSON: the value stays what was valid before the bad character
        self.fed = upto
        return parser.value()

    def finish(self) -> tuple[Any, str | None]:
        """The validated arguments, or ``None`` and what is wrong with them."""
        text = self.arguments()
        if not text.strip():
            return {}, None
        parser, fed = self.parser, self.fed
        self.parser = None  # finish() hands out the parser's own tree: let it go
        self.fed = 0
        if parser is None:
            # Nobody asked for partial values: validate in C. PartialJSON accepts exactly
            # what json.loads accepts minus NaN/Infinity and returns the same value; it
            # only runs (for its error message) when the text is not JSON.
            try:
                return json.loads(text, parse_constant=_reject_constant), None
            except (ValueError, RecursionError):  # PartialJSON nests without recursing
                parser, fed = PartialJSON(), 0
        try:
            for fragment in self.parts[fed:]:
                parser.feed(fragment)
            return parser.finish(), None
        except PartialJSONError as exc:
            return None, str(exc)

    def snapshot(self) -> ToolCall:
        return ToolCall(
            id=self.id or "",
            type=self.type or "function",
            function=FunctionCall(name=self.name or "", arguments=self.arguments()),
        )


class _Merged:
    """An object sent in fragments (a ``reasoning_details`` item sharing an ``index``, a
    message's ``audio``): the strings of its text fields are joined, every other field
    keeps its first real value."""

    __slots__ = ("fields", "text_fields", "texts")

    def __init__(self, text_fields: tuple[str, ...]) -> None:
        self.text_fields = text_fields
        self.fields: dict[str, Any] = {}
        self.texts: dict[str, list[str]] = {}

    def merge(self, item: dict[str, Any]) -> None:
        fields = self.fields
        for key, value in item.items():
            if key in self.text_fields and isinstance(value, str):
                self.texts.setdefault(key, []).append(value)
            elif fields.get(key) in (None, ""):
                fields[key] = value

    def snapshot(self) -> dict[str, Any]:
        item = dict(self.fields)
        for key, parts in self.texts.items():
            item[key] = _joined(parts)
        return item


def _detail_text(item: dict[str, Any]) -> str | None:
    kind = item.get("type")
    text = item.get("text") if kind != "reasoning.summary" else item.get("summary")
    return text if isinstance(text, str) else None


class _Choice:
    """One choice being assembled."""

    __slots__ = (
        "annotations",
        "audio",
        "calls",
        "calls_by_key",
        "content",
        "details",
        "details_by_index",
        "finish_reason",
        "function_args",
        "function_name",
        "index",
        "last_call",
        "logprobs_content",
        "logprobs_refusal",
        "logprobs_seen",
        "raw",
        "reasoning",
        "refusal",
        "role",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: _Text | None = None
        self.refusal: _Text | None = None
        self.reasoning: _Text | None = None
        self.details: list[_Merged | Any] | None = None
        self.details_by_index: dict[int, _Merged] = {}
        self.annotations: list[Any] | None = None
        self.audio: _Merged | None = None
        self.calls: list[_ToolCall] = []
        self.calls_by_key: dict[int, _ToolCall] = {}
        self.last_call: _ToolCall | None = None
        self.function_name: str | None = None
        self.function_args: _Text | None = None
        self.finish_reason: str | None = None
        self.logprobs_seen = False
        self.logprobs_content: list[Any] | None = None
        self.logprobs_refusal: list[Any] | None = None
        self.raw: dict[str, Any] | None = None  # by field: the last value kept as sent

    def keep_raw(self, field: str, value: Any) -> None:
        """A value of another shape than the usual for ``field``: carried as it came."""
        if self.raw is None:
            self.raw = {}
        self.raw[field] = value

    def snapshot(self) -> Choice:
        function_call = None
        if self.function_name is not None or self.function_args is not None:
            function_call = FunctionCall(
                name=self.function_name or "", arguments=_value(self.function_args) or ""
            )
        details = None
        if self.details is not None:
            details = [
                item.snapshot()
                if isinstance(item, _Merged)
                else dict(item)
                if isinstance(item, dict)
                else item
                for item in self.details
            ]
        raw = self.raw or {}
        reasoning = _value(self.reasoning)
        message = ChatCompletionMessage(
            role=self.role or "assistant",
            content=_value(self.content),
            refusal=_value(self.refusal),
            tool_calls=[call.snapshot() for call in self.calls] or None,
            reasoning_content=raw.get("reasoning_content") if reasoning is None else reasoning,
            reasoning=raw.get("reasoning"),
            reasoning_details=details,
            annotations=None if self.annotations is None else list(self.annotations),
            audio=raw.get("audio") if self.audio is None else self.audio.snapshot(),
            function_call=raw.get("function_call") if function_call is None else function_call,
        )
        logprobs = raw.get("logprobs")
        if self.logprobs_seen:
            content, refusal = self.logprobs_content, self.logprobs_refusal
            logprobs = ChoiceLogprobs(
                content=None if content is None else list(content),
                refusal=None if refusal is None else list(refusal),
            )
        return Choice(
            index=self.index, message=message, finish_reason=self.finish_reason, logprobs=logprobs
        )


class StreamAssembler:
    """Assembles the chunks of one streamed chat completion.

    Feed every decoded chunk in order with ``add`` (returns the chunk's events) or
    ``absorb`` (no events), then call ``close``. ``completion()`` is valid at any time.
    """

    __slots__ = (
        "_by_index",
        "_choices",
        "_closed",
        "_created",
        "_id",
        "_ids_known",
        "_last",
        "_meta_missing",
        "_model",
        "_out",
        "_service_tier",
        "_system_fingerprint",
        "_usage",
        "error",
    )

    def __init__(self) -> None:
        self._by_index: dict[int, _Choice] = {}
        self._choices: list[_Choice] = []  # sorted by index
        self._last: _Choice | None = None  # the choice of the last delta, usually the next
        self._id = ""
        self._model = ""
        self._created = 0
        self._system_fingerprint: str | None = None
        self._service_tier: str | None = None
        self._meta_missing = True  # some of the five below are still unknown
        self._ids_known = False  # id, model and created are known
        self._usage: Usage | None = None
        self._out: list[StreamEvent] | None = None
        self._closed = False
        self.error: ErrorDetail | None = None
        """The ``error`` object a chunk carried, if any."""

    # -- feeding -------------------------------------------------------------------------

    def add(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        """Accumulate ``chunk`` and return the events it produced, in order.

        Raises ``StreamChunkError`` if the chunk carries an ``error`` object.
        """
        events: list[StreamEvent] = []
        self._out = events
        try:
            self.absorb(chunk)
        finally:
            self._out = None
        return events

    def absorb(self, chunk: ChatCompletionChunk) -> None:
        """Accumulate ``chunk`` without building events (the fast path).

        Raises ``StreamChunkError`` if the chunk carries an ``error`` object.
        """
        if chunk.error is not None:
            self._check_error(chunk)
        if self._meta_missing and (
            not self._ids_known
            or (chunk.system_fingerprint and self._system_fingerprint is None)
            or (chunk.service_tier and self._service_tier is None)
        ):
            self._take_meta(chunk)
        out = self._out
        state = self._last
        for choice in chunk.choices:
            if state is None or choice.index != state.index:
                state = self._by_index.get(choice.index)
                if state is None:
                    state = self._new_choice(choice.index)
                self._last = state
            delta = choice.delta
            if delta is not None:
                if state.role is None and delta.role:
                    state.role = delta.role
                if (
                    delta.reasoning_content is not None
                    or delta.reasoning is not None
                    or delta.reasoning_details is not None
                ):
                    self._reasoning(state, delta)
                content = delta.content
                if content is not None:
                    if isinstance(content, str):
                        text = state.content
                        if text is None:
                            state.content = _Text(content)
                        else:  # text.add(content), inlined: the hot path
                            tail = text.tail
                            tail.append(content)
                            if len(tail) >= _TEXT_BLOCK:
                                text.seal()
                        if out is not None and content:
                            out.append(TextDelta(state.index, content))
                    else:
                        self._content_parts(state, content)
                refusal = delta.refusal
                if refusal is not None:
                    if state.refusal is None:
                        state.refusal = _Text(refusal)
                    else:
                        state.refusal.add(refusal)
                    if out is not None and refusal:
                        out.append(RefusalDelta(state.index, refusal))
                if delta.tool_calls is not None:
                    for call_delta in delta.tool_calls:
                        self._tool_call(state, call_delta)
                if delta.annotations is not None:
                    self._annotations(state, delta.annotations)
                if delta.audio is not None:
                    self._audio(state, delta.audio)
                if delta.function_call is not None:
                    self._function_call(state, delta)
            if choice.logprobs is not None:
                self._logprobs(state, choice.logprobs)
            if choice.finish_reason and state.finish_reason is None:
                self._finish(state, choice.finish_reason)
        usage = chunk.usage
        if usage is None and chunk.x_groq is not None:
            usage = _provider_usage(chunk)
        if usage is not None:
            self._usage = usage
            if out is not None:
                out.append(UsageReceived(usage))

    def close(self) -> list[StreamEvent]:
        """End of stream: ``ToolCallDone`` for every call not yet done. Idempotent."""
        if self._closed:
            return []
        self._closed = True
        events: list[StreamEvent] = []
        for state in self._choices:
            for call in state.calls:
                if not call.done:
                    events.append(self._done(state, call))
        return events

    # -- results -------------------------------------------------------------------------

    def completion(self) -> ChatCompletion:
        """A new ``ChatCompletion`` of everything assembled so far.

        Its structs and lists are new; the items the server sent whole (logprob entries,
        annotations, values inside ``reasoning_details`` items) are shared with later
        snapshots rather than copied: treat them as read-only."""
        return ChatCompletion(
            id=self._id,
            object="chat.completion",
            created=self._created,
            model=self._model,
            choices=[state.snapshot() for state in self._choices],
            usage=_copy_usage(self._usage),
            system_fingerprint=self._system_fingerprint,
            service_tier=self._service_tier,
        )

    @property
    def choice_count(self) -> int:
        """How many choices the chunks so far have opened."""
        return len(self._choices)

    @property
    def finished(self) -> bool:
        """True when at least one choice was seen and every choice has a finish reason."""
        return bool(self._choices) and all(state.finish_reason for state in self._choices)

    @property
    def usage(self) -> Usage | None:
        """The latest usage received, if any."""
        return self._usage

    # -- the less common paths -----------------------------------------------------------

    def _check_error(self, chunk: ChatCompletionChunk) -> None:
        error = chunk.error
        if error is None or not _error_is_set(error):
            return
        self.error = error
        if self._meta_missing:
            self._take_meta(chunk)
        usage = chunk.usage or _provider_usage(chunk)
        if usage is not None:
            self._usage = usage
        raise StreamChunkError(error, self.completion())

    def _take_meta(self, chunk: ChatCompletionChunk) -> None:
        if not self._id and chunk.id:
            self._id = chunk.id
        if not self._model and chunk.model:
            self._model = chunk.model
        if not self._created and chunk.created:
            self._created = chunk.created
        if not self._system_fingerprint and chunk.system_fingerprint:
            self._system_fingerprint = chunk.system_fingerprint
        if not self._service_tier and chunk.service_tier:
            self._service_tier = chunk.service_tier
        self._ids_known = bool(self._id and self._model and self._created)
        self._meta_missing = not (
            self._ids_known and self._system_fingerprint and self._service_tier
        )

    def _new_choice(self, index: int) -> _Choice:
        state = self._by_index[index] = _Choice(index)
        choices = self._choices
        choices.append(state)
        if len(choices) > 1 and choices[-2].index > index:
            choices.sort(key=lambda item: item.index)
        return state

    def _add_reasoning(self, state: _Choice, text: str) -> None:
        if state.reasoning is None:
            state.reasoning = _Text(text)
        else:
            state.reasoning.add(text)
        if self._out is not None and text:
            self._out.append(ReasoningDelta(state.index, text))

    def _reasoning(self, state: _Choice, delta: ChoiceDelta) -> None:
        detail_text = None
        if delta.reasoning_details is not None:
            detail_text = self._details(state, delta.reasoning_details)
        content, reasoning = delta.reasoning_content, delta.reasoning
        if content is not None and not isinstance(content, str):
            state.keep_raw("reasoning_content", content)
            content = None
        if reasoning is not None and not isinstance(reasoning, str):
            state.keep_raw("reasoning", reasoning)
            reasoning = None
        # One name per delta: providers that send the same text twice are not doubled.
        for text in (content, reasoning, detail_text):
            if text:
                self._add_reasoning(state, text)
                return
        if state.reasoning is None and (content is not None or reasoning is not None):
            state.reasoning = _Text()  # sent empty: present, like content ""

    def _details(self, state: _Choice, items: Any) -> str | None:
        """Keep ``reasoning_details`` items (merged by index); return their text."""
        if not isinstance(items, list):
            items = [items]  # not a list: one item, as it came
        if not items:
            return None
        if state.details is None:
            state.details = []
        texts: list[str] = []
        for item in items:
            if not isinstance(item, dict):
                state.details.append(item)  # not a detail object: kept as it came
                continue
            text = _detail_text(item)
            if text:
                texts.append(text)
            index = item.get("index")
            if isinstance(index, int):
                detail = state.details_by_index.get(index)
                if detail is None:
                    detail = state.details_by_index[index] = _Merged(_DETAIL_TEXTS)
                    state.details.append(detail)
                detail.merge(item)
            else:
                state.details.append(dict(item))
        return "".join(texts) if texts else None

    def _content_parts(self, state: _Choice, parts: list[Any]) -> None:
        """``content`` as a list of typed parts: text parts are text, thinking is reasoning."""
        out = self._out
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if isinstance(text, str):
                    if state.content is None:
                        state.content = _Text(text)
                    else:
                        state.content.add(text)
                    if out is not None and text:
                        out.append(TextDelta(state.index, text))
            elif kind == "thinking":
                thinking = part.get("thinking")
                pieces = thinking if isinstance(thinking, list) else [thinking]
                for piece in pieces:
                    if isinstance(piece, dict):
                        piece = piece.get("text")
                    if isinstance(piece, str):
                        self._add_reasoning(state, piece)

    def _tool_call(self, state: _Choice, delta: ToolCallDelta) -> None:
        function = delta.function
        call = state.last_call
        if (
            call is not None
            and (delta.index is None or delta.index == call.key)
            and delta.id is None
            and delta.type is None
            and function is not None
            and function.name is None
            and self._out is None
        ):  # the usual fragment: more arguments for the call the last one extended
            if function.arguments:
                call.parts.append(function.arguments)
            return
        call_id = delta.id
        key = delta.index
        call = state.last_call if key is None else state.calls_by_key.get(key)
        if call is None:
            started = True
        elif call_id:
            started = bool(call.id and call_id != call.id)
        else:
            started = function is not None and call.restarted_by(function)
        if started:
            call = _ToolCall(len(state.calls), key)
            state.calls.append(call)
            if key is not None:
                state.calls_by_key[key] = call
        assert call is not None
        state.last_call = call
        if call_id and not call.id:
            call.id = call_id
        if delta.type and not call.type:
            call.type = delta.type
        arguments = None
        if function is not None:
            if function.name and not call.name:
                call.name = function.name
            arguments = function.arguments
        out = self._out
        if out is not None and started:
            out.append(ToolCallStarted(state.index, call.position, call.id, call.name))
        if arguments:
            call.parts.append(arguments)
            if out is not None:
                out.append(
                    ToolArgumentsDelta(
                        state.index,
                        call.position,
                        call.id,
                        call.name,
                        arguments,
                        source=call,
                        upto=len(call.parts),
                    )
                )

    def _annotations(self, state: _Choice, annotations: Any) -> None:
        items = annotations if isinstance(annotations, list) else [annotations]
        if items:
            if state.annotations is None:
                state.annotations = []
            state.annotations.extend(items)

    def _audio(self, state: _Choice, audio: Any) -> None:
        if not isinstance(audio, dict):
            state.keep_raw("audio", audio)
            return
        if state.audio is None:
            state.audio = _Merged(_AUDIO_TEXTS)
        state.audio.merge(audio)

    def _function_call(self, state: _Choice, delta: ChoiceDelta) -> None:
        function = delta.function_call
        if not isinstance(function, FunctionDelta):
            state.keep_raw("function_call", function)
            return
        if function.name and not state.function_name:
            state.function_name = function.name
        if function.arguments is not None:
            if state.function_args is None:
                state.function_args = _Text()
            state.function_args.add(function.arguments)

    def _logprobs(self, state: _Choice, logprobs: Any) -> None:
        if not isinstance(logprobs, ChoiceLogprobs):
            state.keep_raw("logprobs", logprobs)
            return
        state.logprobs_seen = True
        content, refusal = logprobs.content, logprobs.refusal
        if content is not None:
            if state.logprobs_content is None:
                state.logprobs_content = []
            state.logprobs_content.extend(content)
        if refusal is not None:
            if state.logprobs_refusal is None:
                state.logprobs_refusal = []
            state.logprobs_refusal.extend(refusal)
        if self._out is not None and (content or refusal):
            self._out.append(LogprobsDelta(state.index, content, refusal))

    def _finish(self, state: _Choice, reason: str) -> None:
        state.finish_reason = reason
        out = self._out
        for call in state.calls:
            if not call.done:
                if out is not None:
                    out.append(self._done(state, call))
                else:
                    call.done = True
        if out is not None:
            out.append(Finished(state.index, reason))

    def _done(self, state: _Choice, call: _ToolCall) -> ToolCallDone:
        call.done = True
        parsed, error = call.finish()
        return ToolCallDone(
            state.index,
            call.position,
            call.id or "",
            call.name or "",
            call.arguments(),
            parsed,
            error,
        )
