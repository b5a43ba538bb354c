"""The batch run's rate limiter (pure, on a simulated clock) and RateLimitInfo."""

from __future__ import annotations

import random
from bisect import bisect_left

import anyio
import pytest

from sudo_stream import RateLimitInfo
from sudo_stream.batch import RateLimiter, RateLimitState, Reservation
from sudo_stream.batch._limits import SlidingWindow
from sudo_stream.models.ratelimit import parse_duration


def simulate(state: RateLimitState, seconds: float, seed: int, overestimate: int = 0) -> list[tuple[float, int]]:
    """Greedy senders on a simulated clock: (time, tokens used) of each request sent."""
    rng = random.Random(seed)
    now, sent = 0.0, []
    while now < seconds:
        used = rng.randint(20, 200)
        got = state.try_reserve(used + overestimate, now)
        if not isinstance(got, Reservation):
            assert got > 0
            now += got
            continue
        state.settle(got, used, now)
        sent.append((now, used))
        now += rng.uniform(0, 0.01)
    return sent


def most_in_any_window(sent: list[tuple[float, int]], window: float) -> tuple[int, int]:
    """The most requests and tokens sent in any ``window``-long interval."""
    times = [t for t, _ in sent]
    sums = [0]
    for _, tokens in sent:
        sums.append(sums[-1] + tokens)
    most_requests = most_tokens = 0
    for end in range(len(sent)):
        start = bisect_left(times, times[end] - window + 1e-9)
        most_requests = max(most_requests, end - start + 1)
        most_tokens = max(most_tokens, sums[end + 1] - sums[start])
    return most_requests, most_tokens


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("rpm", "tpm"), [(600, None), (None, 20_000), (300, 40_000), (7, None)])
def test_no_60_second_window_over_the_limit_and_the_limit_used(
    seed: int, rpm: int | None, tpm: int | None
) -> None:
    sent = simulate(RateLimitState(rpm, tpm), 600.0, seed, overestimate=50)
    requests, tokens = most_in_any_window(sent, 60.0)
    minutes = sent[-1][0] / 60.0
    if rpm is not None:
        assert requests <= rpm
    if tpm is not None:
        assert tokens <= tpm
    used = [len(sent) / (rpm * minutes) if rpm else 0.0, sum(t for _, t in sent) / (tpm * minutes) if tpm else 0.0]
    assert max(used) >= 0.95, used


def test_a_run_is_paced_not_spent_in_a_burst() -> None:
    sent = simulate(RateLimitState(rpm=600), 60.0, 0)
    assert most_in_any_window(sent, 10.0)[0] <= 100


def test_a_reservation_settles_to_what_the_answer_used() -> None:
    state = RateLimitState(tpm=6000)  # 1,000 in any 10 s
    first = state.try_reserve(900, 0.0)
    assert isinstance(first, Reservation)
    assert state.try_reserve(200, 1.0) > 0  # 900 reserved: no room
    state.settle(first, 100, 1.0)  # it used 100
    assert isinstance(state.try_reserve(200, 1.0), Reservation)
    # and an answer that used more than reserved is charged in full
    second = state.try_reserve(10, 2.0)
    assert isinstance(second, Reservation)
    state.settle(second, 700, 2.0)
    assert state.try_reserve(10, 2.0) > 0


def test_a_request_larger_than_the_limit_goes_alone() -> None:
    state = RateLimitState(tpm=1000)
    small = state.try_reserve(10, 0.0)
    assert isinstance(small, Reservation)
    wait = state.try_reserve(5000, 0.0)
    assert isinstance(wait, float) and wait == pytest.approx(60.6)  # the window, and 1%
    alone = state.try_reserve(5000, wait)
    assert isinstance(alone, Reservation) and alone.tokens == 1000


def test_a_pause_holds_every_request() -> None:
    state = RateLimitState()
    state.pause_until(5.0)
    assert state.try_reserve(1, 1.0) == pytest.approx(4.0)
    state.pause_until(3.0)  # an earlier pause does not shorten it
    assert state.try_reserve(1, 4.0) == pytest.approx(1.0)
    assert isinstance(state.try_reserve(1, 5.0), Reservation)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_limits_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="rpm must be a positive int or None"):
        RateLimitState(rpm=bad)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_limiter_waits_out_a_pause_and_a_spent_server_limit() -> None:
    limiter = RateLimiter()
    limiter.pause(0.05)
    start = anyio.current_time()
    await limiter.acquire(1)
    assert anyio.current_time() - start >= 0.04
    limiter.observe(RateLimitInfo(limit_requests=10, remaining_requests=0, reset_requests=0.5))
    assert limiter.state.paused_until > 0  # a tenth of the reset: one request's room
    limiter.observe(RateLimitInfo(remaining_requests=3, reset_requests=30.0))
    paused = limiter.state.paused_until
    limiter.observe(RateLimitInfo(remaining_tokens=0, reset_tokens=None))
    assert limiter.state.paused_until == paused  # nothing to wait for without a reset


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("250ms", 0.25), ("1m30s", 90.0), ("59.1s", 59.1),
     ("1h2m3s", 3723.0), ("1.5", 1.5), ("0s", 0.0), ("20ms", 0.02), (" 6s ", 6.0),
     ("", None), ("soon", None), ("1x", None), ("-1s", None), ("1s2", None), ("nan", None)],
)  # fmt: skip
def test_durations_as_providers_send_them(text: str, seconds: float | None) -> None:
    parsed = parse_duration(text)
    assert parsed == (None if seconds is None else pytest.approx(seconds))


def test_rate_limit_info_from_headers() -> None:
    info = RateLimitInfo.from_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "not a number",
            "x-ratelimit-reset-tokens": "1m0.5s",
        }
    )
    assert info == RateLimitInfo(
        limit_requests=500, remaining_requests=499, reset_requests=0.12,
        limit_tokens=30000, remaining_tokens=None, reset_tokens=60.5,
    )  # fmt: skip
    assert RateLimitInfo.from_headers({}) == RateLimitInfo()


def test_an_answered_request_counts_from_its_answer_not_its_reservation() -> None:
    # A burst reserved at 0 reaches the server over the next 100 ms: counted from the
    # reservation, its slots would come back before the server's window lets them.
    unsettled = SlidingWindow(2, 10.0)
    unsettled.add(1, 0.0), unsettled.add(1, 0.0)
    assert unsettled.wait(1, 10.05) == 0.0  # by reservation alone
    window = SlidingWindow(2, 10.0)
    first, second = window.add(1, 0.0), window.add(1, 0.0)
    window.settle(first, 1, 0.1, 0.1)
    window.settle(second, 1, 0.1, 0.12)
    assert window.wait(1, 10.05) == pytest.approx(0.05)
    assert window.used == 2


def test_settling_keeps_time_order_and_caps_the_move() -> None:
    state = RateLimitState(rpm=6, window=60.0)  # 1 in any ~10 s, 6 in any 60.6 s
    early = state.try_reserve(1, 0.0)
    assert isinstance(early, Reservation)
    late = state.try_reserve(1, 30.0)
    assert isinstance(late, Reservation)
    state.settle(late, 1, 30.5)
    state.settle(early, 1, 40.0)  # a slow answer: moved by at most 2% of the window
    minute = state._requests[0]
    assert [(e.at, e.amount) for e in minute._entries if e.amount] == [
        (pytest.approx(60.6 * 0.02), 1), (30.5, 1)
    ]
    assert [e.at for e in minute._entries] == sorted(e.at for e in minute._entries)
