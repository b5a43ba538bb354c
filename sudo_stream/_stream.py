"""ChatStream: the pull loop socket -> SSE parser -> chunk decoder -> assembler, on the
shared machinery of :class:`~sudo_stream._event_stream.EventStream`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
import msgspec

from ._config import Timeout
from ._deadline import Deadline
from ._event_stream import EventStream, StreamRequest, StreamStatistics
from ._http import TRANSPORT_ERRORS
from .assembler import StreamAssembler, StreamChunkError
from .errors import (
    APIConnectionError,
    APITimeoutError,
    StreamError,
)
from .hooks import CallInfo, CallOutcome
from .models._lenient import decode_lenient
from .models.chunk import ChatCompletionChunk
from .models.common import ErrorBody, ErrorDetail
from .models.events import StreamEvent, TextDelta
from .sse import ServerSentEvent, SSEError

if TYPE_CHECKING:
    from .models.completion import ChatCompletion


_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
_DONE = "[DONE]"

__all__ = ["ChatStream", "StreamRequest", "StreamStatistics"]


class ChatStream(EventStream):
    """An open streaming chat completion.

    Iterate it for :class:`ChatCompletionChunk` objects in arrival order, or use
    :meth:`events` for typed events, :meth:`text` for text deltas, and
    :meth:`final_completion` for the assembled :class:`ChatCompletion`. Use it as an async
    context manager (or call :meth:`aclose`) so that leaving early releases the connection.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        deadline_reads: bool,
        timeout: Timeout,
        deadline: Deadline,
        started: float,
        max_event_size: int,
        max_response_size: int,
        scrub: Callable[[bytes], bytes],
        choices: int = 1,
    ) -> None:
        super().__init__(
            response,
            deadline_reads=deadline_reads,
            timeout=timeout,
            deadline=deadline,
            started=started,
            max_event_size=max_event_size,
            max_response_size=max_response_size,
            scrub=scrub,
        )
        self._choices = choices
        self._assembler = StreamAssembler()
        self._lookahead: ChatCompletionChunk | None = None

    # -- public surface -----------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the next chunk is already here (no wait on the socket to get it)."""
        if self._lookahead is not None:
            return True
        # Events that are not chunks ([DONE], named events) are skipped by the next read,
        # which would then wait: only a chunk, or an error to raise, is ready.
        for event in self._pending[self._next :]:
            if event.event == "error" or (event.event == "message" and event.data != _DONE):
                return True
            if event.data == _DONE:
                return False
        return False

    def current_completion(self) -> ChatCompletion:
        """The completion assembled from the chunks received so far."""
        return self._assembler.completion()

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        chunk = await self._next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        try:
            self._assembler.absorb(chunk)
        except StreamChunkError as exc:
            detail = exc.detail
        else:
            return chunk
        error = self._error_event(detail)
        await self._abort(error)  # outside the except: the server's raw error is no context
        raise error

    def events(self) -> AsyncIterator[StreamEvent]:
        """Typed events (text, reasoning, refusal and tool-argument deltas, tool call done
        with parsed arguments, usage, finish), each with its choice index."""
        return _EventIterator(self)

    def text(self, choice_index: int = 0) -> AsyncIterator[str]:
        """The text deltas of one choice, as they arrive."""
        return _TextIterator(_EventIterator(self), choice_index)

    async def final_completion(self) -> ChatCompletion:
        """Read the rest of the stream and return the assembled completion."""
        async for _ in self:
            pass
        return self._assembler.completion()

    # -- the pull loop --------------------------------------------------------------------

    async def _next_chunk(self) -> ChatCompletionChunk | None:
        """The next decoded chunk, or None at the end. Never absorbs it."""
        if self._lookahead is not None:
            first, self._lookahead = self._lookahead, None
            return first
        try:
            while not self._finished:
                if self._next < len(self._pending):
                    event = self._pending[self._next]
                    self._next += 1
                    chunk = self._decode(event)
                    if chunk is not None:
                        self._events += 1
                        return chunk
                    continue
                if self._closed:
                    raise self._failure("the stream was closed before its end")
                if self._pending:  # all consumed: not kept alive while we wait for more
                    self._pending = []
                if self._direct:  # _read_raw inlined: a frame less per chunk
                    try:
                        data = await self._raw.__anext__()
                    except StopAsyncIteration:
                        data = b""
                    except TRANSPORT_ERRORS as exc:
                        raise self._read_error(exc) from exc
                else:
                    data = await (
                        self._read_raw() if self._decoder is None else self._read_decoded()
                    )
                if not data:
                    self._eof = True
                    self._end_of_body()
                    continue
                self._bytes += len(data)
                if self._bytes > self._max_bytes:
                    raise self._failure(
                        f"the stream exceeded max_response_size={self._max_bytes} bytes "
                        f"after {self._events} events"
                    )
                # The hot path: a piece that is one plain `data:` event (servers send one
                # per network chunk) goes from bytes to a chunk with no event object.
                payload = self._parser.feed_plain(data)
                if payload is None:
                    self._parse(data)
                    data = b""  # nor is the piece
                    continue
                if self._first_at is None:  # self._arrived(), inlined
                    self._first_at = time.monotonic()
                self._deadline.stale = True
                if payload != b"[DONE]":
                    try:
                        chunk = _decode_chunk(payload)
                    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                        pass  # _decode names the problem (or replaces invalid UTF-8)
                    else:
                        self._events += 1
                        return chunk
                text = payload.decode("utf-8", "replace")
                self._pending = [ServerSentEvent("message", text, self._parser.last_event_id)]
                self._next = 0
            await self._finish_connection()
            return None
        except BaseException as exc:
            await self._abort(exc)
            raise

    def _decode(self, event: ServerSentEvent) -> ChatCompletionChunk | None:
        data = event.data
        if data == _DONE:
            self._finished = True
            return None
        if event.event != "message":
            if event.event == "error":
                raise self._error_event(_error_detail(data))
            return None  # a named event of another kind: not a chunk
        try:
            return _decode_chunk(data)
        except msgspec.ValidationError:
            pass  # valid JSON with a near miss (a null, a number for text): a second chance
        except msgspec.DecodeError as exc:
            raise self._undecodable(data, exc) from exc
        try:
            return decode_lenient(data, ChatCompletionChunk)
        except msgspec.ValidationError as exc:
            raise self._undecodable(data, exc) from exc

    def _undecodable(self, data: str, exc: Exception) -> StreamError:
        excerpt = self._scrub(data.encode()).decode("utf-8", "replace")[:200]
        return self._failure(
            f"undecodable chunk after {self._events} events: {exc} (data {excerpt!r})"
        )

    def _end_of_body(self) -> None:
        self._ended_at = time.monotonic()
        # Close the block the body may have cut off, to see whether anything was lost.
        try:
            tail = self._parser.feed(b"\n\n")
        except SSEError:  # the cut block was over the size limit: cut all the same
            tail = [ServerSentEvent()]
        self._parser.close()
        if tail:
            if len(tail) == 1 and tail[0].data == _DONE:
                self._finished = True  # only the blank line after [DONE] is missing
                return
            raise self._failure(f"stream ended inside an event after {self._events} events")
        if self._assembler.finished and self._assembler.choice_count >= self._choices:
            # Some providers omit [DONE]; a finish reason on every choice is just as final.
            self._finished = True
            return
        every = f" on all {self._choices} choices" if self._choices > 1 else ""
        raise self._failure(
            f"stream ended after {self._events} events without [DONE] or a finish reason{every}"
        )

    def _error_event(self, detail: ErrorDetail, *, retryable: bool = False) -> StreamError:
        raw = msgspec.json.encode(detail)
        clean = self._scrub(raw)
        if clean is not raw:  # the server echoed the key: every field is blotted out
            detail = msgspec.json.decode(clean, type=ErrorDetail)
        return self._failure(
            f"error event in stream: {detail.describe()}", error=detail, retryable=retryable
        )

    def _attach_partial(self, exc: StreamError | APITimeoutError) -> None:
        exc.partial = self._assembler.completion()

    def _outcome(self, call: CallInfo) -> CallOutcome:
        completion = self._assembler.completion()
        reasons = tuple(c.finish_reason for c in completion.choices if c.finish_reason)
        return replace(
            super()._outcome(call),
            usage=completion.usage,
            response_model=completion.model or None,
            finish_reasons=reasons,
            response_id=completion.id or None,
        )

    # -- opening ------------------------------------------------------------------------

    async def _prefetch(self) -> None:
        """Wait for the first chunk (so a failure before it can be retried) and keep it."""
        try:
            chunk = await self._next_chunk()
        except StreamError as exc:
            if exc.error is not None:  # an `event: error` before anything else
                raise self._error_event(exc.error, retryable=True) from None
            if self._eof and not self._events:
                # The server hung up before the first event: a connection error (retried
                # as such) however the body was framed, as when chunked framing is cut.
                raise APIConnectionError(
                    f"the server ended the response before its first event ({exc.message})"
                ) from None
            raise
        if chunk is not None and chunk.error is not None:
            await self._abort()
            raise self._error_event(chunk.error, retryable=True)
        self._lookahead = chunk


class _EventIterator:
    """Typed events of a stream: chunks go through ``StreamAssembler.add``."""

    def __init__(self, stream: ChatStream) -> None:
        self._stream = stream
        self._queue: list[StreamEvent] = []
        self._index = 0
        self._flushed = False

    def __aiter__(self) -> _EventIterator:
        return self

    def ready(self) -> bool:
        """Whether the next event is already here (no wait on the socket to get it)."""
        return self._index < len(self._queue) or self._stream.ready()

    async def __anext__(self) -> StreamEvent:
        stream = self._stream
        while self._index >= len(self._queue):
            chunk = await stream._next_chunk()
            if chunk is None:
                if self._flushed:
                    raise StopAsyncIteration
                self._flushed = True
                self._queue, self._index = stream._assembler.close(), 0
                continue
            try:
                self._queue, self._index = stream._assembler.add(chunk), 0
            except StreamChunkError as exc:
                detail = exc.detail
            else:
                continue
            error = stream._error_event(detail)
            await stream._abort(error)  # outside the except: the server's raw error is no context
            raise error
        event = self._queue[self._index]
        self._index += 1
        return event


class _TextIterator:
    """The text deltas of one choice."""

    def __init__(self, events: _EventIterator, choice_index: int) -> None:
        self._events = events
        self._choice = choice_index

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._events.__anext__()
            if isinstance(event, TextDelta) and event.choice_index == self._choice:
                return event.text


def _error_detail(data: str) -> ErrorDetail:
    try:
        return msgspec.json.decode(data, type=ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:
        return msgspec.json.decode(data, type=ErrorDetail)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ErrorDetail(message=data[:500] or "error event")
