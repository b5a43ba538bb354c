"""Compressed bodies for the tests, in every content coding the client decodes.

The bombs are built once per session (``bomb()`` is cached), in the test process but never
on an event loop: compressing 16 MiB takes long enough under load to trip the loop watchdog.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Sequence
from typing import Any

CODINGS = ("gzip", "deflate", "br", "zstd")

FILLER = b": keep-alive\n\n"  # an SSE comment: a stream full of it goes on without an event
BOMB_DECODED = len(FILLER) * ((16 << 20) // len(FILLER))  # bytes of FILLER in a bomb


def zstd() -> Any:
    """``compression.zstd``, or its backport before Python 3.14."""
    try:
        return importlib.import_module("compression.zstd")
    except ImportError:
        return importlib.import_module("backports.zstd")


def compress(coding: str, pieces: Sequence[bytes]) -> list[bytes]:
    """``pieces`` compressed as one body, each flushed so that it decodes on arrival."""
    if coding in ("gzip", "deflate"):
        packer = zlib.compressobj(wbits=31 if coding == "gzip" else 15)
        out = [packer.compress(piece) + packer.flush(zlib.Z_SYNC_FLUSH) for piece in pieces]
        return [*out, packer.flush()]
    if coding == "br":
        try:
            import brotli
        except ImportError:  # not on CPython
            import brotlicffi as brotli

        compressor = brotli.Compressor(quality=5)
        out = [compressor.process(piece) + compressor.flush() for piece in pieces]
        return [*out, compressor.finish()]
    if coding == "zstd":
        module = zstd()
        compressor = module.ZstdCompressor()
        flush = module.ZstdCompressor.FLUSH_BLOCK
        out = [compressor.compress(piece, flush) for piece in pieces]
        return [*out, compressor.flush()]
    raise ValueError(coding)


@functools.cache
def bomb(coding: str, head: bytes = b"") -> bytes:
    """``head`` and then 16 MiB of SSE comments, compressed to a few KiB or less."""
    return b"".join(compress(coding, [head, FILLER * (BOMB_DECODED // len(FILLER))]))
