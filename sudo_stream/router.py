"""The operations of the Sudo API, thin: build the request, send it, decode the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload
from urllib.parse import quote

from typing_extensions import Unpack

from . import structured
from ._params import (
    CHAT_FIELDS,
    IMAGE_FIELDS,
    CallOptions,
    ChatParams,
    ImageParams,
    ParseParams,
    ToolRunParams,
    check_chat,
    check_image,
    check_metadata,
    split_params,
)
from ._parsed_stream import ParsedChatStream
from ._raw import RawResponse, RawView, capture, raw_operation
from ._stream import ChatStream, StreamRequest
from ._tool_loop import ToolRun, check_limits, function_tools
from .models.completion import ChatCompletion
from .models.image import ImageGeneration
from .models.parsed import ParsedChatCompletion
from .models.request import (
    ChatCompletionRequest,
    ImageGenerationRequest,
    MessageParam,
    encode_with_extra,
)
from .models.service import HealthStatus, ModelList
from .models.stored import (
    ChatCompletionList,
    ChatDeletionConfirmation,
    ChatMessageList,
    ListPage,
    StoredMessage,
)
from .tools import FunctionTool

if TYPE_CHECKING:
    from .client import AsyncSudo

Item = TypeVar("Item")
T = TypeVar("T")
Page = TypeVar("Page", bound="ListPage[Any]")

_CHAT_PATH = "/v1/chat/completions"


def chat_content(
    operation: str, messages: Any, model: Any, stream: bool, params: Mapping[str, Any]
) -> tuple[bytes, CallOptions]:
    """The checked and encoded body of a chat completion, and the call options among
    ``params`` (an unknown name is a TypeError, a bad value a ValueError or TypeError)."""
    body, options = split_params(operation, params, CHAT_FIELDS)
    check_chat(messages, model, body)
    request = ChatCompletionRequest(messages=messages, model=model, stream=stream, **body)
    return encode_with_extra(request, options.get("extra_body")), options


def image_content(
    operation: str, prompt: Any, model: Any, params: Mapping[str, Any]
) -> tuple[bytes, CallOptions]:
    """The checked and encoded body of an image generation, and the call options."""
    body, options = split_params(operation, params, IMAGE_FIELDS)
    check_image(prompt, model, body)
    request = ImageGenerationRequest(prompt=prompt, model=model, **body)
    return encode_with_extra(request, options.get("extra_body")), options


def _completion_path(completion_id: str, suffix: str = "") -> str:
    if not isinstance(completion_id, str) or not completion_id:
        raise ValueError(f"completion_id must be a non-empty string, got {completion_id!r}")
    # Escape everything, '/' included, so an id can never change the path.
    return f"{_CHAT_PATH}/{quote(completion_id, safe='')}{suffix}"


def _list_query(**params: Any) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if name == "metadata":
            if not isinstance(value, Mapping):
                raise TypeError("metadata must be a mapping of str to str")
            for key, item in value.items():
                if not isinstance(key, str) or not isinstance(item, str):
                    raise TypeError("metadata keys and values must be strings")
                query.append((f"metadata[{key}]", item))
        elif name == "limit":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit must be an int >= 1, got {value!r}")
            query.append((name, str(value)))
        elif name == "order":
            if value not in ("asc", "desc"):
                raise ValueError(f"order must be 'asc' or 'desc', got {value!r}")
            query.append((name, value))
        else:
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {type(value).__name__}")
            query.append((name, value))
    return query


class AsyncPager(Generic[Page, Item]):
    """A paginated list: ``await`` it for the first page, ``async for`` it for every item
    (pages fetched lazily with ``after``), or ``async for page in pager.pages()``."""

    def __init__(
        self,
        client: AsyncSudo,
        path: str,
        query: list[tuple[str, str]],
        page_type: type[Page],
        options: CallOptions,
    ) -> None:
        self._client = client
        self._path = path
        self._query = query
        self._page_type = page_type
        self._options = options

    async def _fetch(self, after: str | None) -> Page:
        query = [(k, v) for k, v in self._query if k != "after"]
        if after is not None:
            query.append(("after", after))
        return await self._client._execute(
            "GET", self._path, self._page_type, query=query, options=self._options
        )

    async def first_page(self) -> Page:
        """The page the call asked for."""
        return await self._fetch(next((v for k, v in self._query if k == "after"), None))

    def __await__(self) -> Generator[Any, None, Page]:
        return self.first_page().__await__()

    async def pages(self, *, after_page: Page | None = None) -> AsyncIterator[Page]:
        """Every page in turn, following ``last_id`` while ``has_more`` (starting after
        ``after_page`` when given)."""
        if after_page is None:
            page = await self.first_page()
            yield page
        else:
            page = after_page
        while page.has_more and page.data and page.last_id is not None:
            after = page.last_id
            page = await self._fetch(after)
            yield page
            if page.last_id == after:
                return  # a server that does not advance would loop forever

    async def __aiter__(self) -> AsyncIterator[Item]:
        async for page in self.pages():
            for item in page.data:
                yield item


class AsyncRouter:
    """The router operations of :class:`AsyncSudo` (``sudo.router``)."""

    def __init__(self, client: AsyncSudo) -> None:
        self._client = client

    @property
    def with_raw_response(self) -> AsyncRawRouter:
        """The non-streamed operations, each returning a :class:`RawResponse`: the typed
        result with the HTTP response it came in (status, headers, request id, rate
        limits): ``raw = await sudo.router.with_raw_response.create(...)``."""
        return AsyncRawRouter(self)

    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool | None = False,
        **params: Unpack[ChatParams],
    ) -> ChatCompletion:
        """Create a chat completion and wait for the whole answer (``stream`` may be
        ``False`` or ``None``; streaming is :meth:`create_streaming`)."""
        if stream is not False and stream is not None:
            raise ValueError("create() takes stream=False; use create_streaming() to stream")
        if isinstance(params.get("response_format"), type):
            raise TypeError(
                "create() takes response_format as a dict; for a type, call parse() (or "
                "create_streaming(), which streams the object) to get it back decoded"
            )
        content, options = chat_content("create", messages, model, False, params)
        return await self._client._execute(
            "POST", _CHAT_PATH, ChatCompletion, content=content, options=options
        )

    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[T]:
        """Create a chat completion that answers with an instance of ``response_format``
        (a ``msgspec.Struct``, dataclass, ``TypedDict`` or pydantic model), asked for with
        a strict JSON schema; ``choices[i].message.parsed`` is that instance.

        A refusal leaves ``parsed`` as ``None`` (the reason is in ``message.refusal``);
        an answer cut short raises :class:`~sudo_stream.structured.LengthFinishReasonError`
        or :class:`~sudo_stream.structured.ContentFilterFinishReasonError`, one that is
        not an instance :class:`~sudo_stream.structured.StructuredOutputError`, each with
        the text as it came.
        """
        fields = {**params, "response_format": structured.response_format(response_format)}
        content, options = chat_content("parse", messages, model, False, fields)
        completion = await self._client._execute(
            "POST", _CHAT_PATH, ParsedChatCompletion[Any], content=content, options=options
        )
        return structured.parse_choices(completion, response_format)

    @overload
    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        stream: bool = True,
        **params: Unpack[ParseParams],
    ) -> StreamRequest[ParsedChatStream[T]]: ...

    @overload
    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = True,
        **params: Unpack[ChatParams],
    ) -> StreamRequest[ChatStream]: ...

    def create_streaming(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        stream: bool = True,
        **params: Any,
    ) -> StreamRequest[Any]:
        """Create a chat completion streamed as server-sent events.

        ``await`` the result for an open :class:`ChatStream`, or ``async with`` it.

        With ``response_format`` a type (as :meth:`parse` takes), the stream is a
        :class:`ParsedChatStream`: ``partial_objects()`` gives the object so far as it
        streams, and ``final_completion()`` the typed one.
        """
        if stream is not True:
            raise ValueError("create_streaming() takes stream=True; use create() otherwise")
        return self._stream_request("create_streaming", messages, model, params)

    def _stream_request(
        self, operation: str, messages: Any, model: Any, params: Mapping[str, Any]
    ) -> StreamRequest[Any]:
        shape = params.get("response_format")
        if isinstance(shape, type):
            params = {**params, "response_format": structured.response_format(shape)}
        content, options = chat_content(operation, messages, model, True, params)
        # Without [DONE], the stream is whole once this many choices have finished.
        choices = (options.get("extra_body") or {}).get("n", params.get("n"))
        choices = choices if isinstance(choices, int) and choices > 0 else 1
        open_stream = self._client._open_stream
        if isinstance(shape, type):
            parsed = partial(ParsedChatStream, choices=choices, response_format=shape)
            return StreamRequest(lambda: open_stream(_CHAT_PATH, content, options, parsed))
        plain = partial(ChatStream, choices=choices)
        return StreamRequest(lambda: open_stream(_CHAT_PATH, content, options, plain))

    def run_tools(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        tools: Sequence[FunctionTool[Any] | Callable[..., Any]],
        max_turns: int = 10,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> ToolRun:
        """Run a tool loop: stream a turn, run the tools the model asks for, send their
        results back, and again until the model answers without tool calls.

        ``tools`` are :func:`~sudo_stream.tool` functions (a plain function is made one).
        Use the result as ``async with ... as run:``; ``async for event in run`` gives
        each turn's :class:`TurnStarted`, its stream events as they arrive, and a
        :class:`ToolCallResult` per call as soon as it is done (the calls of a turn run
        at once); ``await run.final_result()`` gives the last answer and the whole
        conversation (:class:`ToolRunResult`).

        A call that cannot give a result (an unknown tool, arguments that do not fit, an
        exception, more than ``tool_timeout`` seconds) goes back to the model as an error
        result. After ``max_turns`` turns still asking for tools (their calls run),
        :class:`~sudo_stream.MaxTurnsExceededError` is raised. ``tool_choice`` and
        ``parallel_tool_calls`` are sent as given, on every turn; ``n`` must be 1.
        """
        functions = function_tools(tools)
        check_limits(max_turns, tool_timeout)
        extra_n = (params.get("extra_body") or {}).get("n")
        for n in (params.get("n"), extra_n):
            if n is not None and n != 1:
                raise ValueError(f"run_tools() takes one answer per turn: n must be 1, got n={n!r}")
        fields = {**params, "tools": [function.definition for function in functions.values()]}
        self._stream_request("run_tools", messages, model, fields)  # checked before it runs
        return ToolRun(
            lambda conversation: self._stream_request("run_tools", conversation, model, fields),
            messages=messages,
            tools=functions,
            max_turns=max_turns,
            tool_timeout=tool_timeout,
        )

    def list_chat_completions(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        metadata: Mapping[str, str] | None = None,
        model: str | None = None,
        order: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPager[ChatCompletionList, ChatCompletion]:
        """Stored chat completions (only those created with ``store=True``)."""
        split_params("list_chat_completions", options, frozenset(), sends_body=False)
        query = _list_query(after=after, limit=limit, metadata=metadata, model=model, order=order)
        return AsyncPager(self._client, _CHAT_PATH, query, ChatCompletionList, options)

    async def get_chat_completion(
        self, completion_id: str, **options: Unpack[CallOptions]
    ) -> ChatCompletion:
        """A stored chat completion."""
        split_params("get_chat_completion", options, frozenset(), sends_body=False)
        return await self._client._execute(
            "GET", _completion_path(completion_id), ChatCompletion, options=options
        )

    async def update_chat_completion(
        self, completion_id: str, *, metadata: Mapping[str, str], **options: Unpack[CallOptions]
    ) -> ChatCompletion:
        """Replace the metadata of a stored chat completion."""
        split_params("update_chat_completion", options, frozenset())
        if metadata is None:
            raise TypeError("metadata must be a mapping of str to str, got None")
        check_metadata("metadata", metadata)
        content = encode_with_extra({"metadata": dict(metadata)}, options.get("extra_body"))
        return await self._client._execute(
            "POST",
            _completion_path(completion_id),
            ChatCompletion,
            content=content,
            options=options,
        )

    async def delete_chat_completion(
        self, completion_id: str, **options: Unpack[CallOptions]
    ) -> ChatDeletionConfirmation:
        """Delete a stored chat completion."""
        split_params("delete_chat_completion", options, frozenset(), sends_body=False)
        return await self._client._execute(
            "DELETE", _completion_path(completion_id), ChatDeletionConfirmation, options=options
        )

    def get_chat_completion_messages(
        self,
        completion_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPager[ChatMessageList, StoredMessage]:
        """The messages of a stored chat completion, paginated."""
        split_params("get_chat_completion_messages", options, frozenset(), sends_body=False)
        path = _completion_path(completion_id, "/messages")
        query = _list_query(after=after, limit=limit, order=order)
        return AsyncPager(self._client, path, query, ChatMessageList, options)

    async def generate_image(
        self, *, prompt: str, model: str, **params: Unpack[ImageParams]
    ) -> ImageGeneration:
        """Generate images from a prompt."""
        content, options = image_content("generate_image", prompt, model, params)
        return await self._client._execute(
            "POST", "/v1/images/generations", ImageGeneration, content=content, options=options
        )

    async def get_supported_models(self, **options: Unpack[CallOptions]) -> ModelList:
        """The models the router can serve (``GET /v1/models``)."""
        split_params("get_supported_models", options, frozenset(), sends_body=False)
        return await self._client._execute("GET", "/v1/models", ModelList, options=options)

    async def health_check(self, **options: Unpack[CallOptions]) -> HealthStatus:
        """The service's health (``GET /system/health``)."""
        split_params("health_check", options, frozenset(), sends_body=False)
        return await self._client._execute("GET", "/system/health", HealthStatus, options=options)


class AsyncRawRouter(RawView[AsyncRouter]):
    """``sudo.router.with_raw_response``: the router's non-streamed operations, each
    returning a :class:`RawResponse`. (A stream has its response already:
    ``stream.headers``, ``stream.rate_limit``; list operations make a call per page.)"""

    create: Final = raw_operation(AsyncRouter.create)
    get_chat_completion: Final = raw_operation(AsyncRouter.get_chat_completion)
    update_chat_completion: Final = raw_operation(AsyncRouter.update_chat_completion)
    delete_chat_completion: Final = raw_operation(AsyncRouter.delete_chat_completion)
    generate_image: Final = raw_operation(AsyncRouter.generate_image)
    get_supported_models: Final = raw_operation(AsyncRouter.get_supported_models)
    health_check: Final = raw_operation(AsyncRouter.health_check)

    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str,
        response_format: type[T],
        **params: Unpack[ParseParams],
    ) -> RawResponse[ParsedChatCompletion[T]]:
        """As :meth:`AsyncRouter.parse`, with the response (a :class:`RawResponse`)."""
        router = self._target
        return await capture(
            lambda: router.parse(
                messages=messages, model=model, response_format=response_format, **params
            )
        )
