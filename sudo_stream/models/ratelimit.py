"""What the server says of its rate limits: the ``x-ratelimit-*`` response headers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import msgspec

# One term of a duration as providers write it ("1m30s", "250ms", "6m0s", "59.1s").
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(value: str) -> float | None:
    """Seconds in a duration such as ``1m30s``, ``250ms``, ``6s`` or a bare ``1.5``;
    ``None`` for anything else (a malformed value is ignored, never an error)."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        terms = _TERM.findall(text)
        if not terms or "".join(number + unit for number, unit in terms) != text:
            return None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in terms)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _count(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        count = int(value.strip())
    except ValueError:
        return None
    return count if count >= 0 else None


def _reset(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    return None if value is None else parse_duration(value)


class RateLimitInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The rate limits a response reported (``None`` where a header was absent or
    malformed). ``reset_*`` are seconds until that limit is back to its full value."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        """Parse the ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers
        (names in any case when ``headers`` is httpx's case-insensitive mapping)."""
        return cls(
            limit_requests=_count(headers, "x-ratelimit-limit-requests"),
            remaining_requests=_count(headers, "x-ratelimit-remaining-requests"),
            reset_requests=_reset(headers, "x-ratelimit-reset-requests"),
            limit_tokens=_count(headers, "x-ratelimit-limit-tokens"),
            remaining_tokens=_count(headers, "x-ratelimit-remaining-tokens"),
            reset_tokens=_reset(headers, "x-ratelimit-reset-tokens"),
        )
