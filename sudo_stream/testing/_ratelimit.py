"""Rate limits for the fake server: RPM/TPM per API key over an exact sliding window.

Pure: the clock is injected (``time.monotonic`` by default), so the limiter can be driven
step by step in tests. :class:`RateLimiter` decides whether a request is admitted and
what ``x-ratelimit-*`` headers (or what 429) it gets; :class:`RateLimitLog` keeps what was
sent, per key, for tests and benchmarks to check a client against the limit.
"""

from __future__ import annotations

import json
import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._responses import JSON, Endless, Error, Headers, ScriptedResponse, Stall, Stream

LOG_ENTRIES_PER_KEY = 100_000
"""How many of its latest requests :class:`RateLimitLog` keeps per key (older ones are
dropped from ``entries``; the counts and window maxima still cover every request)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limits the fake server enforces on each API key.

    At most ``rpm`` requests and ``tpm`` tokens per sliding window of ``window`` seconds
    (60: per minute, as the names say; a shorter window makes tests quick). ``None`` leaves
    that limit off; with neither, nothing is refused but every request is still logged in
    ``server.rate_limit_log``, to measure what a client sends.

    A chat completion costs the ``usage.total_tokens`` of the answer the server sends (for
    a scripted response, of its body or its usage chunk; 0 without one); other requests
    cost 0 tokens.
    """

    rpm: int | None = None
    tpm: int | None = None
    window: float = 60.0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"RateLimit.{name} must be a positive integer or None, got {value!r}"
                )
        window = self.window
        if (
            isinstance(window, bool)
            or not isinstance(window, int | float)
            or not math.isfinite(window)
            or window <= 0
        ):
            raise ValueError(
                f"RateLimit.window must be a positive number of seconds, got {window!r}"
            )


def format_duration(seconds: float) -> str:
    """A wait as OpenAI writes it in ``x-ratelimit-reset-*``: ``"250ms"``, ``"59.1s"``,
    ``"1m30s"``, ``"6m0s"``, ``"1h0m0s"``; ``"0s"`` for none. Rounded up (to the millisecond
    below a second, else to the tenth of a second), so waiting that long is enough."""
    if seconds <= 0:
        return "0s"
    # The epsilon keeps float noise (59.1 * 10 == 591.0000000000001) from rounding up a step.
    millis = math.ceil(seconds * 1000 - 1e-6)
    if millis < 1000:
        return f"{max(millis, 1)}ms"
    tenths = math.ceil(seconds * 10 - 1e-6)
    hours, tenths = divmod(tenths, 36_000)
    minutes, tenths = divmod(tenths, 600)
    whole, tenth = divmod(tenths, 10)
    text = f"{whole}.{tenth}s" if tenth else f"{whole}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def response_tokens(response: ScriptedResponse) -> int:
    """The tokens a scripted response costs: the ``usage.total_tokens`` it carries, else 0."""
    if isinstance(response, Stall):
        return 0 if response.after is None else response_tokens(response.after)
    if isinstance(response, JSON | Error):
        return _usage_tokens(response.body)
    if isinstance(response, Stream):
        for chunk in reversed(response.chunks):
            tokens = _usage_tokens(chunk)
            if tokens:
                return tokens
    return 0


def _usage_tokens(body: Any) -> int:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return 0
    usage = body.get("usage") if isinstance(body, Mapping) else None
    total = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    if isinstance(total, bool) or not isinstance(total, int):
        return 0
    return max(total, 0)


def with_headers(response: ScriptedResponse, headers: Headers) -> ScriptedResponse:
    """``response`` with ``headers`` added to its head, except names it sets itself.

    :class:`Raw` and :class:`Drop` (and a :class:`Stall` with nothing after it) send no
    head of the server's making, so they are returned unchanged.
    """
    if isinstance(response, Stall):
        if response.after is None:
            return response
        return replace(response, after=with_headers(response.after, headers))
    if isinstance(response, Stream | JSON | Error | Endless):
        own = {name.lower() for name, _ in response.headers}
        added = [(name, value) for name, value in headers if name not in own]
        return replace(response, headers=[*response.headers, *added])
    return response


@dataclass(frozen=True, slots=True)
class RateLimitEntry:
    """One request as the limiter saw it: when (the limiter's clock, ``time.monotonic()``
    by default), its token cost, and whether it was admitted (else it got a 429)."""

    at: float
    tokens: int
    admitted: bool


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """A snapshot of one API key's traffic under the limit.

    ``max_requests_admitted`` / ``max_tokens_admitted``: the most requests / tokens
    admitted within any sliding ``window`` (never above the limit, by construction);
    ``max_requests_sent`` / ``max_tokens_sent``: the same counting refused requests too,
    i.e. what the client sent (a client that never exceeds the limit keeps these at or
    under it, and ``refused`` at 0). ``entries`` holds the latest requests, oldest first
    (at most ``LOG_ENTRIES_PER_KEY``; the counts and maxima cover every request).
    """

    admitted: int = 0
    refused: int = 0
    tokens_admitted: int = 0
    max_requests_admitted: int = 0
    max_tokens_admitted: int = 0
    max_requests_sent: int = 0
    max_tokens_sent: int = 0
    entries: tuple[RateLimitEntry, ...] = ()


class _Window:
    """Requests in the last ``span`` seconds: their times and a running sum of their tokens.

    Adding and sliding are O(1) amortised; the wait until some amount has expired is a
    binary search over the cumulative token counts.
    """

    __slots__ = ("_ends", "_expired", "_head", "_last_tokens_at", "_span", "_times", "_total")

    def __init__(self, span: float) -> None:
        self._span = span
        self._times: list[float] = []
        self._ends: list[int] = []  # tokens of every request ever added, through this one
        self._head = 0  # the first entry still in the window
        self._total = 0  # tokens ever added
        self._expired = 0  # tokens of the entries that left the window
        self._last_tokens_at = -math.inf  # when the newest entry with tokens arrived

    @property
    def requests(self) -> int:
        return len(self._times) - self._head

    @property
    def tokens(self) -> int:
        return self._total - self._expired

    def slide(self, now: float) -> None:
        """Drop the entries that arrived ``span`` seconds ago or earlier."""
        times, head, cutoff = self._times, self._head, now - self._span
        while head < len(times) and times[head] <= cutoff:
            head += 1
        if head != self._head:
            self._expired = self._ends[head - 1]
        if head > 64 and 2 * head >= len(times):  # compact: memory stays ~2x the window
            del times[:head]
            del self._ends[:head]
            head = 0
        self._head = head

    def add(self, now: float, tokens: int) -> None:
        self._times.append(now)
        self._total += tokens
        self._ends.append(self._total)
        if tokens:
            self._last_tokens_at = now

    def wait_for_oldest(self, now: float) -> float:
        """Seconds until the oldest request leaves the window (0 when it is empty).

        Room for one more request, as the window never holds more than the limit."""
        return self._times[self._head] + self._span - now if self.requests else 0.0

    def wait_for_tokens(self, now: float, allowed: int) -> float:
        """Seconds until at most ``allowed`` (>= 0) tokens are left in the window."""
        if self.tokens <= allowed:
            return 0.0
        last = bisect_left(self._ends, self._total - allowed, self._head)
        return self._times[last] + self._span - now

    def reset_requests(self, now: float) -> float:
        """Seconds until the window is empty."""
        return self._times[-1] + self._span - now if self.requests else 0.0

    def reset_tokens(self, now: float) -> float:
        """Seconds until no tokens are left in the window."""
        return self._last_tokens_at + self._span - now if self.tokens else 0.0


class _KeyLog:
    """One key's windows, counters and latest entries."""

    __slots__ = (
        "admitted", "entries", "max_admitted", "max_sent", "refused", "sent", "tokens", "window",
    )  # fmt: skip

    def __init__(self, window: float, max_entries: int) -> None:
        self.window = _Window(window)  # the limiter's own: admitted requests
        self.sent = _Window(window)  # admitted and refused alike
        self.entries: deque[tuple[float, int, bool]] = deque(maxlen=max_entries)
        self.admitted = 0
        self.refused = 0
        self.tokens = 0
        self.max_admitted = (0, 0)  # (requests, tokens) in the busiest window
        self.max_sent = (0, 0)

    def record(self, now: float, tokens: int, admitted: bool) -> None:
        """Count a request (``window`` already slid to ``now``)."""
        self.entries.append((now, tokens, admitted))
        self.sent.slide(now)
        self.sent.add(now, tokens)
        self.max_sent = _busiest(self.max_sent, self.sent)
        if admitted:
            self.window.add(now, tokens)
            self.admitted += 1
            self.tokens += tokens
            self.max_admitted = _busiest(self.max_admitted, self.window)
        else:
            self.refused += 1

    def usage(self) -> KeyUsage:
        return KeyUsage(
            admitted=self.admitted,
            refused=self.refused,
            tokens_admitted=self.tokens,
            max_requests_admitted=self.max_admitted[0],
            max_tokens_admitted=self.max_admitted[1],
            max_requests_sent=self.max_sent[0],
            max_tokens_sent=self.max_sent[1],
            entries=tuple(RateLimitEntry(*entry) for entry in list(self.entries)),
        )


def _busiest(best: tuple[int, int], window: _Window) -> tuple[int, int]:
    # The busiest window always ends at an arrival, so checking at each arrival finds it.
    return max(best[0], window.requests), max(best[1], window.tokens)


class RateLimitLog:
    """What a rate-limited :class:`FakeSudoServer` saw, per API key (``server.rate_limit_log``).

    A key is the request's ``Authorization`` header; requests without one share a key.
    Memory: per key, the latest ``LOG_ENTRIES_PER_KEY`` entries plus the requests of the
    current window; one key per distinct ``Authorization`` value ever seen.
    """

    def __init__(self, window: float, max_entries: int = LOG_ENTRIES_PER_KEY) -> None:
        self._window = window
        self._max_entries = max_entries
        self._keys: dict[str | None, _KeyLog] = {}

    def usage(self, api_key: str | None = None) -> KeyUsage:
        """A snapshot for the requests sent with ``Authorization: Bearer <api_key>``
        (``None``: without an ``Authorization`` header); all zeros for a key never seen."""
        key = None if api_key is None else f"Bearer {api_key}"
        log = self._keys.get(key)
        return KeyUsage() if log is None else log.usage()

    def usages(self) -> list[KeyUsage]:
        """A snapshot for every key, in the order they were first seen."""
        return [log.usage() for log in list(self._keys.values())]

    @property
    def admitted(self) -> int:
        """Requests admitted, all keys together."""
        return sum(log.admitted for log in list(self._keys.values()))

    @property
    def refused(self) -> int:
        """Requests answered 429 by the limiter, all keys together."""
        return sum(log.refused for log in list(self._keys.values()))

    def _key(self, authorization: str | None) -> _KeyLog:
        """The log of the key with this ``Authorization`` value, made on first use."""
        log = self._keys.get(authorization)
        if log is None:
            log = self._keys[authorization] = _KeyLog(self._window, self._max_entries)
        return log


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's verdict on one request: the headers for its answer, and the 429 to
    send instead when it is refused (``refusal``; ``None`` when admitted)."""

    headers: list[tuple[str, str]]
    refusal: Error | None = None


class RateLimiter:
    """Admits or refuses requests under a :class:`RateLimit`, per key, recording each in
    :attr:`log` (``log_entries`` per key). ``clock`` gives the time in seconds (it must
    never go back)."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        log_entries: int = LOG_ENTRIES_PER_KEY,
    ) -> None:
        self.limit = limit
        self.log = RateLimitLog(limit.window, log_entries)
        self._clock = clock

    def admit(self, authorization: str | None, tokens: int) -> Decision:
        """Decide on a request costing ``tokens`` from the key ``authorization``.

        It is admitted when the window's requests + 1 and tokens + ``tokens`` are within
        the limits; a refused request counts against nothing.
        """
        now, limit = self._clock(), self.limit
        log = self.log._key(authorization)
        window = log.window
        window.slide(now)
        over_requests = limit.rpm is not None and window.requests + 1 > limit.rpm
        too_large = limit.tpm is not None and tokens > limit.tpm
        over_tokens = limit.tpm is not None and not too_large and window.tokens + tokens > limit.tpm
        refused = over_requests or too_large or over_tokens
        # The waits only say when; whether is decided above, by counts, not float sums.
        requests_wait = window.wait_for_oldest(now) if over_requests else 0.0
        tokens_wait = 0.0
        if over_tokens and limit.tpm is not None:
            tokens_wait = window.wait_for_tokens(now, limit.tpm - tokens)
        used_requests, used_tokens = window.requests, window.tokens
        log.record(now, tokens, not refused)
        headers = self._headers(window, now)
        if not refused:
            return Decision(headers)
        if too_large:
            return Decision(headers, self._too_large(tokens, headers))
        wait = max(requests_wait, tokens_wait)
        if over_tokens and (not over_requests or tokens_wait > requests_wait):
            kind, cap, used, requested = "tokens", limit.tpm, used_tokens, tokens
        else:
            kind, cap, used, requested = "requests", limit.rpm, used_requests, 1
        message = (
            f"Rate limit reached for {self._per(kind)}: Limit {cap}, Used {used}, "
            f"Requested {requested}. Please try again in {format_duration(wait)}."
        )
        retry = [
            ("retry-after", str(max(1, math.ceil(wait - 1e-9)))),
            ("retry-after-ms", str(max(1, math.ceil(wait * 1000 - 1e-6)))),
        ]
        return Decision(headers, Error(429, _body(message, kind), headers=[*retry, *headers]))

    def _too_large(self, tokens: int, headers: list[tuple[str, str]]) -> Error:
        """The 429 for a request that could never fit: no ``Retry-After``, as OpenAI."""
        message = (
            f"Request too large for {self._per('tokens')}: Limit {self.limit.tpm}, "
            f"Requested {tokens}. The input or output tokens must be reduced in order to "
            "run successfully."
        )
        return Error(429, _body(message, "tokens"), headers=headers)

    def _per(self, kind: str) -> str:
        """``"requests per min (RPM)"``, or ``"tokens per 500ms"`` for another window."""
        window = self.limit.window
        if window == 60:
            return f"{kind} per min (RPM)" if kind == "requests" else f"{kind} per min (TPM)"
        return f"{kind} per {format_duration(window)}"

    def _headers(self, window: _Window, now: float) -> list[tuple[str, str]]:
        limit = self.limit
        headers: list[tuple[str, str]] = []
        if limit.rpm is not None:
            headers += [
                ("x-ratelimit-limit-requests", str(limit.rpm)),
                ("x-ratelimit-remaining-requests", str(max(limit.rpm - window.requests, 0))),
                ("x-ratelimit-reset-requests", format_duration(window.reset_requests(now))),
            ]
        if limit.tpm is not None:
            used = window.tokens
            reset = window.reset_tokens(now)
            headers += [
                ("x-ratelimit-limit-tokens", str(limit.tpm)),
                ("x-ratelimit-remaining-tokens", str(max(limit.tpm - used, 0))),
                ("x-ratelimit-reset-tokens", format_duration(reset)),
            ]
        return headers


def _body(message: str, kind: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": kind, "param": None, "code": "rate_limit_exceeded"}
    }
