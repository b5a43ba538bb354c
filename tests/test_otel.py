"""OpenTelemetryHooks: the span tree, attributes and events of each kind of call (plain,
stream, retry, error, left early, cancelled, Responses API, stored completions, images),
the metrics, the trace context sent, and no-ops without an SDK. Real sockets, the fake
server, both backends; the SDK's in-memory exporter and metric reader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream.otel import OpenTelemetryHooks

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "hi"}]


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider

    def hooks(self, **options: Any) -> OpenTelemetryHooks:
        return OpenTelemetryHooks(
            tracer_provider=self.tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.metrics]),
            **options,
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.metrics.get_metrics_data()
        found: list[HistogramDataPoint] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(p for p in metric.data.data_points if isinstance(p, HistogramDataPoint))
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield Telemetry(spans, InMemoryMetricReader(), provider)
    provider.shutdown()


def quick(retries: int) -> ss.RetryConfig:
    backoff = ss.BackoffStrategy(initial_interval=1, max_interval=1, exponent=1, max_elapsed_time=60_000)
    return ss.RetryConfig(max_retries=retries, backoff=backoff)


def client(server: testing.FakeSudoServer, hooks: Any, **options: Any) -> ss.AsyncSudo:
    return ss.AsyncSudo(api_key="k", server_url=server.url, hooks=hooks, **options)


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


async def test_a_call_is_a_client_span_under_the_callers(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    app = telemetry.tracer_provider.get_tracer("app")
    async with client(server, telemetry.hooks()) as sudo:
        with app.start_as_current_span("handle request") as parent:
            completion = await sudo.router.create(
                messages=QUESTION, model="gpt-x", temperature=0.5, max_completion_tokens=64, seed=7,
                stop=["END"], top_p=0.9,
            )  # fmt: skip
    span, app_span = telemetry.finished()
    assert app_span.name == "handle request"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.name == "chat gpt-x" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert completion.usage is not None and completion.id
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "openai.api.type": "chat_completions",
        "gen_ai.request.model": "gpt-x",
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "http.response.status_code": 200,
        "gen_ai.response.model": completion.model,
        "gen_ai.response.id": completion.id,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": completion.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": completion.usage.completion_tokens,
    }
    assert span.events == ()
    # the router can continue the trace: the request carried the call span's context
    (request,) = server.requests
    assert request.headers["traceparent"] == traceparent(span)


async def test_a_stream_has_its_first_chunk_and_usage(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    async with client(server, telemetry.hooks()) as sudo:
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", stream_options={"include_usage": True}
        ) as stream:
            completion = await stream.final_completion()
    (span,) = telemetry.finished()
    attributes = dict(span.attributes or {})
    assert span.name == "chat m" and attributes["gen_ai.request.stream"] is True
    assert completion.usage is not None
    assert attributes["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert attributes["gen_ai.response.id"] == completion.id
    assert attributes["sudo_stream.stream.complete"] is True
    (event,) = span.events
    first = attributes["gen_ai.response.time_to_first_chunk"]
    assert event.name == "sudo_stream.first_chunk"
    assert dict(event.attributes or {}) == {"gen_ai.response.time_to_first_chunk": first}
    assert isinstance(first, float) and first > 0
    assert span.start_time is not None and span.start_time < event.timestamp


async def test_a_retry_is_an_event_of_the_one_span(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    server.enqueue(testing.Error(503))
    async with client(server, telemetry.hooks(), retries=quick(2)) as sudo:
        await sudo.router.create(messages=QUESTION, model="m")
    (span,) = telemetry.finished()
    (event,) = span.events
    assert event.name == "sudo_stream.retry"
    assert dict(event.attributes or {}) == {
        "sudo_stream.retry.attempt": 2,
        "sudo_stream.retry.wait": pytest.approx(0.001, abs=0.01),
        "error.type": "InternalServerError",
        "http.response.status_code": 503,
    }
    attributes = dict(span.attributes or {})
    assert attributes["http.request.resend_count"] == 1
    assert attributes["http.response.status_code"] == 200
    assert span.status.status_code is StatusCode.UNSET
    # both attempts carried the same span's context
    assert [r.headers["traceparent"] for r in server.requests] == [traceparent(span)] * 2


async def test_a_failed_call_records_its_exception(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    server.enqueue(testing.Error(400, message="bad model"))
    async with client(server, telemetry.hooks()) as sudo:
        with pytest.raises(ss.BadRequestError) as caught:
            await sudo.router.create(messages=QUESTION, model="m")
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == str(caught.value)
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "BadRequestError"
    assert attributes["http.response.status_code"] == 400
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"].endswith("BadRequestError")
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequestError" and duration.count == 1
    assert telemetry.points("gen_ai.client.token.usage") == []


async def test_a_stream_cut_mid_way_is_an_error(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    chunks = testing.text_chunks("one two three four")
    server.enqueue(testing.Stream([*chunks[:3], testing.Drop()]))
    async with client(server, telemetry.hooks()) as sudo:
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            with pytest.raises(ss.StreamError):
                await stream.final_completion()
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "StreamError"
    assert [e.name for e in span.events] == ["sudo_stream.first_chunk", "exception"]


async def test_a_stream_left_early_says_it_was_not_complete(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    async with client(server, telemetry.hooks()) as sudo:
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            async for _ in stream:
                break
    (span,) = telemetry.finished()
    assert (span.attributes or {})["sudo_stream.stream.complete"] is False
    assert span.status.status_code is StatusCode.UNSET  # the caller's choice, no error


async def test_a_cancelled_stream_ends_its_span(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    chunks = testing.text_chunks("a b c")
    server.enqueue(testing.Stream([*chunks[:2], testing.StallItem()]))
    async with client(server, telemetry.hooks()) as sudo:
        with anyio.CancelScope() as scope:
            async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
                async for _ in stream:
                    scope.cancel()  # cancelled while it waits for the next chunk
    assert scope.cancelled_caught and stream.closed
    (span,) = telemetry.finished()
    attributes = dict(span.attributes or {})
    assert attributes["sudo_stream.cancelled"] is True
    assert attributes["sudo_stream.stream.complete"] is False
    assert span.status.status_code is StatusCode.UNSET
    assert telemetry.points("gen_ai.client.operation.duration") == []  # no answer to time


async def test_a_cancelled_call_ends_its_span(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    server.enqueue(testing.Stall())
    async with client(server, telemetry.hooks()) as sudo, anyio.create_task_group() as tasks:

        async def cancel_when_the_server_has_it() -> None:
            while not server.requests:
                await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()

        tasks.start_soon(cancel_when_the_server_has_it)
        await sudo.router.create(messages=QUESTION, model="m")
    (span,) = telemetry.finished()
    assert (span.attributes or {})["sudo_stream.cancelled"] is True


async def test_the_responses_api(server: testing.FakeSudoServer, telemetry: Telemetry) -> None:
    async with client(server, telemetry.hooks()) as sudo:
        response = await sudo.responses.create(model="r", input="x", max_output_tokens=99)
        async with sudo.responses.create_streaming(model="r", input="x") as stream:
            streamed = await stream.final_response()
    plain, stream_span = telemetry.finished()
    for span, answer in ((plain, response), (stream_span, streamed)):
        attributes = dict(span.attributes or {})
        assert span.name == "chat r"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["openai.api.type"] == "responses"
        assert attributes["gen_ai.response.id"] == answer.id and answer.id
        assert attributes["gen_ai.response.finish_reasons"] == ("completed",)
        assert answer.usage is not None
        assert attributes["gen_ai.usage.input_tokens"] == answer.usage.input_tokens
        assert attributes["gen_ai.usage.output_tokens"] == answer.usage.output_tokens
    assert (plain.attributes or {})["gen_ai.request.max_tokens"] == 99
    assert [e.name for e in stream_span.events] == ["sudo_stream.first_chunk"]


async def test_stored_completions_and_images(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    async with client(server, telemetry.hooks()) as sudo:
        completion = await sudo.router.create(messages=QUESTION, model="m", store=True)
        await sudo.router.get_chat_completion(completion.id)
        await sudo.router.generate_image(prompt="a cat", model="img-1")
    _, stored, image = telemetry.finished()
    assert stored.name == "GET /v1/chat/completions/{completion_id}"
    assert stored.kind is SpanKind.CLIENT
    attributes = dict(stored.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.template"] == "/v1/chat/completions/{completion_id}"
    assert attributes["url.full"] == f"{server.url}/v1/chat/completions/{completion.id}"
    assert attributes["http.response.status_code"] == 200
    assert "gen_ai.operation.name" not in attributes
    assert image.name == "generate_content img-1"
    assert (image.attributes or {})["gen_ai.output.type"] == "image"
    # metrics are the GenAI calls': the chat completion and the image
    points = telemetry.points("gen_ai.client.operation.duration")
    assert sorted(p.attributes["gen_ai.operation.name"] for p in points) == ["chat", "generate_content"]


async def test_the_metrics(server: testing.FakeSudoServer, telemetry: Telemetry) -> None:
    async with client(server, telemetry.hooks()) as sudo:
        completion = await sudo.router.create(messages=QUESTION, model="m")
        async with sudo.router.create_streaming(
            messages=QUESTION, model="m", stream_options={"include_usage": True}
        ) as stream:
            streamed = await stream.final_completion()
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.response.model": completion.model,
        "server.address": "127.0.0.1",
        "server.port": server.port,
    }
    assert duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)  # the conventions' buckets
    tokens = {p.attributes["gen_ai.token.type"]: p for p in telemetry.points("gen_ai.client.token.usage")}
    assert completion.usage is not None and streamed.usage is not None
    assert tokens["input"].count == 2
    assert tokens["input"].sum == completion.usage.prompt_tokens + streamed.usage.prompt_tokens
    assert tokens["output"].sum == completion.usage.completion_tokens + streamed.usage.completion_tokens
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1  # the stream's only
    _, stream_span = telemetry.finished()
    assert first.sum == (stream_span.attributes or {})["gen_ai.response.time_to_first_chunk"]


async def test_no_trace_context_sent_when_told_not_to(
    server: testing.FakeSudoServer, telemetry: Telemetry
) -> None:
    async with client(server, telemetry.hooks(propagate=False)) as sudo:
        await sudo.router.create(messages=QUESTION, model="m")
    (request,) = server.requests
    assert "traceparent" not in request.headers
    assert len(telemetry.finished()) == 1


async def test_inert_without_an_sdk(server: testing.FakeSudoServer) -> None:
    # The global providers, which no test configures: the API's no-ops.
    async with client(server, OpenTelemetryHooks()) as sudo:
        completion = await sudo.router.create(messages=QUESTION, model="m")
        async with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            streamed = await stream.final_completion()
        server.enqueue(testing.Error(400))
        with pytest.raises(ss.BadRequestError):
            await sudo.router.create(messages=QUESTION, model="m")
    assert completion.choices and streamed.choices
    assert all("traceparent" not in r.headers for r in server.requests)


def test_the_blocking_client(telemetry: Telemetry) -> None:
    with (
        testing.serve_in_thread() as server,
        ss.Sudo(api_key="k", server_url=server.url, hooks=[telemetry.hooks()]) as sudo,
    ):
        sudo.router.create(messages=QUESTION, model="m")
        with sudo.router.create_streaming(messages=QUESTION, model="m") as stream:
            stream.final_completion()
    assert [s.name for s in telemetry.finished()] == ["chat m", "chat m"]


def test_a_clear_error_without_opentelemetry() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import sudo_stream.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'sudo-stream[otel]'" in out.stdout
