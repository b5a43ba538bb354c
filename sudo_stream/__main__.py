"""Command line: ``python -m sudo_stream`` (or ``sudo-stream``).

``chat [-m MODEL] PROMPT`` streams a reply token by token: reasoning dimmed, tool calls as
their arguments stream, and a one-line summary at the end (on stderr). ``--json`` prints
the chunks as JSON lines instead; ``--schema FILE`` asks for an object matching a JSON
Schema and prints it, checked, as JSON; ``-`` reads the prompt from standard input. ``models``
lists the models. ``respond PROMPT`` streams a response of the Responses API the same
way (reasoning summaries dimmed, function calls as their arguments stream). ``batch INPUT OUTPUT`` sends a batch file's requests (resumably: see
:mod:`sudo_stream.batch`), with progress and a report on stderr.

Without ``SUDO_API_KEY`` (and without a server URL), or with ``--offline``, it starts the
embedded fake server from :mod:`sudo_stream.testing` and says so, so it works with no
account and no network. Errors print one line and exit 1 (2 for bad usage); Ctrl-C closes
the stream and exits 130.

What the server sends (the reply, model names, error messages) is printed without terminal
control sequences (escape sequences, C1 and other control characters but newline and tab),
whether or not the output is a terminal: it usually ends up on one (``less -R``, ``cat``
later), and a model must not set the window title, clear the screen or write the clipboard.
``--json`` is the lossless form: each chunk exactly as it came, its control characters
escaped as JSON does (``\\u001b``), DEL and C1 too.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import anyio.abc

from ._terminal import TerminalText, terminal_safe
from ._version import __version__
from .models.events import (
    Finished,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
)

if TYPE_CHECKING:
    from ._stream import ChatStream
    from .client import AsyncSudo

PROG = "sudo-stream"
DEFAULT_MODEL = "gpt-4o-mini"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141

DIM, BOLD, CYAN, YELLOW, RESET = "\x1b[2m", "\x1b[1m", "\x1b[36m", "\x1b[33m", "\x1b[0m"

# What the offline demo streams: a short thought, then a few sentences, word by word.
OFFLINE_THOUGHT = "The user wants to see streaming. Explain it briefly while the words arrive."
OFFLINE_REPLY = (
    "Streaming sends an answer while it is being written. Each token leaves the model as a "
    "server-sent event, so the first words reach you in milliseconds instead of after the "
    "whole reply. sudo_stream reads the events as they arrive, turns them into typed deltas "
    "for text, reasoning and tool calls, and assembles the final completion on the way.\n\n"
    "This reply came from the embedded fake server: set SUDO_API_KEY to talk to a real model."
)
OFFLINE_DELAY = 0.02


class UsageError(Exception):
    """A bad command line that argparse could not see (an empty prompt, a bad URL)."""


# -- arguments ----------------------------------------------------------------------------


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command (``-m`` style, either place)."""
    # On the sub-commands, SUPPRESS keeps an option given before the command.
    unset: Any = None if defaults else argparse.SUPPRESS
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument(
        "--offline",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="use the embedded fake server (the default without SUDO_API_KEY)",
    )
    group.add_argument(
        "--server-url",
        metavar="URL",
        default=unset,
        help="API base URL (default: $SUDO_SERVER_URL, else the public API)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=unset,
        help="bound on connecting, the first event and each gap between events",
    )
    group.add_argument(
        "--retries",
        type=int,
        metavar="N",
        default=unset,
        help="retries on connection errors, 408, 409, 429 and 5xx (default 2)",
    )
    group.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio" if defaults else argparse.SUPPRESS,
        help="event loop (default asyncio)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``sudo-stream`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Stream chat completions from the Sudo API, token by token.",
        epilog=(
            "The key comes from $SUDO_API_KEY. Without it (and without a server URL) the "
            "embedded fake server answers, so every command works offline."
        ),
        parents=[_common_options(True)],
    )
    parser.add_argument("--version", action="version", version=f"sudo_stream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options(False)

    chat = sub.add_parser(
        "chat", parents=[common], help="stream a reply to a prompt", description="Stream a reply."
    )
    chat.add_argument("prompt", help="the prompt, or - to read it from standard input")
    chat.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    chat.add_argument("-s", "--system", help="a system message")
    chat.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    chat.add_argument("--max-tokens", type=int, help="max_completion_tokens")
    chat.add_argument("--json", action="store_true", help="print the chunks as JSON lines")
    chat.add_argument(
        "--schema",
        metavar="FILE",
        help="answer with a JSON object matching the JSON Schema in FILE (strict structured "
        "outputs): the answer streams on stderr, the object is printed on stdout",
    )

    respond = sub.add_parser(
        "respond",
        parents=[common],
        help="stream a response (the Responses API)",
        description="Stream a response of the Responses API (POST /v1/responses).",
    )
    respond.add_argument("prompt", help="the input, or - to read it from standard input")
    respond.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    respond.add_argument("-i", "--instructions", help="instructions (a system message)")
    respond.add_argument(
        "-r", "--reasoning", choices=("minimal", "low", "medium", "high"),
        help="reasoning effort (its summary is shown dimmed)",
    )  # fmt: skip
    respond.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    respond.add_argument("--max-tokens", type=int, help="max_output_tokens")
    respond.add_argument("--json", action="store_true", help="print the events as JSON lines")
    respond.set_defaults(schema=None)

    models = sub.add_parser(
        "models", parents=[common], help="list the models", description="List the models."
    )
    models.add_argument("--json", action="store_true", help="print the models as JSON lines")

    batch = sub.add_parser(
        "batch",
        parents=[common],
        help="send a batch file's requests, resumably",
        description=(
            "Send every request of INPUT (OpenAI Batch JSONL, or .parquet) and write each "
            "answer to OUTPUT, a JSON line per custom_id. Run it again with the same OUTPUT "
            "to resume: what is already there is not sent again."
        ),
    )
    batch.add_argument("input", help="the requests (.jsonl or .parquet)")
    batch.add_argument("output", help="the results (.jsonl); resumed if it exists")
    batch.add_argument(
        "-c", "--concurrency", type=int, default=64, help="requests in flight (default 64)"
    )
    batch.add_argument("--rpm", type=int, help="requests per minute at most")
    batch.add_argument("--tpm", type=int, help="tokens per minute at most")
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="send again the requests whose records in OUTPUT are errors",
    )
    batch.add_argument(
        "--no-progress", action="store_true", help="no progress bar or lines, only the report"
    )
    return parser


# -- rendering ----------------------------------------------------------------------------


def _use_color(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return out.isatty() and os.environ.get("TERM") != "dumb"


class Renderer:
    """Writes typed events as they arrive: reasoning dimmed under a ``thinking:`` label,
    text as it is, each tool call as ``tool call: name({"arg": ...})`` while its arguments
    stream. Sections are separated by a blank line."""

    def __init__(self, out: TextIO, *, color: bool) -> None:
        self.out = out
        self.color = color
        self.section: str | None = None
        self.open_call: tuple[int, int] | None = None
        self.at_line_start: bool = True
        self.deltas: int = 0
        self.finish_reason: str | None = None
        self.first_token_at: float | None = None
        # Model text per source (section, choice, tool call): a control sequence split
        # across deltas is held back until it is whole, so none of it shows.
        self._sources: dict[tuple[str, int, int], TerminalText] = {}

    def _model_text(self, source: tuple[str, int, int], text: str) -> str:
        cleaner = self._sources.get(source)
        if cleaner is None:
            cleaner = self._sources[source] = TerminalText()
        return cleaner.feed(text)

    def _write(self, text: str, style: str = "") -> None:
        if not text:
            return
        self.out.write(f"{style}{text}{RESET}" if self.color and style else text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def _close_call(self) -> None:
        if self.open_call is not None:
            self.open_call = None
            self._write(")", CYAN)
            self._write("\n")

    def _enter(self, section: str, label: str = "", style: str = "") -> None:
        if self.section == section:
            return
        self._close_call()
        if self.section is not None:
            self._write("\n" if self.at_line_start else "\n\n")
        self.section = section
        self._write(label, style)

    def _token(self) -> None:
        self.deltas += 1
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def event(self, event: StreamEvent) -> None:
        """Render one event."""
        if isinstance(event, TextDelta):
            self._token()
            self._enter("text")
            self._write(self._model_text(("text", event.choice_index, 0), event.text))
        elif isinstance(event, ReasoningDelta):
            self._token()
            self._enter("reasoning", "thinking: ", DIM)
            self._write(self._model_text(("reasoning", event.choice_index, 0), event.text), DIM)
        elif isinstance(event, RefusalDelta):
            self._token()
            self._enter("refusal", "refusal: ", YELLOW)
            self._write(self._model_text(("refusal", event.choice_index, 0), event.text), YELLOW)
        elif isinstance(event, ToolCallStarted):
            self._token()
            self._enter("tools")
            self._close_call()
            self._write(f"tool call: {terminal_safe(event.name or '?')}(", CYAN)
            self.open_call = (event.choice_index, event.index)
        elif isinstance(event, ToolArgumentsDelta):
            self._token()
            self._enter("tools")
            source = ("tool", event.choice_index, event.index)
            self._write(self._model_text(source, event.delta), CYAN)
        elif isinstance(event, ToolCallDone):
            if self.open_call == (event.choice_index, event.index):
                self._close_call()
            if event.parse_error:
                self._enter("tools")
                problem = terminal_safe(f"{event.name}: invalid arguments: {event.parse_error}")
                self._write(f"({problem})\n", YELLOW)
        elif isinstance(event, Finished) and event.choice_index == 0:
            self.finish_reason = event.finish_reason

    def response_event(self, event: Any) -> None:
        """Render one event of a Responses stream: text as it is, reasoning summaries
        dimmed, refusals, and each function call while its arguments stream."""
        from .models import response_events as ev
        from .models.responses import FunctionToolCall

        kind = type(event)
        if kind is ev.ResponseTextDeltaEvent:
            self._token()
            self._enter("text")
            self._write(self._model_text(("text", event.output_index, event.content_index), event.delta))
        elif kind is ev.ResponseReasoningSummaryTextDeltaEvent:
            self._token()
            self._enter("reasoning", "thinking: ", DIM)
            source = ("reasoning", event.output_index, event.summary_index)
            self._write(self._model_text(source, event.delta), DIM)
        elif kind is ev.ResponseRefusalDeltaEvent:
            self._token()
            self._enter("refusal", "refusal: ", YELLOW)
            source = ("refusal", event.output_index, event.content_index)
            self._write(self._model_text(source, event.delta), YELLOW)
        elif kind is ev.ResponseOutputItemAddedEvent and isinstance(event.item, FunctionToolCall):
            self._token()
            self._enter("tools")
            self._close_call()
            self._write(f"tool call: {terminal_safe(event.item.name or '?')}(", CYAN)
            self.open_call = (0, event.output_index)
        elif kind is ev.ResponseFunctionCallArgumentsDeltaEvent:
            self._token()
            self._enter("tools")
            self._write(self._model_text(("tool", 0, event.output_index), event.delta), CYAN)
        elif (
            kind is ev.ResponseFunctionCallArgumentsDoneEvent
            and self.open_call == (0, event.output_index)
        ):
            self._close_call()

    def close(self) -> None:
        """End the output on a fresh line (also after an error or an interruption)."""
        self._close_call()
        if not self.at_line_start:
            self._write("\n")


def _summary(
    renderer: Renderer, stream: ChatStream, model: str, started: float, color: bool
) -> str:
    completion = stream.current_completion()
    usage = completion.usage
    end = time.perf_counter()
    tokens, unit = (usage.completion_tokens, "tokens") if usage else (renderer.deltas, "chunks")
    finish = renderer.finish_reason or next(
        (c.finish_reason for c in completion.choices if c.finish_reason), "none"
    )
    parts = [terminal_safe(completion.model or model), terminal_safe(finish), f"{tokens} {unit}"]
    first = renderer.first_token_at
    if first is not None:
        parts.append(f"first token {(first - started) * 1000:.0f} ms")
        if end - first > 0.001 and tokens > 1:
            parts.append(f"{(tokens - 1) / (end - first):.1f} {unit}/s")
    utf8 = (sys.stderr.encoding or "").lower().replace("-", "") == "utf8"
    line = (" · " if utf8 else " | ").join(parts)
    return f"{DIM}{line}{RESET}" if color else line


def _compact(value: Any) -> Any:
    """A decoded chunk as plain JSON data, without the null fields decoding filled in."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


_C1_AND_DEL = re.compile(r"[\x7f-\x9f]")


def _json_line(encoded: bytes) -> str:
    """JSON text with DEL and the C1 controls escaped too (JSON escapes only C0): the same
    data, and nothing a terminal would act on. Outside strings JSON text is all ASCII."""
    return _C1_AND_DEL.sub(lambda c: f"\\u{ord(c.group()):04x}", encoded.decode()) + "\n"


# -- commands -----------------------------------------------------------------------------


async def chat(sudo: AsyncSudo, args: argparse.Namespace, prompt: str) -> None:
    """Stream a reply to ``prompt`` to stdout; the summary goes to stderr."""
    import msgspec

    messages: list[dict[str, str]] = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    params: dict[str, Any] = {}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_completion_tokens"] = args.max_tokens
    schema = getattr(args, "schema_document", None)
    if schema is not None:
        params["response_format"] = {"type": "json_schema", "json_schema": schema}
    # With a schema the answer streams on stderr and stdout gets the object alone.
    out = sys.stdout if schema is None else sys.stderr
    started = time.perf_counter()
    try:  # the arguments are checked here, before anything is sent
        request = sudo.router.create_streaming(
            messages=messages, model=args.model, stream_options={"include_usage": True}, **params
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    async with request as stream:
        if args.json:
            encode = msgspec.json.Encoder().encode
            async for chunk in stream:
                out.write(_json_line(encode(_compact(msgspec.to_builtins(chunk)))))
                out.flush()
            return
        renderer = Renderer(out, color=_use_color(out))
        try:
            async for event in stream.events():
                renderer.event(event)
        finally:
            renderer.close()
    color = _use_color(sys.stderr)
    print(_summary(renderer, stream, args.model, started, color), file=sys.stderr)
    if schema is not None:
        _print_object(stream)


def _print_object(stream: ChatStream) -> None:
    """The answer of a ``--schema`` chat on stdout: checked (an object, whole, not
    refused), indented, with every control character escaped."""
    import msgspec

    from ._parsed_stream import parsed_completion
    from .errors import SudoError
    from .structured import parse_choices

    message = parse_choices(parsed_completion(stream.current_completion()), dict).choices[0].message
    if message.parsed is None:
        raise SudoError(f"the model refused: {message.refusal}")
    encoded = msgspec.json.format(msgspec.json.encode(message.parsed), indent=2)
    sys.stdout.write(_json_line(encoded))
    sys.stdout.flush()


def _read_schema(path: str) -> dict[str, Any]:
    """The ``json_schema`` of ``--schema FILE``: the schema, named after the file."""
    import json

    try:
        with open(path, encoding="utf-8") as file:
            schema = json.load(file)
    except OSError as exc:
        raise UsageError(f"--schema {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--schema {path}: not JSON ({exc})") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise UsageError(
            f"--schema {path}: a JSON Schema whose root is an object ({{\"type\": \"object\", "
            f"...}}) is needed: strict structured outputs answer with an object"
        )
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", os.path.splitext(os.path.basename(path))[0])[:64]
    return {"name": name or "schema", "schema": schema, "strict": True}


async def respond(sudo: AsyncSudo, args: argparse.Namespace, prompt: str) -> None:
    """Stream a response to ``prompt`` to stdout; the summary goes to stderr."""
    import msgspec

    params: dict[str, Any] = {}
    if args.instructions:
        params["instructions"] = args.instructions
    if args.reasoning:
        params["reasoning"] = {"effort": args.reasoning, "summary": "auto"}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_output_tokens"] = args.max_tokens
    out = sys.stdout
    started = time.perf_counter()
    try:  # the arguments are checked here, before anything is sent
        request = sudo.responses.create_streaming(model=args.model, input=prompt, **params)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    async with request as stream:
        if args.json:
            encode = msgspec.json.Encoder().encode
            async for event in stream:
                out.write(_json_line(encode(event)))
                out.flush()
            return
        renderer = Renderer(out, color=_use_color(out))
        try:
            async for event in stream:
                renderer.response_event(event)
        finally:
            renderer.close()
        response = await stream.final_response()
    usage = response.usage
    parts = [terminal_safe(response.model or args.model), terminal_safe(response.status or "?")]
    reason = response.incomplete_details.reason if response.incomplete_details else None
    if reason:
        parts[-1] += f" ({terminal_safe(reason)})"
    parts.append(f"{usage.output_tokens} tokens" if usage else f"{renderer.deltas} deltas")
    if renderer.first_token_at is not None:
        parts.append(f"first token {(renderer.first_token_at - started) * 1000:.0f} ms")
    utf8 = (sys.stderr.encoding or "").lower().replace("-", "") == "utf8"
    line = (" · " if utf8 else " | ").join(parts)
    print(f"{DIM}{line}{RESET}" if _use_color(sys.stderr) else line, file=sys.stderr)


async def list_models(sudo: AsyncSudo, args: argparse.Namespace) -> None:
    """Print the models, one a line (id and owner)."""
    import msgspec

    listing = await sudo.router.get_supported_models()
    if args.json:
        for model in listing.data:
            sys.stdout.write(_json_line(msgspec.json.encode(model)))
        return
    rows = [(terminal_safe(m.id), terminal_safe(m.owned_by or "")) for m in listing.data]
    width = max((len(name) for name, _ in rows), default=0)
    for name, owner in rows:
        print(f"{name:<{width}}  {owner}".rstrip())


async def run_batch(sudo: AsyncSudo, args: argparse.Namespace) -> None:
    """Run a batch file; the report on standard error."""
    from . import batch

    progress: batch.Progress
    if args.no_progress:
        progress = batch.LogProgress(every=float("inf"))
    elif sys.stderr.isatty():
        try:
            progress = batch.RichProgress()
        except ImportError:
            progress = batch.LogProgress(write=_note)
    else:
        progress = batch.LogProgress(write=_note)
    try:
        report = await batch.run(
            sudo, args.input, args.output, concurrency=args.concurrency, rpm=args.rpm,
            tpm=args.tpm, progress=progress, retry_failed=args.retry_failed,
        )  # fmt: skip
    except batch.BatchError:
        raise
    except (ValueError, TypeError) as exc:  # a bad option (--rpm 0, --concurrency -1)
        raise UsageError(str(exc)) from None
    if not isinstance(progress, batch.RichProgress):  # the bar prints it already
        _note(str(report))


async def run(args: argparse.Namespace, prompt: str | None) -> None:
    """Connect (to the real API, or to the embedded fake server) and run the command."""
    from . import _config
    from .client import AsyncSudo

    api_key = os.environ.get("SUDO_API_KEY") or None
    server_url = args.server_url or os.environ.get("SUDO_SERVER_URL") or None
    options: dict[str, Any] = {}
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise UsageError(f"--timeout must be a number of seconds above 0, got {args.timeout:g}")
    try:
        if args.timeout is not None:
            options["timeout"] = _config.Timeout(args.timeout)
        if args.retries is not None:
            options["retries"] = _config.RetryConfig.of(args.retries)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    async with AsyncExitStack() as stack:
        if args.offline or (api_key is None and server_url is None):
            from . import testing

            server = await stack.enter_async_context(testing.FakeSudoServer())
            reason = "--offline" if args.offline else "no SUDO_API_KEY"
            _note(f"{reason}: answering from the embedded fake server at {server.url}")
            if args.command == "chat" and args.schema is None:  # a schema: answered by default
                chunks = testing.text_chunks(
                    OFFLINE_REPLY, reasoning=OFFLINE_THOUGHT, model=args.model
                )
                server.enqueue(testing.Stream(chunks, delay=OFFLINE_DELAY))
            elif args.command == "respond":
                events = testing.response_events(
                    OFFLINE_REPLY, reasoning=OFFLINE_THOUGHT, model=args.model
                )
                server.enqueue(
                    testing.response_stream(events, delay=OFFLINE_DELAY), path="/v1/responses"
                )
            api_key, server_url = None, server.url
        try:
            sudo = AsyncSudo(api_key=api_key, server_url=server_url, **options)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
        await stack.enter_async_context(sudo)
        if args.command == "chat":
            assert prompt is not None
            await chat(sudo, args, prompt)
        elif args.command == "respond":
            assert prompt is not None
            await respond(sudo, args, prompt)
        elif args.command == "batch":
            await run_batch(sudo, args)
        else:
            await list_models(sudo, args)


# -- errors, signals, entry point ---------------------------------------------------------


def _note(message: str) -> None:
    """One line on stderr; it may quote the server (an error message), so made safe."""
    print(f"{PROG}: {terminal_safe(message)}", file=sys.stderr, flush=True)


def _describe(exc: BaseException) -> str:
    from .errors import APIConnectionError, AuthenticationError, PermissionDeniedError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, AuthenticationError):
        text += " (check SUDO_API_KEY, or run with --offline)"
    elif isinstance(exc, PermissionDeniedError):
        text += " (this key may not use that model or operation)"
    elif isinstance(exc, APIConnectionError) and not text.startswith("timed out"):
        text += " (is the server URL right and reachable?)"
    return f"{type(exc).__name__}: {text}"


async def _cancel_on_sigint(
    scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                scope.cancel()
                return
    except NotImplementedError:  # no signal receivers here (Windows): Ctrl-C raises
        task_status.started()
        await anyio.sleep_forever()


async def _main(args: argparse.Namespace, prompt: str | None) -> int:
    """Run the command under a scope that Ctrl-C cancels; return the exit status."""
    from .errors import SudoError

    code, unexpected = 0, None
    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as work:
            await group.start(_cancel_on_sigint, work)
            try:
                await run(args, prompt)
            except SudoError as exc:
                _note(f"error: {_describe(exc)}")
                code = EXIT_ERROR
            except UsageError as exc:
                _note(f"error: {exc}")
                code = EXIT_USAGE
            except BrokenPipeError:
                code = EXIT_BROKEN_PIPE
            except OSError as exc:
                _note(f"error: {exc.strerror or exc}")
                code = EXIT_ERROR
            except Exception as exc:  # raised outside the task group: never wrapped in a group
                unexpected = exc
        group.cancel_scope.cancel()
    if work.cancelled_caught:
        return EXIT_INTERRUPTED
    if unexpected is not None:
        raise unexpected
    return code


def _read_prompt(args: argparse.Namespace) -> str | None:
    if args.command not in ("chat", "respond"):
        return None
    prompt: str = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    if args.schema is not None:
        if args.json:
            raise UsageError("--schema prints the object, --json the chunks: choose one")
        args.schema_document = _read_schema(args.schema)
    return prompt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sudo_stream`` and the ``sudo-stream`` script."""
    args = build_parser().parse_args(argv)
    try:
        code = anyio.run(_main, args, _read_prompt(args), backend=args.backend)
    except KeyboardInterrupt:  # before the signal receiver, or where there is none
        code = EXIT_INTERRUPTED
    except UsageError as exc:
        _note(f"error: {exc}")
        return EXIT_USAGE
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("SUDO_STREAM_DEBUG"):
            raise
        _note(f"internal error: {type(exc).__name__}: {exc} (SUDO_STREAM_DEBUG=1 shows more)")
        return EXIT_ERROR
    if code == EXIT_INTERRUPTED:
        _note("interrupted")
    elif code == EXIT_BROKEN_PIPE:
        # Whatever reads our output has gone: silence the flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
