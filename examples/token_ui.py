"""A live terminal UI: one prompt streamed by several models at once, side by side, token
by token, reasoning dimmed. Uses rich (``pip install ".[ui]"`` in a checkout); without rich or
without a terminal it prints each answer as it completes.

    python examples/token_ui.py ["your prompt"]

With SUDO_API_KEY set it asks the Sudo API (models from SUDO_MODELS, comma-separated);
without it, the fake server answers at three different speeds and it says so.
"""

import importlib.util
import os
import sys
import time

import anyio

import sudo_stream as ss
from sudo_stream import testing

MODELS = os.environ.get("SUDO_MODELS", "gpt-4o-mini,claude-sonnet-4-20250514,deepseek-reasoner")
PROMPT = "In three sentences: why do streaming APIs feel faster?"


class Pane:
    """What one stream has shown so far."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.reasoning = ""
        self.text = ""
        self.status = "waiting"


async def fill(sudo: ss.AsyncSudo, pane: Pane, prompt: str) -> None:
    messages = [{"role": "user", "content": prompt}]
    try:
        async with sudo.router.create_streaming(messages=messages, model=pane.model) as stream:
            async for event in stream.events():
                if isinstance(event, ss.ReasoningDelta):
                    pane.reasoning += event.text
                    pane.status = "thinking"
                elif isinstance(event, ss.TextDelta):
                    pane.text += event.text
                    pane.status = "writing"
        stats = stream.statistics()
        first = (stats.time_to_first_event or 0.0) * 1000
        pane.status = f"done, ttft {first:.0f} ms"
    except ss.SudoError as exc:
        pane.status = f"error: {exc}"


async def live_ui(sudo: ss.AsyncSudo, panes: list[Pane], prompt: str) -> None:
    from rich.live import Live
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    def render() -> Table:
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in panes:
            grid.add_column(ratio=1)
        cells = []
        for pane in panes:
            body = Text()
            if pane.reasoning:
                body.append(pane.reasoning + "\n\n", style="dim italic")
            body.append(pane.text)
            cells.append(Panel(body, title=pane.model, subtitle=pane.status))
        grid.add_row(*cells)
        return grid

    with Live(render(), auto_refresh=False) as live:
        async with anyio.create_task_group() as ui:

            async def redraw() -> None:
                while True:
                    live.update(render(), refresh=True)
                    await anyio.sleep(1 / 20)

            ui.start_soon(redraw)
            async with anyio.create_task_group() as streams:
                for pane in panes:
                    streams.start_soon(fill, sudo, pane, prompt)
            ui.cancel_scope.cancel()
        live.update(render(), refresh=True)


async def plain(sudo: ss.AsyncSudo, panes: list[Pane], prompt: str) -> None:
    async def fill_and_print(pane: Pane) -> None:
        await fill(sudo, pane, prompt)
        print(f"[{pane.model}] ({pane.status})\n{pane.text}\n", flush=True)

    async with anyio.create_task_group() as streams:
        for pane in panes:
            streams.start_soon(fill_and_print, pane)


def terminal_ui() -> bool:
    """rich is installed and we write to a terminal."""
    if importlib.util.find_spec("rich") is None:
        return False
    from rich.console import Console

    return Console().is_terminal


async def show(sudo: ss.AsyncSudo, prompt: str) -> None:
    panes = [Pane(model.strip()) for model in MODELS.split(",") if model.strip()]
    started = time.perf_counter()
    await (live_ui if terminal_ui() else plain)(sudo, panes, prompt)
    print(f"{len(panes)} streams in {time.perf_counter() - started:.2f} s")


async def main() -> None:
    prompt = " ".join(sys.argv[1:]) or PROMPT
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await show(sudo, prompt)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: using the fake server at {server.url})")
        answer = (
            "Because the first words arrive in milliseconds, you start reading while the rest "
            "is still being written. Waiting feels shorter when something moves. And a slow "
            "answer can be stopped early instead of being paid for in full."
        )
        thought = "Three sentences: first token latency, perceived progress, early cancel."
        server.enqueue(
            testing.Stream(testing.text_chunks(answer), delay=0.02),
            testing.Stream(testing.text_chunks(answer, words_per_chunk=2), delay=0.03),
            testing.Stream(testing.text_chunks(answer, reasoning=thought), delay=0.015),
        )
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            await show(sudo, prompt)


if __name__ == "__main__":
    anyio.run(main)
