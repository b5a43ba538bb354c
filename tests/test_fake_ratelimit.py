"""The fake server's rate limits: RPM/TPM per key, 429s with Retry-After, x-ratelimit-* headers.

The limiter itself is driven by a hand-moved clock (exact, no sleeping); the server is
driven over real sockets by httpx and by our own client.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.testing.__main__ import parse_args
from sudo_stream.testing._ratelimit import RateLimiter, format_duration

CHAT = "/v1/chat/completions"
RESET = re.compile(r"0s|\d+ms|(\d+h)?(\d+m)?\d+(\.\d)?s")


def chat(prompt: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": prompt}], **extra}


def reply_tokens() -> int:
    """The completion tokens of the default reply (a token per word)."""
    return len(testing.DEFAULT_REPLY.split())


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(
    rpm: int | None = None, tpm: int | None = None, window: float = 10.0
) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(testing.RateLimit(rpm, tpm, window), clock=clock), clock


def header(headers: list[tuple[str, str]], name: str) -> str:
    values = [value for key, value in headers if key == name]
    assert len(values) == 1, (name, headers)
    return values[0]


# --- the pure limiter, on a hand-moved clock ---------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1.0, "0s"),
        (0.0001, "1ms"),
        (0.25, "250ms"),
        (0.1 + 0.2, "300ms"),  # 0.30000000000000004: float noise is not a millisecond more
        (1.1 + 2.2, "3.3s"),  # 3.3000000000000003
        (0.9994, "1s"),  # 999.4 ms rounds up to 1 s, not "1000ms"
        (0.999, "999ms"),
        (1.0, "1s"),
        (1.2, "1.2s"),
        (1.21, "1.3s"),  # rounded up: waiting that long is always enough
        (59.1, "59.1s"),
        (59.96, "1m0s"),
        (60.0, "1m0s"),
        (90.0, "1m30s"),
        (90.5, "1m30.5s"),
        (360.0, "6m0s"),
        (3600.0, "1h0m0s"),
        (3725.0, "1h2m5s"),
    ],
)
def test_durations_are_written_as_openai_does(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"rpm": 0}, "rpm"),
        ({"rpm": -5}, "rpm"),
        ({"rpm": 1.5}, "rpm"),
        ({"rpm": True}, "rpm"),
        ({"tpm": "100"}, "tpm"),
        ({"tpm": 0}, "tpm"),
        ({"window": 0}, "window"),
        ({"window": -1.0}, "window"),
        ({"window": math.inf}, "window"),
        ({"window": math.nan}, "window"),
        ({"window": True}, "window"),
        ({"window": "60"}, "window"),
    ],
)
def test_invalid_rate_limits_are_refused_naming_the_field(
    arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"RateLimit\.{field} must be"):
        testing.RateLimit(**arguments)


def test_valid_rate_limits() -> None:
    assert testing.RateLimit(rpm=1, tpm=2, window=0.5) == testing.RateLimit(1, 2, 0.5)
    assert testing.RateLimit(window=1).window == 1
    with pytest.raises(AttributeError):
        testing.RateLimit(rpm=1).rpm = 2  # type: ignore[misc]


def test_requests_past_rpm_are_refused_until_the_oldest_leaves_the_window() -> None:
    limit, clock = limiter(rpm=2, window=10.0)
    first = limit.admit(None, 0)
    assert first.refusal is None
    assert header(first.headers, "x-ratelimit-remaining-requests") == "1"
    assert header(first.headers, "x-ratelimit-reset-requests") == "10s"
    assert header(first.headers, "x-ratelimit-limit-requests") == "2"
    assert not any("tokens" in name for name, _ in first.headers)  # no tpm: no token headers
    clock.now += 4.0
    second = limit.admit(None, 0)
    assert second.refusal is None
    assert header(second.headers, "x-ratelimit-remaining-requests") == "0"
    assert header(second.headers, "x-ratelimit-reset-requests") == "10s"  # the newest leaves last
    clock.now += 1.5
    third = limit.admit(None, 0)
    refusal = third.refusal
    assert refusal is not None and refusal.status == 429
    # The first request leaves the window 10 s after it came: 4.5 s from now.
    assert header(list(refusal.headers), "retry-after") == "5"
    assert header(list(refusal.headers), "retry-after-ms") == "4500"
    assert header(list(refusal.headers), "x-ratelimit-remaining-requests") == "0"
    assert header(list(refusal.headers), "x-ratelimit-reset-requests") == "8.5s"
    assert refusal.body == {
        "error": {
            "message": "Rate limit reached for requests per 10s: Limit 2, Used 2, Requested 1. "
            "Please try again in 4.5s.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    clock.now += 4.4
    assert limit.admit(None, 0).refusal is not None  # still 0.1 s early
    clock.now = 1010.0  # exactly 10 s after the first: it has left
    fourth = limit.admit(None, 0)
    assert fourth.refusal is None
    assert header(fourth.headers, "x-ratelimit-remaining-requests") == "0"
    assert header(fourth.headers, "x-ratelimit-reset-requests") == "10s"
    usage = limit.log.usage(None)
    assert (usage.admitted, usage.refused) == (3, 2)
    assert usage.max_requests_admitted == 2
    assert usage.max_requests_sent == 4  # at 1009.9: the 2 admitted, 2 refused since 1000
    assert [entry.admitted for entry in usage.entries] == [True, True, False, False, True]
    assert [entry.at for entry in usage.entries][:2] == [1000.0, 1004.0]


def test_tokens_are_charged_and_a_refused_request_costs_nothing() -> None:
    limit, clock = limiter(tpm=100, window=60.0)
    assert limit.admit("Bearer k", 30).refusal is None
    clock.now += 10
    decision = limit.admit("Bearer k", 50)
    assert decision.refusal is None
    assert header(decision.headers, "x-ratelimit-remaining-tokens") == "20"
    assert header(decision.headers, "x-ratelimit-reset-tokens") == "1m0s"
    clock.now += 2.5
    free = limit.admit("Bearer k", 0)  # costs no tokens: the tokens reset when the 50 leave
    assert header(free.headers, "x-ratelimit-reset-tokens") == "57.5s"
    assert header(free.headers, "x-ratelimit-remaining-tokens") == "20"
    clock.now += 2.5
    too_many = limit.admit("Bearer k", 21)
    assert too_many.refusal is not None
    body = too_many.refusal.body
    assert body["error"]["type"] == "tokens"
    assert body["error"]["message"] == (
        "Rate limit reached for tokens per min (TPM): Limit 100, Used 80, Requested 21. "
        "Please try again in 45s."  # when the 30 tokens leave; the 50 can stay
    )
    assert header(list(too_many.refusal.headers), "retry-after-ms") == "45000"
    assert header(list(too_many.refusal.headers), "x-ratelimit-remaining-tokens") == "20"
    # The refused 21 were not charged: 20 still fit, then nothing does.
    fits = limit.admit("Bearer k", 20)
    assert fits.refusal is None
    assert header(fits.headers, "x-ratelimit-remaining-tokens") == "0"
    assert limit.admit("Bearer k", 1).refusal is not None
    clock.now += 5  # at 1020: 40 s until the 30 tokens leave, 50 s until the 50 leave
    wait_for_50 = limit.admit("Bearer k", 50).refusal
    assert wait_for_50 is not None
    assert header(list(wait_for_50.headers), "retry-after-ms") == "50000"
    assert header(list(wait_for_50.headers), "retry-after") == "50"
    usage = limit.log.usage("k")
    assert (usage.admitted, usage.refused, usage.tokens_admitted) == (4, 3, 100)
    assert usage.max_tokens_admitted == 100
    assert usage.max_tokens_sent == 100 + 21 + 1 + 50


def test_a_request_that_can_never_fit_gets_no_retry_after() -> None:
    limit, _ = limiter(tpm=10)
    decision = limit.admit(None, 11)
    assert decision.refusal is not None
    assert decision.refusal.body["error"]["message"].startswith("Request too large for tokens")
    names = {name for name, _ in decision.refusal.headers}
    assert "retry-after" not in names and "retry-after-ms" not in names
    assert limit.admit(None, 10).refusal is None  # it took nothing


def test_both_limits_name_the_one_that_binds() -> None:
    limit, clock = limiter(rpm=2, tpm=100, window=10.0)
    assert limit.admit(None, 5).refusal is None
    clock.now += 2
    assert limit.admit(None, 90).refusal is None
    clock.now += 2
    # Both full: a request slot at 1010 (in 6 s), room for 20 tokens at 1012 (in 8 s).
    refusal = limit.admit(None, 20).refusal
    assert refusal is not None
    assert refusal.body["error"]["type"] == "tokens"
    assert header(list(refusal.headers), "retry-after-ms") == "8000"
    clock.now = 1010.5  # a request slot, but the 90 tokens are still there
    refusal = limit.admit(None, 20).refusal
    assert refusal is not None and refusal.body["error"]["type"] == "tokens"
    assert header(list(refusal.headers), "retry-after-ms") == "1500"
    clock.now = 1012.0
    assert limit.admit(None, 20).refusal is None


def test_the_window_slides_exactly_as_a_naive_log_would() -> None:
    """Random traffic against a plain list of (time, tokens), recomputed at every step."""
    rng = random.Random(15)
    rpm, tpm, window = 7, 300, 5.0
    limit, clock = limiter(rpm=rpm, tpm=tpm, window=window)
    admitted: list[tuple[float, int]] = []
    sent: list[tuple[float, int]] = []
    busiest_sent = 0
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.01, 0.2, 0.7, 1.3])
        cost = rng.choice([0, 1, 10, 50, 120])
        live = [(at, tokens) for at, tokens in admitted if at > clock.now - window]
        fits = len(live) + 1 <= rpm and sum(t for _, t in live) + cost <= tpm
        decision = limit.admit("Bearer key", cost)
        assert (decision.refusal is None) == fits
        sent.append((clock.now, cost))
        busiest_sent = max(busiest_sent, sum(1 for at, _ in sent if at > clock.now - window))
        if fits:
            admitted.append((clock.now, cost))
            live.append((clock.now, cost))
        else:
            # The advertised wait is the first moment at which the request would fit.
            wait = float(header(list(decision.refusal.headers), "retry-after-ms")) / 1000  # type: ignore[union-attr]
            # (It is rounded up to the millisecond, so check either side of that millisecond.)
            for moment, fitting in (
                (clock.now + wait + 5e-4, True),
                (clock.now + wait - 15e-4, False),
            ):
                later = [(at, t) for at, t in live if at > moment - window]
                now_fits = len(later) + 1 <= rpm and sum(t for _, t in later) + cost <= tpm
                assert now_fits is fitting, (moment, wait)
        remaining = int(header(decision.headers, "x-ratelimit-remaining-tokens"))
        assert remaining == tpm - sum(t for _, t in live)
        assert int(header(decision.headers, "x-ratelimit-remaining-requests")) == rpm - len(live)
    usage = limit.log.usage("key")
    assert usage.admitted == len(admitted) and usage.refused == len(sent) - len(admitted)
    assert 0 < usage.refused < len(sent)
    assert usage.max_requests_sent == busiest_sent > rpm
    assert usage.max_requests_admitted == rpm  # reached, never passed
    assert usage.max_tokens_admitted <= tpm


def test_the_log_keeps_a_bounded_number_of_entries_but_counts_everything() -> None:
    clock = Clock()
    limit = RateLimiter(testing.RateLimit(rpm=1, window=1.0), clock=clock, log_entries=5)
    for _ in range(20):
        clock.now += 0.25
        limit.admit(None, 0)
    usage = limit.log.usage()
    assert len(usage.entries) == 5
    assert usage.entries[-1].at == clock.now
    assert (usage.admitted, usage.refused) == (5, 15)
    assert usage.max_requests_sent == 4


# --- the server, over real sockets ---------------------------------------------------------


@pytest.fixture
def rate_limit() -> testing.RateLimit:
    return testing.RateLimit(rpm=3, tpm=10_000)


@pytest.fixture
async def server(rate_limit: testing.RateLimit) -> AsyncIterator[testing.FakeSudoServer]:
    async with testing.FakeSudoServer(rate_limit=rate_limit) as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
async def client(server: testing.FakeSudoServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        yield http


def limits(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit-")}


@pytest.mark.anyio
async def test_every_answer_carries_the_headers_and_they_count_down(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    first = await client.post(CHAT, json=chat("one two three"))
    used = first.json()["usage"]["total_tokens"]
    assert used == 3 + reply_tokens()
    async with client.stream("POST", CHAT, json=chat("x", stream=True)) as streamed:
        second = limits(streamed)  # in the head, before the body
        assert b"[DONE]" in await streamed.aread()
    third = await client.get("/v1/models")  # any route counts, for 0 tokens
    heads = [limits(first), second, limits(third)]
    assert [h["x-ratelimit-remaining-requests"] for h in heads] == ["2", "1", "0"]
    assert [int(h["x-ratelimit-remaining-tokens"]) for h in heads] == [
        10_000 - used,
        10_000 - used - (1 + reply_tokens()),
        10_000 - used - (1 + reply_tokens()),
    ]
    for head in heads:
        assert head["x-ratelimit-limit-requests"] == "3"
        assert head["x-ratelimit-limit-tokens"] == "10000"
        assert RESET.fullmatch(head["x-ratelimit-reset-requests"])
        assert RESET.fullmatch(head["x-ratelimit-reset-tokens"])
    assert server.rate_limit_log.usage().admitted == 3


@pytest.mark.anyio
async def test_past_rpm_a_429_says_when_to_come_back(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        assert (await client.post(CHAT, json=chat())).status_code == 200
    refused = await client.post(CHAT, json=chat(store=True))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert 0 < int(refused.headers["retry-after-ms"]) <= 60_000
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    error = refused.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert re.fullmatch(
        r"Rate limit reached for requests per min \(RPM\): Limit 3, Used 3, Requested 1\. "
        r"Please try again in .+s\.",
        error["message"],
    )
    assert server.stored_completions == []  # a refused request has no effect
    log = server.rate_limit_log
    assert log.refused == 1 and log.admitted == 3
    assert log.usage().max_requests_sent == 4 and log.usage().max_requests_admitted == 3


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(tpm=1000)])
async def test_tokens_are_charged_by_the_answers_usage(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    reply = reply_tokens()
    # n=3: the prompt once, the reply three times, as the usage the server answers says.
    big = await client.post(CHAT, json=chat("a b c d", n=3))
    assert big.json()["usage"]["total_tokens"] == 4 + 3 * reply
    left = 1000 - (4 + 3 * reply)
    assert int(big.headers["x-ratelimit-remaining-tokens"]) == left
    # Fill up to leave fewer tokens than a 6-word prompt needs, more than a 1-word one does.
    filler = " ".join(["w"] * (left - (reply + 3)))
    assert (await client.post(CHAT, json=chat(filler, n=0))).status_code == 200
    remaining = reply + 3
    too_big = await client.post(CHAT, json=chat("1 2 3 4 5 6", stream=True))
    assert too_big.status_code == 429
    assert too_big.json()["error"]["type"] == "tokens"
    assert f"Used {1000 - remaining}, Requested {6 + reply}." in too_big.json()["error"]["message"]
    fits = await client.post(CHAT, json=chat("one"))
    assert fits.status_code == 200
    assert fits.headers["x-ratelimit-remaining-tokens"] == str(remaining - (1 + reply))
    assert "x-ratelimit-remaining-requests" not in fits.headers  # no rpm: no request headers
    usage = server.rate_limit_log.usage()
    assert usage.tokens_admitted == 1000 - 2
    assert [entry.admitted for entry in usage.entries] == [True, True, False, True]
    assert usage.entries[2].tokens == 6 + reply


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(rpm=1)])
async def test_each_api_key_has_its_own_limit(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    def key(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {name}"}

    statuses = [
        (await client.post(CHAT, json=chat(), headers=headers)).status_code
        for headers in (key("a"), key("a"), key("b"), {}, {}, key("b"))
    ]
    assert statuses == [200, 429, 200, 200, 429, 429]
    log = server.rate_limit_log
    assert [(u.admitted, u.refused) for u in log.usages()] == [(1, 1), (1, 1), (1, 1)]
    assert log.usage("a").refused == 1 and log.usage(None).admitted == 1
    assert log.usage("never-seen") == testing.KeyUsage()
    assert "Bearer" not in repr(log.usages())  # the keys themselves are nowhere in a snapshot


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(rpm=1)])
async def test_the_auth_check_comes_first(rate_limit: testing.RateLimit) -> None:
    async with (
        testing.FakeSudoServer("secret", rate_limit=rate_limit) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        unauthorized = await http.post(CHAT, json=chat())
        assert unauthorized.status_code == 401
        assert limits(unauthorized) == {}
        ok = await http.post(CHAT, json=chat(), headers={"Authorization": "Bearer secret"})
        assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining-requests"] == "0"
        assert server.rate_limit_log.usage(None).admitted == 0


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(rpm=2, window=0.5)])
async def test_the_window_slides(server: testing.FakeSudoServer, client: httpx.AsyncClient) -> None:
    """Whoever waits as told gets in, and never more than 2 in any half second."""
    admitted = 0
    with anyio.fail_after(20):
        while admitted < 6:
            response = await client.post(CHAT, json=chat())
            if response.status_code == 200:
                admitted += 1
                continue
            assert response.status_code == 429
            await anyio.sleep(int(response.headers["retry-after-ms"]) / 1000)
    usage = server.rate_limit_log.usage()
    assert usage.max_requests_admitted == 2
    times = [entry.at for entry in usage.entries if entry.admitted]
    assert all(later - earlier >= 0.5 for earlier, later in zip(times, times[2:], strict=False))


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(tpm=100)])
async def test_scripted_responses_are_limited_and_charged_by_their_usage(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    completion = testing.completion_from_chunks(testing.text_chunks("scripted", prompt_tokens=59))
    assert completion["usage"]["total_tokens"] == 60
    server.enqueue(
        testing.JSON(completion),
        testing.Stream(testing.text_chunks("two words", prompt_tokens=28)),  # 30 tokens
        testing.Stream(testing.text_chunks("a b c d e f g h i j k", prompt_tokens=0)),  # 11
        testing.Error(500),  # no usage: 0 tokens
    )
    first = await client.post(CHAT, json=chat())
    assert first.json()["choices"][0]["message"]["content"] == "scripted"
    assert first.headers["x-ratelimit-remaining-tokens"] == "40"
    async with client.stream("POST", CHAT, json=chat(stream=True)) as streamed:
        assert streamed.headers["x-ratelimit-remaining-tokens"] == "10"
        await streamed.aread()
    refused = await client.post(CHAT, json=chat(stream=True))
    assert refused.status_code == 429 and "Requested 11." in refused.json()["error"]["message"]
    assert server.pending_responses == 2  # the refused request consumed nothing
    failed = await client.post(CHAT, json=chat())
    assert failed.status_code == 429  # the 11-token stream is still next
    assert server.pending_responses == 2
    assert [entry.tokens for entry in server.rate_limit_log.usage().entries] == [60, 30, 11, 11]


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(rpm=2)])
async def test_scripted_errors_count_as_requests_and_keep_their_own_headers(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    server.enqueue(
        testing.Error(503, headers=[("x-ratelimit-limit-requests", "999")]),
        testing.Stall(0.01, after=testing.JSON({"ok": True})),
        testing.JSON({"never": "sent"}),
    )
    failed = await client.post(CHAT, json=chat())
    assert failed.status_code == 503
    assert failed.headers["x-ratelimit-limit-requests"] == "999"  # the script's own wins
    assert failed.headers["x-ratelimit-remaining-requests"] == "1"
    stalled = await client.post(CHAT, json=chat())
    assert (
        stalled.json() == {"ok": True} and stalled.headers["x-ratelimit-remaining-requests"] == "0"
    )
    assert (await client.post(CHAT, json=chat())).status_code == 429
    assert server.pending_responses == 1


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit()])
async def test_a_limit_without_rpm_or_tpm_only_logs(
    server: testing.FakeSudoServer, client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        response = await client.post(CHAT, json=chat("a b"))
        assert response.status_code == 200 and limits(response) == {}
    usage = server.rate_limit_log.usage()
    assert usage.max_requests_sent == 5 and usage.refused == 0
    assert usage.max_tokens_sent == 5 * (2 + reply_tokens())


@pytest.mark.anyio
@pytest.mark.parametrize("rate_limit", [testing.RateLimit(rpm=1, tpm=1000)])
async def test_our_client_sees_the_429_as_a_rate_limit_error(
    server: testing.FakeSudoServer,
) -> None:
    async with ss.AsyncSudo(server_url=server.url, retries=ss.RetryConfig(strategy="none")) as sudo:
        completion = await sudo.router.create(messages=chat()["messages"], model="m")
        assert completion.usage is not None
        with pytest.raises(ss.RateLimitError) as caught:
            await sudo.router.create(messages=chat()["messages"], model="m")
    assert caught.value.status_code == 429
    assert int(caught.value.headers["retry-after-ms"]) > 0
    assert caught.value.headers["x-ratelimit-remaining-tokens"] == str(
        1000 - completion.usage.total_tokens
    )


@pytest.mark.anyio
async def test_rate_limit_log_needs_a_rate_limit() -> None:
    async with testing.FakeSudoServer() as plain:
        with pytest.raises(RuntimeError, match="no rate_limit"):
            plain.rate_limit_log  # noqa: B018


def test_serve_in_thread_takes_a_rate_limit() -> None:
    with (
        testing.serve_in_thread(rate_limit=testing.RateLimit(rpm=1)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        assert http.get("/system/health").status_code == 200
        assert http.get("/system/health").status_code == 429
        assert server.rate_limit_log.refused == 1


# --- the command line ----------------------------------------------------------------------


def test_command_line_rate_limit_flags() -> None:
    assert parse_args([]).rate_limit is None
    assert parse_args(["--rpm", "5"]).rate_limit == testing.RateLimit(rpm=5)
    limit = parse_args(["--tpm", "200", "--rpm", "3", "--rate-window", "0.5"]).rate_limit
    assert limit == testing.RateLimit(rpm=3, tpm=200, window=0.5)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--rpm", "0"], "RateLimit.rpm"),
        (["--tpm", "-3"], "RateLimit.tpm"),
        (["--rpm", "1", "--rate-window", "0"], "RateLimit.window"),
        (["--rpm", "many"], "--rpm"),
    ],
)
def test_command_line_refuses_bad_limits(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_command_line_serves_with_a_rate_limit() -> None:
    command = [sys.executable, "-m", "sudo_stream.testing", "--port", "0", "--rpm", "1"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            with httpx.Client(base_url=url, timeout=10) as http:
                assert http.post(CHAT, json=chat()).headers["x-ratelimit-limit-requests"] == "1"
                refused = http.post(CHAT, json=chat())
                assert (
                    refused.status_code == 429
                    and json.loads(refused.text)["error"]["type"] == "requests"
                )
        finally:
            process.terminate()
            process.communicate(timeout=10)
