"""Per-stream read deadlines that cost nothing per event.

httpcore wraps every socket read in a timeout scope, but with one value fixed when the body
starts, so it cannot tell ``first_event`` from ``idle``. Our sockets
(:mod:`sudo_stream._socket`) take the timeout of each read from a :class:`Deadline`: the
one a streaming response has bound to its connection (the connection is that response's
alone until it is closed), else the one the reading task has set in :data:`read_deadline`
(for sending a request and reading a short body). A stream moves its deadline only when
the parser yields events, so keep-alive comments do not extend it, and nothing is done per
event: no cancel scope, not even a context variable.

:class:`LazyTLS` loads the TLS trust store lazily, in a worker thread, before the first TLS
handshake: building the default context reads and parses the CA bundle, ~20 ms of blocking
file I/O that must not happen on the event loop when a client is created inside async
code.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar

from ._config import Timeout


class Deadline:
    """A moving absolute deadline (``time.monotonic`` seconds) and the name of its bound.

    A stream marks it :attr:`stale` when events arrive; the next socket read, that is the
    next time we actually wait on the server, re-arms the ``idle`` bound from that moment.
    So the consumer's own time between chunks never counts, keep-alive comments (which
    yield no events) never extend it, and an event costs no clock read.
    """

    __slots__ = ("at", "bound", "idle", "seconds", "stale", "total", "total_at")

    at: float
    bound: str
    seconds: float | None
    stale: bool
    idle: float | None
    total_at: float | None
    total: float | None

    def __init__(self, at: float, bound: str, seconds: float | None) -> None:
        self.at = at
        self.bound = bound
        self.seconds = seconds
        self.stale = False
        self.idle = None
        self.total_at = None
        self.total = None

    @classmethod
    def for_call(cls, timeout: Timeout, total_at: float | None) -> Deadline:
        """A deadline on the first event (or the whole answer) from now, capped by the
        call's ``total`` bound, that streams later move to ``idle``."""
        deadline = cls(0.0, "first_event", timeout.first_event)
        deadline.idle, deadline.total_at, deadline.total = timeout.idle, total_at, timeout.total
        deadline.arm("first_event", timeout.first_event, time.monotonic())
        return deadline

    def arm(self, bound: str, seconds: float | None, now: float) -> None:
        """Expire ``seconds`` after ``now``, or at the total bound if that comes first."""
        self.stale = False
        at = float("inf") if seconds is None else now + seconds
        if self.total_at is not None and self.total_at <= at:
            self.at, self.bound, self.seconds = self.total_at, "total", self.total
        else:
            self.at, self.bound, self.seconds = at, bound, seconds

    def remaining(self) -> float:
        """Seconds left, never negative (zero means: already expired)."""
        now = time.monotonic()
        if self.stale:
            self.arm("idle", self.idle, now)
        return max(self.at - now, 0.0)


read_deadline: ContextVar[Deadline | None] = ContextVar("sudo_stream_read_deadline", default=None)


class LazyTLS:
    """The TLS context of a client, built in a worker thread at its first handshake.

    The connection pool is handed :attr:`placeholder`, a context that verifies certificates and host
    names but trusts no CA (so if it were ever used as it is, every handshake would fail,
    closed). Our sockets' ``start_tls`` swaps it for the real one, made by ``factory``
    (:meth:`sudo_stream._tls.TLSSettings.build`: by default the same context httpx builds,
    certifi's bundle or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``).
    """

    def __init__(self, factory: Callable[[], ssl.SSLContext]) -> None:
        self.placeholder = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._factory = factory
        self._context: ssl.SSLContext | None = None

    async def context(self) -> ssl.SSLContext:
        """The real context (loaded once; concurrent first callers may each load one).

        A context that cannot be built (a CA or key file that is not PEM, a key that does
        not match its certificate or its password, a file gone since the client was made)
        raises :class:`~sudo_stream.errors.TLSCertificateError`, never retried; the next
        handshake tries again.
        """
        if self._context is None:
            import anyio.to_thread

            try:
                context = await anyio.to_thread.run_sync(self._factory)
            except (OSError, ValueError, ImportError) as exc:  # ssl.SSLError is an OSError
                from .errors import TLSCertificateError

                raise TLSCertificateError(f"could not load the TLS settings: {exc}") from exc
            if self._context is None:
                self._context = context
        return self._context
