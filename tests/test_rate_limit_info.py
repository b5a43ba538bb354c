"""Rate-limit info where an app can read it: ``stream.rate_limit`` and an error's
``rate_limit``, from the fake server's ``x-ratelimit-*`` headers over real sockets; and the
header formats real providers send."""

from __future__ import annotations

import pytest

from sudo_stream import AsyncSudo, RateLimitError, RateLimitInfo, Sudo, testing

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "hi"}]


async def test_a_stream_and_a_429_carry_the_rate_limits() -> None:
    limits = testing.RateLimit(rpm=2, tpm=10_000, window=60.0)
    async with testing.FakeSudoServer(rate_limit=limits) as server, AsyncSudo(
        api_key="k", server_url=server.url, retries=0
    ) as sudo:
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as first:
            info = first.rate_limit
            await first.final_completion()
        assert info.limit_requests == 2 and info.remaining_requests == 1
        assert info.limit_tokens == 10_000
        assert info.reset_requests is not None and 0 < info.reset_requests <= 60
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as second:
            assert second.rate_limit.remaining_requests == 0
        with pytest.raises(RateLimitError) as caught:
            await sudo.router.create(messages=QUESTION, model="m")
    refused = caught.value.rate_limit
    assert refused.limit_requests == 2 and refused.remaining_requests == 0
    assert refused.reset_requests is not None and refused.reset_requests > 0


async def test_a_response_without_the_headers_has_no_limits(
    server: testing.FakeSudoServer,
) -> None:
    async with AsyncSudo(api_key="k", server_url=server.url) as sudo:
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            assert stream.rate_limit == RateLimitInfo()


def test_blocking_stream_has_the_rate_limits() -> None:
    limits = testing.RateLimit(rpm=5)
    with testing.serve_in_thread(rate_limit=limits) as server, Sudo(
        api_key="k", server_url=server.url
    ) as sudo:
        with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            assert stream.rate_limit.remaining_requests == 4


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (  # OpenAI
            {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
             "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "30000000",
             "x-ratelimit-remaining-tokens": "29999989", "x-ratelimit-reset-tokens": "0s"},
            RateLimitInfo(limit_requests=10000, remaining_requests=9999, reset_requests=0.006,
                          limit_tokens=30000000, remaining_tokens=29999989, reset_tokens=0.0),
        ),
        (  # Groq: minutes and fractional seconds
            {"X-RateLimit-Reset-Requests": "2m59.56s", "X-RateLimit-Reset-Tokens": "7.66s"},
            RateLimitInfo(reset_requests=179.56, reset_tokens=7.66),
        ),
        (  # hours, and a bare number of seconds
            {"x-ratelimit-reset-requests": "1h0m0s", "x-ratelimit-reset-tokens": "1.5"},
            RateLimitInfo(reset_requests=3600.0, reset_tokens=1.5),
        ),
        (  # malformed values are ignored, never an error
            {"x-ratelimit-limit-requests": "lots", "x-ratelimit-reset-tokens": "soon",
             "x-ratelimit-remaining-tokens": "-1"},
            RateLimitInfo(),
        ),
    ],
)  # fmt: skip
def test_header_formats_of_real_providers(
    headers: dict[str, str], expected: RateLimitInfo
) -> None:
    import httpx

    parsed = RateLimitInfo.from_headers(httpx.Headers(headers))
    assert parsed.limit_requests == expected.limit_requests
    assert parsed.remaining_tokens == expected.remaining_tokens
    for field in ("reset_requests", "reset_tokens"):
        got, want = getattr(parsed, field), getattr(expected, field)
        assert got == want if want is None else got == pytest.approx(want)
