"""``with_options``: a client with other defaults on the same connections, async and
blocking, over real sockets."""

from __future__ import annotations

import pytest

import sudo_stream as ss
from sudo_stream import testing

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "hi"}]


def quick(retries: int) -> ss.RetryConfig:
    backoff = ss.BackoffStrategy(initial_interval=1, max_interval=1, exponent=1, max_elapsed_time=60_000)
    return ss.RetryConfig(max_retries=retries, backoff=backoff)


async def test_other_defaults_on_the_same_connections(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(
        api_key="sk-test-key-abcdef", server_url=server.url, retries=quick(2),
        default_headers={"x-team": "a"},
    ) as sudo:  # fmt: skip
        strict = sudo.with_options(retries=None, timeout=ss.Timeout(30), default_headers={"x-run": "7"})
        assert strict.server_url == sudo.server_url and "abcdef" not in repr(strict)
        server.enqueue(testing.Error(503))
        with pytest.raises(ss.InternalServerError):
            await strict.router.create(messages=QUESTION, model="m")  # no retries there
        server.enqueue(testing.Error(503))
        await sudo.router.create(messages=QUESTION, model="m")  # retried here
        async with strict.router.create_streaming(messages=QUESTION, model="m") as stream:
            await stream.final_completion()
        await strict.responses.create(model="m", input="x")
        sent = server.requests
        assert [r.headers.get("x-run") for r in sent] == ["7", None, None, "7", "7"]
        assert all(r.headers["x-team"] == "a" for r in sent)
        assert all(r.headers["authorization"] == "Bearer sk-test-key-abcdef" for r in sent)
        assert strict._timeout == ss.Timeout(30) and sudo._timeout != ss.Timeout(30)
        await strict.aclose()  # leaves the shared connections open
        await sudo.router.create(messages=QUESTION, model="m")
        assert server.stats.total_connections == 1  # one connection served both clients
    assert server.stats.open_connections in (0, 1)


async def test_a_header_the_transport_owns_is_refused(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(api_key="k", server_url=server.url) as sudo:
        with pytest.raises(ValueError, match=r"(?i)content-length"):
            sudo.with_options(default_headers={"Content-Length": "1"})


def test_blocking_with_options() -> None:
    with testing.serve_in_thread() as server, ss.Sudo(api_key="k", server_url=server.url) as sudo:
        tagged = sudo.with_options(default_headers={"x-run": "9"})
        with tagged.router.create_streaming(messages=QUESTION, model="m") as stream:
            stream.final_completion()
        tagged.close()  # its own streams only: the client goes on
        assert sudo.router.create(messages=QUESTION, model="m").choices
        assert [r.headers.get("x-run") for r in server.requests] == ["9", None]
