"""Batch runs: many requests from a file, rate-limited, resumable.

::

    from sudo_stream import AsyncSudo, batch

    async with AsyncSudo() as sudo:
        report = await batch.run(sudo, "requests.jsonl", "results.jsonl", rpm=500, tpm=200_000)
    print(report)

The input is the OpenAI Batch format (a JSON line per request: ``custom_id``, ``method``,
``url``, ``body``), a Parquet file with those columns, or an iterable of such dicts; the
output is the OpenAI Batch output format, a line per ``custom_id``. Running the same
command again with the same output resumes: only what is not in the output is sent.
From the command line: ``sudo-stream batch requests.jsonl results.jsonl``.
"""

from __future__ import annotations

from ._engine import RequestRunner, RunStats
from ._errors import BatchError, BatchInputError, BatchOutputError, DuplicateCustomIdError
from ._inputs import InputSource
from ._limiter import Limiter, RateLimiter
from ._limits import RateLimitState, Reservation
from ._report import BatchReport, LogProgress, Progress, RichProgress
from ._requests import BatchRequest, parse_line, request_from_mapping
from ._run import run

__all__ = [
    "BatchError",
    "BatchInputError",
    "BatchOutputError",
    "BatchReport",
    "BatchRequest",
    "DuplicateCustomIdError",
    "InputSource",
    "Limiter",
    "LogProgress",
    "Progress",
    "RateLimitState",
    "RateLimiter",
    "RequestRunner",
    "Reservation",
    "RichProgress",
    "RunStats",
    "parse_line",
    "request_from_mapping",
    "run",
]
