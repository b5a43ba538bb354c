"""Retry policy on tenacity: what is retried, the backoff, and ``Retry-After``."""

from __future__ import annotations

import email.utils
import logging
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
    SudoError,
    TLSCertificateError,
)
from .hooks import RetryInfo

T = TypeVar("T")

logger = logging.getLogger("sudo_stream")

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
    attempt: Callable[[], Awaitable[T]],
    policy: RetryConfig,
    deadline: float | None = None,
    *,
    call: str = "the call",
    on_retry: Callable[[RetryInfo], Awaitable[None]] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or the policy gives up.

    No retry starts after the policy's ``max_elapsed_time``: a retry whose back-off sleep
    would end past it is not made, and the last error is raised at once. ``deadline``
    (``time.monotonic()`` seconds) is the call's ``total`` bound, kept the same way.

    Each retry, and a call that fails for good, is one INFO line on the ``sudo_stream``
    logger; ``call`` names the call there (``POST /v1/chat/completions``). ``on_retry`` is
    awaited before each retry is sent (after its wait).
    """
    schedule = None
    try:
        if policy.attempts == 1:
            return await attempt()
        schedule = _Schedule(policy, deadline, call)

        async def attempt_in_time() -> T:
            schedule.check_in_time()
            retry, schedule.pending = schedule.pending, None
            if retry is not None and on_retry is not None:
                await on_retry(retry)
            return await attempt()

        return await schedule.retrying()(attempt_in_time)
    except RetryableStreamError as exc:  # out of attempts: a plain StreamError to the caller
        failure = StreamError(
            exc.message, partial=exc.partial, error=exc.error, partial_response=exc.partial_response
        )
        _log_failure(call, failure, schedule)
        raise failure from None
    except SudoError as exc:
        _log_failure(call, exc, schedule)
        raise


def _log_failure(call: str, exc: SudoError, schedule: _Schedule | None) -> None:
    if logger.isEnabledFor(logging.INFO):
        attempts = schedule.attempts if schedule is not None else 1
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        logger.info("%s failed%s: %s: %s", call, tries, type(exc).__name__, exc.message)


class _Schedule:
    """When the retries of one call may start.

    tenacity asks ``stop`` and ``wait`` about each retry, in an order that changed in 8.3
    (``wait`` first since, its answer kept in ``upcoming_sleep``). The back-off sleep is
    drawn once per retry here, so that both see the same value on every version.
    """

    def __init__(self, policy: RetryConfig, deadline: float | None, call: str) -> None:
        self.policy = policy
        self.limit = time.monotonic() + policy.backoff.max_elapsed_time / 1000.0
        self.deadline = deadline
        self.call = call
        self.attempts = 0
        self.pending: RetryInfo | None = None  # the retry about to be sent
        self._drawn: tuple[int, float] = (0, 0.0)
        self._last_error: BaseException | None = None

    def retrying(self) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            sleep=anyio.sleep,
            stop=self.stop,
            wait=self.sleep_before_retry,
            retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, self.policy)),
            before=self.count,
            before_sleep=self.log_retry,
            reraise=True,
        )

    def count(self, state: tenacity.RetryCallState) -> None:
        self.attempts = state.attempt_number

    def log_retry(self, state: tenacity.RetryCallState) -> None:
        """Note the retry for the hooks; one INFO line: the call, the attempt, why, the wait."""
        if state.outcome is None:
            return
        exc = state.outcome.exception()
        wait = self.sleep_before_retry(state)
        if exc is not None:
            self.pending = RetryInfo(state.attempt_number + 1, exc, wait)
        if not logger.isEnabledFor(logging.INFO):
            return
        reason = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        logger.info(
            "retrying %s (attempt %d of %d) in %.2f s after %s",
            self.call, state.attempt_number + 1, self.policy.attempts, wait, reason,
        )  # fmt: skip

    def sleep_before_retry(self, state: tenacity.RetryCallState) -> float:
        """The back-off after attempt ``state.attempt_number`` failed (drawn once)."""
        number, seconds = self._drawn
        if number != state.attempt_number:
            exc = state.outcome.exception() if state.outcome is not None else None
            seconds = backoff_seconds(self.policy, state.attempt_number, exc)
            self._drawn = (state.attempt_number, seconds)
        return seconds

    def stop(self, state: tenacity.RetryCallState) -> bool:
        """Give up when the attempts are spent or the next one would start past the limit."""
        if state.outcome is not None:
            self._last_error = state.outcome.exception()
        if state.attempt_number >= self.policy.attempts:
            return True
        return self._too_late(time.monotonic() + self.sleep_before_retry(state))

    def check_in_time(self) -> None:
        """Before a retry: a back-off sleep that overran the limit (a loaded event loop)
        must not start it late; its error stands (tenacity re-raises it, as it stops)."""
        if self._last_error is not None and self._too_late(time.monotonic()):
            raise self._last_error

    def _too_late(self, start: float) -> bool:
        """Whether a retry starting at ``start`` would start past the limit, or at the
        call's deadline (with no time left)."""
        return start > self.limit or (self.deadline is not None and start >= self.deadline)
