"""The OpenAI cookbook's approach to a batch of requests, as a peer in the batch part.

The cookbook's ``api_request_parallel_processor.py`` is the reference script people copy
for this job. This is *our own* small reimplementation of its approach (not its code):

- one asyncio loop and one ``aiohttp.ClientSession``;
- a main loop that takes the next request (a retry first, else the next input line),
  refills a request and a token capacity by the time elapsed (``max_per_minute / 60`` a
  second, capped at a minute's worth), starts the request as a task when both have room,
  stops when nothing is in progress, and otherwise sleeps 1 ms (so it starts at most one
  request per turn of the loop);
- a failed request goes to a retry queue while it has attempts left; after a 429 the
  main loop pauses 15 s;
- each result is appended to the output file as a JSON line, opening the file each time.

Differences, so that it runs the same job as the others: it counts a request's tokens
as ``sudo_stream.batch`` estimates them (prompt bytes / 4 + ``max_tokens``) instead of
with ``tiktoken``; it reads and writes the OpenAI Batch formats (``custom_id`` in, one
``{"custom_id", "response"}`` line out); and it also waits while ``max_in_flight``
requests are in flight (the cookbook has no such limit; it never binds here, as the loop
starts one request a millisecond at most).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SLEEP_EACH_LOOP = 0.001
PAUSE_AFTER_RATE_LIMIT = 15.0
MAX_ATTEMPTS = 5


@dataclass
class _Tracker:
    in_progress: int = 0
    succeeded: int = 0
    failed: int = 0
    rate_limited: int = 0
    other_errors: int = 0
    last_rate_limited: float = 0.0


@dataclass
class _Request:
    custom_id: str
    body: dict[str, Any]
    tokens: int
    attempts_left: int
    errors: list[str] = field(default_factory=list)

    async def call(
        self,
        session: Any,
        url: str,
        output: Path,
        retries: asyncio.Queue[_Request],
        tracker: _Tracker,
    ) -> None:
        error: str | None = None
        try:
            async with session.post(url, json=self.body) as response:
                answer = await response.json()
            if "error" in answer:
                error = str(answer["error"])
                if "rate limit" in error.lower() or response.status == 429:
                    tracker.last_rate_limited = time.time()
                    tracker.rate_limited += 1
                else:
                    tracker.other_errors += 1
        except Exception as exc:  # the cookbook retries whatever went wrong
            error = repr(exc)
            tracker.other_errors += 1
        if error is None:
            _append(output, {"custom_id": self.custom_id, "response": answer})
            tracker.in_progress -= 1
            tracker.succeeded += 1
            return
        self.errors.append(error)
        if self.attempts_left:
            retries.put_nowait(self)
            return
        _append(output, {"custom_id": self.custom_id, "error": self.errors})
        tracker.in_progress -= 1
        tracker.failed += 1


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as out:
        out.write(json.dumps(record) + "\n")


def _tokens(body: dict[str, Any]) -> int:
    prompt = len(json.dumps(body.get("messages", [])).encode())
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or 256
    return prompt // 4 + 1 + int(cap)


async def process(
    url: str,
    api_key: str,
    input: Path,
    output: Path,
    *,
    max_requests_per_minute: float,
    max_tokens_per_minute: float,
    max_in_flight: int,
    headers: dict[str, str] | None = None,
) -> _Tracker:
    """Send every request of the JSONL file ``input`` to ``url``, appending results to
    ``output``; returns the counts."""
    import aiohttp

    retries: asyncio.Queue[_Request] = asyncio.Queue()
    tracker = _Tracker()
    requests_capacity = max_requests_per_minute
    tokens_capacity = max_tokens_per_minute
    updated = time.time()
    pending: _Request | None = None
    more = True
    tasks: set[asyncio.Task[None]] = set()
    session_headers = {"Authorization": f"Bearer {api_key}", **(headers or {})}
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(headers=session_headers, connector=connector) as session:
        with open(input) as lines:  # noqa: ASYNC230 (as the cookbook reads its input)
            while True:
                if pending is None:
                    if not retries.empty():
                        pending = retries.get_nowait()
                    elif more:
                        line = next(lines, None)
                        if line is None:
                            more = False
                        elif line.strip():
                            request = json.loads(line)
                            body = request["body"]
                            pending = _Request(
                                request["custom_id"], body, _tokens(body), MAX_ATTEMPTS
                            )
                            tracker.in_progress += 1
                now = time.time()
                elapsed, updated = now - updated, now
                requests_capacity = min(
                    requests_capacity + max_requests_per_minute * elapsed / 60,
                    max_requests_per_minute,
                )
                tokens_capacity = min(
                    tokens_capacity + max_tokens_per_minute * elapsed / 60,
                    max_tokens_per_minute,
                )
                if (
                    pending is not None
                    and requests_capacity >= 1
                    and tokens_capacity >= pending.tokens
                    and len(tasks) < max_in_flight
                ):
                    requests_capacity -= 1
                    tokens_capacity -= pending.tokens
                    pending.attempts_left -= 1
                    task = asyncio.create_task(pending.call(session, url, output, retries, tracker))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    pending = None
                if tracker.in_progress == 0:
                    break
                await asyncio.sleep(SLEEP_EACH_LOOP)
                cooling = PAUSE_AFTER_RATE_LIMIT - (time.time() - tracker.last_rate_limited)
                if cooling > 0:
                    await asyncio.sleep(cooling)
    return tracker
