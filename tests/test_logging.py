"""The library's logs: a line per retry and per failed call on ``sudo_stream``, a line per
request on ``sudo_stream.http``, the key in none of them; ``SUDO_LOG`` turns them on."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

import sudo_stream as ss
from sudo_stream import testing

pytestmark = pytest.mark.anyio

KEY = "sk-live-0123456789abcdef-secret"
QUESTION = [{"role": "user", "content": "hi"}]


def quick(retries: int) -> ss.RetryConfig:
    backoff = ss.BackoffStrategy(initial_interval=1, max_interval=1, exponent=1, max_elapsed_time=60_000)
    return ss.RetryConfig(max_retries=retries, backoff=backoff)


async def test_retries_failures_and_requests_are_logged_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sudo_stream")
    async with testing.FakeSudoServer(api_key=KEY) as server, ss.AsyncSudo(
        api_key=KEY, server_url=server.url, retries=quick(2)
    ) as sudo:
        server.enqueue(testing.Error(503), testing.Error(429, headers=[("retry-after-ms", "5")]))
        await sudo.router.create(messages=QUESTION, model="m")
        server.enqueue(testing.Error(400, message=f"bad key {KEY}"))  # echoed: scrubbed
        with pytest.raises(ss.BadRequestError):
            await sudo.router.create(messages=QUESTION, model="m")
        server.enqueue(testing.Error(503), testing.Error(503), testing.Error(503))
        with pytest.raises(ss.InternalServerError):
            async with sudo.router.create_streaming(messages=QUESTION, model="m"):
                pass
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries[0].startswith("retrying POST /v1/chat/completions (attempt 2 of 3) in ")
    assert "after InternalServerError: HTTP 503" in retries[0]
    assert "(attempt 3 of 3) in 0.01 s after RateLimitError: HTTP 429" in retries[1]
    assert len(retries) == 4  # two for the first call, two for the stream
    failed = [r for r in caplog.records if " failed" in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.INFO, logging.INFO]
    assert failed[0].getMessage().startswith("POST /v1/chat/completions failed: BadRequestError")
    assert failed[1].getMessage().startswith(
        "POST /v1/chat/completions failed after 3 attempts: InternalServerError"
    )
    requests = [r.getMessage() for r in caplog.records if r.name == "sudo_stream.http"]
    assert any(
        m.startswith(f"POST {server.url}/v1/chat/completions: HTTP 200 (request id req_")
        for m in requests
    )
    assert KEY not in caplog.text and KEY[-8:] not in caplog.text


async def test_nothing_is_logged_at_the_default_level(
    server: testing.FakeSudoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sudo_stream")
    server.enqueue(testing.Error(503))
    async with ss.AsyncSudo(api_key="k", server_url=server.url, retries=quick(1)) as sudo:
        await sudo.router.create(messages=QUESTION, model="m")
    assert [r for r in caplog.records if r.name.startswith("sudo_stream")] == []


def run_with_env(value: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import anyio, sudo_stream as ss\n"
        "from sudo_stream import testing\n"
        "async def main():\n"
        "    async with testing.FakeSudoServer() as server:\n"
        "        server.enqueue(testing.Error(503))\n"
        f"        async with ss.AsyncSudo(api_key={KEY!r}, server_url=server.url) as sudo:\n"
        "            await sudo.router.create(messages=[{'role': 'user', 'content': 'x'}], model='m')\n"
        "anyio.run(main)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    env["SUDO_LOG"] = value
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize(
    ("level", "seen", "unseen"),
    [("info", "INFO sudo_stream: retrying POST", "DEBUG"), ("debug", "DEBUG sudo_stream.http: POST", "")],
)
def test_sudo_log_turns_the_logs_on(level: str, seen: str, unseen: str) -> None:
    result = run_with_env(level)
    assert result.returncode == 0, result.stderr
    assert seen in result.stderr
    if unseen:
        assert unseen not in result.stderr
    assert KEY not in result.stderr


def test_an_unknown_sudo_log_level_is_a_warning() -> None:
    result = run_with_env("loud")
    assert result.returncode == 0, result.stderr
    assert "SUDO_LOG='loud' is not one of debug, info, warning, error" in result.stderr
    assert "retrying" not in result.stderr
