"""The one place that uses httpx to talk to the server: build and send requests, read
bodies, translate httpx's (and httpcore's) errors into ours, keep the API key out of every
repr and message. Below it, :mod:`._http` is the httpx transport of the clients we create
(our HTTP/1.1 connections and pool, :mod:`._h1`) and :mod:`._deadline` its connections'
read deadlines."""

from __future__ import annotations

import copy
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NoReturn

import h11
import httpx
from anyio.lowlevel import checkpoint

from ._config import Timeout
from ._deadline import Deadline, LazyTLS, read_deadline
from ._decoding import Decoder, DecodingError, accept_encoding, decoder_for
from ._http import TRANSPORT_ERRORS, PoolTransport, as_httpx_error, core_body
from ._tls import TLSSettings
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    SudoError,
    TLSCertificateError,
)

DEFAULT_SERVER_URL = "https://sudoapp.dev/api"
DEFAULT_TLS = TLSSettings()
USER_AGENT = f"sudo_stream/{__version__} (python; httpx {httpx.__version__})"

QueryParams = Sequence[tuple[str, str]]
logger = logging.getLogger("sudo_stream.http")
_ERROR_BODY_LIMIT = 1 << 20
_CLOSE_LIMIT = 1.0  # seconds a shielded close may take


def _log_request(request: httpx.Request, started: float, outcome: str) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed = (time.monotonic() - started) * 1000
        logger.debug("%s %s: %s in %.0f ms", request.method, request.url, outcome, elapsed)


def redact(secret: str | None) -> str:
    """A key as it may appear in reprs and logs: only its last four characters."""
    if not secret:
        return "None"
    return f"'***{secret[-4:]}'" if len(secret) > 12 else "'***'"


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


TRANSPORT_HEADERS = frozenset(
    {
        # framing: the transport sets them from the body it sends
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "expect",
        # the connection itself: hop-by-hop, one request at a time, never upgraded
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "http2-settings",
        # the origin of server_url
        "host",
    }
)
"""Headers the transport owns: given by a caller they would contradict the request that
is actually sent (``Transfer-Encoding`` beside ``Content-Length`` is request smuggling's
shape), or ask for a protocol switch the client cannot follow."""


def check_header_name(name: str) -> str:
    """Reject a header name that is not an HTTP token (``:``, spaces, CR, LF, ...), or one
    that the transport owns (:data:`TRANSPORT_HEADERS`). Returns it lowercased."""
    if not isinstance(name, str):
        raise TypeError(f"a header name must be a str, got {type(name).__name__}")
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    lowered = name.lower()
    if lowered in TRANSPORT_HEADERS:
        raise ValueError(
            f"header {name!r} is set by the transport from the request it sends; "
            "it cannot be given in default_headers or extra_headers"
        )
    return lowered


def check_header_value(name: str, value: str) -> str:
    """Reject header values that could inject another header or end the header block (CR,
    LF, NUL and other control characters), and non-ASCII ones, which HTTP cannot carry.

    The message never repeats the value: it may be a secret.
    """
    if not isinstance(value, str):
        raise TypeError(f"header {name!r} must be a str, got {type(value).__name__}")
    if _CONTROL.search(value):
        raise ValueError(f"header {name!r} contains a CR, LF, NUL or other control character")
    if not value.isascii():
        raise ValueError(f"header {name!r} contains a non-ASCII character")
    return value


def normalize_server_url(url: str) -> str:
    """Validate a server URL and drop its trailing slash: http or https, with a host, and
    no credentials, query or fragment. The message never repeats the URL (a key pasted in
    the wrong argument would end up in logs)."""
    if not isinstance(url, str):
        raise TypeError(f"server_url must be a str, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ValueError("server_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            "server_url must be an http:// or https:// URL with a host, "
            "such as https://sudoapp.dev/api"
        )
    if parsed.userinfo:
        raise ValueError("server_url must not hold credentials (user:password@); use api_key")
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        raise ValueError("server_url must not have a query or a fragment")
    return url.rstrip("/")


def media_type(content_type: str) -> str:
    """``Text/Event-Stream; charset=utf-8`` -> ``text/event-stream``."""
    return content_type.partition(";")[0].strip().lower()


def body_reader(response: httpx.Response) -> tuple[AsyncIterator[bytes], Decoder | None]:
    """The body's byte iterator, and the decoder its bytes must go through, if any.

    Raw bytes are cheapest: our connection's body reader when the response came through
    our :class:`PoolTransport` (its errors are httpcore's: catch ``TRANSPORT_ERRORS``), else
    ``response.stream`` (``aiter_raw`` only adds chunking we do not ask for). A compressed
    body is decoded by :func:`decoder_for`'s decoder, in bounded steps; httpx's own
    decoders, which inflate each piece whole, are never used. Only a body that a
    transport has already read whole (``httpx.MockTransport``) is taken as it is.
    Errors read from ``response.stream`` carry no request: pass it to :func:`translate`.
    """
    stream = response.stream
    if response.is_stream_consumed or not isinstance(stream, httpx.AsyncByteStream):
        return response.aiter_bytes(), None
    response.is_stream_consumed = True  # ours now: httpx's readers would raise StreamConsumed
    body = core_body(response) or stream
    return body.__aiter__(), decoder_for(response.headers.get("content-encoding", ""))


def _new_http_client(
    base_url: str = "", tls: TLSSettings = DEFAULT_TLS, max_connections: int | None = None
) -> tuple[httpx.AsyncClient, PoolTransport | None]:
    """The HTTP client a Sudo client makes for itself, and its transport if that is ours
    (whose connections read with our deadlines): our own, unless the environment names a proxy for
    ``base_url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``),
    which httpx's own transport honours and ours does not. Either way with ``tls``."""
    proxy = _environment_proxy(base_url)
    if proxy:
        logger.debug(
            "%s names a proxy for %s: requests go through httpx's own transport (a cancel "
            "scope per read, no read-when-asked memory bound)",
            proxy,
            base_url,
        )
        # httpx builds its TLS context here, on the calling thread, as it always does.
        verify = True if tls.is_default else tls.build()
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=1000)
        client = httpx.AsyncClient(verify=verify, timeout=None, follow_redirects=False, limits=limits)
        return client, None
    transport = PoolTransport(LazyTLS(tls.build), max_connections=max_connections)
    return httpx.AsyncClient(transport=transport, timeout=None, follow_redirects=False), transport


def _environment_proxy(url: str) -> str | None:
    """The environment variable that names a proxy for ``url`` (``HTTPS_PROXY``, ...),
    or None. Never the proxy's URL: it may hold credentials."""
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    scheme = parts.scheme if proxies.get(parts.scheme) else "all" if proxies.get("all") else None
    if scheme is None:
        return None
    # NO_PROXY, as httpx reads it (in CPython's urllib since 2.x; typeshed lacks it)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return None if bypass(parts.hostname or "", proxies) else f"{scheme.upper()}_PROXY"


class RequestBody(httpx.AsyncByteStream):
    """A request body whose iterator is a plain object, not an async generator.

    httpx's own (``ByteStream``) is an async generator: when a send is cancelled or fails
    while the body is being written, httpcore leaves it suspended, and trio warns when it
    is garbage collected. This one has nothing to finalize.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Once(self._data)


class _Once:
    """An async iterator over one piece of bytes."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data = self._data
        if data is None:
            raise StopAsyncIteration
        self._data = None
        return data


class Transport:
    """Sends requests for one client: base URL, auth, user agent, error translation."""

    def __init__(
        self,
        *,
        api_key: str | None,
        server_url: str,
        http_client: httpx.AsyncClient | None,
        default_headers: Mapping[str, str] | None = None,
        tls: TLSSettings = DEFAULT_TLS,
        max_connections: int | None = None,
    ) -> None:
        self.base_url = normalize_server_url(server_url)
        self._api_key = api_key
        self._owns_client = http_client is None
        # Our own connections read with moving deadlines; other transports (a borrowed
        # client, or httpx's when going through a proxy) get a cancel scope per read.
        if http_client is None:
            self._client, self._ours = _new_http_client(self.base_url, tls, max_connections)
        elif not tls.is_default:
            raise ValueError(
                "verify, cert and system_trust_store configure the client's own connections; "
                "with http_client, set them on that client (httpx.AsyncClient(verify=...))"
            )
        else:
            self._client, self._ours = http_client, None
        self.deadline_reads = self._ours is not None
        # Only codings decoded in bounded steps (never httpx's default, which names br and
        # zstd whenever a library for them is installed); a caller's own header wins, and
        # an answer in a coding we cannot bound is still refused (see _decoding).
        headers = {
            "user-agent": USER_AGENT,
            "accept": "application/json",
            "accept-encoding": accept_encoding(),
        }
        for name, value in (default_headers or {}).items():
            headers[check_header_name(name)] = check_header_value(name, value)
        if api_key:
            headers["authorization"] = "Bearer " + check_header_value("api_key", api_key)
        self._headers = headers

    def __repr__(self) -> str:
        return f"Transport(server_url={self.base_url!r}, api_key={redact(self._api_key)})"

    def shared(self, default_headers: Mapping[str, str] | None = None) -> Transport:
        """A transport on the same HTTP client and connections, with ``default_headers``
        added over this one's; closing it leaves them open (this one closes them)."""
        twin = copy.copy(self)
        twin._owns_client = False
        twin._ours = None  # not its connections to abandon when it is collected
        headers = dict(self._headers)
        for name, value in (default_headers or {}).items():
            headers[check_header_name(name)] = check_header_value(name, value)
        twin._headers = headers
        return twin

    async def aclose(self) -> None:
        """Close the HTTP client if we created it (a borrowed one stays open)."""
        if self._owns_client:
            await self._client.aclose()

    def abandon(self) -> int:
        """Close our own connections at once, without awaiting (the client is being
        garbage collected unclosed); how many were open."""
        return self._ours.abandon() if self._ours is not None else 0

    def build(
        self,
        method: str,
        path: str,
        *,
        timeout: Timeout,
        params: QueryParams | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: str | None = None,
    ) -> httpx.Request:
        """A request to ``base_url + path`` with our headers and httpx time bounds."""
        merged = dict(self._headers)
        if content is not None:
            merged["content-type"] = "application/json"
        if accept is not None:
            merged["accept"] = accept
        for name, value in (headers or {}).items():
            merged[check_header_name(name)] = check_header_value(name, value)
        # httpx bounds connect/pool and writes; reads are bounded by our deadlines when we
        # can, otherwise httpx's read timeout is the first_event bound.
        http_timeout = httpx.Timeout(
            connect=timeout.connect,
            pool=timeout.connect,
            write=timeout.idle,
            read=None if self.deadline_reads else timeout.first_event,
        )
        request = self._client.build_request(
            method,
            self.base_url + path,
            params=list(params) if params else None,
            content=content,
            headers=merged,
            timeout=http_timeout,
        )
        if content is not None:
            request.stream = RequestBody(content)
        return request

    async def send(self, request: httpx.Request, deadline: Deadline) -> httpx.Response:
        """Send and return the response with its body unread; raise ours on failure.

        With DEBUG on for the ``sudo_stream.http`` logger, one line per request: method,
        URL, status, request id and time to the response head (never a header's value:
        the key stays out of the logs).
        """
        token = read_deadline.set(deadline)
        started = time.monotonic()
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            _log_request(request, started, f"failed: {type(exc).__name__}")
            raise_translated(exc, deadline)
        except h11.LocalProtocolError as exc:  # httpcore lets h11's own escape from a body write
            raise_translated(httpx.LocalProtocolError(str(exc), request=request), deadline)
        finally:
            read_deadline.reset(token)
        if logger.isEnabledFor(logging.DEBUG):
            request_id = response.headers.get("x-request-id")
            status = f"HTTP {response.status_code}"
            _log_request(request, started, status + (f" (request id {request_id})" if request_id else ""))
        return response

    async def read_body(
        self, response: httpx.Response, deadline: Deadline, limit: int, *, cut: bool = False
    ) -> bytes:
        """Read a whole (non-streaming) body, bounded in time and size, then close it.

        Over ``limit`` bytes (decoded), the body is cut there when ``cut``, else
        :class:`APIResponseValidationError` names the limit (not retried: it would be as
        large again).
        """
        token = read_deadline.set(deadline)
        body, decoder = body_reader(response)
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                try:
                    raw = await body.__anext__()
                except StopAsyncIteration:
                    raw = b""
                if decoder is None:
                    piece = raw
                elif raw:
                    piece = decoder.decode(raw)
                else:
                    piece = decoder.flush()
                while True:  # a step of decoded bytes at a time
                    size += len(piece)
                    if size > limit:
                        if not cut:
                            raise APIResponseValidationError(
                                f"the response body is larger than max_response_size={limit} bytes",
                                status_code=response.status_code,
                            )
                        parts.append(piece[: len(piece) - (size - limit)])
                        return b"".join(parts)
                    parts.append(piece)
                    if decoder is None or not decoder.pending:
                        break
                    await checkpoint()  # a small body may decode to a lot: others run between
                    piece = decoder.more()
                if not raw:
                    return b"".join(parts)
        except TRANSPORT_ERRORS as exc:
            raise_translated(exc, deadline, response.request)
        except DecodingError as exc:
            raise APIResponseValidationError(
                f"could not decode the response body: {exc}", status_code=response.status_code
            ) from exc
        finally:
            read_deadline.reset(token)
            await close_response(response, body)

    def scrub(self, body: bytes) -> bytes:
        """``body`` with the API key blotted out, should a server echo it back."""
        key = self._api_key
        if key and key.encode() in body:
            return body.replace(key.encode(), b"[redacted]")
        return body

    def scrub_headers(self, headers: httpx.Headers) -> httpx.Headers:
        """``headers`` with the API key blotted out of their values (a redirect's target)."""
        key = self._api_key
        if not key or not any(key in value for value in headers.values()):
            return headers
        return httpx.Headers(
            [(name, value.replace(key, "[redacted]")) for name, value in headers.multi_items()]
        )

    async def check_status(self, response: httpx.Response, deadline: Deadline) -> None:
        """Raise :class:`APIStatusError` (the class for the status) for anything but a 2xx.

        A 3xx is an error too: redirects are never followed, so the API key is only ever
        sent to ``server_url``. The error body is read up to 1 MiB (the rest is dropped),
        and the API key is blotted out of it should the server echo it.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        try:
            body = await self.read_body(response, deadline, _ERROR_BODY_LIMIT, cut=True)
        except APIResponseValidationError as exc:  # the status still says what went wrong
            body = f"(the error body could not be read: {exc.message})".encode()
        body = self.scrub(body)
        headers = self.scrub_headers(response.headers)
        if status >= 400:
            raise APIStatusError.from_response(status, headers, body)
        target = headers.get("location") or "nowhere"
        raise APIStatusError(
            f"HTTP {status}: the server redirects to {target}; redirects are not followed "
            "(point server_url there if you trust it)",
            status_code=status,
            headers=headers,
            body=None,
            text=body.decode("utf-8", "replace"),
        )


async def close_response(
    response: httpx.Response, body: AsyncIterator[bytes] | None = None
) -> None:
    """Close a response at once, even while being cancelled.

    ``body`` is the response's byte iterator if one was started. httpx and httpcore read
    bodies through a chain of async generators, which a closed socket alone leaves
    suspended (trio then warns when they are collected). Once the socket is closed, one
    more step fails at once and that failure runs through, and ends, every generator.
    A borrowed client whose closed body does not fail (one over HTTP/2, say) gets a
    second, never the caller's whole wait.
    """
    import anyio

    with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _CLOSE_LIMIT):
        await response.aclose()
        if body is None:
            return
        try:
            while True:
                await body.__anext__()  # drains what was already buffered, then fails
        except BaseException:  # the response is closed; nothing to report
            pass


def raise_translated(
    exc: Exception, deadline: Deadline | None, request: httpx.Request | None = None
) -> NoReturn:
    """Raise the sudo_stream error for an httpx (or httpcore) error, chained to it."""
    raise translate(exc, deadline, request) from exc


def translate(
    exc: Exception, deadline: Deadline | None, request: httpx.Request | None = None
) -> SudoError:
    """The sudo_stream error for one of ``TRANSPORT_ERRORS`` (the request URL never holds
    the key). ``request`` is the one it happened on, for errors that do not carry it.
    """
    exc = as_httpx_error(exc, request)
    where = _describe_request(exc, request)
    refused = _refused_certificate(exc)
    if refused is not None:
        return TLSCertificateError(f"{_certificate_hint(refused)}: {refused} {where}".strip())
    if isinstance(exc, (httpx.LocalProtocolError, httpx.UnsupportedProtocol)):
        return InvalidRequestError(f"the request cannot be sent as built: {exc} {where}".strip())
    if isinstance(exc, httpx.PoolTimeout):  # waiting for a turn under max_connections
        return APITimeoutError("connect", None, f"{exc} {where}".strip())
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError("connect", None, where)
    if isinstance(exc, httpx.WriteTimeout):
        if deadline is not None and deadline.remaining() <= 0:  # the call's own bound
            return APITimeoutError(deadline.bound, deadline.seconds, where)
        return APITimeoutError("write", None, where)
    if isinstance(exc, httpx.TimeoutException):
        if deadline is not None:
            return APITimeoutError(deadline.bound, deadline.seconds, where)
        return APITimeoutError("first_event", None, where)
    if isinstance(exc, httpx.DecodingError):
        return APIConnectionError(f"could not decode the response body: {exc} {where}".strip())
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"connection error: {detail} {where}".strip())


def _refused_certificate(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` if it is about a certificate: ours refusing the
    server's, or the server's alert refusing (or asking for) ours."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx's error, from httpcore's, from ssl's: a short chain
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError) or (
            isinstance(seen, ssl.SSLError) and _names_a_certificate(seen.reason)
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _names_a_certificate(reason: str | None) -> bool:
    # OpenSSL's alert names: SSLV3_ALERT_BAD_CERTIFICATE, TLSV13_ALERT_CERTIFICATE_REQUIRED,
    # SSLV3_ALERT_CERTIFICATE_EXPIRED, TLSV1_ALERT_UNKNOWN_CA, ...
    return reason is not None and ("CERTIFICATE" in reason or reason.endswith("UNKNOWN_CA"))


def _certificate_hint(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            "TLS: the server's certificate was refused (trust its CA with verify=, "
            "or system_trust_store=True)"
        )
    return "TLS: the server refused the client certificate, or wants one (see cert=)"


def _describe_request(exc: httpx.HTTPError, request: httpx.Request | None) -> str:
    try:
        request = exc.request
    except RuntimeError:
        if request is None:
            return ""
    return f"on {request.method} {request.url.copy_with(query=None)}"


def now() -> float:
    """The clock every deadline uses."""
    return time.monotonic()


def json_error(message: str) -> dict[str, Any]:
    """An OpenAI-style error object, for synthesised errors."""
    return {"error": {"message": message, "type": "client_error"}}
