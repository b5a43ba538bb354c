"""What the fake server remembers: each request it received, and its connection counters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the fake server received it.

    ``path`` is the request target's path as sent (still percent-encoded), ``query`` its
    decoded ``(key, value)`` pairs in order. ``headers`` maps lowercased names to values
    (repeated headers joined with ``", "``); ``header_list`` keeps every pair in order.
    ``connection`` numbers the TCP connection it arrived on (1, 2, ...), so keep-alive reuse
    shows as several requests with the same number. ``received_at`` is the
    ``time.monotonic()`` at which the whole request had arrived.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    header_list: tuple[tuple[str, str], ...]
    body: bytes
    connection: int
    received_at: float

    def json(self) -> Any:
        """The body decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)

    def query_params(self) -> dict[str, str]:
        """The query as a dict (the last value wins for a repeated key)."""
        return dict(self.query)


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of the fake server's counters; read ``server.stats`` again for fresh ones.

    ``bytes_written[i]`` counts the bytes handed to the socket so far (headers, framing and
    body, including a write still blocked by backpressure) in response to
    ``server.requests[i]``; it grows while that response is being written.
    ``requests_served`` counts responses whose last byte was handed to the socket;
    ``client_disconnects`` counts responses cut short because the client went away.
    """

    open_connections: int
    total_connections: int
    requests_served: int
    bytes_written: tuple[int, ...]
    client_disconnects: int


class ServerState:
    """The live records and counters behind :class:`ServerStats`, shared by all connections."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.written: list[int] = []
        self.errors: list[Exception] = []
        self.open = 0
        self.total = 0
        self.served = 0
        self.disconnects = 0
        self.answering = 0  # responses being written now

    def record(self, request: RecordedRequest) -> int:
        """Keep ``request``; return its index in ``requests`` and ``written``."""
        self.requests.append(request)
        self.written.append(0)
        return len(self.requests) - 1

    def snapshot(self) -> ServerStats:
        """The counters as they are now."""
        return ServerStats(
            open_connections=self.open,
            total_connections=self.total,
            requests_served=self.served,
            bytes_written=tuple(self.written),
            client_disconnects=self.disconnects,
        )
