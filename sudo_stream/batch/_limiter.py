"""The run's rate limiter: :class:`RateLimitState` with waiting, on anyio."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import anyio

from ..models.ratelimit import RateLimitInfo
from ._limits import MINUTE, RateLimitState, Reservation


class Limiter(Protocol):
    """What a batch run asks of its rate limiter (a local one, or one shared by the
    workers of a cluster)."""

    async def acquire(self, tokens: int) -> Reservation:
        """Wait until one more request of ``tokens`` fits, and reserve it."""
        ...

    def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """The request's answer used ``used_tokens``: count that instead of the estimate."""
        ...

    def pause(self, seconds: float) -> None:
        """Start no request for ``seconds`` (the server refused one: a 429)."""
        ...

    def observe(self, info: RateLimitInfo) -> None:
        """What a response said of the server's limits."""
        ...


class RateLimiter:
    """Requests and tokens per minute (or per ``window`` seconds) for one process, as
    :class:`RateLimitState` counts them. Requests wait in turn (first come, first served);
    only the first in line sleeps, until its reservation fits."""

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        window: float = MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state: RateLimitState = RateLimitState(rpm, tpm, window=window)
        self._clock = clock
        self._lock: anyio.Lock | None = None

    async def acquire(self, tokens: int) -> Reservation:
        """Wait in turn until one more request of ``tokens`` fits, and reserve it."""
        if self._lock is None:
            self._lock = anyio.Lock()
        if not self._lock.locked():  # no one waiting: no turn to take
            got = self.state.try_reserve(tokens, self._clock())
            if isinstance(got, Reservation):
                return got
        async with self._lock:
            while True:
                got = self.state.try_reserve(tokens, self._clock())
                if isinstance(got, Reservation):
                    return got
                await anyio.sleep(got)

    def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """The request was answered now and used ``used_tokens``."""
        self.state.settle(reservation, used_tokens, self._clock())

    def pause(self, seconds: float) -> None:
        """Start no request for ``seconds``."""
        self.state.pause_until(self._clock() + seconds)

    def observe(self, info: RateLimitInfo) -> None:
        """Pause when the server says a limit of its own is spent."""
        # A spent limit (another client shares the key, or our estimates ran low): wait
        # until the server frees room rather than collect 429s until then. Its reset is
        # when the limit is whole again; one request's room comes back after about
        # reset / limit (a refilling bucket; a 429's Retry-After corrects the rest).
        for limit, remaining, reset in (
            (info.limit_requests, info.remaining_requests, info.reset_requests),
            (info.limit_tokens, info.remaining_tokens, info.reset_tokens),
        ):
            if remaining == 0 and reset:
                self.pause(reset / limit if limit else reset)
