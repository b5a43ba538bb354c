"""Plain configuration data: time bounds and retry policy."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Literal, Union


def _check_seconds(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"Timeout.{name} must be a number of seconds, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Timeout.{name} must be a number of seconds, got {type(value).__name__}")
    if not value > 0 or math.isnan(value):
        raise ValueError(f"Timeout.{name} must be > 0 seconds, got {value!r}")


class NotGiven(enum.Enum):
    """Marks an argument left out, as distinct from an explicit ``None`` (unbounded)."""

    NOT_GIVEN = "NOT_GIVEN"


NOT_GIVEN = NotGiven.NOT_GIVEN


@dataclass(frozen=True)
class Timeout:
    """Time bounds of a call, in seconds. ``None`` means unbounded.

    * ``connect``: establishing the connection (and getting one from the pool).
    * ``first_event``: from sending the request to the first event of a stream, or to the
      whole answer of a non-streaming call. Long by default: reasoning models think.
    * ``idle``: the longest gap between two events of a stream. SSE comments and
      keep-alives do not reset it.
    * ``total``: the whole call, from the first attempt to the last event.

    Bounds count only time spent waiting on the server, never the caller's own time
    between chunks. ``Timeout(5)`` sets connect, first_event and idle to 5 seconds;
    ``Timeout(idle=None)`` leaves only ``idle`` unbounded; ``Timeout(None)`` bounds nothing.
    """

    connect: float | None = 10.0
    first_event: float | None = 600.0
    idle: float | None = 120.0
    total: float | None = None

    def __init__(
        self,
        default: float | NotGiven | None = NOT_GIVEN,
        *,
        connect: float | NotGiven | None = NOT_GIVEN,
        first_event: float | NotGiven | None = NOT_GIVEN,
        idle: float | NotGiven | None = NOT_GIVEN,
        total: float | None = None,
    ) -> None:
        given = {"connect": connect, "first_event": first_event, "idle": idle}
        builtin = {"connect": 10.0, "first_event": 600.0, "idle": 120.0}
        if not isinstance(default, NotGiven):
            _check_seconds("default", default)
        for name, value in given.items():
            if isinstance(value, NotGiven):
                value = builtin[name] if isinstance(default, NotGiven) else default
            _check_seconds(name, value)
            object.__setattr__(self, name, value)
        _check_seconds("total", total)
        object.__setattr__(self, "total", total)

    @classmethod
    def of(cls, value: TimeoutLike) -> Timeout:
        """Coerce a number of seconds or a Timeout to a Timeout."""
        if isinstance(value, Timeout):
            return value
        return cls(value)


TimeoutLike = Union[Timeout, float, int]


@dataclass(frozen=True)
class BackoffStrategy:
    """Exponential backoff, in milliseconds as the seed SDK spells it.

    Retry n (from 1) waits between half and all of ``initial_interval * exponent**(n-1)``
    ms, capped at ``max_interval`` ("equal jitter": retries never stampede, never wait
    much less than the step); no retry starts after ``max_elapsed_time`` ms.
    """

    initial_interval: int = 500
    max_interval: int = 8_000
    exponent: float = 2.0
    max_elapsed_time: int = 60_000

    def __post_init__(self) -> None:
        for name in ("initial_interval", "max_interval", "max_elapsed_time"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"BackoffStrategy.{name} must be a number >= 0 ms, got {value!r}")
        if not self.exponent >= 1:
            raise ValueError(f"BackoffStrategy.exponent must be >= 1, got {self.exponent!r}")


@dataclass(frozen=True)
class RetryConfig:
    """Retry policy. Accepts the seed SDK's shape
    ``RetryConfig("backoff", BackoffStrategy(...), retry_connection_errors)``.

    Retried: connection errors (when ``retry_connection_errors``), 408, 409, 429 and 5xx;
    never 400/401/403/404/422. ``Retry-After`` / ``retry-after-ms`` are honoured, capped at
    ``max_retry_after`` seconds. ``max_retries`` caps the retries (default 2: 3 attempts);
    ``strategy="none"`` disables retries. A stream is retried only before its first event
    reached the caller.
    """

    strategy: Literal["backoff", "none"] = "backoff"
    backoff: BackoffStrategy = field(default_factory=BackoffStrategy)
    retry_connection_errors: bool = True
    max_retries: int = 2
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.strategy not in ("backoff", "none"):
            raise ValueError(
                f"RetryConfig.strategy must be 'backoff' or 'none', got {self.strategy!r}"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ValueError(
                f"RetryConfig.max_retries must be an int >= 0, got {self.max_retries!r}"
            )

    @property
    def attempts(self) -> int:
        """How many attempts a call may make in all."""
        return 1 if self.strategy == "none" else self.max_retries + 1

    @classmethod
    def of(cls, value: RetryLike) -> RetryConfig:
        """Coerce ``None`` (no retries), an int (that many retries) or a RetryConfig."""
        if isinstance(value, RetryConfig):
            return value
        if value is None:
            return cls(strategy="none", max_retries=0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"retries must be a RetryConfig, an int or None, got {type(value).__name__}"
            )
        return cls(max_retries=value)


RetryLike = Union[RetryConfig, int, None]
