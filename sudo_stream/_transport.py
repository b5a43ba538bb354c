"""The one place that touches httpx: build and send requests, translate httpx's errors into
ours, keep the API key out of every repr and message."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NoReturn

import httpx

from ._config import Timeout
from ._deadline import Deadline, DeadlineBackend, read_deadline
from ._version import __version__
from .errors import APIConnectionError, APIStatusError, APITimeoutError, SudoError

DEFAULT_SERVER_URL = "https://sudoapp.dev/api"
USER_AGENT = f"sudo_stream/{__version__} (python; httpx {httpx.__version__})"

QueryParams = Sequence[tuple[str, str]]


def redact(secret: str | None) -> str:
    """A key as it may appear in reprs and logs: only its last four characters."""
    if not secret:
        return "None"
    return f"'***{secret[-4:]}'" if len(secret) > 12 else "'***'"


def check_header_value(name: str, value: str) -> str:
    """Reject header values that could inject another header or end the header block."""
    if not isinstance(value, str):
        raise TypeError(f"header {name!r} must be a str, got {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} contains a CR, LF or NUL character")
    return value


def normalize_server_url(url: str) -> str:
    """Validate a server URL (http or https, with a host) and drop its trailing slash."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"server_url must be an http(s) URL with a host, got {url!r}")
    return url.rstrip("/")


def _new_http_client() -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000),
    )
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is not None:
        pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]
    return httpx.AsyncClient(transport=transport, timeout=None, follow_redirects=False)


def _honours_deadlines(client: httpx.AsyncClient) -> bool:
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), DeadlineBackend)


class Transport:
    """Sends requests for one client: base URL, auth, user agent, error translation."""

    def __init__(
        self,
        *,
        api_key: str | None,
        server_url: str,
        http_client: httpx.AsyncClient | None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = normalize_server_url(server_url)
        self._api_key = api_key
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else _new_http_client()
        # Our own client reads with moving deadlines; a borrowed one gets a cancel scope.
        self.deadline_reads = _honours_deadlines(self._client)
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        for name, value in (default_headers or {}).items():
            headers[name.lower()] = check_header_value(name, value)
        if api_key:
            headers["authorization"] = "Bearer " + check_header_value("api_key", api_key)
        self._headers = headers

    def __repr__(self) -> str:
        return f"Transport(server_url={self.base_url!r}, api_key={redact(self._api_key)})"

    async def aclose(self) -> None:
        """Close the HTTP client if we created it (a borrowed one stays open)."""
        if self._owns_client:
            await self._client.aclose()

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
            merged[name.lower()] = check_header_value(name, value)
        # httpx bounds connect/pool and writes; reads are bounded by our deadlines when we
        # can, otherwise httpx's read timeout is the first_event bound.
        http_timeout = httpx.Timeout(
            connect=timeout.connect,
            pool=timeout.connect,
            write=timeout.idle,
            read=None if self.deadline_reads else timeout.first_event,
        )
        return self._client.build_request(
            method,
            self.base_url + path,
            params=list(params) if params else None,
            content=content,
            headers=merged,
            timeout=http_timeout,
        )

    async def send(self, request: httpx.Request, deadline: Deadline) -> httpx.Response:
        """Send and return the response with its body unread; raise ours on failure."""
        token = read_deadline.set(deadline)
        try:
            return await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise_translated(exc, deadline)
        finally:
            read_deadline.reset(token)

    async def read_body(self, response: httpx.Response, deadline: Deadline, limit: int) -> bytes:
        """Read a whole (non-streaming) body, bounded in time and size, then close it."""
        token = read_deadline.set(deadline)
        body = response.aiter_bytes()
        try:
            parts: list[bytes] = []
            size = 0
            async for piece in body:
                size += len(piece)
                if size > limit:
                    raise APIConnectionError(
                        f"response body larger than the {limit}-byte limit (max_response_size)"
                    )
                parts.append(piece)
            return b"".join(parts)
        except httpx.HTTPError as exc:
            raise_translated(exc, deadline)
        finally:
            read_deadline.reset(token)
            await close_response(response, body)

    async def check_status(self, response: httpx.Response, deadline: Deadline) -> None:
        """Raise the matching :class:`APIStatusError` for a 4xx/5xx answer."""
        if response.status_code < 400:
            return
        body = await self.read_body(response, deadline, limit=1 << 20)
        raise APIStatusError.from_response(response.status_code, response.headers, body)


async def close_response(
    response: httpx.Response, body: AsyncIterator[bytes] | None = None
) -> None:
    """Close a response at once, even while being cancelled.

    ``body`` is the response's byte iterator if one was started. httpx and httpcore read
    bodies through a chain of async generators, which a closed socket alone leaves
    suspended (trio then warns when they are collected). Once the socket is closed, one
    more step fails at once and that failure runs through, and ends, every generator.
    """
    import anyio

    with anyio.CancelScope(shield=True):
        await response.aclose()
        if body is None:
            return
        try:
            while True:
                await body.__anext__()  # drains what was already buffered, then fails
        except BaseException:  # noqa: BLE001 (the response is closed; nothing to report)
            pass


def raise_translated(exc: httpx.HTTPError, deadline: Deadline | None) -> NoReturn:
    """Raise the sudo_stream error for an httpx error, chained to it."""
    raise translate(exc, deadline) from exc


def translate(exc: httpx.HTTPError, deadline: Deadline | None) -> SudoError:
    """The sudo_stream error for an httpx error (the request URL never holds the key)."""
    where = _describe_request(exc)
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return APITimeoutError("connect", None, where)
    if isinstance(exc, httpx.WriteTimeout):
        return APITimeoutError("write", None, where)
    if isinstance(exc, httpx.TimeoutException):
        if deadline is not None:
            return APITimeoutError(deadline.bound, deadline.seconds, where)
        return APITimeoutError("first_event", None, where)
    if isinstance(exc, httpx.DecodingError):
        return APIConnectionError(f"could not decode the response body: {exc} {where}".strip())
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"connection error: {detail} {where}".strip())


def _describe_request(exc: httpx.HTTPError) -> str:
    try:
        request = exc.request
    except RuntimeError:
        return ""
    return f"on {request.method} {request.url.copy_with(query=None)}"


def now() -> float:
    """The clock every deadline uses."""
    return time.monotonic()


def json_error(message: str) -> dict[str, Any]:
    """An OpenAI-style error object, for synthesised errors."""
    return {"error": {"message": message, "type": "client_error"}}
