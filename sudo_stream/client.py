"""AsyncSudo, the client."""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import httpx
import msgspec

from ._config import RetryConfig, RetryLike, Timeout, TimeoutLike
from ._deadline import Deadline
from ._event_stream import S, open_event_stream
from ._logs import configure_from_environment
from ._params import CallOptions
from ._raw import note_response
from ._retry import call_with_retries
from ._tls import CertTypes, TLSSettings, VerifyTypes
from ._transport import DEFAULT_SERVER_URL, Transport, close_response, redact
from .errors import APIResponseValidationError, APITimeoutError
from .hooks import CallInfo, CallOutcome, HookRunner, Hooks
from .models._lenient import decode_lenient
from .responses import AsyncResponses
from .router import AsyncRouter

T = TypeVar("T")

_DEFAULT_RETRIES = RetryConfig()
_DEFAULT_TIMEOUT = Timeout()
DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A decoded answer with the response it came in (its head: status and headers) and
    its body as received (decoded from any content coding)."""

    value: T
    response: httpx.Response
    body: bytes


def _status(value: Any) -> tuple[str, ...]:
    """A Responses answer's status, standing for its finish reason."""
    status = getattr(value, "status", None)
    return (status,) if isinstance(status, str) else ()


class _Keep:
    """The default of an option :meth:`AsyncSudo.with_options` leaves as it is (``None``
    means something for ``retries``: no retries)."""

    def __repr__(self) -> str:
        return "<as it is>"


_KEEP = _Keep()


class AsyncSudo:
    """Async client of the Sudo API. Runs on asyncio and trio.

    ``api_key`` falls back to ``$SUDO_API_KEY`` and ``server_url`` to ``$SUDO_SERVER_URL``
    (default ``https://sudoapp.dev/api``). ``retries`` is a :class:`RetryConfig` (or a
    number of retries); ``timeout`` a :class:`Timeout` or seconds. Bring your own
    ``http_client`` to share a pool; it is not closed by :meth:`aclose`.

    Memory is bounded whatever the server sends: ``max_event_size`` bounds one SSE event
    (default 4 MiB) and ``max_response_size`` the bytes of one answer, decoded, a stream's
    included (default 64 MiB); past them a stream raises :class:`StreamError` and any other
    call :class:`APIResponseValidationError`, naming the limit. Compressed bodies are
    decoded a step at a time, so a small gzip, deflate, br or zstd body cannot inflate past
    the limit either, and the client asks (``Accept-Encoding``) only for codings it decodes so.

    At most ``max_connections`` connections are open at once (default 1,000; ``None``:
    no limit): a call beyond them waits for one to be free, within the ``connect`` time
    bound. It applies to the client's own connections (and to httpx's when a proxy is
    used), not to a borrowed ``http_client``, which has limits of its own.

    TLS: ``verify`` is ``True`` (certifi's CA bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), ``False`` (no verification at all), the path of a CA file or
    directory (then these CAs alone are trusted, as in httpx), or a ready
    ``ssl.SSLContext`` (used as it is, but offering HTTP/1.1 by ALPN).
    ``system_trust_store=True`` verifies with the operating system's trust store instead,
    plus a CA path given as ``verify``: on macOS and Windows through the system's own API
    (the ``truststore`` package: ``pip install 'sudo-stream[truststore]'``), elsewhere
    with the system's CA bundle, loaded once. ``cert`` is a client certificate, for servers that ask for
    one (mTLS): a PEM file with the certificate and its key, ``(certfile, keyfile)`` or
    ``(certfile, keyfile, password)``. Files are checked when the client is made and read
    in a worker thread at the first connection; with ``http_client``, configure that
    client instead.

    Use it as ``async with AsyncSudo() as sudo:``, or call :meth:`aclose` when done.
    """

    router: AsyncRouter
    responses: AsyncResponses

    def __init__(
        self,
        api_key: str | None = None,
        server_url: str | None = None,
        *,
        retries: RetryLike = _DEFAULT_RETRIES,
        timeout: TimeoutLike = _DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        system_trust_store: bool = False,
        hooks: Hooks | Sequence[Hooks] | None = None,
    ) -> None:
        configure_from_environment()
        tls = TLSSettings.of(verify, cert, system_trust_store)
        if api_key is None:
            api_key = os.environ.get("SUDO_API_KEY")
        if server_url is None:
            server_url = os.environ.get("SUDO_SERVER_URL") or DEFAULT_SERVER_URL
        for name, size in (
            ("max_event_size", max_event_size),
            ("max_response_size", max_response_size),
        ):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if max_connections is not None and (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise ValueError(f"max_connections must be a positive int or None, got {max_connections!r}")
        self._transport = Transport(
            api_key=api_key or None,
            server_url=server_url,
            http_client=http_client,
            default_headers=default_headers,
            max_connections=max_connections,
            tls=tls,
        )
        self._api_key = api_key or None
        self._retries = RetryConfig.of(retries)
        self._timeout = Timeout.of(timeout)
        self._hooks = HookRunner.of(hooks)
        self._max_event_size = max_event_size
        self._max_response_size = max_response_size
        self._closed = False
        self.router = AsyncRouter(self)
        self.responses = AsyncResponses(self)

    @property
    def server_url(self) -> str:
        """The base URL requests go to."""
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"AsyncSudo(server_url={self.server_url!r}, api_key={redact(self._api_key)})"

    def with_options(
        self,
        *,
        retries: RetryLike | _Keep = _KEEP,
        timeout: TimeoutLike | _Keep = _KEEP,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncSudo:
        """This client with other defaults, on the same connections: its own retry policy,
        time bounds, and ``default_headers`` added over this one's. Closing it leaves the
        connections open (closing this client closes them, for both)::

            patient = sudo.with_options(timeout=600, retries=5)
            await patient.router.create(...)
        """
        twin = copy.copy(self)
        if not isinstance(retries, _Keep):
            twin._retries = RetryConfig.of(retries)
        if not isinstance(timeout, _Keep):
            twin._timeout = Timeout.of(timeout)
        twin._transport = self._transport.shared(default_headers)
        twin.router = AsyncRouter(twin)
        twin.responses = AsyncResponses(twin)
        return twin

    async def aclose(self) -> None:
        """Close the connection pool (unless it was brought with ``http_client``)."""
        self._closed = True
        await self._transport.aclose()

    def __del__(self) -> None:
        # Collected unclosed with connections open: close them now and say so, as the
        # standard library does with files. A client that never connected holds nothing.
        if getattr(self, "_closed", True):
            return
        self._closed = True
        open_connections = self._transport.abandon()
        if open_connections:
            warnings.warn(
                f"unclosed {self!r} with {open_connections} open connection(s): use "
                "`async with AsyncSudo() as sudo:` or call aclose()",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    async def __aenter__(self) -> AsyncSudo:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- used by the router ------------------------------------------------------------

    def _options(self, options: CallOptions) -> tuple[RetryConfig, Timeout]:
        retries = RetryConfig.of(options["retries"]) if "retries" in options else self._retries
        timeout = Timeout.of(options["timeout"]) if "timeout" in options else self._timeout
        return retries, timeout

    def _build(
        self,
        method: str,
        path: str,
        timeout: Timeout,
        options: CallOptions,
        *,
        query: Sequence[tuple[str, str]] = (),
        content: bytes | None = None,
        accept: str | None = None,
    ) -> httpx.Request:
        params = list(query)
        extra_query = options.get("extra_query")
        if extra_query:
            params.extend((str(k), str(v)) for k, v in extra_query.items())
        return self._transport.build(
            method,
            path,
            timeout=timeout,
            params=params,
            content=content,
            headers=options.get("extra_headers"),
            accept=accept,
        )

    async def _execute(
        self,
        method: str,
        path: str,
        result_type: type[T],
        *,
        options: CallOptions,
        query: Sequence[tuple[str, str]] = (),
        content: bytes | None = None,
        decode: Callable[[bytes], T] | None = None,
    ) -> T:
        """Send a request (with retries) and decode its JSON answer as ``result_type``
        (with ``decode`` when the type needs its own decoding)."""
        answer = await self._execute_raw(
            method, path, result_type, options=options, query=query, content=content,
            decode=decode,
        )  # fmt: skip
        return answer.value

    async def _execute_raw(
        self,
        method: str,
        path: str,
        result_type: type[T],
        *,
        options: CallOptions,
        query: Sequence[tuple[str, str]] = (),
        content: bytes | None = None,
        decode: Callable[[bytes], T] | None = None,
    ) -> Answer[T]:
        """:meth:`_execute`, keeping the response head and the body as it came."""
        hooks = self._hooks
        if hooks is None:
            return await self._send_call(
                method, path, result_type, options=options, query=query, content=content,
                decode=decode, hooks=None, call=None,
            )  # fmt: skip
        call = hooks.call(method, path, content, stream=False)
        try:
            answer = await self._send_call(
                method, path, result_type, options=options, query=query, content=content,
                decode=decode, hooks=hooks, call=call,
            )  # fmt: skip
        except BaseException as exc:
            await hooks.failed(call, exc)
            raise
        value: Any = answer.value
        choices = getattr(value, "choices", None) or ()
        finish_reasons = tuple(c.finish_reason for c in choices if getattr(c, "finish_reason", None))
        response_id = getattr(value, "id", None)
        outcome = CallOutcome(
            complete=True,
            status_code=answer.response.status_code,
            elapsed=time.monotonic() - call.started,
            usage=getattr(value, "usage", None),
            response_model=getattr(value, "model", None),
            finish_reasons=finish_reasons or _status(value),
            response_id=response_id if isinstance(response_id, str) and response_id else None,
        )
        await hooks.succeeded(call, outcome)
        return answer

    async def _send_call(
        self,
        method: str,
        path: str,
        result_type: type[T],
        *,
        options: CallOptions,
        query: Sequence[tuple[str, str]],
        content: bytes | None,
        decode: Callable[[bytes], T] | None,
        hooks: HookRunner | None,
        call: CallInfo | None,
    ) -> Answer[T]:
        retries, timeout = self._options(options)
        transport = self._transport
        started = time.monotonic()
        total_at = None if timeout.total is None else started + timeout.total

        async def attempt() -> Answer[T]:
            deadline = Deadline.for_call(timeout, total_at)
            request = self._build(method, path, timeout, options, query=query, content=content)
            if hooks is not None:
                assert call is not None
                await hooks.request(call, request)
            response = await transport.send(request, deadline)
            if hooks is not None:
                assert call is not None
                try:
                    await hooks.response(call, response)
                except BaseException:
                    await close_response(response)
                    raise
            await transport.check_status(response, deadline)
            body = await transport.read_body(response, deadline, self._max_response_size)
            try:
                if decode is not None:
                    value = decode(body)
                else:
                    try:
                        value = msgspec.json.decode(body, type=result_type)
                    except msgspec.ValidationError:  # a near miss: a null, a number for text
                        value = decode_lenient(body, result_type)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise APIResponseValidationError(
                    f"unexpected answer to {method} {path}: {exc} "
                    f"(body {transport.scrub(body)[:200]!r})",
                    status_code=response.status_code,
                ) from exc
            note_response(response)
            return Answer(value, response, body)

        label = f"{method} {path}"
        on_retry = None if hooks is None or call is None else partial(hooks.retry, call)
        if timeout.total is None:
            return await call_with_retries(attempt, retries, call=label, on_retry=on_retry)
        with anyio.move_on_after(timeout.total) as scope:
            return await call_with_retries(
                attempt, retries, total_at, call=label, on_retry=on_retry
            )
        assert scope.cancelled_caught
        raise APITimeoutError("total", timeout.total, f"on {method} {path}")

    async def _open_stream(
        self,
        path: str,
        content: bytes,
        options: CallOptions,
        make_stream: Callable[..., S],
    ) -> S:
        """Open a stream of server-sent events: ``make_stream`` makes the stream object of
        the response (a :class:`ChatStream`, a Responses stream)."""
        hooks = self._hooks
        if hooks is None:
            return await self._open(path, content, options, make_stream, None, None)
        call = hooks.call("POST", path, content, stream=True)
        try:
            stream = await self._open(path, content, options, make_stream, hooks, call)
        except BaseException as exc:
            await hooks.failed(call, exc)
            raise
        stream._observe(hooks, call)
        if stream._first_at is not None:
            try:
                await hooks.first_event(call, stream._first_at - call.started)
            except BaseException as exc:
                await stream._abort(exc)
                raise
        return stream

    async def _open(
        self,
        path: str,
        content: bytes,
        options: CallOptions,
        make_stream: Callable[..., S],
        hooks: HookRunner | None,
        call: CallInfo | None,
    ) -> S:
        retries, timeout = self._options(options)
        return await open_event_stream(
            self._transport,
            lambda: self._build(
                "POST", path, timeout, options, content=content, accept="text/event-stream"
            ),
            make_stream,
            call=f"POST {path}",
            hooks=hooks,
            call_info=call,
            timeout=timeout,
            retries=retries,
            max_event_size=self._max_event_size,
            max_response_size=self._max_response_size,
        )
