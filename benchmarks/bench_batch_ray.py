"""Ray scale-out against one process: prompts/s of ``batch.run`` and of
``sudo_stream.batch.ray.run`` with 1 and 2 actors, and what Ray costs to start.

    python -m benchmarks.bench_batch_ray [--requests 3000] [--latency 0.5]

Needs the ``ray`` extra; not part of the default benchmark run. The server is a small
process of its own that answers every chat completion (JSON) after ``--latency`` seconds,
as a real model would, so throughput is set by the requests in flight. "steady" is the
rate at the server from the first request to the last (actor start-up left out); "wall"
is the whole call, start-up included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "A reply of about twenty tokens, "
                             "as a short batch answer would be, give or take a few words."}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
}).encode()  # fmt: skip


async def _serve(latency: float) -> None:
    arrivals: list[float] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if head.startswith(b"GET /stats"):
                    body = json.dumps(arrivals).encode()
                    arrivals.clear()
                else:
                    arrivals.append(time.monotonic())
                    await asyncio.sleep(latency)
                    body = ANSWER
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed


def _stats(url: str) -> list[float]:
    import httpx

    return list(httpx.get(f"{url}/stats").json())


def _write_input(path: Path, count: int) -> None:
    with path.open("w") as file:
        for i in range(count):
            body = {"model": "bench", "messages": [{"role": "user", "content": f"prompt {i}"}],
                    "max_tokens": 20}  # fmt: skip
            file.write(json.dumps({"custom_id": f"r{i}", "body": body}) + "\n")


def _row(name: str, count: int, wall: float, arrivals: list[float]) -> dict[str, Any]:
    steady = count / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    return {"run": name, "wall_s": round(wall, 2), "prompts_per_s_wall": round(count / wall, 1),
            "prompts_per_s_steady": round(steady, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    import ray

    from sudo_stream import AsyncSudo, batch
    from sudo_stream.batch import ray as batch_ray

    server = subprocess.Popen(
        [sys.executable, "-c", f"import asyncio, benchmarks.bench_batch_ray as b; "
         f"asyncio.run(b._serve({args.latency}))"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    work = Path(tempfile.mkdtemp(prefix="bench_batch_ray_"))
    rows = []
    try:
        _write_input(work / "in.jsonl", args.requests)

        for concurrency in (args.concurrency, 2 * args.concurrency):
            async def single(concurrency: int = concurrency) -> None:
                async with AsyncSudo(api_key="k", server_url=url) as sudo:
                    await batch.run(sudo, work / "in.jsonl", work / f"single{concurrency}.jsonl",
                                    concurrency=concurrency, progress=False)  # fmt: skip

            started = time.perf_counter()
            asyncio.run(single())
            rows.append(_row(f"batch.run, {concurrency} in flight", args.requests,
                             time.perf_counter() - started, _stats(url)))  # fmt: skip

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
        ray.data.DataContext.get_current().enable_progress_bars = False
        startup = time.perf_counter() - started
        try:
            for actors in (1, 2, 1, 2):  # the second pair: worker processes warm
                out = work / f"ray{actors}"
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                batch_ray.run(work / "in.jsonl", out, api_key="k", server_url=url,
                              actors=actors, concurrency_per_actor=args.concurrency)  # fmt: skip
                rows.append(_row(f"ray, {actors} actor(s) x {args.concurrency}", args.requests,
                                 time.perf_counter() - started, _stats(url)))  # fmt: skip
        finally:
            ray.shutdown()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"ray.init (2 CPUs, no dashboard): {startup:.1f} s")
    print(f"{args.requests} requests, {args.latency} s per answer at the server")
    for row in rows:
        print(f"  {row['run']:<32} wall {row['wall_s']:>6.1f} s  {row['prompts_per_s_wall']:>6.1f}"
              f" prompts/s   steady {row['prompts_per_s_steady']:>6.1f} prompts/s")  # fmt: skip


if __name__ == "__main__":
    main()
