"""Synchronous use, in the seed SDK's style: ``from sudo_stream import Sudo``.

    python examples/blocking.py

No event loop in sight: ``Sudo`` runs the async client on a helper thread. With
SUDO_API_KEY set it uses the Sudo API (at SUDO_SERVER_URL, if set); without it, it starts
the fake server in a thread and says so.
"""

import os

from sudo_stream import Sudo, testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")


def demo(server_url: str | None) -> None:
    with Sudo(server_url=server_url, api_key=os.getenv("SUDO_API_KEY", "")) as sudo:
        res = sudo.router.create(
            messages=[{"role": "user", "content": "Say hello."}], model=MODEL, stream=False
        )
        print(res.choices[0].message.content)

        with sudo.router.create_streaming(
            messages=[{"role": "user", "content": "Count to five."}], model=MODEL, stream=True
        ) as events:
            for text in events.text():  # or `for chunk in events:` for the raw chunks
                print(text, end="", flush=True)
            print()

        for stored in sudo.router.list_chat_completions(limit=2):  # walks every page
            print(stored.id, stored.model)


if __name__ == "__main__":
    if os.environ.get("SUDO_API_KEY"):
        demo(os.environ.get("SUDO_SERVER_URL"))
    else:
        with testing.serve_in_thread() as server:
            print(f"(no SUDO_API_KEY: using the fake server at {server.url})")
            server.store_completion({"model": MODEL, "choices": []})  # something to list
            demo(server.url)
