"""A fake Sudo API server on a real socket, for testing clients of the Sudo API.

It speaks HTTP/1.1 (h11, keep-alive, chunked streams) on anyio, so it runs the same under
asyncio and trio, and it imports no HTTP client::

    from sudo_stream import testing

    async with testing.FakeSudoServer() as server:
        server.enqueue(
            testing.Error(429, headers=[("Retry-After", "1")]),
            testing.Stream(testing.text_chunks("Hello there", model="gpt-4o"), piece_size=7),
        )
        ...  # point the client at server.url; inspect server.requests and server.stats

Blocking code uses ``with testing.serve_in_thread() as server:``; a terminal uses
``python -m sudo_stream.testing --port 8000``.

Without a script, a chat request gets ``DEFAULT_REPLY``; one with ``tools`` gets a call to
the first (or the one ``tool_choice`` names) with arguments that fit its schema, and after
tool results an answer that repeats them; one with a ``json_schema`` response format, an
instance of the schema.

Scripted responses: :class:`Stream` (with :class:`StallItem` and :class:`Drop` items for
mid-stream faults), :class:`JSON`, :class:`Error`, :class:`Stall`, :class:`Drop`,
:class:`Endless`, :class:`Raw`. Chunk builders: :func:`text_chunks`,
:func:`tool_call_chunks`, and :func:`completion_from_chunks` for the expected result.

The Responses API (``POST /v1/responses``, plain and streamed; ``GET /v1/responses/{id}``
after ``store: true``): :func:`response_events` builds a stream's events,
:func:`response_stream` scripts them as OpenAI sends them (``event:`` lines, no
``[DONE]``), and :func:`final_response` is the response object they end with::

    server.enqueue(testing.response_stream(testing.response_events("Hi!")), path="/v1/responses")

Rate limits: ``FakeSudoServer(rate_limit=RateLimit(rpm=..., tpm=...))`` enforces them per
API key with OpenAI's 429s and ``x-ratelimit-*`` headers; ``server.rate_limit_log`` tells
what each key sent (:class:`RateLimitLog`, :class:`KeyUsage`, :class:`RateLimitEntry`).
"""

from ._chunks import completion_from_chunks, split_words, text_chunks, tool_call_chunks
from ._endpoints import DEFAULT_MODELS, DEFAULT_REPLY, TINY_PNG_B64
from ._play import error_body
from ._ratelimit import KeyUsage, RateLimit, RateLimitEntry, RateLimitLog
from ._records import RecordedRequest, ServerStats
from ._responses import (
    JSON,
    Drop,
    Endless,
    Error,
    Raw,
    ScriptedResponse,
    Stall,
    StallItem,
    Stream,
    StreamItem,
)
from ._responses_api import final_response, response_events, response_stream
from ._server import FakeSudoServer
from ._thread import serve_in_thread

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_REPLY",
    "JSON",
    "TINY_PNG_B64",
    "Drop",
    "Endless",
    "Error",
    "FakeSudoServer",
    "KeyUsage",
    "RateLimit",
    "RateLimitEntry",
    "RateLimitLog",
    "Raw",
    "RecordedRequest",
    "ScriptedResponse",
    "ServerStats",
    "Stall",
    "StallItem",
    "Stream",
    "StreamItem",
    "completion_from_chunks",
    "error_body",
    "final_response",
    "response_events",
    "response_stream",
    "serve_in_thread",
    "split_words",
    "text_chunks",
    "tool_call_chunks",
]
