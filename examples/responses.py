"""The Responses API, streamed: a reasoning summary, then the answer token by token, from
typed events; then the assembled response, and a second turn that goes on from it.

    python examples/responses.py

With SUDO_API_KEY set it asks the Sudo API; without it, the fake server plays the model,
and it says so.
"""

import os

import anyio

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.models import response_events as events

MODEL = os.environ.get("SUDO_MODEL", "o4-mini")
QUESTION = "Is 1001 a prime number?"
FOLLOW_UP = "And 1009?"


async def ask(sudo: ss.AsyncSudo, input: object, **params: object) -> ss.Response:
    async with sudo.responses.create_streaming(model=MODEL, input=input, **params) as stream:
        async for event in stream:
            match event:
                case events.ResponseReasoningSummaryTextDeltaEvent(delta=delta):
                    print(delta, end="", flush=True)  # what the model thought, summarised
                case events.ResponseReasoningSummaryTextDoneEvent():
                    print("\n")
                case events.ResponseTextDeltaEvent(delta=delta):
                    print(delta, end="", flush=True)
        response = await stream.final_response()
    usage = f"{response.usage.output_tokens} tokens" if response.usage else "no usage"
    items = ", ".join(type(item).__name__ for item in response.output)
    print(f"\n[{response.status}, {usage}, output: {items}]")
    return response


async def converse(sudo: ss.AsyncSudo) -> None:
    first = await ask(sudo, QUESTION, reasoning={"effort": "low", "summary": "auto"})
    # The next turn: the first turn's output items go back as input, then the new question.
    follow = [{"role": "user", "content": QUESTION}, *first.output]
    await ask(sudo, [*follow, {"role": "user", "content": FOLLOW_UP}])


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await converse(sudo)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: the fake server at {server.url} plays the model)")
        first = testing.response_events(
            "No: 1001 = 7 * 11 * 13.",
            reasoning="Try small primes: 1001 / 7 = 143, and 143 = 11 * 13.",
            model=MODEL,
        )
        second = testing.response_events("Yes: 1009 is prime.", model=MODEL)
        server.enqueue(
            testing.response_stream(first, delay=0.01),
            testing.response_stream(second, delay=0.01),
            path="/v1/responses",
        )
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await converse(sudo)
        sent = server.requests[-1].json()["input"]
        kinds = [item.get("type", item.get("role")) for item in sent]
        print(f"(the second request sent its input as: {', '.join(kinds)})")


if __name__ == "__main__":
    anyio.run(main)
