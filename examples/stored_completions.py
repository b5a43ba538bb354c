"""Stored completions: create with ``store=True``, list them page by page (filtered by
metadata), read one and its messages, update its metadata, delete them.

    python examples/stored_completions.py

Stored completions are an OpenAI-only feature of the router: pick an OpenAI model. With
SUDO_API_KEY set it uses the Sudo API; without it, the fake server stores them in memory.
"""

import os

import anyio

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")
TAG = {"example": "stored_completions"}


async def demo(sudo: ss.AsyncSudo) -> None:
    # Store three completions: two plain ones and a streamed one.
    for topic in ("rivers", "mountains"):
        messages = [{"role": "user", "content": f"One sentence about {topic}."}]
        await sudo.router.create(
            messages=messages, model=MODEL, store=True, metadata={**TAG, "topic": topic}
        )
    async with sudo.router.create_streaming(
        messages=[{"role": "user", "content": "One sentence about oceans."}],
        model=MODEL,
        store=True,
        metadata={**TAG, "topic": "oceans"},
    ) as stream:
        await stream.final_completion()

    # `await` a list call for its first page...
    page = await sudo.router.list_chat_completions(limit=2, metadata=TAG)
    print(f"first page: {len(page.data)} completions, has_more={page.has_more}")
    # ...or `async for` it for every item, the next pages fetched as needed (after=last_id).
    stored = [c async for c in sudo.router.list_chat_completions(limit=2, metadata=TAG)]
    for completion in stored:
        label = (completion.metadata or {}).get("topic")
        print(f"  {completion.id} [{label}] {completion.choices[0].message.content}")

    first = stored[0]
    again = await sudo.router.get_chat_completion(completion_id=first.id)
    async for message in sudo.router.get_chat_completion_messages(completion_id=first.id):
        print(f"  {again.id} was asked by {message.role}: {message.content}")
    updated = await sudo.router.update_chat_completion(
        completion_id=first.id, metadata={**TAG, "reviewed": "yes"}
    )
    print(f"  updated metadata: {updated.metadata}")

    for completion in stored:
        deleted = await sudo.router.delete_chat_completion(completion_id=completion.id)
        assert deleted.deleted
    print(f"deleted {len(stored)} stored completions")


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await demo(sudo)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: using the fake server at {server.url})")
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await demo(sudo)


if __name__ == "__main__":
    anyio.run(main)
