"""Every non-streaming operation against the fake server, on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[testing.FakeSudoServer]:
    async with testing.FakeSudoServer(api_key="sk-ops-key-123456") as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
async def sudo(server: testing.FakeSudoServer) -> AsyncIterator[ss.AsyncSudo]:
    async with ss.AsyncSudo(api_key="sk-ops-key-123456", server_url=server.url) as client:
        yield client


def seed(server: testing.FakeSudoServer, count: int, **fields: Any) -> list[str]:
    return [
        server.store_completion(
            {"model": fields.get("model", "gpt-4o"), "metadata": fields.get("metadata", {}), "choices": []},
            messages=[{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}],
        )["id"]
        for i in range(count)
    ]


async def test_create_returns_a_completion(sudo: ss.AsyncSudo) -> None:
    completion = await sudo.router.create(messages=MESSAGES, model="gpt-4o", store=True)
    assert isinstance(completion, ss.ChatCompletion)
    assert completion.model == "gpt-4o" and completion.choices[0].message.content


async def test_n_choices_and_service_tier_come_back(sudo: ss.AsyncSudo) -> None:
    done = await sudo.router.create(messages=MESSAGES, model="m", n=3, service_tier="flex")
    assert [c.index for c in done.choices] == [0, 1, 2] and done.service_tier == "flex"
    assert done.usage is not None and done.usage.completion_tokens % 3 == 0
    options = {"include_usage": True}
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", n=2, stream_options=options) as stream:
        streamed = await stream.final_completion()
    assert [c.message.content for c in streamed.choices] == [done.choices[0].message.content] * 2
    none = await sudo.router.create(messages=MESSAGES, model="m", n=0)
    assert none.choices == [] and none.id


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pagination_walks_every_page(server: testing.FakeSudoServer, sudo: ss.AsyncSudo, order: str) -> None:
    ids = seed(server, 7)
    expected = ids if order == "asc" else ids[::-1]
    first = await sudo.router.list_chat_completions(limit=3, order=order)
    assert [c.id for c in first.data] == expected[:3]
    assert first.has_more and first.first_id == expected[0] and first.last_id == expected[2]
    walked = [c.id async for c in sudo.router.list_chat_completions(limit=3, order=order)]
    assert walked == expected
    pages = [page async for page in sudo.router.list_chat_completions(limit=3, order=order).pages()]
    assert [len(p.data) for p in pages] == [3, 3, 1]
    list_requests = [r for r in server.requests if r.method == "GET"]
    assert ("after", expected[2]) in list_requests[-2].query  # lazily fetched with `after`


async def test_empty_page(sudo: ss.AsyncSudo) -> None:
    page = await sudo.router.list_chat_completions(limit=5)
    assert page.data == [] and page.first_id == page.last_id == "" and not page.has_more
    assert [c async for c in sudo.router.list_chat_completions()] == []


async def test_metadata_and_model_filters(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    seed(server, 2, metadata={"team": "a"})
    wanted = seed(server, 2, metadata={"team": "b", "limit": "x"}, model="gpt-x")
    found = [c.id async for c in sudo.router.list_chat_completions(metadata={"team": "b", "limit": "x"}, limit=1)]
    assert found == wanted
    query = server.requests[-1].query
    assert ("metadata[team]", "b") in query and ("metadata[limit]", "x") in query and ("limit", "1") in query
    assert [c.id async for c in sudo.router.list_chat_completions(model="gpt-x")] == wanted


async def test_get_update_delete(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    (completion_id,) = seed(server, 1)
    got = await sudo.router.get_chat_completion(completion_id=completion_id)
    assert got.id == completion_id
    updated = await sudo.router.update_chat_completion(completion_id=completion_id, metadata={"k": "v"})
    assert updated.metadata == {"k": "v"}
    assert server.requests[-1].json() == {"metadata": {"k": "v"}}
    deleted = await sudo.router.delete_chat_completion(completion_id=completion_id)
    assert deleted.deleted and deleted.id == completion_id
    with pytest.raises(ss.NotFoundError):
        await sudo.router.get_chat_completion(completion_id=completion_id)


async def test_the_completion_id_may_be_passed_by_position(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    """As the design doc's sketch calls them (the seed names the argument; both work)."""
    (completion_id,) = seed(server, 1)
    assert (await sudo.router.get_chat_completion(completion_id)).id == completion_id
    assert (await sudo.router.update_chat_completion(completion_id, metadata={"a": "b"})).metadata == {"a": "b"}
    assert [m.content async for m in sudo.router.get_chat_completion_messages(completion_id)] == ["question 0", "answer 0"]
    assert (await sudo.router.delete_chat_completion(completion_id)).deleted


@pytest.mark.parametrize("odd_id", ["a/b", "x?limit=1", "frag#ment", "100%", "../v1/models"])
async def test_ids_are_escaped_in_the_path(server: testing.FakeSudoServer, sudo: ss.AsyncSudo, odd_id: str) -> None:
    server.store_completion({"id": odd_id, "model": "m", "choices": []})
    got = await sudo.router.get_chat_completion(completion_id=odd_id)
    assert got.id == odd_id
    assert server.requests[-1].path.count("/") == 4  # /v1/chat/completions/<one segment>
    assert server.requests[-1].query == ()


async def test_messages_pagination(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    completion_id = server.store_completion(
        {"model": "m", "choices": []}, messages=[{"role": "user", "content": f"m{i}"} for i in range(5)]
    )["id"]
    page = await sudo.router.get_chat_completion_messages(completion_id=completion_id, limit=2)
    assert [m.content for m in page.data] == ["m0", "m1"] and page.has_more
    contents = [m.content async for m in sudo.router.get_chat_completion_messages(completion_id=completion_id, limit=2, order="desc")]
    assert contents == ["m4", "m3", "m2", "m1", "m0"]


async def test_generate_image(server: testing.FakeSudoServer, sudo: ss.AsyncSudo) -> None:
    result = await sudo.router.generate_image(prompt="a cat", model="dall-e-3", n=2, response_format="b64_json")
    assert isinstance(result, ss.ImageGeneration)
    assert len(result.data) == 2 and all(image.b64_json for image in result.data)


async def test_models_and_health(sudo: ss.AsyncSudo) -> None:
    models = await sudo.router.get_supported_models()
    assert models.data and all(model.id for model in models.data)
    health = await sudo.router.health_check()
    assert health.status == "ok"


async def test_wrong_key_is_an_authentication_error(server: testing.FakeSudoServer) -> None:
    async with ss.AsyncSudo(api_key="sk-wrong-key-999999", server_url=server.url) as client:
        with pytest.raises(ss.AuthenticationError) as caught:
            await client.router.list_chat_completions()
    assert "sk-wrong-key" not in str(caught.value) and "sk-wrong-key" not in repr(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"limit": 0}, "limit"), ({"order": "sideways"}, "order"), ({"metadata": {"k": 1}}, "metadata"), ({"after": 3}, "after")],
)
async def test_list_arguments_are_checked(sudo: ss.AsyncSudo, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        sudo.router.list_chat_completions(**kwargs)


async def test_unknown_keyword_is_a_type_error(sudo: ss.AsyncSudo) -> None:
    with pytest.raises(TypeError, match="limt"):
        sudo.router.list_chat_completions(limt=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="completion"):
        await sudo.router.get_chat_completion(completion="x")  # type: ignore[call-arg]


async def test_extra_body_on_an_operation_without_a_body_is_refused(
    server: testing.FakeSudoServer, sudo: ss.AsyncSudo
) -> None:
    # A GET or DELETE sends no body: extra_body would be dropped without a word.
    extra = {"extra_body": {"x": 1}}
    router = sudo.router
    calls = [
        ("list_chat_completions", lambda: router.list_chat_completions(**extra)),
        ("get_chat_completion", lambda: router.get_chat_completion("c", **extra)),
        ("delete_chat_completion", lambda: router.delete_chat_completion("c", **extra)),
        ("get_chat_completion_messages", lambda: router.get_chat_completion_messages("c", **extra)),
        ("get_supported_models", lambda: router.get_supported_models(**extra)),
        ("health_check", lambda: router.health_check(**extra)),
    ]
    for name, call in calls:
        with pytest.raises(TypeError, match=rf"{name}\(\) sends no request body"):
            result = call()
            if hasattr(result, "__await__"):
                await result
    assert server.requests == []
    # an empty one says nothing, and is allowed
    await router.get_supported_models(extra_body={})
