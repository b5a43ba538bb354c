"""The tool loop over the Responses API, ``responses.run_tools``: turns streamed against
the fake server's ``/v1/responses`` over real sockets, the whole input sent on each turn,
function calls run at once, their failures given back to the model, ``max_turns``,
cancellation, the blocking facade. Async tests run on asyncio and trio."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anyio
import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.models.response_events import (
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseTextDeltaEvent,
    decode_response_event,
)

from .helpers import wait_until_no_connections
from .test_tool_loop import add, get_weather

pytestmark = pytest.mark.anyio

PATH = "/v1/responses"
FAST = ss.Timeout(connect=5, first_event=5, idle=5)
QUESTION = "The weather in Paris?"
USER = {"type": "message", "role": "user", "content": QUESTION}


@pytest.fixture
async def sudo(server: testing.FakeSudoServer) -> AsyncIterator[ss.AsyncSudo]:
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as client:
        yield client


def calls(*specs: Any, **options: Any) -> list[dict[str, Any]]:
    """The events of a response that calls functions (and writes no text)."""
    return testing.response_events(None, function_calls=specs, **options)


def answer(text: str) -> list[dict[str, Any]]:
    return testing.response_events(text)


def script(server: testing.FakeSudoServer, *turns: Sequence[Any]) -> None:
    server.enqueue(*(testing.response_stream(events) for events in turns), path=PATH)


def decoded(events: list[dict[str, Any]]) -> list[Any]:
    """The typed events a stream of ``events`` gives."""
    return [decode_response_event(json.dumps(event)) for event in events]


def output(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output items of the response ``events`` end with, as JSON."""
    items: list[dict[str, Any]] = testing.final_response(events)["output"]
    return items


def sent_input(server: testing.FakeSudoServer, request: int) -> list[dict[str, Any]]:
    body = server.requests[request].json()
    assert server.requests[request].path == PATH
    items: list[dict[str, Any]] = body["input"]
    return items


def flat(tool: ss.FunctionTool[Any]) -> dict[str, Any]:
    """A tool's definition in the Responses API's flat shape."""
    return {"type": "function", **tool.definition["function"]}


def call_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


async def collect(run: ss.ResponseToolRun) -> list[Any]:
    return [event async for event in run]


def results_of(events: list[Any]) -> list[ss.ToolCallResult]:
    return sorted((e for e in events if isinstance(e, ss.ToolCallResult)), key=lambda e: e.index)


async def test_two_turns_give_every_event_in_order_and_send_the_whole_input(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    call = {"name": "get_weather", "arguments": '{"city": "Paris"}', "call_id": "call_1"}
    first = calls(call, reasoning="The user wants the weather: ask the tool.")
    second = answer("It is sunny in Paris.")
    script(server, first, second)
    async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[get_weather, add]) as run:
        events = await collect(run)
        result = await run.final_result()
    content = json.dumps({"city": "Paris", "celsius": 21}, separators=(",", ":"))
    assert events == [
        ss.TurnStarted(turn=1),
        *decoded(first),
        ss.ToolCallResult(index=0, id="call_1", name="get_weather", content=content, is_error=False),
        ss.TurnStarted(turn=2),
        *decoded(second),
    ]
    # what each turn sent: the input so far, the reasoning item included, and the tools
    assert sent_input(server, 0) == [USER]
    turn_two = [USER, *output(first), call_output("call_1", content)]
    assert [item["type"] for item in turn_two] == [
        "message", "reasoning", "function_call", "function_call_output"
    ]  # fmt: skip
    assert sent_input(server, 1) == turn_two
    for request in server.requests:
        body = request.json()
        assert body["stream"] is True
        assert body["tools"] == [flat(get_weather), flat(add)]
        assert "previous_response_id" not in body
    # the result: the last response, and the whole input (the answer's items too)
    assert isinstance(result, ss.ResponseToolRunResult)
    assert result.response.output_text == "It is sunny in Paris."
    assert result.response.id == testing.final_response(second)["id"]
    assert len(result.input) == 5 and isinstance(result.input[-1], ss.models.responses.OutputMessage)
    assert run.input is result.input
    assert len(server.requests) == 2


async def test_an_input_list_is_sent_as_given_and_not_changed(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    given: list[Any] = [
        {"role": "developer", "content": "Answer in one line."},
        ss.models.responses.InputMessage(role="user", content="2 + 3?"),
    ]
    script(server, calls({"name": "add", "arguments": '{"a": 2, "b": 3}', "call_id": "c"}), answer("5"))
    result = await sudo.responses.run_tools(model="m", input=given, tools=[add]).final_result()
    first = [
        {"role": "developer", "content": "Answer in one line."},
        {"type": "message", "role": "user", "content": "2 + 3?"},
    ]
    assert sent_input(server, 0) == first
    assert sent_input(server, 1)[2:] == [sent_input(server, 1)[2], call_output("c", "5")]
    assert len(given) == 2
    assert result.input[:2] == given


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

    first = calls(
        {"name": "ping", "arguments": "{}", "call_id": "call_a"},
        {"name": "pong", "arguments": "{}", "call_id": "call_b"},
    )
    script(server, first, answer("Both met."))
    with anyio.fail_after(10):
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[ping, pong]) as run:
            events = await collect(run)
    results = {e.name: (e.index, e.id, e.content) for e in results_of(events)}
    assert results == {"ping": (0, "call_a", "ping met pong"), "pong": (1, "call_b", "pong met ping")}
    assert sent_input(server, 1)[-2:] == [  # in call order
        call_output("call_a", "ping met pong"),
        call_output("call_b", "pong met ping"),
    ]


async def test_each_result_is_an_event_as_soon_as_it_is_there(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    fast_seen = anyio.Event()  # the slow tool ends once the fast one's result is out

    @ss.tool
    async def slow() -> str:
        """Slow."""
        await fast_seen.wait()
        return "slow done"

    @ss.tool
    async def fast() -> str:
        """Fast."""
        return "fast done"

    script(server, calls(("slow", "{}"), ("fast", "{}")), answer("Done."))
    order = []
    with anyio.fail_after(10):
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[slow, fast]) as run:
            async for event in run:
                if isinstance(event, ss.ToolCallResult):
                    order.append((event.index, event.name))
                    if event.name == "fast":
                        fast_seen.set()
    assert order == [(1, "fast"), (0, "slow")]
    assert [item["output"] for item in sent_input(server, 1)[-2:]] == ["slow done", "fast done"]


async def test_what_goes_wrong_in_a_call_is_told_to_the_model(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    @ss.tool
    def explode(reason: str) -> str:
        """Fail."""
        raise RuntimeError(f"boom: {reason}")

    script(
        server,
        calls(
            ("explode", '{"reason": "on purpose"}'),
            ("add", '{"a": 1, "b": "two"}'),  # does not fit the signature
            ("add", '{"a": 1, "b": '),  # not JSON
            ("teleport", "{}"),  # no such tool
            ("add", '{"a": 1, "b": 2}'),
        ),
        answer("Some failed."),
    )
    async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[explode, add]) as run:
        events = await collect(run)
        result = await run.final_result()
    results = results_of(events)
    assert [e.is_error for e in results] == [True, True, True, True, False]
    raised, wrong_type, not_json, unknown, fine = (e.content for e in results)
    assert raised == "error: explode raised RuntimeError: boom: on purpose"
    assert wrong_type.startswith("error: invalid arguments for add: ") and "$.b" in wrong_type
    assert not_json.startswith("error: invalid arguments for add: ")
    assert unknown == "error: there is no tool 'teleport' (the tools: add, explode)"
    assert fine == "3"
    sent = sent_input(server, 1)
    call_ids = [item["call_id"] for item in sent if item["type"] == "function_call"]
    assert sent[-5:] == [call_output(i, e.content) for i, e in zip(call_ids, results, strict=True)]
    assert [e.id for e in results] == call_ids
    assert result.response.output_text == "Some failed."


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

    script(server, calls(("forever", "{}"), ("blocked", "{}"), ("add", '{"a": 2, "b": 2}')), answer("ok"))
    with anyio.fail_after(10):
        async with sudo.responses.run_tools(
            model="m", input=QUESTION, tools=[forever, blocked, add], tool_timeout=0.2
        ) as run:
            events = await collect(run)
    results = {e.name: e for e in results_of(events)}
    for name in ("forever", "blocked"):
        assert results[name].is_error
        assert results[name].content == f"error: {name} did not finish within 0.2 s and was cancelled"
    assert results["add"].content == "4" and not results["add"].is_error
    assert cancelled == ["forever"]
    assert not release.is_set()  # the sync tool's thread is still blocked: abandoned
    assert [item["output"] for item in sent_input(server, 1)[-3:]] == [
        results["forever"].content, results["blocked"].content, "4"
    ]  # fmt: skip


async def test_max_turns_reached_raises_with_the_input_so_far(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    script(server, calls(("add", '{"a": 1, "b": 1}')), calls(("add", '{"a": 2, "b": 2}')))
    events: list[Any] = []
    with pytest.raises(ss.MaxTurnsExceededError, match="after max_turns=2 turns") as caught:
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[add], max_turns=2) as run:
            async for event in run:
                events.append(event)
    error = caught.value
    assert isinstance(error, ss.ResponseMaxTurnsExceededError) and isinstance(error, ss.SudoError)
    assert error.max_turns == 2
    assert len(server.requests) == 2  # no third turn
    sent = msgspec.to_builtins(error.input)
    assert [item["type"] for item in sent] == [
        "message", "function_call", "function_call_output", "function_call", "function_call_output"
    ]  # fmt: skip
    assert [item["output"] for item in sent if "output" in item] == ["2", "4"]
    assert error.messages is error.input is run.input
    assert error.response.function_calls[0].arguments == '{"a": 2, "b": 2}'
    with pytest.raises(AttributeError, match=r"its last answer is \.response"):
        error.completion  # noqa: B018
    assert [e.content for e in events if isinstance(e, ss.ToolCallResult)] == ["2", "4"]
    with pytest.raises(ss.ResponseMaxTurnsExceededError):  # and final_result says so too
        await run.final_result()


async def test_an_api_error_is_raised_as_create_streaming_raises_it(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    server.enqueue(
        testing.response_stream(calls(("add", '{"a": 1, "b": 1}'))),
        testing.Error(400, message="bad tools"),
        path=PATH,
    )
    seen: list[Any] = []
    with pytest.raises(ss.BadRequestError, match="bad tools"):  # not in an exception group
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[add]) as run:
            async for event in run:
                seen.append(event)
    assert seen[-1] == ss.TurnStarted(turn=2)


async def test_a_failed_response_is_raised_with_what_streamed(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    events = answer("Half an ans")[:-1]  # without response.completed
    failed = testing.final_response(answer("Half an ans"))
    failed.update(status="failed", error={"code": "server_error", "message": "it broke"})
    script(server, [*events, {"type": "response.failed", "sequence_number": len(events), "response": failed}])
    with pytest.raises(ss.StreamError, match="it broke") as caught:
        await sudo.responses.run_tools(model="m", input=QUESTION, tools=[add]).final_result()
    assert caught.value.partial_response is not None


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

    script(server, calls(("slow", "{}"), ("add", '{"a": 1, "b": 1}')))
    with anyio.fail_after(10):
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[slow, add]) as run:
            async for event in run:
                if isinstance(event, ss.ToolCallResult):
                    assert event.name == "add"
                    break
        assert cancelled.is_set()  # set by the cancellation, before the block was left
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

    script(server, calls(("slow", "{}")))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_started() -> None:
                    await started.wait()
                    scope.cancel()

                group.start_soon(cancel_once_started)
                async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[slow]) as run:
                    await run.final_result()
    assert scope.cancelled_caught
    assert cancelled == [True]
    with pytest.raises(RuntimeError, match="closed or cancelled before"):
        await run.final_result()


async def test_cancelling_mid_stream_closes_the_connection(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # a turn that streams its arguments, then stalls until the client leaves
    stalled = [*calls(("add", '{"a": 1, "b": 1}'), fragment_size=2)[:6], testing.StallItem(None)]
    deltas = 0
    with anyio.fail_after(10):
        script(server, stalled)
        async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[add]) as run:
            async for event in run:
                deltas += isinstance(event, ResponseFunctionCallArgumentsDeltaEvent)
                if deltas == 2:
                    break
        await wait_until_no_connections(server)
    assert deltas == 2
    with anyio.fail_after(10):  # and with a cancel scope, the stream waiting on the server
        script(server, stalled)
        with anyio.CancelScope() as scope:
            async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[add]) as run:
                async for event in run:
                    if isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
                        scope.cancel()
        assert scope.cancelled_caught
        await wait_until_no_connections(server)


async def test_options_go_with_every_turn(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    script(server, calls(("add", '{"a": 1, "b": 1}')), answer("2"))
    choice = {"type": "function", "name": "add"}
    await sudo.responses.run_tools(
        model="m", input=QUESTION, tools=[add], tool_choice=choice, parallel_tool_calls=False,
        instructions="Use the tools.", store=False, include=["reasoning.encrypted_content"],
        extra_body={"metadata": {"run": "1"}},
    ).final_result()  # fmt: skip
    assert len(server.requests) == 2
    for request in server.requests:
        body = request.json()
        assert body["tool_choice"] == choice and body["parallel_tool_calls"] is False
        assert body["instructions"] == "Use the tools." and body["store"] is False
        assert body["include"] == ["reasoning.encrypted_content"]
        assert body["metadata"] == {"run": "1"}


async def test_against_the_fake_servers_own_model(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # Unscripted, it calls the first tool with arguments that fit its schema, then answers
    # once the last input item is a function_call_output.
    async with sudo.responses.run_tools(model="m", input=QUESTION, tools=[get_weather]) as run:
        events = await collect(run)
        result = await run.final_result()
    (called,) = results_of(events)
    assert called.name == "get_weather" and not called.is_error
    assert called.content == '{"city":"text","celsius":21}'
    assert "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)) == testing.DEFAULT_REPLY
    assert result.response.output_text == testing.DEFAULT_REPLY
    assert sent_input(server, 1)[-1] == call_output(called.id, called.content)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_turns": 0}, ValueError, "max_turns must be an int >= 1"),
        ({"tool_timeout": -1}, ValueError, "tool_timeout must be a positive"),
        ({"tool_timeout": "1"}, TypeError, "tool_timeout must be a number"),
        ({"tools": []}, ValueError, "at least one tool"),
        ({"tools": [add, add]}, ValueError, "two tools are named 'add'"),
        ({"tools": [{"type": "web_search"}]}, TypeError, r"tools\[0\] must be a function"),
        ({"stream": True}, TypeError, "run_tools\\(\\) got an unexpected keyword argument 'stream'"),
        ({"temperature": 9}, ValueError, "temperature must be between"),
        ({"model": ""}, ValueError, "model must be a non-empty string"),
        ({"input": [{"role": "robot", "content": "x"}]}, ValueError, r"input\[0\] is a message with role"),
        ({"input": 42}, TypeError, "input must be a string or a list"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    server: testing.FakeSudoServer,
    sudo: ss.AsyncSudo,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    arguments: dict[str, Any] = {"model": "m", "input": QUESTION, "tools": [add], **kwargs}
    with pytest.raises(error, match=match):
        sudo.responses.run_tools(**arguments)
    assert server.requests == []


async def test_a_run_is_iterated_inside_its_block_and_entered_once(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    run = sudo.responses.run_tools(model="m", input=QUESTION, tools=[add])
    with pytest.raises(RuntimeError, match=r"inside its block: `async with responses.run_tools"):
        await run.__anext__()
    script(server, answer("fine"))
    async with run:
        assert (await run.final_result()).response.output_text == "fine"
    with pytest.raises(RuntimeError, match="a ResponseToolRun runs once"):
        async with run:
            pass
    assert repr(run) == "<ResponseToolRun done turn=1 tools=['add']>"


# -- the blocking facade -----------------------------------------------------------------

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


@pytest.fixture
def thread_server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake
        assert fake.errors == []


@BACKENDS
def test_blocking_the_same_events_and_input_as_the_async_loop(
    thread_server: testing.FakeSudoServer, backend: str
) -> None:
    first = calls({"name": "get_weather", "arguments": '{"city": "Paris"}', "call_id": "call_1"})
    second = answer("It is sunny in Paris.")
    script(thread_server, first, second)
    with ss.Sudo(server_url=thread_server.url, backend=backend) as sudo:  # type: ignore[arg-type]
        with sudo.responses.run_tools(model="m", input=QUESTION, tools=[get_weather]) as run:
            events = list(run)
            result = run.final_result()
        content = '{"city":"Paris","celsius":21}'
        assert events == [
            ss.TurnStarted(turn=1),
            *decoded(first),
            ss.ToolCallResult(index=0, id="call_1", name="get_weather", content=content, is_error=False),
            ss.TurnStarted(turn=2),
            *decoded(second),
        ]
        assert sent_input(thread_server, 1) == [USER, *output(first), call_output("call_1", content)]
        assert result.response.output_text == "It is sunny in Paris."
        assert run.input is result.input
        # final_result() alone, against the fake server's own model; and max_turns
        alone = sudo.responses.run_tools(model="m", input=QUESTION, tools=[add]).final_result()
        assert alone.response.output_text == testing.DEFAULT_REPLY
        script(thread_server, calls(("add", '{"a": 1, "b": 1}')))
        with pytest.raises(ss.ResponseMaxTurnsExceededError, match="max_turns=1"):
            list(sudo.responses.run_tools(model="m", input=QUESTION, tools=[add], max_turns=1))
        assert sudo._runs == set()  # every run closed itself


@BACKENDS
def test_blocking_leaving_the_block_or_closing_the_client_cancels_the_running_calls(
    thread_server: testing.FakeSudoServer, backend: str
) -> None:
    cancelled: list[str] = []

    @ss.tool
    async def slow() -> str:
        """Slow."""
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append("slow")
        return "unreachable"

    both = calls(("slow", "{}"), ("add", '{"a": 1, "b": 1}'))
    script(thread_server, both, both)
    sudo = ss.Sudo(server_url=thread_server.url, backend=backend)  # type: ignore[arg-type]
    with sudo.responses.run_tools(model="m", input=QUESTION, tools=[slow, add]) as run:
        for event in run:
            if isinstance(event, ss.ToolCallResult):
                break
    assert cancelled == ["slow"]  # close() waited for the cancellation
    for event in sudo.responses.run_tools(model="m", input=QUESTION, tools=[slow, add]):
        if isinstance(event, ss.ToolCallResult):
            break  # no with, no close(): the run is still open, its slow call running
    assert cancelled == ["slow"]
    sudo.close()  # would wait forever for the run's task, were it not closed first
    assert cancelled == ["slow", "slow"]
    assert len(thread_server.requests) == 2
