"""Hooks around every call: their order on success, retry, a mid-stream error, a stream
left early and a cancellation; headers added by a hook; hook exceptions raised, never
swallowed; plain and async hooks; both backends, real sockets, and the blocking facade."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import testing

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "hi"}]


def quick(retries: int) -> ss.RetryConfig:
    backoff = ss.BackoffStrategy(initial_interval=1, max_interval=1, exponent=1, max_elapsed_time=60_000)
    return ss.RetryConfig(max_retries=retries, backoff=backoff)


class Recorder(ss.Hooks):
    """Records every hook, plain and async alike; adds a header to every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.calls: list[ss.CallInfo] = []
        self.outcomes: list[ss.CallOutcome] = []
        self.errors: list[BaseException] = []
        self.ends: list[BaseException | None] = []

    def on_request(self, call: ss.CallInfo, request: httpx.Request) -> None:
        self.calls.append(call)
        call.state["requests"] = call.state.get("requests", 0) + 1
        request.headers["x-attempt"] = str(call.state["requests"])
        self.seen.append(("request", call.operation, call.model, call.stream))

    async def on_response(self, call: ss.CallInfo, response: httpx.Response) -> None:
        await anyio.lowlevel.checkpoint()
        self.seen.append(("response", response.status_code))

    def on_retry(self, call: ss.CallInfo, retry: ss.RetryInfo) -> None:
        self.seen.append(("retry", retry.attempt, type(retry.error).__name__, retry.wait >= 0))

    async def on_first_event(self, call: ss.CallInfo, seconds: float) -> None:
        self.seen.append(("first_event", seconds > 0))

    def on_finish(self, call: ss.CallInfo, outcome: ss.CallOutcome) -> None:
        self.outcomes.append(outcome)
        self.seen.append(("finish", outcome.complete))

    async def on_error(self, call: ss.CallInfo, error: BaseException) -> None:
        self.errors.append(error)
        self.seen.append(("error", type(error).__name__))

    async def on_end(self, call: ss.CallInfo, error: BaseException | None) -> None:
        await anyio.lowlevel.checkpoint()  # shielded: runs even in a cancelled scope
        self.ends.append(error)
        self.seen.append(("end", None if error is None else type(error).__name__))


def client(server: testing.FakeSudoServer, hooks: Any, **options: Any) -> ss.AsyncSudo:
    return ss.AsyncSudo(api_key="k", server_url=server.url, hooks=hooks, **options)


async def test_a_call_with_a_retry(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    server.enqueue(testing.Error(503))
    async with client(server, hooks, retries=quick(2)) as sudo:
        completion = await sudo.router.create(messages=QUESTION, model="gpt-x")
    operation = "POST /v1/chat/completions"
    assert hooks.seen == [
        ("request", operation, "gpt-x", False), ("response", 503),
        ("retry", 2, "InternalServerError", True),
        ("request", operation, "gpt-x", False), ("response", 200),
        ("finish", True), ("end", None),
    ]  # fmt: skip
    assert hooks.calls[0] is hooks.calls[1]  # one call, its state kept across attempts
    assert [r.headers["x-attempt"] for r in server.requests] == ["1", "2"]
    (outcome,) = hooks.outcomes
    assert outcome.status_code == 200 and outcome.usage == completion.usage
    assert outcome.response_model == completion.model and outcome.finish_reasons == ("stop",)
    assert outcome.response_id == completion.id and completion.id
    assert outcome.elapsed > 0 and outcome.time_to_first_event is None


async def test_a_stream_whole_then_one_left_early(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    async with client(server, hooks) as sudo:
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", stream_options={"include_usage": True}
        ) as stream:
            completion = await stream.final_completion()
        assert hooks.seen == [
            ("request", "POST /v1/chat/completions", "m", True), ("response", 200),
            ("first_event", True), ("finish", True), ("end", None),
        ]  # fmt: skip
        whole = hooks.outcomes[0]
        assert whole.usage == completion.usage and whole.usage is not None
        assert whole.response_id == completion.id and completion.id
        assert whole.time_to_first_event is not None and whole.time_to_first_event <= whole.elapsed
        hooks.seen.clear()
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            async for _ in stream:
                break
        assert hooks.seen[-2:] == [("finish", False), ("end", None)]  # left early: not whole
        assert len(hooks.outcomes) == 2


async def test_a_stream_cut_mid_way_is_an_error(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    chunks = testing.text_chunks("one two three four")
    server.enqueue(testing.Stream([*chunks[:3], testing.Drop()]))
    async with client(server, hooks) as sudo:
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            with pytest.raises(ss.StreamError) as caught:
                await stream.final_completion()
    assert hooks.seen[-2:] == [("error", "StreamError"), ("end", "StreamError")]
    assert hooks.errors == [caught.value] and hooks.ends == [caught.value]
    assert hooks.outcomes == []  # an error ends the call: no finish


async def test_a_failed_call_and_a_failed_opening(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    async with client(server, hooks, retries=None) as sudo:
        server.enqueue(testing.Error(400))
        with pytest.raises(ss.BadRequestError):
            await sudo.router.create(messages=QUESTION, model="m")
        server.enqueue(testing.Error(503))
        with pytest.raises(ss.InternalServerError):
            await sudo.router.create_streaming(messages=QUESTION, model="m")
    assert [s for s in hooks.seen if s[0] in ("error", "finish", "end")] == [
        ("error", "BadRequestError"), ("end", "BadRequestError"),
        ("error", "InternalServerError"), ("end", "InternalServerError"),
    ]  # fmt: skip


async def test_a_cancelled_stream_ends_without_a_word(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    chunks = testing.text_chunks("a b c")
    server.enqueue(testing.Stream([*chunks[:2], testing.StallItem()]))
    async with client(server, hooks) as sudo:
        with anyio.move_on_after(0.3):
            async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
                async for _ in stream:
                    pass
    assert stream.closed
    assert not [s for s in hooks.seen if s[0] in ("error", "finish")]
    # on_end alone tells the call is over, with the cancellation that ended it
    (cancelled,) = hooks.ends
    assert isinstance(cancelled, anyio.get_cancelled_exc_class())
    assert hooks.seen[-1][0] == "end"


async def test_the_responses_api_has_the_same_hooks(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    async with client(server, hooks) as sudo:
        response = await sudo.responses.create(model="r", input="x")
        async with sudo.responses.create_streaming(model="r", input="x") as stream:
            streamed = await stream.final_response()
    assert [s[0] for s in hooks.seen] == [
        "request", "response", "finish", "end",
        "request", "response", "first_event", "finish", "end",
    ]  # fmt: skip
    assert hooks.outcomes[0].usage == response.usage
    assert hooks.outcomes[0].response_id == response.id and response.id
    assert hooks.outcomes[1].response_id == streamed.id and streamed.id
    assert hooks.outcomes[1].usage == streamed.usage
    assert hooks.outcomes[1].finish_reasons == ("completed",)


class Refusing(ss.Hooks):
    def __init__(self, where: str) -> None:
        self.where = where

    def on_request(self, call: ss.CallInfo, request: httpx.Request) -> None:
        if self.where == "request":
            raise PermissionError("no token for this tenant")

    async def on_finish(self, call: ss.CallInfo, outcome: ss.CallOutcome) -> None:
        if self.where == "finish":
            raise RuntimeError("audit log unreachable")


@pytest.mark.parametrize(("where", "error"), [("request", PermissionError), ("finish", RuntimeError)])
async def test_an_exception_in_a_hook_is_raised_by_the_call(
    server: testing.FakeSudoServer, where: str, error: type[Exception]
) -> None:
    recorder = Recorder()
    async with client(server, [Refusing(where), recorder]) as sudo:
        with pytest.raises(error):
            await sudo.router.create(messages=QUESTION, model="m")
        with pytest.raises(error):
            async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
                await stream.final_completion()
    assert len(server.requests) == (0 if where == "request" else 2)  # never sent, not retried
    if where == "request":
        assert [type(e) for e in recorder.errors] == [error, error]  # the call failed with it
    # on_end hears of it either way, also when the raising on_finish kept the recorder's
    # own on_finish from running
    assert [type(e) for e in recorder.ends] == [error, error]


class EndRaises(ss.Hooks):
    def on_end(self, call: ss.CallInfo, error: BaseException | None) -> None:
        raise LookupError("span exporter gone")


async def test_every_on_end_runs_though_one_raises(server: testing.FakeSudoServer) -> None:
    recorder = Recorder()
    async with client(server, [EndRaises(), recorder]) as sudo:
        with pytest.raises(LookupError):
            await sudo.router.create(messages=QUESTION, model="m")
        with pytest.raises(LookupError):
            async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
                await stream.final_completion()
    assert recorder.ends == [None, None]  # both calls ended well, and the recorder heard it


async def test_a_cancelled_call_or_opening_ends_with_on_end(server: testing.FakeSudoServer) -> None:
    hooks = Recorder()
    async def cancelled_once_sent(call: Any, sent: int) -> None:
        async with anyio.create_task_group() as tasks:

            async def cancel_when_the_server_has_it() -> None:
                while len(server.requests) < sent:
                    await anyio.sleep(0.01)
                tasks.cancel_scope.cancel()

            tasks.start_soon(cancel_when_the_server_has_it)
            await call(messages=QUESTION, model="m")

    async with client(server, hooks) as sudo:
        server.enqueue(testing.Stall())
        await cancelled_once_sent(sudo.router.create, 1)
        server.enqueue(testing.Stall())
        await cancelled_once_sent(sudo.router.create_streaming, 2)
    assert [s[0] for s in hooks.seen] == ["request", "end", "request", "end"]
    cancelled = anyio.get_cancelled_exc_class()
    assert [type(e) for e in hooks.ends] == [cancelled, cancelled]


async def test_hooks_must_be_hooks(server: testing.FakeSudoServer) -> None:
    with pytest.raises(TypeError, match=r"hooks must be ss\.Hooks objects"):
        ss.AsyncSudo(api_key="k", server_url=server.url, hooks=[lambda call: None])  # type: ignore[list-item]
    async with client(server, []) as sudo:  # none: nothing to run
        assert sudo._hooks is None


def test_blocking_client_runs_the_hooks() -> None:
    hooks = Recorder()
    with testing.serve_in_thread() as server, ss.Sudo(api_key="k", server_url=server.url, hooks=hooks) as sudo:
        sudo.router.create(messages=QUESTION, model="m")
        with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            stream.final_completion()
    assert [s[0] for s in hooks.seen] == [
        "request", "response", "finish", "end",
        "request", "response", "first_event", "finish", "end",
    ]  # fmt: skip
