"""``serve_in_thread``: the fake server for blocking code, on an event loop in a thread."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from anyio.from_thread import start_blocking_portal

from ._endpoints import DEFAULT_MODELS, DEFAULT_REPLY
from ._ratelimit import RateLimit
from ._server import FakeSudoServer


@contextmanager
def serve_in_thread(
    api_key: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    send_buffer_size: int | None = None,
    reply: str = DEFAULT_REPLY,
    models: Sequence[str] = DEFAULT_MODELS,
    backend: str = "asyncio",
    ssl_context: ssl.SSLContext | None = None,
    rate_limit: RateLimit | None = None,
) -> Iterator[FakeSudoServer]:
    """Run a :class:`FakeSudoServer` in a background thread for the ``with`` block.

    The thread runs its own event loop (``backend``: ``"asyncio"`` or ``"trio"``). On exit
    the server closes every connection and the listening socket and the thread is joined.
    ``enqueue``, ``requests``, ``stats``, ``rate_limit_log`` and ``store_completion`` may be
    used from the calling thread. The other arguments are :class:`FakeSudoServer`'s.
    """
    server = FakeSudoServer(
        api_key,
        host=host,
        port=port,
        send_buffer_size=send_buffer_size,
        reply=reply,
        models=models,
        ssl_context=ssl_context,
        rate_limit=rate_limit,
    )
    with start_blocking_portal(backend) as portal, portal.wrap_async_context_manager(server):
        yield server
