"""Client-side rate limits, pure: the clock is passed in, nothing waits here.

Why not the ``limits`` package: its moving window stores one timestamp per unit of cost
(a 2M-tokens-per-minute limit would be a list of millions of entries), it cannot give back
what a request reserved but did not use, and its async storages are asyncio-only. The
state here is a log of (time, amount) entries per window with a running sum: exact,
O(1) amortised, and an entry can be settled to the tokens the answer really used.
"""

from __future__ import annotations

import math
from collections import deque

MINUTE = 60.0
# The finer window paces a run: at most a sixth of the limit in any sixth of the window
# (10 s of a minute), so a run does not spend its whole minute in the first second
# (servers that enforce their limit over shorter periods would refuse that burst).
PACE = 6


class _Entry:
    __slots__ = ("amount", "at")

    def __init__(self, at: float, amount: float) -> None:
        self.at = at
        self.amount = amount


class SlidingWindow:
    """At most ``limit`` in any ``seconds``-long window. One item larger than the whole
    limit goes through alone, once the window is empty (else it could never go)."""

    def __init__(self, limit: float, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._entries: deque[_Entry] = deque()
        self._total = 0.0

    @property
    def used(self) -> float:
        """What the window holds (as of the last call that passed the clock in)."""
        return self._total

    def _expire(self, now: float) -> None:
        entries, horizon = self._entries, now - self.seconds
        while entries and entries[0].at <= horizon:
            self._total -= entries.popleft().amount
        if not entries:
            self._total = 0.0  # no drift from float sums

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits (0 when it fits now)."""
        self._expire(now)
        excess = self._total + amount - self.limit
        if excess <= 0 or not self._entries:
            return 0.0
        for entry in self._entries:
            excess -= entry.amount
            if excess <= 0 or entry is self._entries[-1]:
                return entry.at + self.seconds - now
        raise AssertionError("unreachable")

    def add(self, amount: float, now: float) -> _Entry:
        entry = _Entry(now, amount)
        self._entries.append(entry)
        self._total += amount
        return entry

    def settle(self, entry: _Entry, amount: float, at: float, now: float) -> _Entry:
        """Count ``amount`` at ``at`` instead of ``entry`` (which counts 0 from now on);
        the entry that replaces it."""
        self._expire(now)
        if entry.at > now - self.seconds and self._entries:
            self._total -= entry.amount
        entry.amount = 0
        settled = _Entry(at, amount)
        entries, place = self._entries, len(self._entries)
        while place and entries[place - 1].at > at:  # in time order: answers come back
            place -= 1  # about in the order they were sent, so this stops near the end
        entries.insert(place, settled)
        self._total += amount
        return settled


class Reservation:
    """What one request holds under the limits until its answer settles it."""

    __slots__ = ("_entries", "tokens")

    def __init__(self, tokens: int, entries: list[tuple[SlidingWindow, _Entry]]) -> None:
        self.tokens: int = tokens
        self._entries: list[tuple[SlidingWindow, _Entry]] = entries


class RateLimitState:
    """Requests and tokens per minute, exact over any 60-second window, paced over 10
    seconds, and a pause for the whole run (after a 429, or when the server says its
    limit is spent). Give ``None`` for no limit of that kind. ``window`` scales time: the
    limits hold over any ``window`` seconds instead of a minute (for a provider that
    limits per second, or a test that cannot wait minutes)."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, window: float = MINUTE) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window < math.inf:
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        self.rpm: int | None = rpm
        self.tpm: int | None = tpm
        self._requests = _pair(rpm, window)
        self._tokens = _pair(tpm, window)
        self._paused_until = -math.inf

    def try_reserve(self, tokens: int, now: float) -> Reservation | float:
        """Reserve one request and ``tokens`` now, or say how many seconds to wait
        (reserving nothing). A request of more tokens than ``tpm`` reserves all of it."""
        wait = self._paused_until - now
        if self.tpm is not None:
            tokens = min(tokens, self.tpm)
        for window in self._requests:
            wait = max(wait, window.wait(1, now))
        for window in self._tokens:
            wait = max(wait, window.wait(tokens, now))
        if wait > 0:
            return wait
        entries = [(window, window.add(1, now)) for window in self._requests]
        token_entries = [(window, window.add(tokens, now)) for window in self._tokens]
        return Reservation(tokens, token_entries + entries)

    def settle(self, reservation: Reservation, used_tokens: int, now: float) -> None:
        """The request was answered at ``now`` and used ``used_tokens`` (its answer's usage).

        Its entries are moved to the answer's time (by at most :data:`ARRIVAL` of the
        window): the server counted the request when it arrived, which was before the
        answer but may have been well after the reservation (a burst of requests leaves
        the client over tens of milliseconds). Counted from the reservation, they would
        expire early and let a new request in before the server's window has moved on.
        """
        settled = []
        for window, entry in reservation._entries:
            amount = used_tokens if window in self._tokens else entry.amount
            at = min(now, entry.at + window.seconds * ARRIVAL)
            settled.append((window, window.settle(entry, amount, at, now)))
        reservation._entries = settled
        reservation.tokens = used_tokens

    def pause_until(self, when: float) -> None:
        """No request starts before ``when`` (the later of two pauses holds)."""
        self._paused_until = max(self._paused_until, when)

    @property
    def paused_until(self) -> float:
        """The clock's time before which no request starts."""
        return self._paused_until


# The server counts a request when it arrives, after we reserved it: an answered request
# is counted from its answer, up to this share of the window after its reservation (1.2 s
# of a minute); a window held 1% longer covers those still in flight (0.6 s of a minute).
ARRIVAL = 0.02
MARGIN = 1.01


def _pair(limit: int | None, window: float) -> tuple[SlidingWindow, ...]:
    if limit is None:
        return ()
    return (
        SlidingWindow(limit, window * MARGIN),
        SlidingWindow(math.ceil(limit / PACE), window * MARGIN / PACE),
    )
