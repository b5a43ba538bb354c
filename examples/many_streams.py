"""A batch worker: thousands of prompts as streaming completions, a fixed number at a time,
with retries, a progress line and a throughput summary.

    python examples/many_streams.py --count 5000 --concurrency 200 [--backend trio]

With SUDO_API_KEY set it asks the Sudo API (only 20 prompts unless --count says more);
without it, the fake server answers, failing a few requests first to show the retries.
"""

import argparse
import os
import sys
import time

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")

# Up to 4 retries on connection errors, 408/409/429 and 5xx, backing off from 100 ms
# (Retry-After is honoured). A stream is retried only before its first event.
RETRIES = ss.RetryConfig(
    max_retries=4, backoff=ss.BackoffStrategy(initial_interval=100, max_interval=2_000)
)


class Tally:
    """What the workers did so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.failed = self.tokens = 0
        self.first_token_seconds = 0.0
        self.started = time.perf_counter()

    def progress(self) -> str:
        finished = self.done + self.failed
        rate = finished / (time.perf_counter() - self.started)
        return f"{finished}/{self.total} streams, {self.failed} failed, {rate:.0f} streams/s"


async def ask(sudo: ss.AsyncSudo, prompt: str, tally: Tally) -> None:
    messages = [{"role": "user", "content": prompt}]
    try:
        async with sudo.router.create_streaming(
            messages=messages, model=MODEL, stream_options={"include_usage": True}
        ) as stream:
            completion = await stream.final_completion()
    except ss.SudoError as exc:  # still failing after the retries: count it, go on
        tally.failed += 1
        print(f"\nfailed: {exc}", file=sys.stderr)
        return
    tally.done += 1
    tally.tokens += completion.usage.completion_tokens if completion.usage else 0
    tally.first_token_seconds += stream.statistics().time_to_first_event or 0.0


async def worker(sudo: ss.AsyncSudo, prompts: MemoryObjectReceiveStream[str], tally: Tally) -> None:
    async with prompts:
        async for prompt in prompts:
            await ask(sudo, prompt, tally)


async def show_progress(tally: Tally) -> None:
    tty = sys.stderr.isatty()
    while True:
        await anyio.sleep(0.2 if tty else 1.0)
        print(tally.progress(), end="\r" if tty else "\n", file=sys.stderr, flush=True)


async def run_all(sudo: ss.AsyncSudo, prompts: list[str], concurrency: int) -> Tally:
    tally = Tally(len(prompts))
    send, receive = anyio.create_memory_object_stream[str]()  # unbuffered: backpressure
    async with anyio.create_task_group() as group:
        group.start_soon(show_progress, tally)
        async with anyio.create_task_group() as workers:
            for _ in range(concurrency):
                workers.start_soon(worker, sudo, receive.clone(), tally)
            receive.close()
            async with send:
                for prompt in prompts:
                    await send.send(prompt)
        group.cancel_scope.cancel()  # every worker is done: stop the progress line
    elapsed = time.perf_counter() - tally.started
    mean_ttft = tally.first_token_seconds / max(tally.done, 1) * 1000
    print(
        f"{tally.done} streams in {elapsed:.2f} s: {tally.done / elapsed:.0f} streams/s, "
        f"{tally.tokens} tokens ({tally.tokens / elapsed:.0f} tokens/s), "
        f"mean time to first event {mean_ttft:.1f} ms, {tally.failed} failed"
    )
    return tally


async def main(count: int | None, concurrency: int) -> None:
    if os.environ.get("SUDO_API_KEY"):
        prompts = [f"Write one line about the number {i}." for i in range(count or 20)]
        async with ss.AsyncSudo(retries=RETRIES) as sudo:
            await run_all(sudo, prompts, concurrency)
        return
    prompts = [f"Write one line about the number {i}." for i in range(count or 2000)]
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: using the fake server at {server.url})")
        # The first few requests fail as an overloaded server's would; retries absorb them
        # (no more failures than one request's retries, however few run at once).
        overloaded = testing.Error(503)
        rate_limited = testing.Error(429, headers=[("retry-after-ms", "50")])
        server.enqueue(*[overloaded] * 2, *[rate_limited] * (RETRIES.max_retries - 2))
        async with ss.AsyncSudo(server_url=server.url, retries=RETRIES) as sudo:
            await run_all(sudo, prompts, concurrency)
        retried = len(server.requests) - len(prompts)
        print(f"(the fake server answered {len(server.requests)} requests: {retried} retries)")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=positive, help="prompts to run (default 2000, 20 online)")
    parser.add_argument("--concurrency", type=positive, default=100, help="streams at once")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.count, args.concurrency, backend=args.backend)
