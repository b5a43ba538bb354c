"""The tool loop of ``router.run_tools`` and ``responses.run_tools``: stream a turn, run
the tools it asks for, send their results back, and again, until the model answers
without asking for tools.

Each turn is one streamed request; its events go to the caller as they arrive. The calls
of a turn run at once in the run's task group (opened by ``async with``, so that leaving
the block, or a cancel scope around it, cancels every call still running) and each
result is an event as soon as it is there. What can go wrong with a call (an unknown
tool, bad arguments, an exception, a timeout) goes back to the model as an error result;
an error of the API is raised, as ``create_streaming`` raises it.

:class:`ToolLoop` is that loop, whatever the API; what differs between the chat and the
Responses APIs (how a turn is opened, how its function calls are read from the final
object, how the conversation grows, what the run ends with) is a :class:`Turns` adapter:
:class:`ToolRun` runs on the chat one here, ``ResponseToolRun`` on the Responses one.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast

import anyio
import anyio.abc
from typing_extensions import Self

from ._stream import ChatStream, StreamRequest
from .errors import MaxTurnsExceededError
from .models.completion import ChatCompletion
from .models.events import ToolCallResult, ToolRunEvent, TurnStarted
from .models.request import MessageParam
from .tools import FunctionTool, ToolResult, tool

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

OpenTurn = Callable[[Sequence[MessageParam]], StreamRequest[ChatStream]]
"""Makes the streamed request of a turn from the conversation so far."""


@dataclass(frozen=True)
class ToolRunResult:
    """What a tool loop ends with: ``completion``, the last turn's answer (the one without
    tool calls), and ``messages``, the whole conversation: the input, then every
    assistant turn (the answer too) with its tool messages; add a user message and send it
    again to go on."""

    completion: ChatCompletion
    messages: list[MessageParam]


def function_tools(tools: Any) -> dict[str, FunctionTool[Any]]:
    """The tools by name: ``FunctionTool`` objects as they are, plain functions made tools."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise TypeError(f"tools must be a list of ss.tool functions, got {type(tools).__name__}")
    if not tools:
        raise ValueError("run_tools() needs at least one tool")
    by_name: dict[str, FunctionTool[Any]] = {}
    for position, given in enumerate(tools):
        if isinstance(given, FunctionTool):
            made = given
        elif callable(given):
            made = tool(given)
        else:
            raise TypeError(
                f"tools[{position}] must be a function or an ss.tool, got {type(given).__name__}"
            )
        if made.name in by_name:
            raise ValueError(f"tools[{position}]: two tools are named {made.name!r}")
        by_name[made.name] = made
    return by_name


def check_limits(max_turns: Any, tool_timeout: Any) -> None:
    """``max_turns`` an int >= 1; ``tool_timeout`` None or a positive number of seconds."""
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError(f"max_turns must be an int >= 1, got {max_turns!r}")
    if tool_timeout is not None:
        if isinstance(tool_timeout, bool) or not isinstance(tool_timeout, (int, float)):
            raise TypeError(
                f"tool_timeout must be a number of seconds or None, got {type(tool_timeout).__name__}"
            )
        if not tool_timeout > 0 or math.isnan(tool_timeout):
            raise ValueError(f"tool_timeout must be a positive number of seconds, got {tool_timeout!r}")


# -- what differs between the APIs -------------------------------------------------------


@dataclass(frozen=True)
class FunctionCall:
    """A function call of a turn's answer, whatever the API: the ``id`` its result goes
    back with (a chat tool call's ``id``, a Responses function call's ``call_id``)."""

    id: str
    name: str
    arguments: str


class TurnStream(Protocol):
    """What the loop needs of a turn's stream (a ``ChatStream``, a ``ResponseStream``)."""

    def events(self) -> AsyncIterator[Any]: ...  # pragma: no cover

    async def aclose(self) -> None: ...  # pragma: no cover


S = TypeVar("S", bound=TurnStream)
E = TypeVar("E")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Turns(Protocol[S, R_co]):
    """An API's side of the loop: it holds the conversation and grows it."""

    def open(self) -> Awaitable[S]:  # pragma: no cover
        """The streamed request of the next turn, from the conversation so far."""
        ...

    async def end(self, stream: S) -> list[FunctionCall]:  # pragma: no cover
        """Read the turn's final object from its (fully read) stream, add the answer to
        the conversation and return its function calls (none: the run is over)."""
        ...

    def add_results(
        self, calls: Sequence[FunctionCall], results: Sequence[ToolResult]
    ) -> None:  # pragma: no cover
        """Add the calls' results to the conversation, in call order."""
        ...

    def result(self) -> R_co:  # pragma: no cover
        """What the run ends with (after an answer without function calls)."""
        ...

    def too_many_turns(self, max_turns: int) -> MaxTurnsExceededError:  # pragma: no cover
        """The error when the ``max_turns``-th answer still asked for tools."""
        ...


# -- the loop ------------------------------------------------------------------------------


class ToolLoop(Generic[S, E, R]):
    """A running tool loop: an async context manager, and inside it an async iterator
    of its events (``TurnStarted``, the turns' stream events, ``ToolCallResult``).

    Leaving the block (early, by an exception or a cancellation) closes the turn's stream
    and cancels the tool calls still running. :meth:`final_result` can also be awaited
    without the block: it runs the loop to its end.
    """

    _opened_by = "run_tools(...)"  # for the error of a run iterated outside its block

    def __init__(
        self,
        turns: Turns[S, R],
        *,
        tools: Mapping[str, FunctionTool[Any]],
        max_turns: int,
        tool_timeout: float | None,
    ) -> None:
        self._turns = turns
        self._tools = dict(tools)
        self._max_turns = max_turns
        self._tool_timeout = tool_timeout
        self._turn = 0
        self._group: anyio.abc.TaskGroup | None = None
        self._entered = False
        self._done = False
        self._result: R | None = None
        self._failure: Exception | None = None
        # a turn: announced, then its stream opened and read
        self._announced = False
        self._stream: S | None = None
        self._events: AsyncIterator[Any] | None = None
        # its tool calls: results land in their slot, their index in the arrival queue
        self._calls: list[FunctionCall] = []
        self._results: list[ToolResult | None] = []
        self._arrived: deque[int] = deque()
        self._arrival: anyio.Event | None = None
        self._reported = 0

    @property
    def turn(self) -> int:
        """How many turns have started (0 before the first)."""
        return self._turn

    # -- the context ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError(
                f"a {type(self).__name__} runs once: call run_tools() again for another run"
            )
        self._entered = True
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done = True
        group, self._group = self._group, None
        try:
            await self._close_stream()
        finally:
            if group is not None:
                group.cancel_scope.cancel()  # the tool calls still running
                try:
                    await group.__aexit__(exc_type, exc, tb)
                except BaseExceptionGroup as errors:
                    # The group wraps what left the block; the calls themselves never
                    # raise: let the exception go on as it was, not in a group.
                    cancelled = anyio.get_cancelled_exc_class()
                    _, others = errors.split(lambda e: e is exc or isinstance(e, cancelled))
                    if exc is None or others is not None:
                        raise

    # -- the events -------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> E:
        if not self._entered:
            raise RuntimeError(
                f"iterate a tool run inside its block: `async with {self._opened_by} as run:`"
            )
        if self._done:
            raise StopAsyncIteration
        try:
            return cast(E, await self._next_event())
        except StopAsyncIteration:
            self._done = True
            raise
        except BaseException as exc:
            self._done = True
            if isinstance(exc, Exception):
                self._failure = exc
            await self._close_stream()
            raise

    def ready(self) -> bool:
        """Whether the next event is already here (no wait on the server or a tool)."""
        if self._done:
            return False
        if self._events is not None:
            ready: Callable[[], bool] | None = getattr(self._events, "ready", None)
            return ready() if ready is not None else False
        if self._calls:
            return bool(self._arrived) or self._reported == len(self._calls)
        return not self._announced  # the next turn's TurnStarted

    async def final_result(self) -> R:
        """Run the loop to its end (the events not read are dropped) and return what it
        ended with. Raises what ended the run if it failed."""
        if not self._entered:
            async with self:
                return await self.final_result()
        async for _ in self:
            pass
        if self._result is not None:
            return self._result
        if self._failure is not None:
            raise self._failure
        raise RuntimeError("the tool run was closed or cancelled before the model's answer")

    async def _next_event(self) -> Any:
        while True:
            if self._events is not None:  # a turn streaming
                try:
                    return await self._events.__anext__()
                except StopAsyncIteration:
                    await self._end_turn()
                    continue
            if self._calls:  # its tool calls running
                if self._reported < len(self._calls):
                    return await self._next_result()
                self._send_results()
                continue
            if not self._announced:
                self._turn += 1
                self._announced = True
                return TurnStarted(turn=self._turn)
            self._stream = await self._turns.open()
            self._events = self._stream.events()

    async def _end_turn(self) -> None:
        stream = self._stream
        assert stream is not None
        calls = await self._turns.end(stream)
        await self._close_stream()
        self._announced = False
        if not calls:
            self._result = self._turns.result()
            raise StopAsyncIteration
        self._start_calls(calls)

    def _start_calls(self, calls: list[FunctionCall]) -> None:
        group = self._group
        assert group is not None
        self._calls = calls
        self._results = [None] * len(calls)
        self._arrived.clear()
        self._reported = 0
        for index, call in enumerate(calls):
            group.start_soon(self._run_call, index, call, name=f"tool {call.name}")

    async def _run_call(self, index: int, call: FunctionCall) -> None:
        self._results[index] = await self._call(call)
        self._arrived.append(index)
        if self._arrival is not None:
            self._arrival.set()

    async def _call(self, call: FunctionCall) -> ToolResult:
        name = call.name
        function = self._tools.get(name)
        if function is None:
            known = ", ".join(sorted(self._tools))
            return ToolResult(f"error: there is no tool {name!r} (the tools: {known})", is_error=True)
        if self._tool_timeout is None:
            return await function.call(call.arguments)
        with anyio.move_on_after(self._tool_timeout):
            return await function.call(call.arguments)
        return ToolResult(
            f"error: {name} did not finish within {self._tool_timeout:g} s and was cancelled",
            is_error=True,
        )

    async def _next_result(self) -> ToolCallResult:
        while not self._arrived:
            self._arrival = anyio.Event()
            await self._arrival.wait()
        self._arrival = None
        index = self._arrived.popleft()
        self._reported += 1
        call, result = self._calls[index], self._results[index]
        assert result is not None
        return ToolCallResult(
            index=index,
            id=call.id,
            name=call.name,
            content=result.content,
            is_error=result.is_error,
        )

    def _send_results(self) -> None:
        """Every call has its result: they go into the conversation, in call order; then
        the next turn, if there may be one."""
        results = [result for result in self._results if result is not None]
        assert len(results) == len(self._calls)
        self._turns.add_results(self._calls, results)
        self._calls, self._results = [], []
        if self._turn >= self._max_turns:
            raise self._turns.too_many_turns(self._max_turns)

    async def _close_stream(self) -> None:
        stream, self._stream, self._events = self._stream, None, None
        if stream is not None:
            await stream.aclose()

    def __repr__(self) -> str:
        state = "done" if self._done else ("running" if self._entered else "not started")
        return f"<{type(self).__name__} {state} turn={self._turn} tools={sorted(self._tools)}>"


# -- the chat completions API ----------------------------------------------------------


class _ChatTurns:
    """The chat side: the conversation is a list of messages; a turn's answer goes in as
    its assistant message, each result as a tool message."""

    def __init__(self, open_turn: OpenTurn, messages: Sequence[MessageParam]) -> None:
        self._open_turn = open_turn
        self.messages: list[MessageParam] = list(messages)
        self._completion: ChatCompletion | None = None

    def open(self) -> StreamRequest[ChatStream]:
        return self._open_turn(self.messages)

    async def end(self, stream: ChatStream) -> list[FunctionCall]:
        completion = await stream.final_completion()
        self._completion = completion
        message = completion.choices[0].message if completion.choices else None
        if message is None:
            return []
        self.messages.append(message.to_param())
        return [
            FunctionCall(call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
        ]

    def add_results(self, calls: Sequence[FunctionCall], results: Sequence[ToolResult]) -> None:
        for call, result in zip(calls, results, strict=True):
            self.messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": result.content}
            )

    def _last(self) -> ChatCompletion:
        completion = self._completion
        assert completion is not None
        return completion

    def result(self) -> ToolRunResult:
        return ToolRunResult(self._last(), self.messages)

    def too_many_turns(self, max_turns: int) -> MaxTurnsExceededError:
        return MaxTurnsExceededError(max_turns, messages=self.messages, completion=self._last())


class ToolRun(ToolLoop[ChatStream, ToolRunEvent, ToolRunResult]):
    """A running tool loop of the chat API (what ``router.run_tools`` returns): an async
    context manager, and inside it an async iterator of
    :data:`~sudo_stream.models.events.ToolRunEvent`.

    ::

        async with sudo.router.run_tools(model=..., messages=..., tools=[...]) as run:
            async for event in run:
                ...  # TurnStarted, the turn's stream events, ToolCallResult
            result = await run.final_result()

    Leaving the block (early, by an exception or a cancellation) closes the turn's stream
    and cancels the tool calls still running. :meth:`final_result` can also be awaited
    without the block: it runs the loop to its end, and returns the last answer and the
    whole conversation (:class:`ToolRunResult`).
    """

    _opened_by = "router.run_tools(...)"

    def __init__(
        self,
        open_turn: OpenTurn,
        *,
        messages: Sequence[MessageParam],
        tools: Mapping[str, FunctionTool[Any]],
        max_turns: int,
        tool_timeout: float | None,
    ) -> None:
        self._chat = _ChatTurns(open_turn, messages)
        super().__init__(self._chat, tools=tools, max_turns=max_turns, tool_timeout=tool_timeout)

    @property
    def messages(self) -> list[MessageParam]:
        """The conversation so far (the input, then the assistant and tool messages)."""
        return self._chat.messages
