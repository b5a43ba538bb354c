"""Sudo, the blocking facade: the async client run on an event loop in a helper thread
(an anyio blocking portal). Same surface, synchronous; not a second implementation.

A client that is never closed must not keep the process alive: its loop runs in a daemon
thread, and it is closed (with a ``ResourceWarning``) when it is garbage collected or, if
it is still open then, when the interpreter exits."""

from __future__ import annotations

import atexit
import copy
import os
import threading
import warnings
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, suppress
from types import TracebackType
from typing import Any, Concatenate, Final, Generic, Literal, ParamSpec, TypeVar, overload

import anyio
import anyio.abc
import httpx
from anyio.from_thread import BlockingPortal
from typing_extensions import Self, Unpack

from ._config import RetryConfig, RetryLike, Timeout, TimeoutLike
from ._event_stream import EventStream
from ._params import CallOptions, ChatParams, ImageParams, ParseParams, ToolRunParams
from ._parsed_stream import ParsedChatStream
from ._raw import RawResponse, capture
from ._response_params import ResponseParams, ResponseToolRunParams
from ._response_stream import ResponseStream
from ._response_tool_loop import ResponseInputItem, ResponseToolRun, ResponseToolRunResult
from ._stream import ChatStream, StreamStatistics, _EventIterator
from ._tls import CertTypes, VerifyTypes
from ._tool_loop import ToolLoop, ToolRun, ToolRunResult
from .client import (
    _KEEP,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_RESPONSE_SIZE,
    AsyncSudo,
    _Keep,
)
from .hooks import Hooks
from .models.chunk import ChatCompletionChunk
from .models.completion import ChatCompletion
from .models.events import StreamEvent, TextDelta, ToolRunEvent
from .models.image import ImageGeneration
from .models.parsed import ParsedChatCompletion
from .models.ratelimit import RateLimitInfo
from .models.request import MessageParam
from .models.response_events import (
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseToolRunEvent,
)
from .models.responses import Response, ResponseInput
from .models.service import HealthStatus, ModelList
from .models.stored import (
    ChatCompletionList,
    ChatDeletionConfirmation,
    ChatMessageList,
    ListPage,
    StoredMessage,
)
from .responses import AsyncResponses, _seed_input
from .router import AsyncPager, AsyncRouter
from .tools import FunctionTool

T = TypeVar("T")
E = TypeVar("E")
R = TypeVar("R")
P = ParamSpec("P")
Item = TypeVar("Item")
Page = TypeVar("Page", bound="ListPage[Any]")

_DEFAULT_RETRIES = RetryConfig()
_DEFAULT_TIMEOUT = Timeout()


class _LoopThread:
    """An event loop in a daemon thread of our own, reached through a blocking portal.

    Not anyio's ``start_blocking_portal``: a context manager left open is a suspended
    generator, which the garbage collector closes at interpreter exit, once the loop's
    thread is frozen; its ``portal.stop`` then waits forever (a ``Sudo()`` never closed
    hung the interpreter at exit).
    """

    def __init__(self, backend: str) -> None:
        ready: Future[BlockingPortal] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(backend, ready), name=f"sudo_stream-{backend}", daemon=True
        )
        self._thread.start()
        self._pid = os.getpid()
        self.portal: BlockingPortal = ready.result()

    @staticmethod
    def _run(backend: str, ready: Future[BlockingPortal]) -> None:
        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        try:
            anyio.run(serve, backend=backend)
        except BaseException as exc:  # the loop could not start: the caller gets it
            if not ready.done():
                ready.set_exception(exc)

    @property
    def in_this_process(self) -> bool:
        """False in a forked child: the loop's thread is the parent's, nothing runs it."""
        return self._pid == os.getpid()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop once its tasks are done, and wait for the thread (not from it)."""
        with suppress(RuntimeError, FutureTimeout):  # stopped already, or stuck at exit
            self.portal.start_task_soon(self.portal.stop).result(timeout)
        self._thread.join(timeout)

    def close_soon(self, cleanup: Callable[[], Awaitable[object]]) -> None:
        """Run ``cleanup`` on the loop, then stop it, from a helper thread: without waiting,
        from any thread (the collector may call this anywhere: on the loop's own thread,
        or holding a lock that the loop needs to take the task)."""
        if not self.in_this_process:
            return

        def close() -> None:
            with suppress(Exception):  # RuntimeError: stopped already
                self.portal.call(cleanup)
            self.stop()

        threading.Thread(target=close, name=f"{self._thread.name}-close", daemon=True).start()


_EXIT_TIMEOUT = 5.0  # seconds closing a forgotten client may take at exit, at most
_open_runners: weakref.WeakSet[_Runner] = weakref.WeakSet()


class _Runner:
    """Runs coroutines on the loop of one :class:`Sudo`; Ctrl-C cancels the running one.

    Everything a Sudo hands out (streams, pages) holds its runner, so the loop lives as
    long as any of them; a runner collected unclosed closes the client and stops the loop.
    """

    def __init__(self, backend: str, client: AsyncSudo) -> None:
        self._loop = _LoopThread(backend)
        self.portal: BlockingPortal = self._loop.portal
        self._client = client
        # tool runs open: each has a task on the loop
        self.runs: set[_SyncToolLoop[Any, Any]] = set()
        self._forgotten: weakref.finalize[[str, _LoopThread, AsyncSudo], _Runner]
        self._forgotten = weakref.finalize(self, _collected_open, repr(client), self._loop, client)
        self._forgotten.atexit = False  # _close_at_exit waits for the close instead
        _open_runners.add(self)

    def run(self, func: Callable[[], Awaitable[T]]) -> T:
        future = self.portal.start_task_soon(func)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: stop the task, which closes its stream
            raise

    def iterate(self, source: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self.run(source.__anext__)
            except StopAsyncIteration:
                return

    def close(self, streams: Sequence[_BlockingStream[Any] | _SyncToolLoop[Any, Any]] = ()) -> None:
        """Close ``streams`` (and tool runs) and the client, then stop the loop (once)."""
        if self._forgotten.detach() is None:
            return
        _open_runners.discard(self)
        try:
            for stream in streams:
                stream.close()
            self.run(self._client.aclose)
        finally:
            self._loop.stop()

    def close_at_exit(self) -> None:
        """Close a client still open at interpreter exit, bounded in time."""
        if not self._loop.in_this_process or self._forgotten.detach() is None:
            return
        try:
            _warn_unclosed(repr(self._client), "at exit")
        finally:
            with suppress(Exception):
                for run in list(self.runs):  # or stopping the loop would wait for them
                    run.close(_EXIT_TIMEOUT)
                self.portal.start_task_soon(self._client.aclose).result(_EXIT_TIMEOUT)
            self._loop.stop(_EXIT_TIMEOUT)


def _warn_unclosed(client: str, when: str) -> None:
    warnings.warn(
        f"{client.replace('AsyncSudo', 'Sudo', 1)} was never closed; closed {when} "
        "(use `with Sudo(...) as sudo:` or call close())",
        ResourceWarning,
        stacklevel=2,
    )


def _collected_open(client_repr: str, loop: _LoopThread, client: AsyncSudo) -> None:
    """A runner collected unclosed: close its client and stop its loop, without waiting
    (this runs on whatever thread the collector interrupted)."""
    try:
        _warn_unclosed(client_repr, "when garbage collected")
    finally:
        loop.close_soon(client.aclose)


@atexit.register
def _close_at_exit() -> None:
    # atexit runs before the interpreter freezes daemon threads: the loops still run.
    failure: BaseException | None = None
    for runner in list(_open_runners):
        try:
            runner.close_at_exit()
        except BaseException as exc:  # the warning, under -W error: close the others too
            failure = failure or exc
    if failure is not None:
        raise failure


_BATCH = 256


class _Batched(Iterator[T]):
    """An async iterator read from the blocking side, a batch per trip to the loop's
    thread (which costs far more than an item): the next item, waiting for it if need
    be, then every one that is already here (``ready()``; at most a few hundred), never
    waiting for more. An error after some items is raised once they are delivered."""

    def __init__(
        self,
        runner: _Runner,
        source: AsyncIterator[T],
        ready: Callable[[], bool],
        owner: object = None,
    ) -> None:
        self._runner = runner
        self._source = source
        self._ready = ready
        self._owner = owner  # kept alive while this is iterated
        self._buffer: deque[T] = deque()
        self._ended = False
        self._failure: BaseException | None = None

    def __next__(self) -> T:
        if not self._buffer:
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self._ended:
                raise StopIteration
            self._buffer.extend(self._runner.run(self._take_ready))
            if not self._buffer:
                raise StopIteration
        return self._buffer.popleft()

    async def _take_ready(self) -> list[T]:
        source, ready = self._source, self._ready
        batch: list[T] = []
        try:
            batch.append(await source.__anext__())
            while len(batch) < _BATCH and ready():
                batch.append(await source.__anext__())
        except StopAsyncIteration:
            self._ended = True
        except Exception as exc:
            if not batch:
                raise
            self._failure = exc  # deliver the items that came first, then the error
        return batch


class _BlockingStream(AbstractContextManager[Any], Generic[Item]):
    """What every blocking stream has: iteration (a batch per trip to the loop's thread),
    the response head, statistics, closing (also when dropped unclosed). ``_stream`` is
    the async stream it drives on the loop's thread; iterating that gives the items."""

    def __init__(self, runner: _Runner, stream: EventStream, items: AsyncIterator[Item]) -> None:
        self._runner = runner
        self._stream = stream
        self._items = _Batched(runner, items, stream.ready)

    def __enter__(self) -> Self:
        return self

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Item:
        return next(self._items)

    def statistics(self) -> StreamStatistics:
        """Progress so far."""
        return self._stream.statistics()

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self._stream.headers

    @property
    def request_id(self) -> str | None:
        """The server's request id."""
        return self._stream.request_id

    @property
    def closed(self) -> bool:
        """True once the response is closed."""
        return self._stream.closed

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The rate limits the response reported (see :attr:`ChatStream.rate_limit`)."""
        return self._stream.rate_limit

    def close(self) -> None:
        """Close the response now."""
        if not self._stream.closed:
            self._runner.run(self._stream.aclose)

    def __del__(self) -> None:
        # Left without close(): hand the close to the loop's thread, without waiting. On
        # RuntimeError the client is closed (so is the stream), or this is the loop's own
        # thread, where the client's close will see to it.
        stream = getattr(self, "_stream", None)
        if stream is not None and not stream.closed:
            with suppress(RuntimeError):
                self._runner.portal.start_task_soon(stream.aclose)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Stream(_BlockingStream[ChatCompletionChunk]):
    """A blocking chat stream: iterate it for chunks; ``with`` it to close it early.

    Chunks, events and text are fetched from the event loop's thread a batch per trip:
    whatever has already arrived, never waiting for more than the next one. A stream left
    early without ``with`` (a ``break`` out of ``for``) is closed once nothing refers to it.
    """

    _stream: ChatStream

    def __init__(self, runner: _Runner, stream: ChatStream) -> None:
        super().__init__(runner, stream, stream)

    def events(self) -> Iterator[StreamEvent]:
        """Typed events, as :meth:`ChatStream.events`."""
        events = _EventIterator(self._stream)  # what ChatStream.events() returns
        return _Batched(self._runner, events, events.ready, owner=self)

    def text(self, choice_index: int = 0) -> Iterator[str]:
        """Text deltas of one choice."""
        for event in self.events():
            if isinstance(event, TextDelta) and event.choice_index == choice_index:
                yield event.text

    def final_completion(self) -> ChatCompletion:
        """Read the rest and return the assembled completion."""
        return self._runner.run(self._stream.final_completion)

    def current_completion(self) -> ChatCompletion:
        """The completion assembled from the chunks received so far."""
        return self._stream.current_completion()


class BlockingResponseStream(_BlockingStream[ResponseStreamEvent]):
    """A blocking Responses stream (see :class:`ResponseStream`): iterate it for the
    typed events, fetched a batch per trip to the loop's thread; ``with`` it to close it
    early."""

    _stream: ResponseStream

    def __init__(self, runner: _Runner, stream: ResponseStream) -> None:
        super().__init__(runner, stream, stream)

    def text(self) -> Iterator[str]:
        """The output text deltas."""
        for event in self:
            if type(event) is ResponseTextDeltaEvent:
                yield event.delta

    def final_response(self) -> Response:
        """Read the rest and return the final response."""
        return self._runner.run(self._stream.final_response)

    def current_response(self) -> Response:
        """The response assembled from the events received so far."""
        return self._stream.current_response()


class ParsedStream(Stream, Generic[T]):
    """A blocking stream asked for an instance of a type (see :class:`ParsedChatStream`):
    :meth:`partial_objects` while it streams, a typed :meth:`final_completion`."""

    def __init__(self, runner: _Runner, stream: ParsedChatStream[T]) -> None:
        super().__init__(runner, stream)
        self._parsed_stream = stream

    def partial_objects(self, choice_index: int = 0) -> Iterator[dict[str, Any]]:
        """The object so far after each piece of the answer, as
        :meth:`ParsedChatStream.partial_objects`."""
        snapshots = self._parsed_stream.partial_objects(choice_index)
        return _Batched(self._runner, snapshots, snapshots.ready, owner=self)

    def final_completion(self) -> ParsedChatCompletion[T]:
        """Read the rest and return the completion with ``message.parsed`` typed."""
        return self._runner.run(self._parsed_stream.final_completion)


class _SyncToolLoop(AbstractContextManager[Any], Generic[E, R]):
    """A blocking tool loop: iterate it for the same events, ``final_result()`` for what
    it ends with. Use it as ``with``: leaving the block closes the turn's stream and
    cancels the tool calls still running. Iterated without ``with``, it closes itself when
    the iteration ends; left early, when :meth:`close` is called or the client closes.
    ``final_result()`` alone runs the whole loop and closes it.
    """

    def __init__(
        self, runner: _Runner, run: ToolLoop[Any, E, R], open_runs: set[_SyncToolLoop[Any, Any]]
    ) -> None:
        self._runner = runner
        self._run = run
        self._open_runs = open_runs
        self._events = _Batched(runner, run, run.ready)
        self._holder: Future[None] | None = None
        self._release: anyio.Event | None = None
        self._closed = False

    def _open(self) -> None:
        # The run's task group (its tool calls) lives in a task of its own on the loop,
        # from here to close(): each step of the iteration is a task of its own.
        if self._holder is None and not self._closed:
            self._holder, _ = self._runner.portal.start_task(self._hold)
            self._open_runs.add(self)

    async def _hold(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        self._release = anyio.Event()
        async with self._run:
            task_status.started()
            await self._release.wait()

    def __enter__(self) -> Self:
        self._open()
        return self

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> E:
        self._open()
        try:
            return next(self._events)
        except BaseException:  # the end (StopIteration), an error, Ctrl-C: done
            self.close()
            raise

    def final_result(self) -> R:
        """Run the loop to its end and return what it ended with."""
        return self._runner.run(self._run.final_result)

    def close(self, timeout: float | None = None) -> None:
        """Close the turn's stream and cancel the tool calls still running (waiting at
        most ``timeout`` seconds for them to end)."""
        if self._closed:
            return
        self._closed = True
        holder, release = self._holder, self._release
        if holder is None or release is None:
            return
        self._open_runs.discard(self)
        self._runner.portal.call(release.set)
        holder.result(timeout)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncToolRun(_SyncToolLoop[ToolRunEvent, ToolRunResult]):
    """A blocking tool loop (see :meth:`AsyncRouter.run_tools`): iterate it for the same
    events, ``final_result()`` for the last answer and the whole conversation
    (:class:`ToolRunResult`).

    Use it as ``with sudo.router.run_tools(...) as run:``: leaving the block closes the
    turn's stream and cancels the tool calls still running. Iterated without ``with``, it
    closes itself when the iteration ends; left early, when :meth:`close` is called or the
    client closes. ``final_result()`` alone runs the whole loop and closes it.
    """

    _run: ToolRun

    @property
    def messages(self) -> list[MessageParam]:
        """The conversation so far."""
        return self._run.messages


class SyncResponseToolRun(_SyncToolLoop[ResponseToolRunEvent, ResponseToolRunResult]):
    """A blocking Responses tool loop (see :meth:`AsyncResponses.run_tools`): iterate it
    for the same events, ``final_result()`` for the last response and the whole input
    (:class:`ResponseToolRunResult`); ``with`` it as :class:`SyncToolRun`."""

    _run: ResponseToolRun

    @property
    def input(self) -> list[ResponseInputItem]:
        """The input so far."""
        return self._run.input


class SyncPage(Generic[Page, Item]):
    """A fetched list page; iterating it walks the items of every page, fetching lazily.

    ``page`` is the list model itself (:class:`~sudo_stream.models.ChatCompletionList` or
    :class:`~sudo_stream.models.ChatMessageList`); its fields read through as attributes.
    """

    def __init__(self, runner: _Runner, pager: AsyncPager[Page, Item], page: Page) -> None:
        self._runner = runner
        self._pager = pager
        self.page = page

    @property
    def object(self) -> str:
        """The list's ``object`` type, ``"list"``."""
        value: str = self.page.object
        return value

    @property
    def data(self) -> list[Item]:
        """The items of this page."""
        data: list[Item] = self.page.data
        return data

    @property
    def has_more(self) -> bool:
        """Whether a next page exists."""
        value: bool = self.page.has_more
        return value

    @property
    def first_id(self) -> str | None:
        """Id of the first item of this page."""
        value: str | None = self.page.first_id
        return value

    @property
    def last_id(self) -> str | None:
        """Id of the last item of this page."""
        value: str | None = self.page.last_id
        return value

    def pages(self) -> Iterator[Page]:
        """This page, then every following page."""
        yield self.page
        yield from self._runner.iterate(self._pager.pages(after_page=self.page))

    def __iter__(self) -> Iterator[Item]:
        for page in self.pages():
            yield from page.data

    def __repr__(self) -> str:
        return repr(self.page)


class _BlockingRaw(Generic[P, R]):
    """An operation of a blocking raw view: an async operation's parameters, run on the
    loop's thread, a :class:`RawResponse` back."""

    def __init__(self, operation: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        self._operation = operation
        self.__doc__ = f"As ``{operation.__name__}``, with the response (a RawResponse)."

    @overload
    def __get__(self, view: None, owner: type[Any]) -> _BlockingRaw[P, R]: ...

    @overload
    def __get__(self, view: _BlockingRawView, owner: type[Any]) -> Callable[P, RawResponse[R]]: ...

    def __get__(self, view: _BlockingRawView | None, owner: type[Any]) -> Any:
        if view is None:
            return self
        operation, target, runner = self._operation, view._target, view._runner

        def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[R]:
            return runner.run(lambda: capture(lambda: operation(target, *args, **kwargs)))

        return call


class _BlockingRawView:
    def __init__(self, runner: _Runner, target: Any) -> None:
        self._runner = runner
        self._target = target


class RawRouter(_BlockingRawView):
    """``sudo.router.with_raw_response`` of the blocking client: the non-streamed
    operations, each returning a :class:`RawResponse` (see :class:`AsyncRawRouter`)."""

    create: Final = _BlockingRaw(AsyncRouter.create)
    get_chat_completion: Final = _BlockingRaw(AsyncRouter.get_chat_completion)
    update_chat_completion: Final = _BlockingRaw(AsyncRouter.update_chat_completion)
    delete_chat_completion: Final = _BlockingRaw(AsyncRouter.delete_chat_completion)
    generate_image: Final = _BlockingRaw(AsyncRouter.generate_image)
    get_supported_models: Final = _BlockingRaw(AsyncRouter.get_supported_models)
    health_check: Final = _BlockingRaw(AsyncRouter.health_check)

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        **params: Unpack[ParseParams],
    ) -> RawResponse[ParsedChatCompletion[T]]:
        """As :meth:`Router.parse`, with the response (a :class:`RawResponse`)."""
        router: AsyncRouter = self._target
        return self._runner.run(
            lambda: router.with_raw_response.parse(
                messages=messages, model=model, response_format=response_format, **params
            )
        )


class RawResponses(_BlockingRawView):
    """``sudo.responses.with_raw_response`` of the blocking client."""

    create: Final = _BlockingRaw(AsyncResponses.create)
    create_response: Final = _BlockingRaw(AsyncResponses.create_response)


class Router:
    """The router operations of :class:`Sudo`, blocking."""

    def __init__(self, owner: Sudo) -> None:
        self._streams = owner._streams  # not the Sudo: no cycle to delay its collection
        self._runs = owner._runs
        self._runner = owner._runner
        self._router = owner._client.router

    @property
    def with_raw_response(self) -> RawRouter:
        """The non-streamed operations, each returning a :class:`RawResponse`: the typed
        result with the HTTP response it came in (status, headers, request id, rate
        limits)."""
        return RawRouter(self._runner, self._router)

    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = False,
        **params: Unpack[ChatParams],
    ) -> ChatCompletion:
        """Create a chat completion and wait for it."""
        return self._runner.run(
            lambda: self._router.create(messages=messages, model=model, stream=stream, **params)
        )

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[T]:
        """A chat completion answering with an instance of ``response_format``
        (see :meth:`AsyncRouter.parse`)."""
        return self._runner.run(
            lambda: self._router.parse(
                messages=messages, model=model, response_format=response_format, **params
            )
        )

    @overload
    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        stream: bool = True,
        **params: Unpack[ParseParams],
    ) -> ParsedStream[T]: ...

    @overload
    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = True,
        **params: Unpack[ChatParams],
    ) -> Stream: ...

    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = True,
        **params: Any,
    ) -> Stream:
        """Open a chat stream (after its first event arrived); with ``response_format``
        a type, a :class:`ParsedStream` of that type."""
        request = self._router.create_streaming(
            messages=messages, model=model, stream=stream, **params
        )

        async def open_stream() -> ChatStream:
            stream: ChatStream = await request
            return stream

        opened = self._runner.run(open_stream)
        if isinstance(opened, ParsedChatStream):
            blocking: Stream = ParsedStream[Any](self._runner, opened)
        else:
            blocking = Stream(self._runner, opened)
        self._streams.add(blocking)
        return blocking

    def run_tools(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        tools: Sequence[FunctionTool[Any] | Callable[..., Any]],
        max_turns: int = 10,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> SyncToolRun:
        """A tool loop (see :meth:`AsyncRouter.run_tools`): ``with`` it, iterate it for its
        events, and call ``final_result()``; or call ``final_result()`` alone."""
        run = self._router.run_tools(
            messages=messages,
            model=model,
            tools=tools,
            max_turns=max_turns,
            tool_timeout=tool_timeout,
            **params,
        )
        return SyncToolRun(self._runner, run, self._runs)

    def list_chat_completions(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        metadata: Mapping[str, str] | None = None,
        model: str | None = None,
        order: str | None = None,
        **options: Unpack[CallOptions],
    ) -> SyncPage[ChatCompletionList, ChatCompletion]:
        """The first page of stored completions; iterate it for all of them."""
        pager = self._router.list_chat_completions(
            after=after, limit=limit, metadata=metadata, model=model, order=order, **options
        )
        return SyncPage(self._runner, pager, self._runner.run(pager.first_page))

    def get_chat_completion(
        self, completion_id: str, **options: Unpack[CallOptions]
    ) -> ChatCompletion:
        """A stored chat completion."""
        return self._runner.run(
            lambda: self._router.get_chat_completion(completion_id=completion_id, **options)
        )

    def update_chat_completion(
        self, completion_id: str, *, metadata: Mapping[str, str], **options: Unpack[CallOptions]
    ) -> ChatCompletion:
        """Replace a stored completion's metadata."""
        return self._runner.run(
            lambda: self._router.update_chat_completion(
                completion_id=completion_id, metadata=metadata, **options
            )
        )

    def delete_chat_completion(
        self, completion_id: str, **options: Unpack[CallOptions]
    ) -> ChatDeletionConfirmation:
        """Delete a stored chat completion."""
        return self._runner.run(
            lambda: self._router.delete_chat_completion(completion_id=completion_id, **options)
        )

    def get_chat_completion_messages(
        self,
        completion_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        **options: Unpack[CallOptions],
    ) -> SyncPage[ChatMessageList, StoredMessage]:
        """The first page of a stored completion's messages; iterate it for all of them."""
        pager = self._router.get_chat_completion_messages(
            completion_id=completion_id, after=after, limit=limit, order=order, **options
        )
        return SyncPage(self._runner, pager, self._runner.run(pager.first_page))

    def generate_image(
        self, *, prompt: str, model: str, **params: Unpack[ImageParams]
    ) -> ImageGeneration:
        """Generate images."""
        return self._runner.run(
            lambda: self._router.generate_image(prompt=prompt, model=model, **params)
        )

    def get_supported_models(self, **options: Unpack[CallOptions]) -> ModelList:
        """The models the router serves."""
        return self._runner.run(lambda: self._router.get_supported_models(**options))

    def health_check(self, **options: Unpack[CallOptions]) -> HealthStatus:
        """The service's health."""
        return self._runner.run(lambda: self._router.health_check(**options))


class Responses:
    """The Responses API of :class:`Sudo`, blocking."""

    def __init__(self, owner: Sudo) -> None:
        self._streams = owner._streams
        self._runs = owner._runs
        self._runner = owner._runner
        self._responses = owner._client.responses

    @property
    def with_raw_response(self) -> RawResponses:
        """:meth:`create` returning a :class:`RawResponse`."""
        return RawResponses(self._runner, self._responses)

    def create(
        self,
        *,
        model: str,
        input: ResponseInput,
        stream: bool | None = False,
        **params: Unpack[ResponseParams],
    ) -> Response:
        """Create a response and wait for it."""
        return self._runner.run(
            lambda: self._responses.create(model=model, input=input, stream=stream, **params)
        )

    def create_streaming(
        self,
        *,
        model: str,
        input: ResponseInput,
        stream: bool = True,
        **params: Unpack[ResponseParams],
    ) -> BlockingResponseStream:
        """Open a Responses stream (after its first event arrived)."""
        request = self._responses.create_streaming(
            model=model, input=input, stream=stream, **params
        )

        async def open_stream() -> ResponseStream:
            return await request

        blocking = BlockingResponseStream(self._runner, self._runner.run(open_stream))
        self._streams.add(blocking)
        return blocking

    def run_tools(
        self,
        *,
        model: str,
        input: ResponseInput,
        tools: Sequence[FunctionTool[Any] | Callable[..., Any]],
        max_turns: int = 10,
        tool_timeout: float | None = None,
        **params: Unpack[ResponseToolRunParams],
    ) -> SyncResponseToolRun:
        """A tool loop over the Responses API (see :meth:`AsyncResponses.run_tools`):
        ``with`` it, iterate it for its events, and call ``final_result()``; or call
        ``final_result()`` alone."""
        run = self._responses.run_tools(
            model=model,
            input=input,
            tools=tools,
            max_turns=max_turns,
            tool_timeout=tool_timeout,
            **params,
        )
        return SyncResponseToolRun(self._runner, run, self._runs)

    def create_response(
        self,
        *,
        model: str,
        input: ResponseInput | None = None,
        input_: ResponseInput | None = None,
        **params: Unpack[ResponseParams],
    ) -> Response:
        """The seed SDK's name for :meth:`create`."""
        return self._runner.run(
            lambda: self._responses.create_response(
                model=model, input=input, input_=input_, **params
            )
        )

    def create_streaming_response(
        self,
        *,
        model: str,
        input: ResponseInput | None = None,
        input_: ResponseInput | None = None,
        **params: Unpack[ResponseParams],
    ) -> BlockingResponseStream:
        """The seed SDK's name for :meth:`create_streaming`."""
        return self.create_streaming(model=model, input=_seed_input(input, input_), **params)


class Sudo(AbstractContextManager["Sudo"]):
    """Blocking client of the Sudo API, for scripts and the seed SDK's examples.

    It runs an :class:`AsyncSudo` on an event loop in a helper thread (``backend`` is
    ``"asyncio"`` or ``"trio"``); the other arguments are :class:`AsyncSudo`'s. Use
    ``with Sudo(...) as sudo:`` or call :meth:`close`; closing also closes every stream
    still open. A client never closed is closed, with a ``ResourceWarning``, once nothing
    refers to it (nor to a stream or page it returned), or at interpreter exit.
    """

    router: Router
    responses: Responses

    def __init__(
        self,
        api_key: str | None = None,
        server_url: str | None = None,
        *,
        retries: RetryLike = _DEFAULT_RETRIES,
        timeout: TimeoutLike = _DEFAULT_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        system_trust_store: bool = False,
        hooks: Hooks | Sequence[Hooks] | None = None,
        backend: Literal["asyncio", "trio"] = "asyncio",
    ) -> None:
        self._client = AsyncSudo(
            api_key,
            server_url,
            retries=retries,
            timeout=timeout,
            default_headers=default_headers,
            max_event_size=max_event_size,
            max_response_size=max_response_size,
            max_connections=max_connections,
            verify=verify,
            cert=cert,
            system_trust_store=system_trust_store,
            hooks=hooks,
        )
        self._runner = _Runner(backend, self._client)
        self._derived = False
        self._streams: weakref.WeakSet[_BlockingStream[Any]] = weakref.WeakSet()
        self._runs = self._runner.runs
        self.router = Router(self)
        self.responses = Responses(self)

    @property
    def server_url(self) -> str:
        """The base URL requests go to."""
        return self._client.server_url

    def __repr__(self) -> str:
        return repr(self._client).replace("AsyncSudo", "Sudo", 1)

    def with_options(
        self,
        *,
        retries: RetryLike | _Keep = _KEEP,
        timeout: TimeoutLike | _Keep = _KEEP,
        default_headers: Mapping[str, str] | None = None,
    ) -> Sudo:
        """This client with other defaults, on the same connections and helper thread (see
        :meth:`AsyncSudo.with_options`). Closing it closes the streams opened through it;
        closing this client closes everything (tool runs too)."""
        twin = copy.copy(self)
        twin._client = self._client.with_options(
            retries=retries, timeout=timeout, default_headers=default_headers
        )
        twin._derived = True
        twin._streams = weakref.WeakSet()
        twin.router = Router(twin)
        twin.responses = Responses(twin)
        return twin

    def close(self) -> None:
        """Close open streams and tool runs, the connection pool and the helper thread."""
        if self._derived:  # the connections and the thread are the original client's
            for stream in list(self._streams):
                stream.close()
            return
        self._runner.close([*self._runs, *self._streams])

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
