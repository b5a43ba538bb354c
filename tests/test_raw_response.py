"""``with_raw_response``: the typed result with the response it came in, for every
non-streamed operation, async and blocking, over real sockets."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import sudo_stream as ss
from sudo_stream import testing

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "hi"}]


class City(msgspec.Struct):
    name: str


async def test_every_operation_gives_its_response() -> None:
    limits = testing.RateLimit(rpm=100)
    async with testing.FakeSudoServer(rate_limit=limits) as server, ss.AsyncSudo(
        api_key="k", server_url=server.url
    ) as sudo:
        raw_router = sudo.router.with_raw_response
        created = await raw_router.create(messages=QUESTION, model="m", store=True)
        assert isinstance(created, ss.RawResponse)
        assert isinstance(created.parsed, ss.ChatCompletion) and created.status_code == 200
        assert created.request_id is not None and created.request_id.startswith("req_")
        assert created.rate_limit.limit_requests == 100
        assert created.rate_limit.remaining_requests == 99
        completion_id = created.parsed.id
        calls: list[tuple[Any, type[Any]]] = [
            (raw_router.parse(messages=QUESTION, model="m", response_format=City), ss.ChatCompletion),
            (raw_router.get_chat_completion(completion_id), ss.ChatCompletion),
            (raw_router.update_chat_completion(completion_id, metadata={"a": "b"}), ss.ChatCompletion),
            (raw_router.generate_image(prompt="a cat", model="dall-e-3"), ss.ImageGeneration),
            (raw_router.get_supported_models(), object),
            (raw_router.health_check(), object),
            (raw_router.delete_chat_completion(completion_id), object),
            (sudo.responses.with_raw_response.create(model="m", input="x"), ss.Response),
        ]
        seen = {created.request_id}
        for position, (call, kind) in enumerate(calls):
            raw = await call
            assert isinstance(raw.parsed, kind)
            assert raw.request_id not in seen, position  # each call's own response
            seen.add(raw.request_id)
            assert raw.rate_limit.remaining_requests == 98 - position
            assert raw.headers["content-type"].startswith("application/json")


async def test_parse_raw_keeps_the_typed_object(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(api_key="k", server_url=server.url) as sudo:
        raw = await sudo.router.with_raw_response.parse(
            messages=QUESTION, model="m", response_format=City
        )
    assert isinstance(raw.parsed.choices[0].message.parsed, City)


async def test_an_error_is_raised_as_usual_and_a_retry_reports_the_last_response(
    server: testing.FakeSudoServer,
) -> None:
    server.enqueue(testing.Error(503), testing.JSON(_completion()))
    async with ss.AsyncSudo(api_key="k", server_url=server.url) as sudo:
        raw = await sudo.router.with_raw_response.create(messages=QUESTION, model="m")
        assert raw.status_code == 200  # the answer's, not the 503 before it
        with pytest.raises(ss.NotFoundError):  # no such stored completion
            await sudo.router.with_raw_response.get_chat_completion("nope")
        plain = await sudo.router.create(messages=QUESTION, model="m")  # unchanged
        assert isinstance(plain, ss.ChatCompletion)


def _completion() -> dict[str, Any]:
    return testing.completion_from_chunks(testing.text_chunks("fine"))


def test_blocking_raw_responses() -> None:
    with testing.serve_in_thread() as server, ss.Sudo(api_key="k", server_url=server.url) as sudo:
        raw = sudo.router.with_raw_response.create(messages=QUESTION, model="m")
        assert raw.status_code == 200 and isinstance(raw.parsed, ss.ChatCompletion)
        parsed = sudo.router.with_raw_response.parse(messages=QUESTION, model="m", response_format=City)
        assert isinstance(parsed.parsed.choices[0].message.parsed, City)
        response = sudo.responses.with_raw_response.create(model="m", input="x")
        assert response.parsed.output_text and response.request_id
        assert len(server.requests) == 3
