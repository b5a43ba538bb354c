"""Command line: ``python -m sudo_stream chat PROMPT`` streams a reply token by token.

Without ``SUDO_API_KEY`` (or with ``--offline``) it starts the embedded fake server from
:mod:`sudo_stream.testing` and says so, so it works with no account and no network.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TextIO

import anyio

from ._version import __version__

DIM, RESET, CYAN = "\x1b[2m", "\x1b[0m", "\x1b[36m"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sudo-stream", description="Stream chat completions from the Sudo API."
    )
    parser.add_argument("--version", action="version", version=f"sudo_stream {__version__}")
    parser.add_argument("--offline", action="store_true", help="use the embedded fake server")
    parser.add_argument("--server-url", help="API base URL (default $SUDO_SERVER_URL)")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="stream a reply to a prompt")
    chat.add_argument("prompt", help="the prompt, or - to read it from standard input")
    chat.add_argument("-m", "--model", default="gpt-4o-mini")
    chat.add_argument("--json", action="store_true", help="print raw chunks as JSON lines")
    chat.add_argument("--system", help="a system message")
    commands.add_parser("models", help="list the models")
    return parser


class _Printer:
    """Renders typed events to a terminal: reasoning dimmed, tool calls as they stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.color = out.isatty() and not os.environ.get("NO_COLOR")
        self.mode = "text"

    def _style(self, mode: str) -> None:
        if mode == self.mode:
            return
        if self.color:
            self.out.write(RESET)
            if mode == "reasoning":
                self.out.write(DIM)
            elif mode == "tool":
                self.out.write(CYAN)
        if mode != "text" or self.mode != "text":
            self.out.write("\n")
        self.mode = mode

    def write(self, mode: str, text: str) -> None:
        self._style(mode)
        self.out.write(text)
        self.out.flush()

    def end(self) -> None:
        self._style("text")
        self.out.write("\n")


async def _chat(sudo: object, args: argparse.Namespace, out: TextIO) -> None:
    from .client import AsyncSudo
    from .models.events import (
        ReasoningDelta,
        RefusalDelta,
        TextDelta,
        ToolArgumentsDelta,
        ToolCallStarted,
    )

    assert isinstance(sudo, AsyncSudo)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    messages = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    async with sudo.router.create_streaming(
        messages=messages, model=args.model, stream_options={"include_usage": True}
    ) as stream:
        if args.json:
            import msgspec

            async for chunk in stream:
                out.write(msgspec.json.encode(chunk).decode() + "\n")
            return
        printer = _Printer(out)
        async for event in stream.events():
            if isinstance(event, TextDelta):
                printer.write("text", event.text)
            elif isinstance(event, ReasoningDelta):
                printer.write("reasoning", event.text)
            elif isinstance(event, RefusalDelta):
                printer.write("text", event.text)
            elif isinstance(event, ToolCallStarted):
                printer.write("tool", f"[tool call {event.name}] ")
            elif isinstance(event, ToolArgumentsDelta):
                printer.write("tool", event.delta)
        printer.end()
        completion = stream.current_completion()
        stats = stream.statistics()
        usage = completion.usage
        tokens = usage.completion_tokens if usage else stats.events
        finish = completion.choices[0].finish_reason if completion.choices else None
        ttft = stats.time_to_first_event or 0.0
        rate = tokens / (stats.elapsed - ttft) if stats.elapsed > ttft else 0.0
        summary = (
            f"model {completion.model or args.model} · finish {finish} · {tokens} tokens · "
            f"first token {ttft * 1000:.0f} ms · {rate:.0f} tokens/s"
        )
        print(f"{DIM}{summary}{RESET}" if printer.color else summary, file=sys.stderr)


async def _models(sudo: object, out: TextIO) -> None:
    from .client import AsyncSudo

    assert isinstance(sudo, AsyncSudo)
    listing = await sudo.router.get_supported_models()
    for model in listing.data:
        out.write(f"{model.id}\n")


async def _run(args: argparse.Namespace) -> None:
    from .client import AsyncSudo

    async with AsyncExitStack() as stack:
        server_url = args.server_url
        api_key = os.environ.get("SUDO_API_KEY")
        if args.offline or not api_key:
            from .testing import FakeSudoServer

            server = await stack.enter_async_context(FakeSudoServer())
            server_url, api_key = server.url, None
            print(
                f"(no SUDO_API_KEY: using the embedded fake server at {server.url})",
                file=sys.stderr,
            )
        sudo = await stack.enter_async_context(AsyncSudo(api_key=api_key, server_url=server_url))
        if args.command == "chat":
            await _chat(sudo, args, sys.stdout)
        else:
            await _models(sudo, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sudo_stream`` and the ``sudo-stream`` script."""
    from .errors import SudoError

    args = _parser().parse_args(argv)
    try:
        anyio.run(_run, args, backend=args.backend)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except SudoError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
