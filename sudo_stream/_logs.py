"""``SUDO_LOG``: the library's loggers turned on from the environment.

Two loggers, standard :mod:`logging`, silent unless configured: ``sudo_stream`` (each
retry, each call that fails for good: INFO) and its child ``sudo_stream.http`` (each
request: method, URL, status, request id, time; connections: DEBUG). ``SUDO_LOG=info`` or
``SUDO_LOG=debug`` gives them a handler on standard error at that level, once per process,
when the first client is made; an application that configures logging itself needs none
of this. No line ever holds the API key (header values are never logged).
"""

from __future__ import annotations

import logging
import os
import warnings

_LEVELS = ("debug", "info", "warning", "error")
_configured = False


def configure_from_environment() -> None:
    """Apply ``SUDO_LOG`` (once): a stderr handler on the ``sudo_stream`` logger."""
    global _configured
    if _configured:
        return
    _configured = True
    wanted = os.environ.get("SUDO_LOG", "").strip().lower()
    if not wanted:
        return
    if wanted not in _LEVELS:
        warnings.warn(
            f"SUDO_LOG={wanted!r} is not one of {', '.join(_LEVELS)}: logging left as it is",
            stacklevel=3,
        )
        return
    logger = logging.getLogger("sudo_stream")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(wanted.upper())
