"""Sending the requests of a batch: one at a time per call, under a limit of requests in
flight and the rate limiter, with the client's retries; an answer or a failure becomes
an output record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import anyio
import httpx
import msgspec

from .._config import RetryConfig
from .._retry import backoff_seconds, call_with_retries
from .._stream import ChatStream
from ..errors import (
    APIStatusError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitError,
    SudoError,
)
from ..models.common import Usage
from ..models.completion import ChatCompletion
from ..models.image import ImageGeneration
from ..models.ratelimit import RateLimitInfo
from ._limiter import Limiter, RateLimiter
from ._records import error_line, success_line
from ._requests import CHAT_URL, BatchRequest

if TYPE_CHECKING:
    from .._params import CallOptions
    from ..client import AsyncSudo

# A 429 pauses the whole run and the request goes again, without spending one of its
# retries; this many in a row for one request and it is recorded as failed.
MAX_RATE_LIMITED = 20
_ONE_ATTEMPT: CallOptions = {"retries": RetryConfig.of(None)}  # the run does the retrying


@dataclass
class RunStats:
    """Counts of a run so far."""

    done: int = 0
    """Requests answered (a 2xx)."""
    failed: int = 0
    """Requests recorded as failed, after their retries."""
    retried: int = 0
    """Attempts beyond each request's first (429s included)."""
    rate_limited: int = 0
    """Answers that were a 429."""
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _RateLimited(Exception):
    """A 429, taken out of the retry policy: the run backs off as a whole instead."""

    def __init__(self, error: RateLimitError) -> None:
        self.error = error


def is_fatal(exc: SudoError) -> bool:
    """Errors every other request would meet too: the run stops rather than record them
    all (a rerun, with the key or quota fixed, resumes)."""
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return True
    detail = exc.error if isinstance(exc, RateLimitError) else None
    return detail is not None and detail.code == "insufficient_quota"


def _observe(limiter: Limiter, headers: Mapping[str, str]) -> None:
    """Tell the limiter what the server said of its limits, if it said anything (a scan
    of the raw headers: most servers send none, and httpx's lookups are not free)."""
    raw = headers.raw if isinstance(headers, httpx.Headers) else None
    if raw is not None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in raw
            if name[:12].lower() == b"x-ratelimit-"
        }
        if not headers:
            return
    limiter.observe(RateLimitInfo.from_headers(headers))


class RequestRunner:
    """Sends batch requests through ``client``, at most ``concurrency`` at once, under
    ``limiter``; :meth:`run_one` returns a request's output line (JSON and a newline)."""

    def __init__(
        self, client: AsyncSudo, *, concurrency: int = 64, limiter: Limiter | None = None
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        self.client: AsyncSudo = client
        self.concurrency: int = concurrency
        self.limiter: Limiter = limiter if limiter is not None else RateLimiter()
        self.stats: RunStats = RunStats()
        self._policy = client._retries
        self._slots: anyio.CapacityLimiter | None = None

    async def run_one(self, request: BatchRequest) -> bytes:
        """Send ``request`` (retrying as the client does) and return its output line.

        A failure is a line too (an error record); only an error that every request would
        meet (:func:`is_fatal`) is raised.
        """
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self.concurrency)
        async with self._slots:
            return await self.answer(request)

    async def answer(self, request: BatchRequest) -> bytes:
        """:meth:`run_one` for a caller that bounds the requests in flight itself."""
        try:
            line = await self._answer(request)
        except SudoError as exc:
            if is_fatal(exc):
                raise
            self.stats.failed += 1
            return error_line(request.custom_id, exc)
        self.stats.done += 1
        return line

    async def _answer(self, request: BatchRequest) -> bytes:
        attempts = 0

        async def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self.stats.retried += 1
            return await self._attempt(request, attempts)

        last: RateLimitError | None = None
        for _ in range(MAX_RATE_LIMITED):
            try:
                return await call_with_retries(
                    attempt, self._policy, call=f"batch request {request.custom_id!r}"
                )
            except _RateLimited as limited:
                if is_fatal(limited.error):
                    raise limited.error from None
                last = limited.error
        assert last is not None
        raise last

    async def _attempt(self, request: BatchRequest, attempt: int) -> bytes:
        limiter = self.limiter
        reservation = await limiter.acquire(request.estimated_tokens)
        try:
            status, headers, body, usage = await self._send(request)
        except APIStatusError as exc:
            _observe(limiter, exc.headers)
            if isinstance(exc, RateLimitError):
                self.stats.rate_limited += 1
                limiter.settle(reservation, 0)  # refused: nothing was spent
                limiter.pause(backoff_seconds(self._policy, attempt, exc))
                raise _RateLimited(exc) from None
            raise
        _observe(limiter, headers)
        if usage is not None:
            limiter.settle(reservation, usage.total_tokens)
            self.stats.prompt_tokens += usage.prompt_tokens
            self.stats.completion_tokens += usage.completion_tokens
        return success_line(request.custom_id, status, headers.get("x-request-id"), body)

    async def _send(self, request: BatchRequest) -> tuple[int, httpx.Headers, bytes, Usage | None]:
        client = self.client
        if request.url != CHAT_URL:
            image = await client._execute_raw(
                "POST", request.url, ImageGeneration, content=request.content, options=_ONE_ATTEMPT
            )
            return image.response.status_code, image.response.headers, image.body, None
        if request.stream:
            chat_stream = partial(ChatStream, choices=request.choices)
            async with await client._open_stream(
                CHAT_URL, request.content, _ONE_ATTEMPT, chat_stream
            ) as stream:
                completion = await stream.final_completion()
            return 200, stream.headers, msgspec.json.encode(completion), completion.usage
        answer = await client._execute_raw(
            "POST", CHAT_URL, ChatCompletion, content=request.content, options=_ONE_ATTEMPT
        )
        return answer.response.status_code, answer.response.headers, answer.body, answer.value.usage
