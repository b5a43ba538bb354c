"""The Responses API (``POST /v1/responses``), thin: check and encode the request, send it
with the client's retries and time bounds, decode the answer (plain) or open a
:class:`~sudo_stream._response_stream.ResponseStream` (streamed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from typing_extensions import Unpack

from ._event_stream import StreamRequest
from ._params import CallOptions, split_params
from ._raw import RawView, raw_operation
from ._response_params import (
    RESPONSE_FIELDS,
    ResponseParams,
    ResponseToolRunParams,
    check_response,
)
from ._response_stream import ResponseStream
from ._response_tool_loop import ResponseToolRun
from ._tool_loop import check_limits, function_tools
from .models.request import encode_with_extra
from .models.responses import Response, ResponseInput, ResponsesRequest, decode_response
from .tools import FunctionTool

if TYPE_CHECKING:
    from .client import AsyncSudo

__all__ = ["AsyncRawResponses", "AsyncResponses", "response_content"]

RESPONSES_PATH = "/v1/responses"


def response_content(
    operation: str, model: Any, input: Any, stream: bool, params: Mapping[str, Any]
) -> tuple[bytes, CallOptions]:
    """The checked and encoded body of a response request, and the call options among
    ``params`` (an unknown name is a TypeError, a bad value a ValueError or TypeError)."""
    body, options = split_params(operation, params, RESPONSE_FIELDS)
    check_response(model, input, body)
    request = ResponsesRequest(model=model, input=input, stream=stream, **body)
    return encode_with_extra(request, options.get("extra_body")), options


def _seed_input(input: Any, input_: Any) -> Any:
    """``input``, or the seed SDK's spelling ``input_`` (not both)."""
    if input_ is not None:
        if input is not None:
            raise TypeError("give input or input_ (the seed SDK's name for it), not both")
        return input_
    return input


class AsyncResponses:
    """The Responses API of :class:`AsyncSudo` (``sudo.responses``)."""

    def __init__(self, client: AsyncSudo) -> None:
        self._client = client

    @property
    def with_raw_response(self) -> AsyncRawResponses:
        """:meth:`create` returning a :class:`RawResponse` (the response with the HTTP
        response it came in)."""
        return AsyncRawResponses(self)

    async def create(
        self,
        *,
        model: str,
        input: ResponseInput,
        stream: bool | None = False,
        **params: Unpack[ResponseParams],
    ) -> Response:
        """Create a response and wait for all of it (``input``: a string, or a list of
        input items; streaming is :meth:`create_streaming`)."""
        if stream is not False and stream is not None:
            raise ValueError("create() takes stream=False; use create_streaming() to stream")
        content, options = response_content("create", model, input, False, params)
        return await self._client._execute(
            "POST", RESPONSES_PATH, Response, content=content, options=options,
            decode=decode_response,
        )  # fmt: skip

    def create_streaming(
        self,
        *,
        model: str,
        input: ResponseInput,
        stream: bool = True,
        **params: Unpack[ResponseParams],
    ) -> StreamRequest[ResponseStream]:
        """Create a response streamed as typed events.

        ``await`` the result for an open :class:`ResponseStream`, or ``async with`` it.
        """
        if stream is not True:
            raise ValueError("create_streaming() takes stream=True; use create() otherwise")
        return self._stream_request("create_streaming", model, input, params)

    def _stream_request(
        self, operation: str, model: Any, input: Any, params: Mapping[str, Any]
    ) -> StreamRequest[ResponseStream]:
        content, options = response_content(operation, model, input, True, params)
        open_stream = partial(self._client._open_stream, RESPONSES_PATH, content, options)
        return StreamRequest(lambda: open_stream(ResponseStream))

    def run_tools(
        self,
        *,
        model: str,
        input: ResponseInput,
        tools: Sequence[FunctionTool[Any] | Callable[..., Any]],
        max_turns: int = 10,
        tool_timeout: float | None = None,
        **params: Unpack[ResponseToolRunParams],
    ) -> ResponseToolRun:
        """Run a tool loop over the Responses API: stream a turn, run the function calls
        of its response, send their results back, and again until a response has no
        function calls (as :meth:`AsyncRouter.run_tools
        <sudo_stream.router.AsyncRouter.run_tools>` does over chat completions).

        ``tools`` are :func:`~sudo_stream.tool` functions (a plain function is made one).
        Use the result as ``async with ... as run:``; ``async for event in run`` gives
        each turn's :class:`TurnStarted`, its response events as they arrive, and a
        :class:`ToolCallResult` per call as soon as it is done (the calls of a turn run
        at once); ``await run.final_result()`` gives the last response and the whole
        input (:class:`ResponseToolRunResult`).

        Each turn sends the whole input so far (the input, every turn's output items,
        reasoning items included, and a ``function_call_output`` per call), never
        ``previous_response_id`` (it is sent as given, if given). With ``store=False``,
        a reasoning model's reasoning items can only be sent back with their
        ``encrypted_content``: ask for it with ``include=["reasoning.encrypted_content"]``.

        A call that cannot give a result (an unknown tool, arguments that do not fit, an
        exception, more than ``tool_timeout`` seconds) goes back to the model as an error
        result. After ``max_turns`` turns still asking for tools (their calls run),
        :class:`~sudo_stream.errors.ResponseMaxTurnsExceededError` (a
        :class:`~sudo_stream.MaxTurnsExceededError`) is raised. ``tool_choice``,
        ``parallel_tool_calls``, ``instructions`` and the rest are sent as given, on
        every turn.
        """
        functions = function_tools(tools)
        check_limits(max_turns, tool_timeout)
        fields = {**params, "tools": [function.definition for function in functions.values()]}
        self._stream_request("run_tools", model, input, fields)  # checked before it runs
        return ResponseToolRun(
            lambda items: self._stream_request("run_tools", model, items, fields),
            input=input,
            tools=functions,
            max_turns=max_turns,
            tool_timeout=tool_timeout,
        )

    async def create_response(
        self,
        *,
        model: str,
        input: ResponseInput | None = None,
        input_: ResponseInput | None = None,
        **params: Unpack[ResponseParams],
    ) -> Response:
        """The seed SDK's name for :meth:`create` (``input_`` is its spelling of ``input``)."""
        return await self.create(model=model, input=_seed_input(input, input_), **params)

    def create_streaming_response(
        self,
        *,
        model: str,
        input: ResponseInput | None = None,
        input_: ResponseInput | None = None,
        **params: Unpack[ResponseParams],
    ) -> StreamRequest[ResponseStream]:
        """The seed SDK's name for :meth:`create_streaming`."""
        return self.create_streaming(model=model, input=_seed_input(input, input_), **params)


class AsyncRawResponses(RawView[AsyncResponses]):
    """``sudo.responses.with_raw_response``."""

    create: Final = raw_operation(AsyncResponses.create)
    create_response: Final = raw_operation(AsyncResponses.create_response)
