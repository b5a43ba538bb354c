"""Timeout and RetryConfig: plain data with checked values."""

from __future__ import annotations

import pytest

import sudo_stream as ss


def test_timeout_defaults_and_overrides() -> None:
    assert ss.Timeout() == ss.Timeout(connect=10.0, first_event=600.0, idle=120.0)
    assert ss.Timeout().total is None
    assert ss.Timeout(5) == ss.Timeout(connect=5, first_event=5, idle=5)
    assert ss.Timeout(3, idle=1, total=9).idle == 1 and ss.Timeout(3, idle=1, total=9).first_event == 3
    unbounded_idle = ss.Timeout(idle=None)
    assert unbounded_idle.idle is None and unbounded_idle.connect == 10.0
    assert ss.Timeout(None) == ss.Timeout(connect=None, first_event=None, idle=None)
    assert ss.Timeout.of(2.5) == ss.Timeout(2.5)


@pytest.mark.parametrize("kwargs", [{"idle": 0}, {"connect": -1}, {"total": float("nan")}, {"first_event": "5"}])
def test_timeout_rejects_bad_values(kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with pytest.raises((ValueError, TypeError), match=name):
        ss.Timeout(**kwargs)  # type: ignore[arg-type]


def test_retry_config_accepts_the_seed_shape() -> None:
    config = ss.RetryConfig("backoff", ss.BackoffStrategy(100, 2000, 1.5, 30_000), False)
    assert config.retry_connection_errors is False and config.backoff.exponent == 1.5
    assert config.attempts == 3
    assert ss.RetryConfig(strategy="none").attempts == 1
    assert ss.RetryConfig.of(None).attempts == 1 and ss.RetryConfig.of(5).attempts == 6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ss.RetryConfig(strategy="sometimes"), "strategy"),  # type: ignore[arg-type]
        (lambda: ss.RetryConfig(max_retries=-1), "max_retries"),
        (lambda: ss.BackoffStrategy(exponent=0.5), "exponent"),
        (lambda: ss.BackoffStrategy(initial_interval=-5), "initial_interval"),
        (lambda: ss.RetryConfig.of("2"), "retries"),  # type: ignore[arg-type]
    ],
)
def test_retry_config_rejects_bad_values(make: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()  # type: ignore[operator]
