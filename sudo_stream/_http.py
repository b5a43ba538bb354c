"""The httpx transport of the clients we create: our pool of HTTP/1.1 connections
(:mod:`sudo_stream._h1`) over our sockets (:mod:`sudo_stream._socket`), which read with our
deadlines.

It does what ``httpx.AsyncHTTPTransport`` does for HTTP/1.1, and one thing more: each
response also carries the connection's own body reader in its extensions
(:func:`core_body`), so a stream reads its body with no async generator in between
(httpx's wrappers add nothing but error mapping and timing, and a stream makes its own).
Errors read from that reader are httpcore's: catch :data:`TRANSPORT_ERRORS` and translate
them with :func:`as_httpx_error`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpcore
import httpx

from ._deadline import LazyTLS
from ._h1 import BODY_EXTENSION, ConnectionPool, ResponseBody
from ._socket import SocketBackend

__all__ = ["TRANSPORT_ERRORS", "PoolTransport", "as_httpx_error", "core_body"]

# httpcore's errors have no common base; httpx names each of them the same way.
_CORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, *_CORE_ERRORS)
"""What reading a body can raise: httpx's errors, and httpcore's from :func:`core_body`."""


def as_httpx_error(exc: Exception, request: httpx.Request | None = None) -> httpx.HTTPError:
    """The httpx error for an httpcore one (``httpcore.ReadTimeout`` -> ``httpx.ReadTimeout``),
    or ``exc`` itself if it is already httpx's."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    for cls in type(exc).__mro__:
        mapped = getattr(httpx, cls.__name__, None)
        if isinstance(mapped, type) and issubclass(mapped, httpx.TransportError):
            return mapped(str(exc), request=request)
    return httpx.TransportError(str(exc), request=request)


def core_body(response: httpx.Response) -> AsyncIterator[bytes] | None:
    """The body of a response from :class:`PoolTransport` as our connection reads it
    (closed by closing the response), else None."""
    body: ResponseBody | None = response.extensions.get(BODY_EXTENSION)
    return body


class PoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over our :class:`~sudo_stream._h1.ConnectionPool`, whose connections honour
    our read deadlines, and whose TLS trust store ``tls`` is loaded off the event loop."""

    def __init__(
        self,
        tls: LazyTLS,
        *,
        max_keepalive_connections: int = 1000,
        max_connections: int | None = None,
    ) -> None:
        self._pool = ConnectionPool(
            ssl_context=tls.placeholder,
            network_backend=SocketBackend(tls),
            max_idle=max_keepalive_connections,
            keepalive_expiry=5.0,
            max_connections=max_connections,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except _CORE_ERRORS as exc:
            raise as_httpx_error(exc, request) from exc
        body = response.stream
        assert isinstance(body, ResponseBody)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_MappedBody(body),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    def abandon(self) -> int:
        """Close every connection now, without awaiting; how many were open."""
        return self._pool.abandon()


class _MappedBody(httpx.AsyncByteStream):
    """The body as httpx's readers see it, with httpcore's errors made httpx's."""

    def __init__(self, body: ResponseBody) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._body:
                yield part
        except _CORE_ERRORS as exc:
            raise as_httpx_error(exc) from exc

    async def aclose(self) -> None:
        await self._body.aclose()
