"""Raw responses of non-streamed calls: ``sudo.router.with_raw_response.create(...)``
returns the typed result *and* the response it came in (status, headers, request id, rate
limits). A stream has all of that already (``stream.headers``, ``stream.rate_limit``).

How: the operation runs as it always does; the client's ``_execute`` writes the final
attempt's response into a slot that the raw call put in a context variable for its own
task (a call's retries run in that task), so nothing is threaded through the operations
and a normal call pays one context-variable read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, TypeVar, overload

import httpx
from typing_extensions import ParamSpec, Self

from .models.ratelimit import RateLimitInfo

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["RawResponse", "RawView", "raw_operation"]


@dataclass(frozen=True)
class RawResponse(Generic[T]):
    """A call's typed result (``parsed``) with the HTTP response it came in (``http``:
    its head; the body was read and decoded into ``parsed``)."""

    parsed: T
    http: httpx.Response

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        return self.http.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.http.headers

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id``, if it sent one."""
        request_id: str | None = self.http.headers.get("x-request-id")
        return request_id

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The rate limits the response reported (``x-ratelimit-*``)."""
        return RateLimitInfo.from_headers(self.http.headers)


class _Slot:
    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: httpx.Response | None = None


_capture: ContextVar[_Slot | None] = ContextVar("sudo_stream_raw_capture", default=None)


def note_response(response: httpx.Response) -> None:
    """Called by the client with each successful answer's response: kept when a raw call
    is waiting for it in this task."""
    slot = _capture.get()
    if slot is not None:
        slot.response = response


async def capture(call: Callable[[], Awaitable[T]]) -> RawResponse[T]:
    """Run ``call`` (an operation) and return its result with its response."""
    slot = _Slot()
    token = _capture.set(slot)
    try:
        parsed = await call()
    finally:
        _capture.reset(token)
    assert slot.response is not None, "the operation made no request"
    return RawResponse(parsed, slot.response)


class raw_operation(Generic[P, T]):
    """An operation of a raw view: the same parameters, a :class:`RawResponse` back."""

    def __init__(self, operation: Callable[Concatenate[Any, P], Awaitable[T]]) -> None:
        self._operation = operation
        self.__doc__ = f"As ``{operation.__name__}``, with the response (a RawResponse)."

    @overload
    def __get__(self, view: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(
        self, view: RawView[Any], owner: type[Any]
    ) -> Callable[P, Awaitable[RawResponse[T]]]: ...

    def __get__(self, view: RawView[Any] | None, owner: type[Any]) -> Any:
        if view is None:
            return self
        operation, target = self._operation, view._target

        async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
            return await capture(lambda: operation(target, *args, **kwargs))

        return call


V = TypeVar("V")


class RawView(Generic[V]):
    """A raw view of an operations object (``sudo.router.with_raw_response``): a subclass
    lists the operations as ``create = raw_operation(AsyncRouter.create)``."""

    def __init__(self, target: V) -> None:
        self._target = target
