"""The fake Sudo server enforcing a rate limit, in a process of its own, for the batch part.

``python -m benchmarks.limited_server --rpm R --tpm T --window S --api-key K`` serves
``sudo_stream.testing.FakeSudoServer(rate_limit=RateLimit(R, T, S))`` on 127.0.0.1 and
prints ``url URL`` when ready; when its standard input closes, it prints ``usage JSON``
(what the key sent: admitted and refused counts, the busiest windows, and every request
as ``[time, tokens, admitted]``, times on ``time.monotonic()``, the clock every process of
the machine shares) and exits. A process of its own, pinned to its own core, so that the
client's process holds only the client, and the times the server records are not
delayed by the client's work (as they would be behind one GIL).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

import anyio
import anyio.to_thread

from .measure import pin_to_cpu


def _wait_for_stdin_to_close() -> None:
    while sys.stdin.buffer.read(4096):
        pass


async def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from sudo_stream import testing

    limit = testing.RateLimit(rpm=args.rpm, tpm=args.tpm, window=args.window)
    async with testing.FakeSudoServer(args.api_key, rate_limit=limit) as server:
        print(f"url {server.url}", flush=True)
        await anyio.to_thread.run_sync(_wait_for_stdin_to_close, abandon_on_cancel=True)
        usage = server.rate_limit_log.usage(args.api_key)
    out = asdict(usage)
    out["entries"] = [[e.at, e.tokens, e.admitted] for e in usage.entries]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--cpu", type=int, default=-1)
    args = parser.parse_args(argv)
    pin_to_cpu(args.cpu)
    usage = anyio.run(_serve, args)
    sys.stdout.write("usage " + json.dumps(usage) + "\n")


if __name__ == "__main__":
    main()
