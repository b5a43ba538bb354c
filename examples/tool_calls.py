"""A complete tool-calling loop, streamed: the model asks for tools, we run them and send
the results back, and the model streams its answer. Arguments show as they stream.

    python examples/tool_calls.py

With SUDO_API_KEY set it asks the Sudo API; without it, the fake server plays the model's
two turns (the tool calls, then the answer) and it says so.
"""

import json
import os
from typing import Any

import anyio

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    """Our tool: a stand-in for a real weather service."""
    known = {"Paris": (21, "sunny"), "Tokyo": (17, "cloudy")}
    celsius, sky = known.get(city, (15, "unknown"))
    return {"city": city, "celsius": celsius, "sky": sky}


FUNCTIONS = {"get_weather": get_weather}


async def converse(sudo: ss.AsyncSudo, question: str) -> str:
    messages: list[Any] = [{"role": "user", "content": question}]
    for _ in range(5):  # a bound on the rounds of tool calls
        async with sudo.router.create_streaming(
            messages=messages, model=MODEL, tools=TOOLS
        ) as stream:
            calls: list[ss.ToolCallDone] = []
            async for event in stream.events():
                match event:
                    case ss.TextDelta(text=text):
                        print(text, end="", flush=True)
                    case ss.ToolCallStarted(index=index, name=name):
                        if index:  # the next call: end the line of the one before
                            print()
                        print(f"-> {name}", end=" ", flush=True)
                    case ss.ToolArgumentsDelta(delta=delta):
                        print(delta, end="", flush=True)  # the JSON, as it streams
                    case ss.ToolCallDone():  # complete, with .parsed arguments
                        calls.append(event)
            print()
            reply = (await stream.final_completion()).choices[0].message
        if not calls:
            return reply.content or ""
        messages.append(reply.to_param())  # the assistant turn that asked for the tools
        for call in calls:
            if call.parse_error is not None:
                result: Any = {"error": f"invalid arguments: {call.parse_error}"}
            else:
                result = FUNCTIONS[call.name](**call.parsed)
            print(f"   {call.name} returned {json.dumps(result)}")
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    raise RuntimeError("the model kept asking for tools")


QUESTION = "What is the weather in Paris and in Tokyo?"


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await converse(sudo, QUESTION)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: the fake server at {server.url} plays the model)")
        calls = [("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Tokyo"}')]
        answer = "It is sunny and 21 degrees in Paris, and cloudy and 17 degrees in Tokyo."
        server.enqueue(
            testing.Stream(testing.tool_call_chunks(calls, model=MODEL), delay=0.01),
            testing.Stream(testing.text_chunks(answer, model=MODEL), delay=0.02),
        )
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await converse(sudo, QUESTION)
        sent = server.requests[-1].json()["messages"]  # what the second turn carried
        print(f"(the second request sent {len(sent)} messages: user, assistant, 2 tool results)")


if __name__ == "__main__":
    anyio.run(main)
