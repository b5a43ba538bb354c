"""Scripted responses: plain data saying what the fake server writes for one request.

Each class only describes a response; ``_play`` turns it into bytes on the socket. Every
response that sends headers accepts extra ``headers`` and gets a unique ``x-request-id``
header unless one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeAlias

Headers: TypeAlias = Sequence[tuple[str, str]]
"""Extra response headers, as ``(name, value)`` pairs."""


@dataclass(frozen=True, slots=True)
class StallItem:
    """Inside a :class:`Stream`: stop writing for ``seconds`` (``None``: until the client leaves).

    The response headers and everything before this item have already been sent, so the
    client sees an idle stream.
    """

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the TCP connection abruptly.

    As a whole response: after reading the request, before any response byte (the client
    sees "connection closed before the response"). Inside a :class:`Stream`: in the middle
    of the body, without the final zero-length chunk (the client sees an incomplete body).
    ``reset`` closes with a TCP RST (``SO_LINGER`` 0) instead of a FIN: the client sees
    "connection reset by peer".
    """

    reset: bool = False


StreamItem: TypeAlias = Mapping[str, Any] | bytes | str | StallItem | Drop
"""One item of a :class:`Stream`: a chunk dict (sent as ``data: <json>``), raw bytes or
text written as they are, or a fault (:class:`StallItem`, :class:`Drop`)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """A server-sent-events response (chunked transfer encoding).

    Each dict in ``chunks`` is written as ``data: <json>\\n\\n``; ``bytes`` and ``str`` items
    are written unchanged (comments such as ``: keep-alive\\n\\n``, invalid JSON, custom
    framing); :class:`StallItem` and :class:`Drop` items inject faults at that point.
    ``done`` appends ``data: [DONE]\\n\\n``. ``named_events`` writes an ``event: <type>`` line
    before each dict's ``data:`` line (the dict's ``"type"``), as the Responses API does.

    The body goes out in writes of ``piece_size`` bytes (``None``: one write per item), each
    write preceded by a ``delay`` seconds sleep (a slow drip). Each write is one HTTP chunk;
    without a delay, consecutive writes reach the socket together (up to 64 KiB at a time)
    but keep their own HTTP chunks, which an HTTP client reads apart.
    ``gzip`` compresses the body (``Content-Encoding: gzip``), flushed after every write so
    the client can decode it as it arrives.
    """

    chunks: Sequence[StreamItem]
    _: KW_ONLY
    piece_size: int | None = None
    delay: float = 0.0
    done: bool = True
    status: int = 200
    headers: Headers = ()
    content_type: str = "text/event-stream"
    gzip: bool = False
    named_events: bool = False

    def __post_init__(self) -> None:
        if self.piece_size is not None and self.piece_size < 1:
            raise ValueError("piece_size must be a positive integer or None")
        if self.delay < 0:
            raise ValueError("delay must not be negative")


@dataclass(frozen=True, slots=True)
class JSON:
    """A complete JSON response with a ``Content-Length``.

    ``body`` is encoded as JSON, except ``bytes``, which are sent unchanged (for an invalid
    JSON body).
    """

    body: Any
    _: KW_ONLY
    status: int = 200
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Error:
    """An error response, by default with an OpenAI-style body.

    The default body is ``{"error": {"message": message, "type": <type for the status>}}``;
    ``message`` defaults to a sentence naming the status. Pass ``body`` to send anything
    else (a dict is encoded as JSON, bytes are sent unchanged). Use ``headers`` for e.g.
    ``("Retry-After", "1")``.
    """

    status: int
    body: Any = None
    _: KW_ONLY
    headers: Headers = ()
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    """Read the request and send nothing for ``seconds`` (``None``: until the client leaves).

    With ``after``, that response is sent once the stall is over (the stall comes before its
    headers); without it, the connection is closed after the stall.
    """

    seconds: float | None = None
    _: KW_ONLY
    after: ScriptedResponse | None = None


@dataclass(frozen=True, slots=True)
class Endless:
    """A stream that never ends: ``chunk`` over and over, ``interval`` seconds apart.

    It stops only when the client closes the connection (or the server exits). Without a
    ``chunk``, a role chunk is followed by an endless series of ``"tick "`` content deltas.
    """

    chunk: Mapping[str, Any] | None = None
    interval: float = 0.0
    _: KW_ONLY
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Raw:
    """Write exactly ``data`` as the whole HTTP response, then close the connection.

    For malformed responses: a bad status line, a broken chunk size, a short body.
    """

    data: bytes


ScriptedResponse: TypeAlias = Stream | JSON | Error | Stall | Endless | Raw | Drop
"""Anything :meth:`FakeSudoServer.enqueue` accepts."""
