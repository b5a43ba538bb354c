"""The smallest streaming program: print a reply token by token.

    python examples/stream_text.py

With SUDO_API_KEY set it asks the Sudo API (at SUDO_SERVER_URL, if set); without it, it
starts the fake server from sudo_stream.testing and says so.
"""

import os

import anyio

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")


async def ask(sudo: ss.AsyncSudo) -> None:
    messages = [{"role": "user", "content": "Explain streaming in two sentences."}]
    async with sudo.router.create_streaming(messages=messages, model=MODEL) as stream:
        async for text in stream.text():
            print(text, end="", flush=True)
    print()


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:  # the key and URL come from the environment
            await ask(sudo)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: using the fake server at {server.url})")
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await ask(sudo)


if __name__ == "__main__":
    anyio.run(main)
