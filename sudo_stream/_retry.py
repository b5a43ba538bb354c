"""Retry policy on tenacity: what is retried, the backoff, and ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import anyio
import tenacity

from ._config import RetryConfig
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamError,
    TLSCertificateError,
)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})


class RetryableStreamError(StreamError):
    """An error event that arrived before any event reached the caller: safe to retry."""


def is_retryable(exc: BaseException, policy: RetryConfig) -> bool:
    """Whether ``exc`` may be retried under ``policy``."""
    if isinstance(exc, APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    if isinstance(exc, TLSCertificateError):  # the same certificates fail the same way
        return False
    if isinstance(exc, APITimeoutError):
        return exc.bound != "total" and policy.retry_connection_errors
    if isinstance(exc, APIConnectionError):
        return policy.retry_connection_errors
    return isinstance(exc, RetryableStreamError)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``), or
    ``None`` when it asked nothing usable (a malformed value falls back to the backoff)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(parsed.timestamp() - time.time(), 0.0)


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def backoff_seconds(policy: RetryConfig, retry_number: int, exc: BaseException | None) -> float:
    """How long to wait before retry number ``retry_number`` (1-based)."""
    if isinstance(exc, APIStatusError):
        asked = retry_after(exc.headers)
        if asked is not None:
            return min(asked, policy.max_retry_after)
    backoff = policy.backoff
    ceiling = min(
        backoff.initial_interval * backoff.exponent ** (retry_number - 1), backoff.max_interval
    )
    # "equal jitter": at least half the exponential step, so retries never stampede.
    return (ceiling / 2 + random.uniform(0, ceiling / 2)) / 1000.0


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]], policy: RetryConfig, deadline: float | None = None
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or the policy gives up.

    ``deadline`` (``time.monotonic()`` seconds) is the call's ``total`` bound: a retry whose
    back-off sleep would end past it is not made, and the last error is raised at once.
    """
    try:
        if policy.attempts == 1:
            return await attempt()
        return await _retrying(policy, deadline)(attempt)
    except RetryableStreamError as exc:  # out of attempts: a plain StreamError to the caller
        raise StreamError(exc.message, partial=exc.partial, error=exc.error) from None


class _SleepPastDeadline(tenacity.stop.stop_base):
    """Stop when the coming back-off sleep would end past ``deadline``."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline


def _retrying(policy: RetryConfig, deadline: float | None) -> tenacity.AsyncRetrying:
    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return backoff_seconds(policy, state.attempt_number, exc)

    stop = tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(
        policy.backoff.max_elapsed_time / 1000.0
    )
    if deadline is not None:
        stop = stop | _SleepPastDeadline(deadline)
    return tenacity.AsyncRetrying(
        sleep=anyio.sleep,
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, policy)),
        reraise=True,
    )
