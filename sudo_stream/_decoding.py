"""Decoders for compressed response bodies (``Content-Encoding``), in bounded steps.

Every decoder has one shape. :meth:`~Decoder.decode` takes the next piece of the body and
returns at most ``step`` decoded bytes; while :attr:`~Decoder.pending`, :meth:`~Decoder.more`
returns the next step of what the input already given decodes to (give no new input
before); at the end of the body, :meth:`~Decoder.flush` returns the next step of the rest
(then :meth:`~Decoder.more` while :attr:`~Decoder.pending`). So a small compressed body
never expands into a huge buffer at once (a "zip bomb"): the caller checks its size limit
between steps. A corrupt body raises :class:`DecodingError`.

gzip and deflate are decoded with zlib. ``br`` needs a brotli binding whose decoder takes
an output bound (``brotli`` or ``brotlicffi`` 1.2 or later), ``zstd`` the standard
library's ``compression.zstd`` (Python 3.14) or ``backports.zstd``; both are imported only
when a client is made or such a body arrives. The ``zstandard`` package and older brotli
bindings only decode a piece whole, so they are not used. :func:`accept_encoding` names
exactly the codings decodable here. A body cut short inside its compressed data is not an
error here: the layers above notice a stream without its end or an incomplete JSON answer.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from typing import Any, Protocol

STEP = 64 * 1024
"""Decoded bytes per step, at most."""

_ZLIB_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
_ZSTD_WINDOW_LOG_MAX = 23  # 8 MiB: the largest window a "zstd" content coding may use (RFC 9659)


class DecodingError(Exception):
    """A compressed body is corrupt, or in a coding this client cannot decode."""


class Decoder(Protocol):
    """Decodes one body, a bounded step at a time (see the module docstring)."""

    @property
    def pending(self) -> bool:
        """Whether :meth:`more` has output to give for the input already given."""
        ...

    def decode(self, data: bytes) -> bytes:
        """Decode the next piece of the body (some of it, when :attr:`pending` after)."""
        ...

    def more(self) -> bytes:
        """The next step of output of the input already given."""
        ...

    def flush(self) -> bytes:
        """At the end of the body: the next step of what is left."""
        ...


def accept_encoding() -> str:
    """The ``Accept-Encoding`` value for what :func:`decoder_for` decodes in bounded steps."""
    codings = ["gzip", "deflate"]
    if _brotli() is not None:
        codings.append("br")
    if _zstd() is not None:
        codings.append("zstd")
    return ", ".join(codings)


def decoder_for(content_encoding: str, step: int = STEP) -> Decoder | None:
    """The decoder for a body with this ``Content-Encoding``; None for an uncompressed one.

    A coding that cannot be decoded in bounded steps (unknown, its library missing, or
    more than one coding stacked) gets a decoder that raises :class:`DecodingError` naming
    it on the first byte of the body: an empty body is just empty.
    """
    if not content_encoding:
        return None
    codings = [c for c in content_encoding.lower().replace(" ", "").split(",") if c]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        return Undecodable(
            f"the body has more than one content coding ({content_encoding}), "
            "which this client does not decode"
        )
    coding = codings[0]
    if coding in _ZLIB_CODINGS:
        return ZlibDecoder(coding, step)
    if coding == "br":
        brotli = _brotli()
        if brotli is not None:
            return BrotliDecoder(brotli, step)
        return Undecodable(
            "the body is brotli-compressed (br), which needs brotli 1.2 or later: "
            "pip install 'sudo-stream[brotli]'"
        )
    if coding == "zstd":
        zstd = _zstd()
        if zstd is not None:
            return ZstdDecoder(zstd, step)
        return Undecodable(
            "the body is zstd-compressed, which needs Python 3.14 or backports.zstd: "
            "pip install 'sudo-stream[zstd]'"
        )
    return Undecodable(
        f"the body has content-encoding {coding!r}, which this client cannot decode "
        f"(it accepts {accept_encoding()})"
    )


class ZlibDecoder:
    """gzip (``x-gzip``) and deflate, with zlib. Raw deflate without the zlib header, as
    some servers send for ``deflate``, is recognised by its first piece."""

    __slots__ = ("_deflate", "_fresh", "_name", "_step", "_z")

    def __init__(self, coding: str, step: int = STEP) -> None:
        self._deflate = coding == "deflate"
        self._name = "deflate" if self._deflate else "gzip"
        self._z = zlib.decompressobj() if self._deflate else zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._fresh = True
        self._step = step

    @property
    def pending(self) -> bool:
        return bool(self._z.unconsumed_tail)

    def decode(self, data: bytes) -> bytes:
        try:
            if self._fresh:
                self._fresh = False
                if self._deflate:
                    try:
                        return self._z.decompress(data, self._step)
                    except zlib.error:
                        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._z.decompress(data, self._step)
        except zlib.error as exc:
            raise DecodingError(f"corrupt {self._name} data: {exc}") from exc

    def more(self) -> bytes:
        return self.decode(self._z.unconsumed_tail)

    def flush(self) -> bytes:
        if self.pending:
            return self.more()
        # With no input left over, zlib holds at most the end of one match (258 bytes).
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise DecodingError(f"corrupt {self._name} data: {exc}") from exc


class BrotliDecoder:
    """br, with a brotli binding that takes an output bound (1.2 or later)."""

    __slots__ = ("_decompressor", "_error", "_leftover", "_more", "_step")

    def __init__(self, brotli: Any, step: int = STEP) -> None:
        self._decompressor = brotli.Decompressor()
        self._error: type[Exception] = brotli.error
        self._leftover = b""
        self._more = False
        self._step = step

    @property
    def pending(self) -> bool:
        return self._more or bool(self._leftover)

    def decode(self, data: bytes) -> bytes:
        decompressor = self._decompressor
        try:
            out: bytes = decompressor.process(data, output_buffer_limit=self._step)
        except self._error as exc:
            raise DecodingError(f"corrupt brotli data: {exc}") from exc
        # Google's binding grows its output a block at a time, so it may return more than
        # the bound, and may hold output while it can take input: a full step means more.
        self._more = not decompressor.is_finished() and (
            len(out) >= self._step or not decompressor.can_accept_more_data()
        )
        if len(out) > self._step:
            out, self._leftover = out[: self._step], out[self._step :]
        return out

    def more(self) -> bytes:
        if self._leftover:
            out, self._leftover = self._leftover[: self._step], self._leftover[self._step :]
            return out
        return self.decode(b"")

    def flush(self) -> bytes:
        return self.more() if self.pending else b""


class ZstdDecoder:
    """zstd, with ``compression.zstd`` (or its backport). A body may hold several frames
    (RFC 8878); a frame may use a window of at most 8 MiB (RFC 9659), which bounds the
    decoder's own memory too."""

    __slots__ = ("_decompressor", "_error", "_new", "_step")

    def __init__(self, zstd: Any, step: int = STEP) -> None:
        options = {zstd.DecompressionParameter.window_log_max: _ZSTD_WINDOW_LOG_MAX}
        self._new = functools.partial(zstd.ZstdDecompressor, options=options)
        self._decompressor = self._new()
        self._error: type[Exception] = zstd.ZstdError
        self._step = step

    @property
    def pending(self) -> bool:
        decompressor = self._decompressor
        if decompressor.eof:  # a frame is done: another may start in the bytes after it
            return bool(decompressor.unused_data)
        return not decompressor.needs_input

    def decode(self, data: bytes) -> bytes:
        decompressor = self._decompressor
        if decompressor.eof:  # the next frame, from the bytes after the last one
            data = decompressor.unused_data + data
            decompressor = self._decompressor = self._new()
        try:
            out: bytes = decompressor.decompress(data, self._step)
        except self._error as exc:
            raise DecodingError(f"corrupt zstd data: {exc}") from exc
        return out

    def more(self) -> bytes:
        return self.decode(b"")

    def flush(self) -> bytes:
        return self.more() if self.pending else b""


class Undecodable:
    """A body that cannot be decoded in bounded steps: its first byte raises."""

    __slots__ = ("_reason",)

    pending = False

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def decode(self, data: bytes) -> bytes:
        raise DecodingError(self._reason)

    def more(self) -> bytes:
        return b""

    def flush(self) -> bytes:
        return b""


@functools.cache
def _brotli() -> Any | None:
    """The brotli binding with a bounded decoder, if one is installed."""
    for name in ("brotli", "brotlicffi"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module.Decompressor, "can_accept_more_data"):  # 1.2 and later
            return module
    return None


@functools.cache
def _zstd() -> Any | None:
    """``compression.zstd`` (Python 3.14) or ``backports.zstd``, if there is one."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
