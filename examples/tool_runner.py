"""The tool loop: router.run_tools() streams each turn, runs the tools the model asks for
(at once), sends their results back, and goes on until the model answers. Everything is
printed as it happens: the arguments as they stream, each result as its tool ends.

    python examples/tool_runner.py

sudo.responses.run_tools() runs the same loop over the Responses API (input= for messages=,
the typed Responses events between the same TurnStarted and ToolCallResult).

With SUDO_API_KEY set it asks the Sudo API; without it, the fake server plays the model:
a first turn that calls both tools (scripted), then its own answer, which repeats what the
tools said.
"""

import os
import time

import anyio

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")
QUESTION = "What is the weather in Paris, and how many people live there?"


@ss.tool
async def get_weather(city: str) -> dict[str, object]:
    """The current weather in a city.

    Args:
        city: The city's name, e.g. "Paris".
    """
    await anyio.sleep(0.2)  # a stand-in for a call to a weather service
    known = {"Paris": (21, "sunny"), "Tokyo": (17, "cloudy")}
    celsius, sky = known.get(city, (15, "unknown"))
    return {"city": city, "celsius": celsius, "sky": sky}


@ss.tool
def population(city: str) -> int:
    """How many people live in a city.

    Args:
        city: The city's name.
    """
    time.sleep(0.1)  # blocking work: a sync tool runs in a worker thread
    return {"Paris": 2_102_650, "Tokyo": 14_187_176}.get(city, 0)


async def converse(sudo: ss.AsyncSudo, question: str) -> None:
    async with sudo.router.run_tools(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        tools=[get_weather, population],
        max_turns=5,
        tool_timeout=30,
    ) as run:
        async for event in run:
            match event:
                case ss.TurnStarted(turn=turn):
                    print(f"[turn {turn}]")
                case ss.ToolCallStarted(index=index, name=name):
                    if index:  # the next call: end the line of the one before
                        print()
                    print(f"-> {name}", end=" ", flush=True)
                case ss.ToolArgumentsDelta(delta=delta):
                    print(delta, end="", flush=True)  # the JSON, as it streams
                case ss.TextDelta(text=text):
                    print(text, end="", flush=True)
                case ss.Finished():  # the end of the turn's answer
                    print()
                case ss.ToolCallResult(name=name, content=content, is_error=is_error):
                    print(f"   {name} {'failed' if is_error else 'returned'} {content}")
        result = await run.final_result()
    roles = ", ".join(message["role"] for message in result.messages)  # type: ignore[index]
    print(f"({run.turn} turns; the conversation: {roles})")


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await converse(sudo, QUESTION)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: the fake server at {server.url} plays the model)")
        calls = [("get_weather", '{"city": "Paris"}'), ("population", '{"city": "Paris"}')]
        server.enqueue(testing.Stream(testing.tool_call_chunks(calls, model=MODEL), delay=0.01))
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await converse(sudo, QUESTION)


if __name__ == "__main__":
    anyio.run(main)
