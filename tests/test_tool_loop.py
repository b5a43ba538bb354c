"""The tool loop, ``router.run_tools``: turns streamed against the fake server over real
sockets, tool calls run at once, their failures given back to the model, ``max_turns``,
cancellation. Async tests run on asyncio and trio."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES, wait_until_no_connections

pytestmark = pytest.mark.anyio

FAST = ss.Timeout(connect=5, first_event=5, idle=5)


@pytest.fixture
async def sudo(server: testing.FakeSudoServer) -> AsyncIterator[ss.AsyncSudo]:
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as client:
        yield client


@ss.tool
async def get_weather(city: str) -> dict[str, Any]:
    """The weather in a city.

    Args:
        city: Its name.
    """
    return {"city": city, "celsius": 21}


@ss.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def calls(*pairs: tuple[str, str]) -> testing.Stream:
    return testing.Stream(testing.tool_call_chunks(list(pairs)))


def answer(text: str) -> testing.Stream:
    return testing.Stream(testing.text_chunks(text))


def stream_events(chunks: list[dict[str, Any]]) -> list[Any]:
    """The events a stream of ``chunks`` gives, as the assembler makes them."""
    assembler = ss.StreamAssembler()
    events: list[Any] = []
    for chunk in chunks:
        events += assembler.add(msgspec.convert(chunk, ss.ChatCompletionChunk))
    return events + assembler.close()


async def collect(run: ss.ToolRun) -> list[Any]:
    return [event async for event in run]


def sent_messages(server: testing.FakeSudoServer, request: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = server.requests[request].json()["messages"]
    return messages


async def test_two_turns_give_every_event_in_order_and_the_whole_conversation(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    first = testing.tool_call_chunks("get_weather", '{"city": "Paris"}', call_id="call_1")
    second = testing.text_chunks("It is sunny in Paris.")
    server.enqueue(testing.Stream(first), testing.Stream(second))
    async with sudo.router.run_tools(
        model="m", messages=MESSAGES, tools=[get_weather, add]
    ) as run:
        events = await collect(run)
        result = await run.final_result()
    content = json.dumps({"city": "Paris", "celsius": 21}, separators=(",", ":"))
    assert events == [
        ss.TurnStarted(turn=1),
        *stream_events(first),
        ss.ToolCallResult(index=0, id="call_1", name="get_weather", content=content, is_error=False),
        ss.TurnStarted(turn=2),
        *stream_events(second),
    ]
    assert result.completion.choices[0].message.content == "It is sunny in Paris."
    assistant_call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    tool_message = {"role": "tool", "tool_call_id": "call_1", "content": content}
    final = {"role": "assistant", "content": "It is sunny in Paris."}
    assert result.messages == [*MESSAGES, assistant_call, tool_message, final]
    assert run.messages is result.messages
    # what each turn sent: the conversation so far, and the tools' definitions
    assert sent_messages(server, 0) == MESSAGES
    assert sent_messages(server, 1) == [*MESSAGES, assistant_call, tool_message]
    for request in server.requests:
        body = request.json()
        assert body["stream"] is True
        assert body["tools"] == [get_weather.definition, add.definition]
    assert MESSAGES == [{"role": "user", "content": "hi"}]  # the input is not changed


async def test_the_calls_of_a_turn_run_at_once(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # Each tool waits for the other to have started: run one after the other, they would
    # wait forever (fail_after is the safety net that turns that into a failure).
    started = {"ping": anyio.Event(), "pong": anyio.Event()}

    async def meet(me: str, other: str) -> str:
        started[me].set()
        await started[other].wait()
        return f"{me} met {other}"

    @ss.tool
    async def ping() -> str:
        """Ping."""
        return await meet("ping", "pong")

    @ss.tool
    async def pong() -> str:
        """Pong."""
        return await meet("pong", "ping")

    server.enqueue(calls(("ping", "{}"), ("pong", "{}")), answer("Both met."))
    with anyio.fail_after(10):
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[ping, pong]) as run:
            events = await collect(run)
    results = {e.name: e.content for e in events if isinstance(e, ss.ToolCallResult)}
    assert results == {"ping": "ping met pong", "pong": "pong met ping"}
    sent = sent_messages(server, 1)
    assert [m["content"] for m in sent[2:]] == ["ping met pong", "pong met ping"]  # call order


async def test_each_result_is_an_event_as_soon_as_it_is_there(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # The slow tool finishes only once the fast one's result has reached the app.
    fast_seen = anyio.Event()

    @ss.tool
    async def slow() -> str:
        """Slow."""
        await fast_seen.wait()
        return "slow done"

    @ss.tool
    async def fast() -> str:
        """Fast."""
        return "fast done"

    server.enqueue(calls(("slow", "{}"), ("fast", "{}")), answer("Done."))
    order = []
    with anyio.fail_after(10):
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[slow, fast]) as run:
            async for event in run:
                if isinstance(event, ss.ToolCallResult):
                    order.append((event.index, event.name))
                    if event.name == "fast":
                        fast_seen.set()
    assert order == [(1, "fast"), (0, "slow")]
    assert [m["content"] for m in sent_messages(server, 1)[2:]] == ["slow done", "fast done"]


async def test_what_goes_wrong_in_a_call_is_told_to_the_model(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    @ss.tool
    def explode(reason: str) -> str:
        """Fail."""
        raise RuntimeError(f"boom: {reason}")

    server.enqueue(
        calls(
            ("explode", '{"reason": "on purpose"}'),
            ("add", '{"a": 1, "b": "two"}'),  # does not fit the signature
            ("add", '{"a": 1, "b": '),  # not JSON
            ("teleport", "{}"),  # no such tool
            ("add", '{"a": 1, "b": 2}'),
        ),
        answer("Some failed."),
    )
    async with sudo.router.run_tools(
        model="m", messages=MESSAGES, tools=[explode, add]
    ) as run:
        events = await collect(run)
        result = await run.final_result()
    results = sorted((e for e in events if isinstance(e, ss.ToolCallResult)), key=lambda e: e.index)
    assert [e.is_error for e in results] == [True, True, True, True, False]
    raised, wrong_type, not_json, unknown, fine = (e.content for e in results)
    assert raised == "error: explode raised RuntimeError: boom: on purpose"
    assert wrong_type.startswith("error: invalid arguments for add: ") and "$.b" in wrong_type
    assert not_json.startswith("error: invalid arguments for add: ")
    assert unknown == "error: there is no tool 'teleport' (the tools: add, explode)"
    assert fine == "3"
    sent = [m["content"] for m in sent_messages(server, 1)[2:]]
    assert sent == [e.content for e in results]
    assert result.completion.choices[0].message.content == "Some failed."


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown: a sync tool blocked on it ends then (its thread was abandoned)."""
    event = threading.Event()
    yield event
    event.set()


async def test_a_call_past_tool_timeout_is_cancelled_and_told_to_the_model(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo, release: threading.Event
) -> None:
    cancelled = []

    @ss.tool
    async def forever() -> str:
        """Never ends."""
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append("forever")
            raise
        return "unreachable"

    @ss.tool
    def blocked() -> str:
        """Blocks its thread."""
        release.wait()
        return "released"

    server.enqueue(calls(("forever", "{}"), ("blocked", "{}"), ("add", '{"a": 2, "b": 2}')), answer("ok"))
    with anyio.fail_after(10):
        async with sudo.router.run_tools(
            model="m", messages=MESSAGES, tools=[forever, blocked, add], tool_timeout=0.2
        ) as run:
            events = await collect(run)
    results = {e.name: e for e in events if isinstance(e, ss.ToolCallResult)}
    for name in ("forever", "blocked"):
        assert results[name].is_error
        assert results[name].content == f"error: {name} did not finish within 0.2 s and was cancelled"
    assert results["add"].content == "4" and not results["add"].is_error
    assert cancelled == ["forever"]
    assert not release.is_set()  # the sync tool's thread is still blocked: abandoned


async def test_max_turns_reached_raises_with_the_conversation_so_far(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    server.enqueue(calls(("add", '{"a": 1, "b": 1}')), calls(("add", '{"a": 2, "b": 2}')))
    events: list[Any] = []
    with pytest.raises(ss.MaxTurnsExceededError, match="after max_turns=2 turns") as caught:
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add], max_turns=2) as run:
            async for event in run:
                events.append(event)
    error = caught.value
    assert isinstance(error, ss.SudoError)
    assert error.max_turns == 2
    assert len(server.requests) == 2  # no third turn
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert [m["content"] for m in error.messages if m["role"] == "tool"] == ["2", "4"]
    assert error.completion.choices[0].finish_reason == "tool_calls"
    assert [e.content for e in events if isinstance(e, ss.ToolCallResult)] == ["2", "4"]
    with pytest.raises(ss.MaxTurnsExceededError):  # and final_result says so too
        await run.final_result()


async def test_an_api_error_is_raised_as_create_streaming_raises_it(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    server.enqueue(calls(("add", '{"a": 1, "b": 1}')), testing.Error(400, message="bad tools"))
    seen: list[Any] = []
    with pytest.raises(ss.BadRequestError, match="bad tools"):  # not in an exception group
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]) as run:
            async for event in run:
                seen.append(event)
    assert seen[-1] == ss.TurnStarted(turn=2)


async def test_an_exception_in_the_block_leaves_it_as_it_is(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    class Mine(Exception):
        pass

    with pytest.raises(Mine):
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]) as run:
            async for _ in run:
                raise Mine


async def test_leaving_the_block_cancels_the_calls_still_running(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    cancelled = anyio.Event()

    @ss.tool
    async def slow() -> str:
        """Slow."""
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "unreachable"

    server.enqueue(calls(("slow", "{}"), ("add", '{"a": 1, "b": 1}')))
    with anyio.fail_after(10):
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[slow, add]) as run:
            async for event in run:
                if isinstance(event, ss.ToolCallResult):
                    assert event.name == "add"
                    break
        await cancelled.wait()  # set by the cancellation, before the block was left
    assert cancelled.is_set()
    assert len(server.requests) == 1


async def test_a_cancel_scope_around_the_run_cancels_the_running_call(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    started, cancelled = anyio.Event(), []

    @ss.tool
    async def slow() -> str:
        """Slow."""
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise
        return "unreachable"

    server.enqueue(calls(("slow", "{}")))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_started() -> None:
                    await started.wait()
                    scope.cancel()

                group.start_soon(cancel_once_started)
                async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[slow]) as run:
                    await run.final_result()
    assert scope.cancelled_caught
    assert cancelled == [True]
    with pytest.raises(RuntimeError, match="closed or cancelled before"):
        await run.final_result()


async def test_cancelling_mid_stream_closes_the_connection(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    server.enqueue(testing.Endless(interval=0.001))
    texts = 0
    with anyio.fail_after(10):
        async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]) as run:
            async for event in run:
                texts += isinstance(event, ss.TextDelta)
                if texts == 3:
                    break
        await wait_until_no_connections(server)
    with anyio.fail_after(10):  # and with a cancel scope
        server.enqueue(testing.Endless(interval=0.001))
        with anyio.CancelScope() as scope:
            async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]) as run:
                async for event in run:
                    if isinstance(event, ss.TextDelta):
                        scope.cancel()
        assert scope.cancelled_caught
        await wait_until_no_connections(server)


async def test_final_result_alone_runs_the_loop(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    def multiply(a: int, b: int) -> int:  # a plain function is made a tool
        return a * b

    server.enqueue(calls(("multiply", '{"a": 6, "b": 7}')), answer("42."))
    result = await sudo.router.run_tools(
        model="m", messages=MESSAGES, tools=[multiply]
    ).final_result()
    call_id = result.messages[1]["tool_calls"][0]["id"]  # type: ignore[index]
    assert result.messages[2] == {"role": "tool", "tool_call_id": call_id, "content": "42"}
    assert result.completion.choices[0].message.content == "42."


async def test_options_go_with_every_turn(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    server.enqueue(calls(("add", '{"a": 1, "b": 1}')), answer("2"))
    choice = {"type": "function", "function": {"name": "add"}}
    await sudo.router.run_tools(
        model="m", messages=MESSAGES, tools=[add], tool_choice=choice,
        parallel_tool_calls=False, temperature=0.5,
    ).final_result()  # fmt: skip
    for request in server.requests:
        body = request.json()
        assert body["tool_choice"] == choice
        assert body["parallel_tool_calls"] is False and body["temperature"] == 0.5


async def test_against_the_fake_servers_own_model(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    async with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[get_weather]) as run:
        events = await collect(run)
        result = await run.final_result()
    (called,) = [e for e in events if isinstance(e, ss.ToolCallResult)]
    assert called.name == "get_weather" and not called.is_error
    assert result.completion.choices[0].message.content == (
        f"The tools answered: get_weather said {called.content}."
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 2}, ValueError, "n must be 1, got n=2"),
        ({"extra_body": {"n": 3}}, ValueError, "n must be 1, got n=3"),
        ({"max_turns": 0}, ValueError, "max_turns must be an int >= 1"),
        ({"tool_timeout": 0}, ValueError, "tool_timeout must be a positive"),
        ({"tool_timeout": "1"}, TypeError, "tool_timeout must be a number"),
        ({"tools": []}, ValueError, "at least one tool"),
        ({"tools": [add, add]}, ValueError, "two tools are named 'add'"),
        ({"tools": ["add"]}, TypeError, r"tools\[0\] must be a function"),
        ({"stream": True}, TypeError, "run_tools\\(\\) got an unexpected keyword argument 'stream'"),
        ({"temperature": 9}, ValueError, "temperature must be between"),
        ({"model": ""}, ValueError, "model must be a non-empty string"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"model": "m", "messages": MESSAGES, "tools": [add], **kwargs}
    with pytest.raises(error, match=match):
        sudo.router.run_tools(**arguments)
    assert server.requests == []


async def test_a_run_is_iterated_inside_its_block_and_entered_once(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    run = sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add])
    with pytest.raises(RuntimeError, match="inside its block"):
        await run.__anext__()
    server.enqueue(answer("fine"))
    async with run:
        await run.final_result()
    with pytest.raises(RuntimeError, match="runs once"):
        async with run:
            pass
