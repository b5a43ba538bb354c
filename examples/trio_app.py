"""The same client under trio: concurrent streams in a nursery, then cancellation.

    python examples/trio_app.py

Three questions stream at once; then a long answer is cut off by ``trio.move_on_after``,
which closes its stream (and its connection) at once. With SUDO_API_KEY set it asks
the Sudo API; without it, the fake server answers (on trio too) and it says so.
"""

import os
import time

import trio

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")
QUESTIONS = {
    "haiku": "Write a haiku about rivers.",
    "fact": "Tell me one fact about octopuses.",
    "joke": "Tell me a short joke about compilers.",
}


async def answer(sudo: ss.AsyncSudo, name: str, question: str) -> None:
    started = time.perf_counter()
    messages = [{"role": "user", "content": question}]
    async with sudo.router.create_streaming(messages=messages, model=MODEL) as stream:
        text = "".join([piece async for piece in stream.text()])
    took = time.perf_counter() - started
    print(f"[{name}] ({took:.2f} s) {text}")


async def cut_short(sudo: ss.AsyncSudo, seconds: float) -> None:
    messages = [{"role": "user", "content": "Tell me a very long story."}]
    received = ""
    with trio.move_on_after(seconds) as scope:
        async with sudo.router.create_streaming(messages=messages, model=MODEL) as stream:
            async for piece in stream.text():
                received += piece
    # Leaving the block (here by cancellation) closed the stream and its connection.
    if scope.cancelled_caught:
        print(f"[story] cancelled after {seconds} s, {len(received)} characters in")


async def demo(sudo: ss.AsyncSudo) -> None:
    async with trio.open_nursery() as nursery:
        for name, question in QUESTIONS.items():
            nursery.start_soon(answer, sudo, name, question)
    await cut_short(sudo, seconds=1.0)


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await demo(sudo)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: using the fake server at {server.url}, on trio)")
        for delay in (0.03, 0.01, 0.02):  # the three answers, streaming at their own pace
            reply = testing.text_chunks("A reply from the fake server, word by word.")
            server.enqueue(testing.Stream(reply, delay=delay))
        server.enqueue(testing.Endless(interval=0.01))  # a story that never ends
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await demo(sudo)


if __name__ == "__main__":
    trio.run(main)
