"""Command line: ``python -m sudo_stream.testing [--host H] [--port P] [--api-key KEY]
[--rpm N] [--tpm N] [--rate-window SECONDS]``.

Serves the fake Sudo API until Ctrl-C. The first line on stdout is the server's URL.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence

import anyio

from ._ratelimit import RateLimit
from ._server import FakeSudoServer


async def _serve(args: argparse.Namespace) -> None:
    server = FakeSudoServer(
        args.api_key, host=args.host, port=args.port, rate_limit=args.rate_limit
    )
    async with server:
        print(server.url, flush=True)
        message = f"Fake Sudo API serving at {server.url}; press Ctrl-C to stop."
        print(message, file=sys.stderr, flush=True)
        await _until_interrupted()


async def _until_interrupted() -> None:
    """Return on SIGINT or SIGTERM, so that the server shuts down in order."""
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
        with receiver as signals:
            async for _ in signals:
                return
    except NotImplementedError:  # no signal receivers here (Windows): Ctrl-C raises
        await anyio.sleep_forever()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options; ``rate_limit`` is a :class:`RateLimit` or ``None``
    (exits with status 2 and a message on a bad option, as argparse does)."""
    parser = argparse.ArgumentParser(
        prog="python -m sudo_stream.testing",
        description="Serve a fake Sudo API (chat completions, stored completions, images).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any (default 8000)")
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop (default asyncio)",
    )
    parser.add_argument("--rpm", type=int, default=None, help="requests per window per key")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per window per key")
    parser.add_argument(
        "--rate-window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the sliding window of --rpm/--tpm (default 60)",
    )
    args = parser.parse_args(argv)
    args.rate_limit = None
    if args.rpm is not None or args.tpm is not None:
        try:
            args.rate_limit = RateLimit(args.rpm, args.tpm, args.rate_window)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; return the exit status."""
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C where signals cannot be received
        anyio.run(_serve, args, backend=args.backend)
    print("Stopped.", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
