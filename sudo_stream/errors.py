"""The exception tree. Every error the library raises is a :class:`SudoError`::

    SudoError
    ├── APIStatusError                 the server answered with a non-2xx status (a 3xx
    │   │                              too: redirects are never followed)
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409
    │   ├── UnprocessableEntityError   422
    │   ├── RateLimitError             429
    │   └── InternalServerError        5xx
    ├── APIConnectionError             no answer: refused, reset before a response, DNS, TLS
    │   ├── APITimeoutError            a time bound fired (``.bound`` names which)
    │   └── TLSCertificateError        a certificate refused, by us or by the server, or
    │                                  TLS settings that cannot be loaded (never retried)
    ├── APIResponseValidationError     a 2xx answer we cannot use (bad JSON, wrong content
    │                                  type, larger than max_response_size)
    ├── InvalidRequestError            a request the client itself cannot send as given
    │                                  (also a ValueError; never retried)
    ├── StreamError                    something wrong inside a stream; carries ``.partial``
    └── MaxTurnsExceededError          a tool loop used its ``max_turns`` while the model
        │                              still asked for tools; carries ``.messages``
        └── ResponseMaxTurnsExceededError   the same of a Responses tool loop; carries
                                            ``.input`` and ``.response``

Foreign errors (httpx, msgspec) are translated at the boundary with ``raise ... from exc``.
The seed SDK's names stay importable: ``ErrorResponse`` and ``SudoDefaultError`` are
:class:`APIStatusError` (any error status with its parsed body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from .models.common import ErrorBody, ErrorDetail
from .models.ratelimit import RateLimitInfo

if TYPE_CHECKING:
    from .models.completion import ChatCompletion
    from .models.responses import Response

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ErrorResponse",
    "InternalServerError",
    "InvalidRequestError",
    "MaxTurnsExceededError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseMaxTurnsExceededError",
    "StreamError",
    "SudoDefaultError",
    "SudoError",
    "TLSCertificateError",
    "UnprocessableEntityError",
]

_MAX_BODY_IN_MESSAGE = 2_000


class SudoError(Exception):
    """Base class of every error raised by sudo_stream."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(SudoError):
    """The server answered with a 4xx or 5xx status, or with a redirect (3xx), which is
    never followed so that the API key only ever goes to ``server_url``.

    ``body`` is the parsed ``{"error": {...}}`` body when there was one, ``text`` the raw
    body text; ``request_id`` comes from the ``x-request-id`` header.
    """

    status_code: int
    headers: Mapping[str, str]
    request_id: str | None
    body: ErrorBody | None
    text: str

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str],
        body: ErrorBody | None,
        text: str,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers
        self.request_id = headers.get("x-request-id")
        self.body = body
        self.text = text

    @property
    def error(self) -> ErrorDetail | None:
        """The parsed ``error`` object of the body, if the body had one."""
        return self.body.error if self.body is not None else None

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The rate limits the error response reported (its ``x-ratelimit-*`` headers;
        fields ``None`` where absent): how long a 429 has to wait, and for what."""
        return RateLimitInfo.from_headers(self.headers)

    @classmethod
    def from_response(
        cls, status_code: int, headers: Mapping[str, str], content: bytes
    ) -> APIStatusError:
        """Build the most specific error for a status, parsing the body leniently."""
        try:
            body: ErrorBody | None = msgspec.json.decode(content, type=ErrorBody)
        except (msgspec.DecodeError, msgspec.ValidationError):
            body = None
        text = content.decode("utf-8", "replace")
        if body is not None:
            detail = body.error.describe()
        else:
            detail = text[:_MAX_BODY_IN_MESSAGE] or "(empty body)"
        request_id = headers.get("x-request-id")
        suffix = f" (request id {request_id})" if request_id else ""
        message = f"HTTP {status_code}: {detail}{suffix}"
        return _class_for_status(status_code)(
            message, status_code=status_code, headers=headers, body=body, text=text
        )


class BadRequestError(APIStatusError):
    """400: the request was malformed or had invalid parameters."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource (or model, or stored completion)."""


class ConflictError(APIStatusError):
    """409: the resource was changed concurrently (retried)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but semantically wrong."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried, honouring ``Retry-After``."""


class InternalServerError(APIStatusError):
    """5xx: the router or the provider behind it failed (retried)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _class_for_status(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


class APIConnectionError(SudoError):
    """The request got no complete answer: connection refused or reset, DNS or TLS failure,
    or the server closed the connection before responding (or, streaming, before the first
    event).

    ``partial`` is set on an :class:`APITimeoutError` that fired after a chat stream
    delivered events: what was assembled (a connection lost mid-stream is a
    :class:`StreamError`); ``partial_response`` likewise after a Responses stream did.
    """

    partial: ChatCompletion | None = None
    partial_response: Response | None = None


class APITimeoutError(APIConnectionError):
    """A time bound fired. ``bound`` is one of ``connect``, ``first_event``, ``idle``,
    ``total``, ``write`` or ``pool``; ``seconds`` is its value."""

    bound: str
    seconds: float | None

    def __init__(self, bound: str, seconds: float | None, detail: str = "") -> None:
        text = f"timed out: {bound} bound"
        if seconds is not None:
            text += f" of {seconds:g} s"
        if detail:
            text += f" ({detail})"
        super().__init__(text)
        self.bound = bound
        self.seconds = seconds


class TLSCertificateError(APIConnectionError):
    """The TLS handshake failed on a certificate: the server's is not trusted or is for
    another name (see ``verify``), the server refused ours or asked for one (see ``cert``),
    or the client's own TLS settings could not be loaded (a file that is not PEM, a wrong
    key password). Never retried: another attempt would show the same certificates."""


class APIResponseValidationError(SudoError):
    """A successful status whose body cannot be used: invalid JSON, an unexpected shape, a
    body larger than ``max_response_size``, or a streaming call answered with something
    other than ``text/event-stream``."""

    status_code: int

    def __init__(self, message: str, *, status_code: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvalidRequestError(SudoError, ValueError):
    """The HTTP layer refused to send the request as it was built: its headers contradict
    its body (a ``Content-Length`` that does not match, set on a borrowed ``http_client``,
    say), or it cannot be written as HTTP/1.1. A programming error, not a network one:
    never retried, and nothing (or only part of the request) reached the server."""


class StreamError(SudoError):
    """Something went wrong inside a stream: an ``{"error": ...}`` event, an undecodable
    chunk, an event over ``max_event_size``, a stream over ``max_response_size`` in all,
    a connection lost mid-stream, or a stream that ended early (no ``[DONE]`` and no
    finish reason). A stall is an :class:`APITimeoutError`
    (with ``partial`` set) instead.

    ``partial`` is the completion assembled from the chunks received before the failure
    (a chat stream); ``partial_response`` the response assembled from the events (a
    Responses stream, whose ``response.failed`` and ``error`` events are such failures);
    ``error`` the server's error object when it sent one.
    """

    partial: ChatCompletion | None
    partial_response: Response | None
    error: ErrorDetail | None

    def __init__(
        self,
        message: str,
        *,
        partial: ChatCompletion | None = None,
        error: ErrorDetail | None = None,
        partial_response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.partial = partial
        self.partial_response = partial_response
        self.error = error


class MaxTurnsExceededError(SudoError):
    """A tool loop (``router.run_tools``) asked the model ``max_turns`` times and it
    still asked for tools. The calls of the last turn were run: ``messages`` is the whole
    conversation so far (the input, every assistant turn and every tool message), ready to
    be sent again to carry on; ``completion`` is the last turn's answer."""

    max_turns: int
    messages: list[Any]
    completion: ChatCompletion

    def __init__(self, max_turns: int, *, messages: list[Any], completion: ChatCompletion) -> None:
        super().__init__(
            f"the model still asked for tools after max_turns={max_turns} turns "
            "(raise max_turns, or carry on with .messages)"
        )
        self.max_turns = max_turns
        self.messages = messages
        self.completion = completion


class ResponseMaxTurnsExceededError(MaxTurnsExceededError):
    """:class:`MaxTurnsExceededError` of a Responses tool loop (``responses.run_tools``):
    ``input`` is the whole input so far (the input, every turn's output items and every
    ``function_call_output``), ready to be sent again to carry on (``messages`` is the same
    list); ``response`` is the last turn's. It has no ``completion`` (a chat answer)."""

    input: list[Any]
    response: Response

    def __init__(self, max_turns: int, *, input: list[Any], response: Response) -> None:
        SudoError.__init__(
            self,
            f"the model still asked for tools after max_turns={max_turns} turns "
            "(raise max_turns, or carry on with .input)",
        )
        self.max_turns = max_turns
        self.messages = self.input = input
        self.response = response

    # Typed as the base's attribute (a chat run's error has one), but there is none here:
    # asked for, it says where the answer is rather than a bare AttributeError.
    @property
    def completion(self) -> ChatCompletion:  # type: ignore[override]
        raise AttributeError(
            "a Responses tool run has no chat completion: its last answer is .response"
        )


ErrorResponse = APIStatusError
"""The seed SDK's name for an error status with a JSON ``{"error": ...}`` body."""

SudoDefaultError = APIStatusError
"""The seed SDK's name for any other 4XX/5XX answer."""
