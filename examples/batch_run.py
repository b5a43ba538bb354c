"""A batch run: prompts written as OpenAI Batch JSONL, sent under a rate limit, the run
interrupted halfway (as a crash or Ctrl-C would), then resumed with the same command.

    python examples/batch_run.py [--count 400] [--rpm 6000] [--dir DIR]

With SUDO_API_KEY set it asks the Sudo API (only 20 prompts unless --count says more);
without it, the embedded fake server answers.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

import anyio

import sudo_stream as ss
from sudo_stream import batch, testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")


def write_requests(path: Path, count: int) -> None:
    with path.open("w") as out:
        for n in range(count):
            body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"In one sentence: what is {n} squared?"}],
                "max_tokens": 60,
            }
            line = {"custom_id": f"square-{n}", "method": "POST", "url": "/v1/chat/completions", "body": body}
            out.write(json.dumps(line) + "\n")


class StopHalfway(batch.LogProgress):
    """Progress that interrupts the run once half the requests are answered."""

    def __init__(self, scope: anyio.CancelScope, total: int) -> None:
        super().__init__(every=float("inf"))
        self.scope, self.half = scope, total // 2

    def update(self, stats: batch.RunStats) -> None:
        if stats.done + stats.failed >= self.half:
            self.scope.cancel()


async def main(count: int, rpm: int, folder: Path) -> None:
    requests, results = folder / "requests.jsonl", folder / "results.jsonl"
    write_requests(requests, count)
    async with ss.AsyncSudo() as sudo:
        with anyio.CancelScope() as scope:
            await batch.run(sudo, requests, results, rpm=rpm, progress=StopHalfway(scope, count))
        done = len(results.read_text().splitlines())
        print(f"interrupted: {done} of {count} answers in {results.name}")

        report = await batch.run(sudo, requests, results, rpm=rpm, progress=False)
        print(f"resumed: {report}")

    records = [json.loads(line) for line in results.read_text().splitlines()]
    ids = {record["custom_id"] for record in records}
    failed = sum(record["error"] is not None for record in records)
    print(f"{len(records)} records, {len(ids)} distinct ids, {failed} failed")
    first = next(r for r in records if r["custom_id"] == "square-0")
    print("square-0:", first["response"]["body"]["choices"][0]["message"]["content"])


async def run(count: int, rpm: int, folder: Path) -> None:
    if os.environ.get("SUDO_API_KEY"):
        await main(count, rpm, folder)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: answering from the fake server at {server.url})")
        os.environ["SUDO_SERVER_URL"] = server.url
        await main(count, rpm, folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400 if not os.environ.get("SUDO_API_KEY") else 20)
    parser.add_argument("--rpm", type=int, default=6000, help="requests per minute at most")
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a temporary one)")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        anyio.run(run, args.count, args.rpm, args.dir)
    else:
        with tempfile.TemporaryDirectory() as folder:
            anyio.run(run, args.count, args.rpm, Path(folder))
