"""The clients under test, each behind one small driver with the same two calls.

A driver opens its library's client once (``async with``), then:

- :meth:`Driver.drain` reads a whole stream the way a user of that library would and
  returns what it got: chunks for the iterating clients, bytes for the raw drain, or the
  length of the assembled text and tool arguments for the accumulating ones (the caller
  checks it against the stream);
- :meth:`Driver.first` does the same and also returns the seconds from the call to the
  first chunk (``None`` where a driver hands out nothing before the end).

Every driver sends the same request body (plus the tool definition on the tool stream) to
``POST /v1/chat/completions``, picks its stream with the ``x-bench-stream`` header, keeps
its connections alive, allows 2,000 connections (so 1,000 concurrent streams really run
at once), has retries off and no read timeout. Libraries are imported only when their
driver is opened, so a worker process holds only what it measures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

MESSAGES = [{"role": "user", "content": "Stream me a long answer."}]
MODEL = "gpt-4o-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "save_items",
            "description": "Save a list of items.",
            "parameters": {
                "type": "object",
                "properties": {"items": {"type": "array", "items": {"type": "string"}}},
                "required": ["items"],
            },
        },
    }
]
MAX_CONNECTIONS = 2_000
COUNTS_CHUNKS = "chunks"
COUNTS_BYTES = "bytes"
COUNTS_TEXT = "text"


def _tools(stream: str) -> dict[str, Any]:
    """The ``tools`` keyword on the tool stream, nothing otherwise (never an explicit null)."""
    return {"tools": TOOLS} if stream == "tool" else {}


def _header(stream: str) -> dict[str, str]:
    return {"x-bench-stream": stream}


def _text_length(message: Any) -> int:
    """Characters of content plus tool-call arguments of an assembled message."""
    size = len(message.content or "")
    for call in message.tool_calls or ():
        size += len(call.function.arguments)
    return size


class Driver:
    """One client library, opened once per worker; subclasses fill in the three hooks."""

    name = ""
    """Short id, used on the command line and in result files."""
    label = ""
    """What the tables call it."""
    library = ""
    """The package it measures (for the versions table)."""
    counts = COUNTS_CHUNKS
    """What :meth:`drain` returns: chunks, bytes, or assembled text length."""
    backends: frozenset[str] = frozenset({"asyncio", "trio"})
    """The event loops the library supports."""
    unsupported_note = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Driver:
        await self.open(self._stack)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def open(self, stack: AsyncExitStack) -> None:
        """Create the library's client; register its closing on ``stack``."""
        raise NotImplementedError

    async def drain(self, stream: str) -> int:
        """Read the whole stream; return what :attr:`counts` says."""
        return (await self.first(stream))[1]

    async def first(self, stream: str) -> tuple[float | None, int]:
        """Read the whole stream; return (seconds to the first chunk, :meth:`drain`'s value)."""
        raise NotImplementedError


def _httpx_client() -> Any:
    import httpx

    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.AsyncClient(timeout=None, limits=limits, follow_redirects=True)


def _body(stream: str) -> bytes:
    body: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "stream": True}
    if stream == "tool":
        body["tools"] = TOOLS
    return json.dumps(body).encode()


class Raw(Driver):
    """httpx ``aiter_raw()``, bytes counted and dropped: httpx's own limit."""

    name, label, library, counts = "raw", "raw httpx aiter_raw()", "httpx", COUNTS_BYTES

    async def open(self, stack: AsyncExitStack) -> None:
        self.client = await stack.enter_async_context(_httpx_client())
        self.endpoint = self.url + "/v1/chat/completions"

    async def first(self, stream: str) -> tuple[float | None, int]:
        headers = {**_header(stream), "content-type": "application/json"}
        start = time.perf_counter()
        first = None
        size = 0
        async with self.client.stream(
            "POST", self.endpoint, content=_body(stream), headers=headers
        ) as response:
            async for piece in response.aiter_raw():
                if first is None:
                    first = time.perf_counter() - start
                size += len(piece)
        return first, size


class HttpxSSE(Driver):
    """httpx-sse's ``aiter_sse()`` and ``json.loads`` of every event."""

    name, label, library = "httpx-sse", "httpx-sse + json", "httpx-sse"

    async def open(self, stack: AsyncExitStack) -> None:
        import httpx_sse

        self.connect = httpx_sse.aconnect_sse
        self.client = await stack.enter_async_context(_httpx_client())
        self.endpoint = self.url + "/v1/chat/completions"

    async def first(self, stream: str) -> tuple[float | None, int]:
        loads = json.loads
        start = time.perf_counter()
        first = None
        count = 0
        headers = {**_header(stream), "content-type": "application/json"}
        async with self.connect(
            self.client, "POST", self.endpoint, content=_body(stream), headers=headers
        ) as source:
            async for event in source.aiter_sse():
                if event.data == "[DONE]":
                    continue  # read on to the end, so that the connection is reused
                loads(event.data)
                if first is None:
                    first = time.perf_counter() - start
                count += 1
        return first, count


class _OpenAI(Driver):
    library = "openai"

    async def open(self, stack: AsyncExitStack) -> None:
        import httpx2
        import openai

        limits = httpx2.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        )
        http_client = openai.DefaultAsyncHttpxClient(timeout=None, limits=limits)
        self.client = openai.AsyncOpenAI(
            api_key="sk-bench", base_url=self.url + "/v1", max_retries=0, http_client=http_client
        )
        stack.push_async_callback(self.client.close)

    def _kwargs(self, stream: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "messages": MESSAGES,
            "extra_headers": _header(stream),
            **_tools(stream),
        }
        return kwargs


class OpenAIStream(_OpenAI):
    """``AsyncOpenAI().chat.completions.create(stream=True)``, iterated."""

    name, label = "openai", "openai-python stream"

    async def first(self, stream: str) -> tuple[float | None, int]:
        start = time.perf_counter()
        first = None
        count = 0
        response = await self.client.chat.completions.create(stream=True, **self._kwargs(stream))
        async with response:
            async for _ in response:
                if first is None:
                    first = time.perf_counter() - start
                count += 1
        return first, count


class OpenAIHelper(_OpenAI):
    """``AsyncOpenAI().chat.completions.stream()``: its events, then the final completion."""

    name, label, counts = "openai-helper", "openai-python .stream() helper", COUNTS_TEXT

    async def first(self, stream: str) -> tuple[float | None, int]:
        start = time.perf_counter()
        first = None
        async with self.client.chat.completions.stream(**self._kwargs(stream)) as events:
            async for _ in events:
                if first is None:
                    first = time.perf_counter() - start
            final = await events.get_final_completion()
        return first, _text_length(final.choices[0].message)


class SudoAI(Driver):
    """sudo-ai 0.2: ``Sudo().router.create_streaming_async``, iterated."""

    name, label, library = "sudo-ai", "sudo-ai stream", "sudo-ai"
    backends = frozenset({"asyncio"})
    unsupported_note = "asyncio only: its retry loop calls asyncio.sleep"

    async def open(self, stack: AsyncExitStack) -> None:
        import sudo_ai

        http_client = await stack.enter_async_context(_httpx_client())
        self.client = sudo_ai.Sudo(
            server_url=self.url, api_key="sk-bench", async_client=http_client
        )

    async def first(self, stream: str) -> tuple[float | None, int]:
        start = time.perf_counter()
        first = None
        count = 0
        response = await self.client.router.create_streaming_async(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            http_headers=_header(stream),
            **_tools(stream),
        )
        async with response as chunks:
            async for _ in chunks:
                if first is None:
                    first = time.perf_counter() - start
                count += 1
        return first, count


class _Ours(Driver):
    library = "sudo-stream"

    async def open(self, stack: AsyncExitStack) -> None:
        import sudo_stream

        self.client = await stack.enter_async_context(
            sudo_stream.AsyncSudo(api_key="sk-bench", server_url=self.url, retries=0)
        )

    def _open(self, stream: str) -> Any:
        return self.client.router.create_streaming(
            model=MODEL, messages=MESSAGES, extra_headers=_header(stream), **_tools(stream)
        )


class Ours(_Ours):
    """``AsyncSudo().router.create_streaming()``, iterated: typed chunks."""

    name, label = "sudo_stream", "sudo_stream iteration"

    async def first(self, stream: str) -> tuple[float | None, int]:
        start = time.perf_counter()
        first = None
        count = 0
        async with self._open(stream) as chunks:
            async for _ in chunks:
                if first is None:
                    first = time.perf_counter() - start
                count += 1
        return first, count


class OursFinal(_Ours):
    """``await stream.final_completion()``: the assembled completion, no iteration."""

    name, label, counts = "sudo_stream-final", "sudo_stream final_completion()", COUNTS_TEXT

    async def first(self, stream: str) -> tuple[float | None, int]:
        async with self._open(stream) as chunks:
            final = await chunks.final_completion()
        return None, _text_length(final.choices[0].message)


class OursEvents(_Ours):
    """``async for event in stream.events()``: typed events, then the completion."""

    name, label, counts = "sudo_stream-events", "sudo_stream events()", COUNTS_TEXT

    async def first(self, stream: str) -> tuple[float | None, int]:
        start = time.perf_counter()
        first = None
        async with self._open(stream) as chunks:
            async for _ in chunks.events():
                if first is None:
                    first = time.perf_counter() - start
            final = chunks.current_completion()
        return first, _text_length(final.choices[0].message)


DRIVERS: dict[str, Callable[[str], Driver]] = {
    d.name: d
    for d in (Raw, HttpxSSE, OpenAIStream, OpenAIHelper, SudoAI, Ours, OursFinal, OursEvents)
}
"""Every driver, by name, in table order."""


def supports(name: str, backend: str) -> bool:
    """Whether the driver ``name`` runs on ``backend``."""
    return backend in DRIVERS[name].backends  # type: ignore[attr-defined]
