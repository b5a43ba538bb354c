"""The I/O half of a server-sent-event stream, shared by every kind of stream: the body
read off the connection (raw, or decompressed a bounded step at a time) under the call's
deadlines, the SSE parser, the size bound, the statistics, and closing. A subclass adds
what its events mean (chat chunks and an assembled completion, Responses events and an
assembled response) and the pull loop that decodes them.

Nothing reads ahead of the consumer: the socket is read only when the parser has no
complete event left, so a slow consumer slows the server down (backpressure) and memory
stays bounded. Every exit (end, error, cancellation, leaving early) closes the response
under a shield, which returns or discards the connection at once.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import httpx
from typing_extensions import Self

from ._config import RetryConfig, Timeout
from ._deadline import Deadline, read_deadline
from ._decoding import DecodingError
from ._h1 import BODY_EXTENSION, ResponseBody
from ._http import TRANSPORT_ERRORS
from ._retry import RetryableStreamError, call_with_retries
from ._socket import bind_deadline
from ._transport import Transport, body_reader, close_response, media_type, translate
from .errors import APIResponseValidationError, APITimeoutError, StreamError, SudoError
from .hooks import CallInfo, CallOutcome, HookRunner
from .models.common import ErrorDetail
from .models.ratelimit import RateLimitInfo
from .sse import ServerSentEvent, SSEError, SSEParser

_DRAIN_LIMIT = 64 * 1024  # bytes read after the end so the connection can be reused
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


class EventStream:
    """An open stream of server-sent events over one response (see the module's doc);
    use it as an async context manager (or call :meth:`aclose`) so that leaving early
    releases the connection."""

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
    ) -> None:
        self.response = response
        # The API key is blotted out of what a server sends back into our errors.
        self._scrub = scrub
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
        self._pending: list[ServerSentEvent] = []
        self._next = 0
        self._events = 0
        self._bytes = 0
        self._first_at: float | None = None
        self._ended_at: float | None = None
        self._eof = False
        self._finished = False
        self._closed = False
        self._hooks: HookRunner | None = None
        self._call: CallInfo | None = None

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

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The rate limits the response reported (its ``x-ratelimit-*`` headers; fields
        ``None`` where absent), as they stood when this request was admitted."""
        return RateLimitInfo.from_headers(self.response.headers)

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


    async def aclose(self) -> None:
        """Close the response now (safe to call more than once, and while cancelled)."""
        if not self._closed:
            self._closed = True
            if self._ended_at is None:
                self._ended_at = time.monotonic()
            if self._bound:  # before the connection can go back to the pool
                bind_deadline(self.response.extensions, None)
            await close_response(self.response, self._raw)
            hooks, call = self._hooks, self._call
            if hooks is not None and call is not None:  # the end of the call: finished or left
                self._hooks = None
                await hooks.succeeded(call, self._outcome(call), shielded=True)

    async def __aenter__(self) -> Self:
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
        return (
            f"<{type(self).__name__} {state} status={self.response.status_code} "
            f"events={self._events}>"
        )

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


    def _parse(self, data: bytes) -> None:
        """Run a piece through the parser and queue the events it completes."""
        try:
            events = self._parser.feed(data)
        except SSEError as exc:
            raise self._failure(str(exc)) from exc
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
            raise self._failure(
                f"could not decode the compressed stream after {self._events} events: {exc}"
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

    async def _abort(self, error: BaseException | None = None) -> None:
        """Close after a failure: the hooks hear of ``error`` (a cancellation ends the call
        with ``on_end`` alone)."""
        hooks, call = self._hooks, self._call
        self._hooks = None
        try:
            await self.aclose()
        finally:
            if hooks is not None and call is not None:
                if error is None:
                    await hooks.end(call, None)
                else:
                    await hooks.failed(call, error)

    def _observe(self, hooks: HookRunner, call: CallInfo) -> None:
        """Report the end of this stream's call to ``hooks``."""
        self._hooks, self._call = hooks, call

    def _outcome(self, call: CallInfo) -> CallOutcome:
        """How the call ended (a subclass adds what its answer says: usage, model)."""
        first = None if self._first_at is None else self._first_at - call.started
        return CallOutcome(
            complete=self._finished,
            status_code=self.response.status_code,
            elapsed=time.monotonic() - call.started,
            time_to_first_event=first,
        )

    def _with_partial(self, exc: SudoError) -> SudoError:
        """Once events were delivered, a failure says so and carries what was assembled."""
        if not self._events or isinstance(exc, StreamError):
            return exc
        if isinstance(exc, APITimeoutError):
            self._attach_partial(exc)
            return exc
        return self._failure(f"{exc.message} after {self._events} events")

    # -- what a kind of stream adds --------------------------------------------------------

    def _attach_partial(self, exc: StreamError | APITimeoutError) -> None:
        """Put what was assembled so far on ``exc`` (a subclass knows what that is)."""

    def ready(self) -> bool:
        """Whether the next item is already here (no wait on the socket to get it)."""
        raise NotImplementedError

    async def _prefetch(self) -> None:
        """Wait for the first event (so that a failure before it can be retried) and
        keep it for the caller."""
        raise NotImplementedError

    def _failure(
        self, message: str, *, error: ErrorDetail | None = None, retryable: bool = False
    ) -> StreamError:
        """A :class:`StreamError` (retryable: before any event reached the caller) that
        carries what was assembled so far."""
        exc = (RetryableStreamError if retryable else StreamError)(message, error=error)
        self._attach_partial(exc)
        return exc


E = TypeVar("E", bound=EventStream)
S = TypeVar("S", bound=EventStream)


class StreamRequest(Generic[S]):
    """What ``create_streaming`` returns: ``await`` it for the open stream (a
    :class:`ChatStream`, a ``ResponseStream``), or use it as ``async with`` to have the
    stream closed when the block ends."""

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



async def open_event_stream(
    transport: Transport,
    build: Callable[[], httpx.Request],
    make_stream: Callable[..., E],
    *,
    call: str = "the stream",
    hooks: HookRunner | None = None,
    call_info: CallInfo | None = None,
    timeout: Timeout,  # noqa: ASYNC109 (a Timeout of several bounds)
    retries: RetryConfig,
    max_event_size: int,
    max_response_size: int,
) -> E:
    """Send a streaming request (with retries until the first event) and return the
    stream ``make_stream`` makes of the response (it takes :class:`EventStream`'s
    arguments); ``call`` names it in the logs.

    The ``total`` bound covers the opening too: connecting, every attempt and every
    back-off sleep between them.
    """
    started = time.monotonic()
    total_at = None if timeout.total is None else started + timeout.total

    async def attempt() -> E:
        deadline = Deadline.for_call(timeout, total_at)
        request = build()
        if hooks is not None:
            assert call_info is not None
            await hooks.request(call_info, request)
        response = await transport.send(request, deadline)
        try:
            if hooks is not None:
                assert call_info is not None
                await hooks.response(call_info, response)
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
        )
        await stream._prefetch()
        return stream

    on_retry = None if hooks is None or call_info is None else partial(hooks.retry, call_info)
    if total_at is None:
        return await call_with_retries(attempt, retries, call=call, on_retry=on_retry)
    # Reads are bounded by the deadline already; this scope bounds connecting and writing.
    with anyio.CancelScope(deadline=anyio.current_time() + (total_at - started)) as scope:
        return await call_with_retries(attempt, retries, total_at, call=call, on_retry=on_retry)
    assert scope.cancelled_caught
    raise APITimeoutError("total", timeout.total, "while opening the stream")
