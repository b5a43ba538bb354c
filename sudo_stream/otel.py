"""OpenTelemetry for a client's calls: spans, span events and metrics that follow the
GenAI semantic conventions (v1.41), made by a :class:`~sudo_stream.Hooks`::

    from sudo_stream.otel import OpenTelemetryHooks

    sudo = ss.AsyncSudo(hooks=[OpenTelemetryHooks()])

Needs ``opentelemetry-api`` (``pip install 'sudo-stream[otel]'``); it is imported only
when this module is, and with no SDK configured every span and instrument is a no-op.

What is made, per call:

- a span of kind CLIENT from the call's first request to its end (retries included),
  named ``"{gen_ai.operation.name} {gen_ai.request.model}"`` (``chat gpt-4o``): chat
  completions and the Responses API are ``chat`` (``openai.api.type`` tells which, as
  the conventions' own Responses examples do), image generation ``generate_content``
  with ``gen_ai.output.type`` ``image``. Its attributes: ``gen_ai.operation.name``,
  ``gen_ai.provider.name`` (``openai``: the router speaks the OpenAI API, and the
  conventions name the provider by the API's flavour, leaving ``gen_ai.request.model``,
  ``gen_ai.response.model`` and ``server.address`` to tell what answered),
  ``gen_ai.request.*`` (model, stream, temperature, top_p, max_tokens, penalties, seed,
  stop sequences, choice count: those the request sets), ``server.address`` and
  ``server.port``, then ``gen_ai.response.model``, ``gen_ai.response.id``,
  ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` and
  ``output_tokens`` (and the cached and reasoning ones when the answer says),
  ``http.response.status_code``. Other calls (stored completions, the model list) get
  an HTTP client span, ``"GET /v1/chat/completions/{completion_id}"``;
- span events: ``sudo_stream.retry`` before each retry (``sudo_stream.retry.attempt``,
  ``sudo_stream.retry.wait`` in seconds, ``error.type``; the span's
  ``http.request.resend_count`` counts them) and ``sudo_stream.first_chunk`` when a
  stream's first chunk arrives (``gen_ai.response.time_to_first_chunk``, seconds since
  the call started, also set on the span);
- a failed call: the exception recorded, status ERROR, ``error.type`` (the exception's
  class name); a stream left early: ``sudo_stream.stream.complete`` False (a stream
  read to its end has it True); a cancelled call: ``sudo_stream.cancelled`` True, the
  span ended all the same, no error status (the caller stopped it);
- metrics of the meter ``sudo_stream`` (GenAI calls only, not cancelled ones):
  ``gen_ai.client.operation.duration`` (s), ``gen_ai.client.token.usage`` (``{token}``,
  with ``gen_ai.token.type`` ``input`` or ``output``) and, for streams,
  ``gen_ai.client.operation.time_to_first_chunk`` (s: the client-side measure the
  conventions define; ``gen_ai.server.time_to_first_token`` is the model server's own),
  with the bucket boundaries the conventions give.

With ``propagate=True`` (the default, as in OpenTelemetry's own HTTP client
instrumentations) each request carries the trace context (W3C ``traceparent``, through
the globally configured propagator), its parent the call's span, so that the router can
continue the trace; ``propagate=False`` sends nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

try:
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as _missing:  # pragma: no cover - the tests run with it installed
    raise ImportError(
        "sudo_stream.otel needs opentelemetry-api: pip install 'sudo-stream[otel]'"
    ) from _missing

from ._version import __version__
from .hooks import CallInfo, CallOutcome, Hooks, RetryInfo

if TYPE_CHECKING:
    import httpx
    from opentelemetry.util.types import AttributeValue

__all__ = ["OpenTelemetryHooks"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"

# The conventions' bucket boundaries for durations (s) and token counts.
_SECONDS_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS = tuple(float(4**n) for n in range(14))  # 1, 4, 16, ... 67108864

_CHAT_PATH = "/v1/chat/completions"
_COMPLETION_PREFIX = _CHAT_PATH + "/"
# (method, path) of the GenAI calls: the operation and the OpenAI API type
_GENAI_OPERATIONS = {
    ("POST", _CHAT_PATH): ("chat", "chat_completions"),
    ("POST", "/v1/responses"): ("chat", "responses"),
    ("POST", "/v1/images/generations"): ("generate_content", None),
}

_SPAN = "sudo_stream.otel.span"  # the keys of what a call keeps in CallInfo.state
_METRIC = "sudo_stream.otel.metric"
_FIRST = "sudo_stream.otel.first_chunk"


class _Parameters(msgspec.Struct):
    """The request parameters the conventions record (each checked for its type)."""

    temperature: Any = None
    top_p: Any = None
    max_tokens: Any = None
    max_completion_tokens: Any = None
    max_output_tokens: Any = None
    frequency_penalty: Any = None
    presence_penalty: Any = None
    seed: Any = None
    stop: Any = None
    n: Any = None
    response_format: Any = None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _request_attributes(content: bytes) -> dict[str, AttributeValue]:
    """``gen_ai.request.*`` of what a request body sets."""
    try:
        body = msgspec.json.decode(content, type=_Parameters)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}
    found: dict[str, AttributeValue] = {}
    for key, value in (
        ("gen_ai.request.temperature", body.temperature),
        ("gen_ai.request.top_p", body.top_p),
        ("gen_ai.request.frequency_penalty", body.frequency_penalty),
        ("gen_ai.request.presence_penalty", body.presence_penalty),
    ):
        if _number(value):
            found[key] = float(value)
    for value in (body.max_completion_tokens, body.max_tokens, body.max_output_tokens):
        if _number(value):
            found["gen_ai.request.max_tokens"] = int(value)
            break
    if isinstance(body.seed, int) and not isinstance(body.seed, bool):
        found["gen_ai.request.seed"] = body.seed
    if isinstance(body.n, int) and not isinstance(body.n, bool) and body.n != 1:
        found["gen_ai.request.choice.count"] = body.n
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        found["gen_ai.request.stop_sequences"] = stop
    if isinstance(body.response_format, dict):
        kind = body.response_format.get("type")
        if kind in ("json_schema", "json_object"):
            found["gen_ai.output.type"] = "json"
        elif kind == "text":
            found["gen_ai.output.type"] = "text"
    return found


def _route(path: str) -> str:
    """The path with its ids as placeholders (``url.template``)."""
    if path.startswith(_COMPLETION_PREFIX):
        _, slash, rest = path[len(_COMPLETION_PREFIX) :].partition("/")
        return f"{_COMPLETION_PREFIX}{{completion_id}}{slash}{rest}"
    return path


def _usage_attributes(usage: Any) -> dict[str, int]:
    """Token counts of a chat ``Usage`` or a Responses usage."""
    if usage is None:
        return {}
    found: dict[str, int] = {}
    chat = hasattr(usage, "prompt_tokens")
    inputs = usage.prompt_tokens if chat else getattr(usage, "input_tokens", None)
    outputs = usage.completion_tokens if chat else getattr(usage, "output_tokens", None)
    if isinstance(inputs, int):
        found["gen_ai.usage.input_tokens"] = inputs
    if isinstance(outputs, int):
        found["gen_ai.usage.output_tokens"] = outputs
    input_details = getattr(usage, "prompt_tokens_details" if chat else "input_tokens_details", None)
    cached = getattr(input_details, "cached_tokens", None)
    if isinstance(cached, int):
        found["gen_ai.usage.cache_read.input_tokens"] = cached
    output_details = getattr(
        usage, "completion_tokens_details" if chat else "output_tokens_details", None
    )
    reasoning = getattr(output_details, "reasoning_tokens", None)
    if isinstance(reasoning, int):
        found["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return found


class OpenTelemetryHooks(Hooks):
    """Spans, span events and metrics of every call, after the GenAI semantic
    conventions (see the module's doc for what is recorded).

    ``tracer_provider`` and ``meter_provider`` default to the global ones (no-ops until
    an SDK is configured). ``propagate`` sends the trace context with each request.
    ``provider_name`` is the ``gen_ai.provider.name`` recorded (``"openai"``: the
    router's API).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        propagate: bool = True,
        provider_name: str = "openai",
    ) -> None:
        self._tracer = trace.get_tracer(
            "sudo_stream", __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter("sudo_stream", __version__, meter_provider, schema_url=SCHEMA_URL)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streaming response.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._propagate = propagate
        self._provider = provider_name

    # -- the hooks ------------------------------------------------------------------------

    def on_request(self, call: CallInfo, request: httpx.Request) -> None:
        """Start the call's span at its first attempt; send the trace context."""
        span: Span | None = call.state.get(_SPAN)
        if span is None:
            span = self._start(call, request)
        if self._propagate:
            propagate.inject(request.headers, context=trace.set_span_in_context(span))

    def on_response(self, call: CallInfo, response: httpx.Response) -> None:
        """Note each attempt's status."""
        span: Span | None = call.state.get(_SPAN)
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)

    def on_retry(self, call: CallInfo, retry: RetryInfo) -> None:
        """A ``sudo_stream.retry`` event; the resend count."""
        span: Span | None = call.state.get(_SPAN)
        if span is None:
            return
        attributes: dict[str, AttributeValue] = {
            "sudo_stream.retry.attempt": retry.attempt,
            "sudo_stream.retry.wait": retry.wait,
            "error.type": type(retry.error).__qualname__,
        }
        status = getattr(retry.error, "status_code", None)
        if isinstance(status, int):
            attributes["http.response.status_code"] = status
        span.add_event("sudo_stream.retry", attributes)
        span.set_attribute("http.request.resend_count", retry.attempt - 1)

    def on_first_event(self, call: CallInfo, seconds: float) -> None:
        """A ``sudo_stream.first_chunk`` event with the time to the first chunk."""
        span: Span | None = call.state.get(_SPAN)
        if span is None:
            return
        call.state[_FIRST] = seconds
        span.set_attribute("gen_ai.response.time_to_first_chunk", seconds)
        span.add_event("sudo_stream.first_chunk", {"gen_ai.response.time_to_first_chunk": seconds})

    def on_finish(self, call: CallInfo, outcome: CallOutcome) -> None:
        """The answer's attributes and metrics; the span ends."""
        span: Span | None = call.state.pop(_SPAN, None)
        if span is None:
            return
        answer: dict[str, AttributeValue] = {"http.response.status_code": outcome.status_code}
        if outcome.response_model:
            answer["gen_ai.response.model"] = outcome.response_model
        if outcome.response_id:
            answer["gen_ai.response.id"] = outcome.response_id
        if outcome.finish_reasons:
            answer["gen_ai.response.finish_reasons"] = list(outcome.finish_reasons)
        if call.stream:
            answer["sudo_stream.stream.complete"] = outcome.complete
        usage = _usage_attributes(outcome.usage)
        span.set_attributes({**answer, **usage})
        span.end()
        self._record(call, outcome.elapsed, outcome.response_model, None, usage)

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        """The exception on the span, status ERROR; the span ends."""
        span: Span | None = call.state.pop(_SPAN, None)
        if span is not None:
            self._fail(call, span, error)

    def on_end(self, call: CallInfo, error: BaseException | None) -> None:
        """End a span neither ``on_finish`` nor ``on_error`` ended: a cancelled call, or
        one a hook's exception ended."""
        span: Span | None = call.state.pop(_SPAN, None)
        if span is None:
            return
        if error is None:
            span.end()
        elif isinstance(error, anyio.get_cancelled_exc_class()):
            span.set_attribute("sudo_stream.cancelled", True)
            if call.stream:
                span.set_attribute("sudo_stream.stream.complete", False)
            span.end()
        else:
            self._fail(call, span, error)

    # -- inside ---------------------------------------------------------------------------

    def _start(self, call: CallInfo, request: httpx.Request) -> Span:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        genai = _GENAI_OPERATIONS.get((call.method, call.path))
        attributes: dict[str, AttributeValue] = {
            "server.address": url.host,
            "server.port": port,
        }
        if genai is None:
            route = _route(call.path)
            name = f"{call.method} {route}"
            attributes.update(
                {"http.request.method": call.method, "url.full": str(url), "url.template": route}
            )
        else:
            operation, api_type = genai
            name = f"{operation} {call.model}" if call.model else operation
            attributes["gen_ai.operation.name"] = operation
            attributes["gen_ai.provider.name"] = self._provider
            if call.model:
                attributes["gen_ai.request.model"] = call.model
            if call.stream:
                attributes["gen_ai.request.stream"] = True
            if api_type is None:
                attributes["gen_ai.output.type"] = "image"
            else:
                attributes["openai.api.type"] = api_type
                if request.content:
                    attributes.update(_request_attributes(request.content))
            call.state[_METRIC] = {
                key: attributes[key]
                for key in (
                    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                    "server.address", "server.port",
                )
                if key in attributes
            }  # fmt: skip
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        call.state[_SPAN] = span
        return span

    def _fail(self, call: CallInfo, span: Span, error: BaseException) -> None:
        error_type = type(error).__qualname__
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            span.set_attribute("http.response.status_code", status)
        span.set_attribute("error.type", error_type)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) or error_type))
        span.end()
        self._record(call, time.monotonic() - call.started, None, error_type, {})

    def _record(
        self,
        call: CallInfo,
        elapsed: float,
        response_model: str | None,
        error_type: str | None,
        usage: Mapping[str, int],
    ) -> None:
        """The call's metrics (GenAI calls only)."""
        base: dict[str, AttributeValue] | None = call.state.pop(_METRIC, None)
        if base is None:
            return
        attributes = dict(base)
        if response_model:
            attributes["gen_ai.response.model"] = response_model
        first = call.state.get(_FIRST)
        if error_type is not None:
            self._duration.record(elapsed, {**attributes, "error.type": error_type})
        else:
            self._duration.record(elapsed, attributes)
        if first is not None:
            self._first_chunk.record(first, attributes)
        for kind, key in (
            ("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens"),
        ):  # fmt: skip
            if key in usage:
                self._tokens.record(usage[key], {**attributes, "gen_ai.token.type": kind})
