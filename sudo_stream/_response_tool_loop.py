"""The tool loop over the Responses API (``responses.run_tools``): the loop of
:mod:`._tool_loop`, with the Responses side of it.

The conversation is the request's ``input``, re-sent whole on every turn: the input,
then each turn's ``output`` items as they came (reasoning items, messages, function
calls), then a ``function_call_output`` per call, in call order. Not
``previous_response_id``: that needs the server to have stored the previous response
(``store``, which zero-data-retention organisations and providers behind the router may
not have), and it bills the earlier turns as input all the same; the whole input works
everywhere, and is what the run ends with, ready to be sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from ._response_stream import ResponseStream
from ._stream import StreamRequest
from ._tool_loop import FunctionCall, ToolLoop
from .errors import ResponseMaxTurnsExceededError
from .models.response_events import ResponseToolRunEvent
from .models.responses import InputItem, Response, ResponseInput
from .tools import FunctionTool, ToolResult

ResponseInputItem = Union[InputItem, Mapping[str, Any]]
"""An item of a request's ``input``: a struct, or a plain dict."""

OpenResponseTurn = Callable[[Sequence[ResponseInputItem]], StreamRequest[ResponseStream]]
"""Makes the streamed request of a turn from the input so far."""


@dataclass(frozen=True)
class ResponseToolRunResult:
    """What a Responses tool loop ends with: ``response``, the last turn's (the one
    without function calls), and ``input``, the whole conversation as input items: the
    input, every turn's output items (the answer's too) and every
    ``function_call_output``; add a user message and send it again to go on."""

    response: Response
    input: list[ResponseInputItem]


class _ResponseTurns:
    """The Responses side: a turn's answer goes into the input as its output items, each
    result as a ``function_call_output`` item."""

    def __init__(self, open_turn: OpenResponseTurn, input: ResponseInput) -> None:
        self._open_turn = open_turn
        self.input: list[ResponseInputItem] = (
            [{"type": "message", "role": "user", "content": input}]
            if isinstance(input, str)
            else list(input)
        )
        self._response: Response | None = None

    def open(self) -> StreamRequest[ResponseStream]:
        return self._open_turn(self.input)

    async def end(self, stream: ResponseStream) -> list[FunctionCall]:
        response = await stream.final_response()
        self._response = response
        self.input.extend(response.output)
        return [
            FunctionCall(call.call_id, call.name, call.arguments)
            for call in response.function_calls
        ]

    def add_results(self, calls: Sequence[FunctionCall], results: Sequence[ToolResult]) -> None:
        for call, result in zip(calls, results, strict=True):
            self.input.append(
                {"type": "function_call_output", "call_id": call.id, "output": result.content}
            )

    def _last(self) -> Response:
        response = self._response
        assert response is not None
        return response

    def result(self) -> ResponseToolRunResult:
        return ResponseToolRunResult(self._last(), self.input)

    def too_many_turns(self, max_turns: int) -> ResponseMaxTurnsExceededError:
        return ResponseMaxTurnsExceededError(max_turns, input=self.input, response=self._last())


class ResponseToolRun(ToolLoop[ResponseStream, ResponseToolRunEvent, ResponseToolRunResult]):
    """A running tool loop of the Responses API (what ``responses.run_tools`` returns):
    an async context manager, and inside it an async iterator of
    :data:`~sudo_stream.models.response_events.ResponseToolRunEvent`.

    ::

        async with sudo.responses.run_tools(model=..., input=..., tools=[...]) as run:
            async for event in run:
                ...  # TurnStarted, the turn's response events, ToolCallResult
            result = await run.final_result()

    A :class:`~sudo_stream.ToolCallResult`'s ``id`` is the call's ``call_id``, its
    ``index`` the call's position among the response's function calls. Leaving the block
    (early, by an exception or a cancellation) closes the turn's stream and cancels the
    tool calls still running. :meth:`final_result` can also be awaited without the block:
    it runs the loop to its end, and returns the last response and the whole input
    (:class:`ResponseToolRunResult`).
    """

    _opened_by = "responses.run_tools(...)"

    def __init__(
        self,
        open_turn: OpenResponseTurn,
        *,
        input: ResponseInput,
        tools: Mapping[str, FunctionTool[Any]],
        max_turns: int,
        tool_timeout: float | None,
    ) -> None:
        self._responses = _ResponseTurns(open_turn, input)
        super().__init__(
            self._responses, tools=tools, max_turns=max_turns, tool_timeout=tool_timeout
        )

    @property
    def input(self) -> list[ResponseInputItem]:
        """The input so far (the input, then every turn's output items and results)."""
        return self._responses.input
