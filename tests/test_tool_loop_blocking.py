"""The blocking tool loop, ``Sudo.router.run_tools``, against the fake server in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES
from .test_lifecycle import SERVER, run_script
from .test_tool_loop import add, get_weather, stream_events

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
SAFETY = 10.0  # seconds a tool waits for the other at most: a safety net, not a measure


@pytest.fixture
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def sudo(server: testing.FakeSudoServer, backend: str) -> Iterator[ss.Sudo]:
    with ss.Sudo(server_url=server.url, backend=backend) as client:  # type: ignore[arg-type]
        yield client


@BACKENDS
def test_the_same_events_and_conversation_as_the_async_loop(
    server: testing.FakeSudoServer, sudo: ss.Sudo
) -> None:
    first = testing.tool_call_chunks("get_weather", '{"city": "Paris"}', call_id="call_1")
    second = testing.text_chunks("It is sunny in Paris.")
    server.enqueue(testing.Stream(first), testing.Stream(second))
    with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[get_weather, add]) as run:
        events = list(run)
        result = run.final_result()
    content = '{"city":"Paris","celsius":21}'
    assert events == [
        ss.TurnStarted(turn=1),
        *stream_events(first),
        ss.ToolCallResult(index=0, id="call_1", name="get_weather", content=content, is_error=False),
        ss.TurnStarted(turn=2),
        *stream_events(second),
    ]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]  # type: ignore[index]
    assert result.messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": content}
    assert result.completion.choices[0].message.content == "It is sunny in Paris."
    assert run.messages is result.messages


@BACKENDS
def test_iterated_without_with_or_final_result_alone(
    server: testing.FakeSudoServer, sudo: ss.Sudo
) -> None:
    server.enqueue(
        testing.Stream(testing.tool_call_chunks("add", '{"a": 2, "b": 3}')),
        testing.Stream(testing.text_chunks("5")),
    )
    run = sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add])
    results = [e.content for e in run if isinstance(e, ss.ToolCallResult)]
    assert results == ["5"]
    assert run.final_result().completion.choices[0].message.content == "5"
    # final_result() alone: against the fake server's own model this time
    result = sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]).final_result()
    assert result.completion.choices[0].message.content == "The tools answered: add said 2."
    assert sudo._runs == set()  # every run closed itself


@BACKENDS
def test_sync_tools_of_a_turn_run_at_once(server: testing.FakeSudoServer, sudo: ss.Sudo) -> None:
    started = {"left": threading.Event(), "right": threading.Event()}

    def meet(me: str, other: str) -> str:
        started[me].set()
        return "met" if started[other].wait(SAFETY) else "alone"

    @ss.tool
    def left() -> str:
        """Left."""
        return meet("left", "right")

    @ss.tool
    def right() -> str:
        """Right."""
        return meet("right", "left")

    server.enqueue(
        testing.Stream(testing.tool_call_chunks([("left", "{}"), ("right", "{}")])),
        testing.Stream(testing.text_chunks("Both met.")),
    )
    result = sudo.router.run_tools(model="m", messages=MESSAGES, tools=[left, right]).final_result()
    assert [m["content"] for m in result.messages[2:4]] == ["met", "met"]  # type: ignore[index]


@BACKENDS
def test_leaving_the_block_cancels_the_running_calls(
    server: testing.FakeSudoServer, sudo: ss.Sudo
) -> None:
    cancelled = threading.Event()

    @ss.tool
    async def slow() -> str:
        """Slow."""
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "unreachable"

    server.enqueue(testing.Stream(testing.tool_call_chunks([("slow", "{}"), ("add", '{"a": 1, "b": 1}')])))
    with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[slow, add]) as run:
        for event in run:
            if isinstance(event, ss.ToolCallResult):
                break
    assert cancelled.is_set()  # close() waited for the cancellation
    assert len(server.requests) == 1


@BACKENDS
def test_closing_the_client_closes_a_run_left_open(server: testing.FakeSudoServer, backend: str) -> None:
    cancelled = threading.Event()

    @ss.tool
    async def slow() -> str:
        """Slow."""
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "unreachable"

    server.enqueue(testing.Stream(testing.tool_call_chunks([("slow", "{}"), ("add", '{"a": 1, "b": 1}')])))
    sudo = ss.Sudo(server_url=server.url, backend=backend)  # type: ignore[arg-type]
    for event in sudo.router.run_tools(model="m", messages=MESSAGES, tools=[slow, add]):
        if isinstance(event, ss.ToolCallResult):
            break  # no with, no close(): the run is still open, its slow call running
    assert not cancelled.is_set()
    sudo.close()  # would wait forever for the run's task, were it not closed first
    assert cancelled.is_set()
    assert not sudo._runner._loop._thread.is_alive()  # the loop stopped


@BACKENDS
def test_errors_are_raised_as_in_the_async_loop(server: testing.FakeSudoServer, sudo: ss.Sudo) -> None:
    call = testing.Stream(testing.tool_call_chunks("add", '{"a": 1, "b": 1}'))
    server.enqueue(call, call)
    events: list[Any] = []
    with pytest.raises(ss.MaxTurnsExceededError, match="max_turns=2") as caught:
        with sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add], max_turns=2) as run:
            events.extend(run)
    assert [m["role"] for m in caught.value.messages][-2:] == ["assistant", "tool"]
    assert sum(isinstance(e, ss.ToolCallResult) for e in events) == 2
    server.enqueue(testing.Error(401))
    with pytest.raises(ss.AuthenticationError):
        sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add]).final_result()
    with pytest.raises(ValueError, match="n must be 1"):
        sudo.router.run_tools(model="m", messages=MESSAGES, tools=[add], n=2)


@BACKENDS
def test_a_run_left_open_in_a_client_never_closed_is_cancelled_at_exit(backend: str) -> None:
    # At exit the client's loop is stopped; it would wait for the open run's task first
    # (for as long as exit allows, and the call would never be cancelled), so the run goes first.
    both = '[("slow", "{}"), ("add", \'{"a": 1, "b": 1}\')]'
    server = SERVER.replace(
        "urls.put(server.url)",
        f"server.enqueue(testing.Stream(testing.tool_call_chunks({both})))\n        urls.put(server.url)",
    )
    assert server != SERVER
    done = run_script(
        server
        + f"""

@ss.tool
async def slow() -> str:
    '''Slow.'''
    try:
        await anyio.sleep_forever()
    finally:
        print("slow was cancelled", flush=True)
    return ""

def add(a: int, b: int) -> int:
    return a + b

sudo = ss.Sudo(server_url=URL, backend={backend!r})
for event in sudo.router.run_tools(model="m", messages=[{{"role": "user", "content": "x"}}], tools=[slow, add]):
    if isinstance(event, ss.ToolCallResult):
        break  # the run stays open, its slow call running, and the client is never closed
print("leaving", flush=True)
"""
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["leaving", "slow was cancelled"]
    assert "was never closed; closed at exit" in done.stderr
