"""ResponseStream: a streamed ``POST /v1/responses``, on the shared machinery of
:class:`~sudo_stream._event_stream.EventStream` (reading under the call's deadlines,
decompression, the SSE parser, bounds, closing): events are decoded as they are pulled,
each goes through the :class:`~sudo_stream.response_assembler.ResponseAssembler`, and the
stream ends with its terminal event."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import msgspec

from ._event_stream import EventStream
from .errors import APIConnectionError, APITimeoutError, StreamError
from .hooks import CallInfo, CallOutcome
from .models.response_events import (
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    decode_response_event,
)
from .models.responses import Response
from .response_assembler import ResponseAssembler, ResponseStreamProblem
from .sse import ServerSentEvent, SSEError

__all__ = ["ResponseStream"]


class ResponseStream(EventStream):
    """An open streamed response of the Responses API.

    Iterate it (or :meth:`events`) for the typed events in arrival order (an event type
    this client does not know is an ``UnknownResponseEvent``, never an error), :meth:`text`
    for the output text deltas, :meth:`final_response` for the assembled
    :class:`~sudo_stream.models.responses.Response`. A failed or cut stream raises a
    :class:`~sudo_stream.StreamError` whose ``partial_response`` is what was assembled.
    Use it as an async context manager (or call :meth:`aclose`) so that leaving early
    releases the connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assembler = ResponseAssembler()
        self._lookahead: ResponseStreamEvent | None = None

    # -- public surface -----------------------------------------------------------------

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> ResponseStreamEvent:
        event = await self._next_event()
        if event is None:
            raise StopAsyncIteration
        return event

    def events(self) -> AsyncIterator[ResponseStreamEvent]:
        """The typed events, as they arrive (the same as iterating the stream)."""
        return self

    def text(self) -> AsyncIterator[str]:
        """The output text deltas, as they arrive."""
        return _TextIterator(self)

    def ready(self) -> bool:
        """Whether the next event is already here (no wait on the socket to get it)."""
        if self._lookahead is not None:
            return True
        return any(sse.data and sse.data != "[DONE]" for sse in self._pending[self._next :])

    def current_response(self) -> Response:
        """The response assembled from the events received so far."""
        return self._assembler.response()

    async def final_response(self) -> Response:
        """Read the rest of the stream and return the final response (the server's
        terminal object, checked against what streamed)."""
        async for _ in self:
            pass
        return self._assembler.close()

    # -- the pull loop --------------------------------------------------------------------

    async def _next_event(self) -> ResponseStreamEvent | None:
        """The next event, absorbed by the assembler; None after the terminal one."""
        if self._lookahead is not None:
            first, self._lookahead = self._lookahead, None
            return first
        try:
            while not self._finished:
                if self._next < len(self._pending):
                    sse = self._pending[self._next]
                    self._next += 1
                    event = self._decode(sse)
                    if event is None:
                        continue
                    try:
                        self._assembler.add(event)
                    except ResponseStreamProblem as exc:
                        problem = exc
                    else:
                        self._events += 1
                        self._finished = self._assembler.done
                        return event
                    raise self._failure(str(problem), error=problem.detail)
                if self._closed:
                    raise self._failure("the stream was closed before its end")
                if self._pending:  # all consumed: not kept alive while we wait for more
                    self._pending = []
                if self._eof:  # the body's last event came without its blank line
                    self._no_terminal_event()
                    continue
                data = await (self._read_raw() if self._decoder is None else self._read_decoded())
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
                self._parse(data)
            await self._finish_connection()
            return None
        except BaseException as exc:
            await self._abort(exc)
            raise

    def _decode(self, sse: ServerSentEvent) -> ResponseStreamEvent | None:
        data = sse.data
        if not data or data == "[DONE]":  # a keep-alive, or a chat-style end marker
            return None
        try:
            return decode_response_event(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            excerpt = self._scrub(data.encode()).decode("utf-8", "replace")[:200]
            raise self._failure(
                f"undecodable event after {self._events} events: {exc} (data {excerpt!r})"
            ) from exc

    def _end_of_body(self) -> None:
        self._ended_at = time.monotonic()
        try:  # close the block the body may have cut off: a last event may be whole in it
            tail = self._parser.feed(b"\n\n")
        except SSEError:  # the cut block was over the size limit: it cannot be whole
            raise self._failure(
                f"stream ended inside an event after {self._events} events"
            ) from None
        self._parser.close()
        if tail:
            self._pending, self._next = tail, 0
        else:
            self._no_terminal_event()

    def _no_terminal_event(self) -> None:
        """The body ended: whole only if its terminal event came."""
        try:
            self._assembler.close()
        except ResponseStreamProblem as exc:
            raise self._failure(f"{exc} (after {self._events} events)", error=exc.detail) from None
        self._finished = True

    def _attach_partial(self, exc: StreamError | APITimeoutError) -> None:
        exc.partial_response = self._assembler.response()

    def _outcome(self, call: CallInfo) -> CallOutcome:
        response = self._assembler.response()
        return replace(
            super()._outcome(call),
            usage=response.usage,
            response_model=response.model or None,
            finish_reasons=(response.status,) if response.status else (),
            response_id=response.id or None,
        )

    async def _prefetch(self) -> None:
        """Wait for the first event (so that a failure before it can be retried)."""
        try:
            event = await self._next_event()
        except StreamError as exc:
            if self._events == 0 and exc.error is not None:  # failed before anything came
                raise self._failure(exc.message, error=exc.error, retryable=True) from None
            if self._eof and not self._events:
                raise APIConnectionError(
                    f"the server ended the response before its first event ({exc.message})"
                ) from None
            raise
        self._lookahead = event


class _TextIterator:
    """The output text deltas of a response stream."""

    def __init__(self, stream: ResponseStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._stream.__anext__()
            if type(event) is ResponseTextDeltaEvent:
                return event.delta
