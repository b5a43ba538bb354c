"""Sudo, the blocking facade: the async client run on an event loop in a helper thread
(an anyio blocking portal). Same surface, synchronous; not a second implementation."""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from typing_extensions import Unpack

from ._config import RetryConfig, RetryLike, Timeout, TimeoutLike
from ._params import CallOptions, ChatParams, ImageParams
from ._stream import ChatStream, StreamStatistics, _EventIterator
from ._tls import CertTypes, VerifyTypes
from .client import DEFAULT_MAX_EVENT_SIZE, DEFAULT_MAX_RESPONSE_SIZE, AsyncSudo
from .models.chunk import ChatCompletionChunk
from .models.completion import ChatCompletion
from .models.events import StreamEvent, TextDelta
from .models.image import ImageGeneration
from .models.request import MessageParam
from .models.service import HealthStatus, ModelList
from .models.stored import (
    ChatCompletionList,
    ChatDeletionConfirmation,
    ChatMessageList,
    ListPage,
    StoredMessage,
)
from .router import AsyncPager

T = TypeVar("T")
Item = TypeVar("Item")
Page = TypeVar("Page", bound="ListPage[Any]")

_DEFAULT_RETRIES = RetryConfig()
_DEFAULT_TIMEOUT = Timeout()


class _Runner:
    """Runs coroutines on the portal's loop; Ctrl-C cancels the running one."""

    def __init__(self, portal: BlockingPortal) -> None:
        self.portal = portal

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


class Stream(AbstractContextManager["Stream"]):
    """A blocking chat stream: iterate it for chunks; ``with`` it to close it early.

    Chunks, events and text are fetched from the event loop's thread a batch per trip:
    whatever has already arrived, never waiting for more than the next one. A stream left
    early without ``with`` (a ``break`` out of ``for``) is closed once nothing refers to it.
    """

    def __init__(self, runner: _Runner, stream: ChatStream) -> None:
        self._runner = runner
        self._stream = stream
        self._chunks = _Batched(runner, stream, stream.ready)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._chunks)

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

    def statistics(self) -> StreamStatistics:
        """Progress so far."""
        return self._stream.statistics()

    def current_completion(self) -> ChatCompletion:
        """The completion assembled from the chunks received so far."""
        return self._stream.current_completion()

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

    def close(self) -> None:
        """Close the response now."""
        if not self._stream.closed:
            self._runner.run(self._stream.aclose)

    def __del__(self) -> None:
        # Left without close(): hand the close to the loop's thread, without waiting. On
        # RuntimeError the client is closed (so is the stream), or this is the loop's own
        # thread, where the client's close will see to it.
        if not self._stream.closed:
            with suppress(RuntimeError):
                self._runner.portal.start_task_soon(self._stream.aclose)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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


class Router:
    """The router operations of :class:`Sudo`, blocking."""

    def __init__(self, owner: Sudo) -> None:
        self._owner = owner
        self._runner = owner._runner
        self._router = owner._client.router

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

    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = True,
        **params: Unpack[ChatParams],
    ) -> Stream:
        """Open a chat stream (after its first event arrived)."""
        request = self._router.create_streaming(
            messages=messages, model=model, stream=stream, **params
        )

        async def open_stream() -> ChatStream:
            return await request

        blocking = Stream(self._runner, self._runner.run(open_stream))
        self._owner._streams.add(blocking)
        return blocking

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


class Sudo(AbstractContextManager["Sudo"]):
    """Blocking client of the Sudo API, for scripts and the seed SDK's examples.

    It runs an :class:`AsyncSudo` on an event loop in a helper thread (``backend`` is
    ``"asyncio"`` or ``"trio"``; the other arguments are :class:`AsyncSudo`'s). Use
    ``with Sudo(...) as sudo:`` or call :meth:`close`; closing also closes every stream
    still open.
    """

    router: Router

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
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        system_trust_store: bool = False,
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
            verify=verify,
            cert=cert,
            system_trust_store=system_trust_store,
        )
        self._portal_cm = start_blocking_portal(backend)
        self._runner = _Runner(self._portal_cm.__enter__())
        self._streams: weakref.WeakSet[Stream] = weakref.WeakSet()
        self._closed = False
        self.router = Router(self)

    @property
    def server_url(self) -> str:
        """The base URL requests go to."""
        return self._client.server_url

    def __repr__(self) -> str:
        return repr(self._client).replace("AsyncSudo", "Sudo", 1)

    def close(self) -> None:
        """Close open streams, the connection pool and the helper thread."""
        if self._closed:
            return
        self._closed = True
        try:
            for stream in list(self._streams):
                stream.close()
            self._runner.run(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
