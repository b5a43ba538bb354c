"""``FakeSudoServer``: the fake Sudo API on a real TCP socket, for one ``async with`` block."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from ._api import CHAT_PATH, FakeAPI
from ._connection import serve_connection
from ._endpoints import DEFAULT_MODELS, DEFAULT_REPLY
from ._ratelimit import RateLimit, RateLimiter, RateLimitLog
from ._records import RecordedRequest, ServerState, ServerStats
from ._responses import ScriptedResponse

_HANDSHAKE_TIMEOUT = 10.0


class FakeSudoServer:
    """A fake Sudo API server: HTTP/1.1 (h11) on anyio, for asyncio and trio alike.

    ``async with FakeSudoServer() as server`` binds ``host:port`` (port 0: a free one) and
    serves every connection in a task group until the block exits, when every connection
    is cancelled and closed. Point the client at :attr:`url`.

    ``POST /v1/chat/completions`` answers with the responses given to :meth:`enqueue`, in
    order, then with a default reply (``reply``, as a stream or as JSON per the request's
    ``stream`` flag, echoing its model). Stored completions, images, models and health
    are served from memory. With ``api_key``, requests without ``Authorization: Bearer
    <api_key>`` get a 401. ``send_buffer_size`` sets ``SO_SNDBUF`` on accepted sockets, to
    bound how much gets written while a client does not read.

    With ``ssl_context`` (a server-side ``ssl.SSLContext``: its certificate, and
    ``verify_mode = ssl.CERT_REQUIRED`` with a CA to ask clients for theirs) it speaks
    HTTPS, and :attr:`url` is an ``https://`` URL. A client that fails the handshake gets
    the TLS alert saying why and is dropped; :attr:`handshake_errors` lists them.

    With ``rate_limit`` (a :class:`RateLimit`) it enforces RPM/TPM per API key (per
    ``Authorization`` value) on every request past the auth check, as the Sudo API does:
    each answer carries ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers,
    and a request over the limit gets a 429 with ``retry-after``/``retry-after-ms`` (it
    consumes no scripted response and stores nothing). :attr:`rate_limit_log` tells what
    each key sent and was refused.

    ``host`` should be an IP address: a name resolving to several addresses gets one
    listener per address, each on its own port when ``port`` is 0.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        send_buffer_size: int | None = None,
        reply: str = DEFAULT_REPLY,
        models: Sequence[str] = DEFAULT_MODELS,
        ssl_context: ssl.SSLContext | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._host = host
        self._ssl_context = ssl_context
        self._handshake_errors: list[Exception] = []
        self._handshakes = 0
        self._port = port
        self._limiter = None if rate_limit is None else RateLimiter(rate_limit)
        self._api = FakeAPI(api_key=api_key, reply=reply, models=models, limiter=self._limiter)
        self._state = ServerState()
        self._send_buffer_size = send_buffer_size
        self._stack: AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._bound_port: int | None = None

    async def __aenter__(self) -> FakeSudoServer:
        if self._stack is not None:
            raise RuntimeError("this FakeSudoServer is already running")
        async with AsyncExitStack() as stack:
            listener = await anyio.create_tcp_listener(local_host=self._host, local_port=self._port)
            await stack.enter_async_context(listener)
            self._bound_port = listener.extra(anyio.abc.SocketAttribute.local_port)
            group = await stack.enter_async_context(anyio.create_task_group())
            group.start_soon(listener.serve, self._serve, group)
            self._task_group = group
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, group = self._stack, self._task_group
        if stack is None or group is None:
            return
        self._stack = self._task_group = None
        group.cancel_scope.cancel()
        # The block's own exception propagates as it is, not wrapped in an exception group.
        await stack.__aexit__(None, None, None)

    async def _serve(self, tcp: anyio.abc.SocketStream) -> None:
        stream: anyio.abc.ByteStream = tcp
        if self._ssl_context is not None:
            self._handshakes += 1
            try:
                with anyio.fail_after(_HANDSHAKE_TIMEOUT):
                    # Clients may close without a TLS close_notify, as HTTP/1.1 allows.
                    stream = await _AlertingTLSStream.wrap(
                        tcp, server_side=True, ssl_context=self._ssl_context, standard_compatible=False
                    )
            except BaseException as exc:
                await anyio.aclose_forcefully(tcp)
                if not isinstance(exc, Exception):  # cancelled: the server is closing
                    raise
                self._handshake_errors.append(exc)  # the client's doing (its certificate, ...)
                return
            finally:
                self._handshakes -= 1
        await serve_connection(self._state, self._api, self._send_buffer_size, stream)

    @property
    def handshakes_in_progress(self) -> int:
        """TLS handshakes under way (with an ``ssl_context``): once it is 0 after a client
        gave up, :attr:`handshake_errors` holds every failure of its attempts."""
        return self._handshakes

    @property
    def handshake_errors(self) -> list[Exception]:
        """Why TLS handshakes failed (with an ``ssl_context``), in order: each is a client
        turned away, so these are not :attr:`errors` of the server's own."""
        return self._handshake_errors

    @property
    def host(self) -> str:
        """The host the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (``RuntimeError`` before the server starts)."""
        if self._bound_port is None:
            raise RuntimeError("the FakeSudoServer is not running; use `async with`")
        return self._bound_port

    @property
    def url(self) -> str:
        """The base URL for the client, e.g. ``http://127.0.0.1:54321`` (no trailing slash;
        ``https://`` with an ``ssl_context``)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    def enqueue(
        self, *responses: ScriptedResponse, method: str = "POST", path: str = CHAT_PATH
    ) -> None:
        """Script the next responses to ``method path`` (default: chat completions), FIFO.

        ``path`` is compared with the request path as sent (percent-encoded, no query).
        Requests failing auth or with a malformed JSON body do not consume a response.
        """
        self._api.enqueue(responses, method, path)

    @property
    def pending_responses(self) -> int:
        """How many enqueued responses have not been consumed by a request yet."""
        return self._api.pending()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (the live list)."""
        return self._state.requests

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the connection and byte counters, taken now."""
        return self._state.snapshot()

    @property
    def rate_limit_log(self) -> RateLimitLog:
        """What each API key sent under the ``rate_limit``: admitted and refused requests,
        tokens, the busiest window (``RuntimeError`` without a ``rate_limit``)."""
        if self._limiter is None:
            raise RuntimeError("this FakeSudoServer has no rate_limit")
        return self._limiter.log

    @property
    def errors(self) -> list[Exception]:
        """Unexpected exceptions inside the server (its own bugs); client disconnects are not."""
        return self._state.errors

    def store_completion(
        self, completion: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Seed a stored completion (and its request messages); return it as stored.

        An ``id`` is generated if missing, ``metadata`` defaults to ``{}`` and each message
        without an ``id`` gets ``<completion id>-<n>``; what the API always sends is filled
        in (see ``CompletionStore.add``), so the stored completion answers as the API does.
        """
        return self._api.store.add(completion, messages)

    @property
    def stored_completions(self) -> list[dict[str, Any]]:
        """Copies of the stored completions, oldest first."""
        return self._api.store.all()



class _AlertingTLSStream(TLSStream):
    """anyio's TLS stream, but a handshake that fails sends its TLS alert before the
    connection is dropped (anyio leaves it unsent), as a real server does: the client
    then learns why ("certificate required", "unknown CA") instead of seeing an EOF."""

    async def _call_sslobject_method(self, func: Any, *args: Any) -> Any:  # type: ignore[override]
        try:
            return await super()._call_sslobject_method(func, *args)
        except ssl.SSLError:
            alert = self._write_bio.read()
            if alert:
                with contextlib.suppress(Exception):  # the client is gone already
                    await self.transport_stream.send(alert)
            raise
