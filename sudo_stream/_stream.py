"""ChatStream: the pull loop socket -> SSE parser -> chunk decoder -> assembler.

Nothing reads ahead of the consumer: the socket is read only when the parser has no
complete event left, so a slow consumer slows the server down (backpressure) and memory
stays bounded. Every exit (end, error, cancellation, leaving early) closes the response
under a shield, which returns or discards the connection at once.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import httpx
import msgspec

from ._config import RetryConfig, Timeout
from ._deadline import Deadline, read_deadline
from ._decoding import DecodingError
from ._h1 import BODY_EXTENSION, ResponseBody
from ._http import TRANSPORT_ERRORS
from ._retry import RetryableStreamError, call_with_retries
from ._socket import bind_deadline
from ._transport import Transport, body_reader, close_response, media_type, translate
from .assembler import StreamAssembler, StreamChunkError
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    StreamError,
    SudoError,
)
from .models._lenient import decode_lenient
from .models.chunk import ChatCompletionChunk
from .models.common import ErrorBody, ErrorDetail
from .models.events import StreamEvent, TextDelta
from .sse import ServerSentEvent, SSEError, SSEParser

if TYPE_CHECKING:
    from .models.completion import ChatCompletion

S = TypeVar("S", bound="ChatStream")

_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
_DONE = "[DONE]"
_DRAIN_LIMIT = 64 * 1024  # bytes read after [DONE] so the connection can be reused
_DRAIN_GRACE = 0.05  # seconds to wait for them


@dataclass(frozen=True)
class StreamStatistics:
    """A snapshot of a stream's progress, for UIs and logs."""

    events: int
    """Chunks received (SSE events carrying JSON)."""
    bytes_received: int
    time_to_first_event: float | None
    """Seconds from the start of the call (connecting and any retries included) to the
    first event, or None before it."""
    elapsed: float
    """Seconds since the call started (until the stream ended, once it has)."""
    finished: bool

    @property
    def events_per_second(self) -> float:
        """Average event rate since the first event."""
        if self.time_to_first_event is None:
            return 0.0
        span = self.elapsed - self.time_to_first_event
        return self.events / span if span > 0 else 0.0


class ChatStream:
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
        self.response = response
        # The API key is blotted out of what a server sends back into our errors.
        self._scrub = scrub
        self._choices = choices
        # Raw bytes are cheapest; a compressed body goes through a decoder, a step at a time.
        self._raw, self._decoder = body_reader(response)
        # Our connections read with this stream's deadline once it is bound to them.
        self._bound = deadline_reads and bind_deadline(response.extensions, deadline)
        self._direct = self._bound and self._decoder is None
        self._max_bytes = max_response_size
        self._deadline_reads = deadline_reads
        self._timeout = timeout
        self._deadline = deadline
        self._started = started
        self._parser = SSEParser(max_event_size=max_event_size)
        self._assembler = StreamAssembler()
        self._pending: list[ServerSentEvent] = []
        self._next = 0
        self._lookahead: ChatCompletionChunk | None = None
        self._events = 0
        self._bytes = 0
        self._first_at: float | None = None
        self._ended_at: float | None = None
        self._eof = False
        self._finished = False
        self._closed = False

    # -- public surface -----------------------------------------------------------------

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.response.headers

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id`` for this request, if it sent one."""
        request_id: str | None = self.response.headers.get("x-request-id")
        return request_id

    @property
    def closed(self) -> bool:
        """True once the response is closed (stream finished, failed or left)."""
        return self._closed

    def statistics(self) -> StreamStatistics:
        """Progress so far: events, bytes, time to first event, elapsed time."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        return StreamStatistics(
            events=self._events,
            bytes_received=self._bytes,
            time_to_first_event=None if self._first_at is None else self._first_at - self._started,
            elapsed=end - self._started,
            finished=self._finished,
        )

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
        await self._abort()  # outside the except: the server's raw error is no context
        raise self._error_event(detail)

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

    async def aclose(self) -> None:
        """Close the response now (safe to call more than once, and while cancelled)."""
        if not self._closed:
            self._closed = True
            if self._ended_at is None:
                self._ended_at = time.monotonic()
            if self._bound:  # before the connection can go back to the pool
                bind_deadline(self.response.extensions, None)
            await close_response(self.response, self._raw)

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ChatStream {state} status={self.response.status_code} events={self._events}>"

    def __del__(self) -> None:
        # Dropped without being closed: give the connection back now (closed, as its body
        # was not read to the end), and say so, as the standard library does with files.
        if getattr(self, "_closed", True):
            return
        message = f"unclosed {self!r}: use `async with` or call aclose()"
        self._closed = True
        body = self.response.extensions.get(BODY_EXTENSION)
        if isinstance(body, ResponseBody):
            body.abandon()
        warnings.warn(message, ResourceWarning, source=self, stacklevel=1)

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
                    raise StreamError(
                        "the stream was closed before its end",
                        partial=self._assembler.completion(),
                    )
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
                    raise StreamError(
                        f"the stream exceeded max_response_size={self._max_bytes} bytes "
                        f"after {self._events} events",
                        partial=self._assembler.completion(),
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
        except BaseException:
            await self._abort()
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
        return StreamError(
            f"undecodable chunk after {self._events} events: {exc} (data {excerpt!r})",
            partial=self._assembler.completion(),
        )

    def _parse(self, data: bytes) -> None:
        """Run a piece through the parser and queue the events it completes."""
        try:
            events = self._parser.feed(data)
        except SSEError as exc:
            raise StreamError(str(exc), partial=self._assembler.completion()) from exc
        if events:
            self._pending = events
            self._next = 0
            self._arrived()

    def _arrived(self) -> None:
        """Events came in: note the first, and let the next wait re-arm the idle bound."""
        if self._first_at is None:
            self._first_at = time.monotonic()
        self._deadline.stale = True

    async def _read_decoded(self) -> bytes:
        """The next decoded piece of a compressed body, a step at most (b"" at its end)."""
        decoder = self._decoder
        assert decoder is not None
        while True:
            if decoder.pending:
                # A small body may decode to a lot: let other tasks run between steps.
                await anyio.lowlevel.checkpoint()
                data = self._decompress(decoder.more)
            elif self._eof:
                return b""
            else:
                raw = await self._read_raw()
                if raw:
                    data = self._decompress(partial(decoder.decode, raw))
                else:
                    self._eof = True
                    data = self._decompress(decoder.flush)
            if data:
                return data

    def _decompress(self, step: Callable[[], bytes]) -> bytes:
        try:
            return step()
        except DecodingError as exc:
            raise StreamError(
                f"could not decode the compressed stream after {self._events} events: {exc}",
                partial=self._assembler.completion(),
            ) from exc

    def _read_error(self, exc: Exception) -> SudoError:
        return self._with_partial(translate(exc, self._deadline, self.response.request))

    async def _read_raw(self) -> bytes:
        """The next piece of the body as it came off the wire (b"" at its end)."""
        if not self._deadline_reads:
            return await self._fill_with_scope()
        token = None if self._bound else read_deadline.set(self._deadline)
        try:
            return await self._raw.__anext__()
        except StopAsyncIteration:
            return b""
        except TRANSPORT_ERRORS as exc:
            raise self._read_error(exc) from exc
        finally:
            if token is not None:
                read_deadline.reset(token)

    async def _fill_with_scope(self) -> bytes:
        # A borrowed http_client does not honour our deadlines: bound this read ourselves.
        deadline = self._deadline
        with anyio.CancelScope(deadline=anyio.current_time() + deadline.remaining()) as scope:
            try:
                return await self._raw.__anext__()
            except StopAsyncIteration:
                return b""
            except TRANSPORT_ERRORS as exc:
                raise self._read_error(exc) from exc
        assert scope.cancelled_caught
        raise self._with_partial(APITimeoutError(deadline.bound, deadline.seconds))

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
            raise StreamError(
                f"stream ended inside an event after {self._events} events",
                partial=self._assembler.completion(),
            )
        if self._assembler.finished and self._assembler.choice_count >= self._choices:
            # Some providers omit [DONE]; a finish reason on every choice is just as final.
            self._finished = True
            return
        every = f" on all {self._choices} choices" if self._choices > 1 else ""
        raise StreamError(
            f"stream ended after {self._events} events without [DONE] or a finish reason{every}",
            partial=self._assembler.completion(),
        )

    async def _finish_connection(self) -> None:
        """After [DONE]: read the (usually empty) rest of the body so the connection can
        be reused, then close. Anything after [DONE] is ignored."""
        if self._closed:
            return
        if not self._eof:
            # The end of the body usually comes with [DONE]; waiting long for a late one
            # would hold up the caller, so past a short grace the connection is dropped.
            grace = min(self._timeout.idle or _DRAIN_GRACE, _DRAIN_GRACE)
            self._deadline.arm("idle", grace, time.monotonic())
            drained = 0
            try:
                while drained <= _DRAIN_LIMIT:
                    data = await self._read_raw()
                    if not data:
                        break
                    drained += len(data)
            except SudoError:
                pass  # the answer is complete; a broken tail only costs the connection
        await self.aclose()

    async def _abort(self) -> None:
        await self.aclose()

    def _with_partial(self, exc: SudoError) -> SudoError:
        """Once events were delivered, a failure says so and carries what was assembled."""
        if not self._events or isinstance(exc, StreamError):
            return exc
        partial = self._assembler.completion()
        if isinstance(exc, APITimeoutError):
            exc.partial = partial
            return exc
        return StreamError(f"{exc.message} after {self._events} events", partial=partial)

    def _error_event(self, detail: ErrorDetail, *, retryable: bool = False) -> StreamError:
        cls = RetryableStreamError if retryable else StreamError
        raw = msgspec.json.encode(detail)
        clean = self._scrub(raw)
        if clean is not raw:  # the server echoed the key: every field is blotted out
            detail = msgspec.json.decode(clean, type=ErrorDetail)
        return cls(
            f"error event in stream: {detail.describe()}",
            partial=self._assembler.completion(),
            error=detail,
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
            await stream._abort()  # outside the except: the server's raw error is no context
            raise stream._error_event(detail)
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


class StreamRequest(Generic[S]):
    """What ``create_streaming`` returns: ``await`` it for an open :class:`ChatStream`, or
    use it as ``async with`` to have the stream closed when the block ends."""

    def __init__(self, open_stream: Callable[[], Awaitable[S]]) -> None:
        self._open = open_stream
        self._stream: S | None = None

    def __await__(self) -> Generator[Any, None, S]:
        return self._open().__await__()

    async def __aenter__(self) -> S:
        self._stream = await self._open()
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()


async def open_chat_stream(
    transport: Transport,
    build: Callable[[], httpx.Request],
    *,
    timeout: Timeout,  # noqa: ASYNC109 (a Timeout of several bounds)
    retries: RetryConfig,
    max_event_size: int,
    max_response_size: int,
    choices: int = 1,
    make_stream: Callable[..., S] = ChatStream,  # type: ignore[assignment]
) -> S:
    """Send a streaming request (with retries until the first event) and return the stream.

    ``choices`` is how many the request asked for (``n``): a stream that ends without
    ``[DONE]`` is whole only once that many have finished. ``make_stream`` makes the
    stream object (a subclass of :class:`ChatStream` taking its arguments).

    The ``total`` bound covers the opening too: connecting, every attempt and every
    back-off sleep between them.
    """
    started = time.monotonic()
    total_at = None if timeout.total is None else started + timeout.total

    async def attempt() -> S:
        deadline = Deadline.for_call(timeout, total_at)
        response = await transport.send(build(), deadline)
        try:
            await transport.check_status(response, deadline)
            content_type = response.headers.get("content-type", "")
            if media_type(content_type) != "text/event-stream":
                body = await transport.read_body(response, deadline, 1 << 16, cut=True)
                body = transport.scrub(body)
                raise APIResponseValidationError(
                    f"expected a text/event-stream answer to a streaming request, got "
                    f"{content_type or 'no content type'}: {body[:200]!r}",
                    status_code=response.status_code,
                )
        except BaseException:
            await close_response(response)
            raise
        stream = make_stream(
            response,
            deadline_reads=transport.deadline_reads,
            timeout=timeout,
            deadline=deadline,
            started=started,
            max_event_size=max_event_size,
            max_response_size=max_response_size,
            scrub=transport.scrub,
            choices=choices,
        )
        await stream._prefetch()
        return stream

    if total_at is None:
        return await call_with_retries(attempt, retries)
    # Reads are bounded by the deadline already; this scope bounds connecting and writing.
    with anyio.CancelScope(deadline=anyio.current_time() + (total_at - started)) as scope:
        return await call_with_retries(attempt, retries, total_at)
    assert scope.cancelled_caught
    raise APITimeoutError("total", timeout.total, "while opening the stream")
