"""Sans-IO decoders of HTTP/1.1 response body framing (RFC 9112 section 6): bytes off the
socket in, body bytes out.

A streaming answer arrives as many small HTTP chunks (servers flush one per event), and
h11 turns each into an event through its state machine: ~5 us a chunk, more than the rest
of our pipeline together. These decoders pass a whole socket read of chunks through in
one call, as one piece of body bytes, with a handful of slices and one regular
expression per chunk. The response head is still parsed by h11 (once a response, not a
hot path); :mod:`sudo_stream._h1` joins the two.

Every framer has one shape: ``feed(data) -> bytes`` (body bytes, possibly empty, never
holding back data it has), ``done`` once the body is complete, ``extra`` (bytes received
past its end), and ``end()`` at end of file, which raises :class:`FramingError` if the body
was cut short.
"""

from __future__ import annotations

import re

__all__ = ["ChunkedBody", "CloseDelimitedBody", "FramingError", "LengthBody"]

# A chunk-size line: hex digits (any number of leading zeros, then at most 16: sizes up
# to 2**64 - 1), optional whitespace and extensions (which we ignore).
_SIZE_LINE = re.compile(rb"0*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
_MAX_LINE = 4096  # a chunk-size or trailer line, however its bytes arrive
_MAX_TRAILERS = 64 * 1024
_TOO_LONG = f"a chunk-size or trailer line is longer than {_MAX_LINE} bytes"


class FramingError(Exception):
    """The body's framing is broken: a malformed chunk, or a body cut short.

    ``body`` holds the body bytes the same feed decoded before the fault, which come first.
    """

    def __init__(self, message: str, body: bytes = b"") -> None:
        super().__init__(message)
        self.body = body


class LengthBody:
    """A body of ``Content-Length`` bytes."""

    __slots__ = ("_left", "done", "extra")

    def __init__(self, length: int) -> None:
        self._left = length
        self.done = length == 0
        self.extra = b""

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.extra += data
            return b""
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            return data
        self._left = 0
        self.done = True
        self.extra = data[left:]
        return data[:left]

    def end(self) -> None:
        if not self.done:
            raise FramingError(f"the body ended {self._left} bytes short of its Content-Length")


class CloseDelimitedBody:
    """A body without a length: it ends when the server closes the connection."""

    __slots__ = ("done", "extra")

    def __init__(self) -> None:
        self.done = False
        self.extra = b""

    def feed(self, data: bytes) -> bytes:
        return data

    def end(self) -> None:
        self.done = True


# ChunkedBody states
_SIZE, _DATA, _DATA_END, _TRAILERS, _DONE, _BROKEN = range(6)


class ChunkedBody:
    """A ``Transfer-Encoding: chunked`` body. Chunk extensions and trailers are read and
    dropped; data is handed on as it arrives, before its chunk is complete."""

    __slots__ = ("_carry", "_left", "_state", "_trailers", "done", "extra")

    def __init__(self) -> None:
        self.done = False
        self.extra = b""
        self._carry = b""  # an incomplete size or trailer line, or half a CRLF
        self._left = 0  # data bytes still to come in the current chunk
        self._state = _SIZE
        self._trailers = 0

    def feed(self, data: bytes) -> bytes:
        if self._state >= _DONE:
            if self._state == _BROKEN:
                raise FramingError("the chunked body is broken")
            self.extra += data
            return b""
        if self._carry:
            data = self._carry + data
            self._carry = b""
        pieces: list[bytes] = []
        try:
            return self._decode(data, pieces)
        except FramingError as exc:
            exc.body = b"".join(pieces)
            self._state = _BROKEN
            raise

    def _decode(self, data: bytes, pieces: list[bytes]) -> bytes:
        pos, end = 0, len(data)
        state = self._state
        while pos < end:
            if state == _SIZE:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    break  # carried to the next feed
                if eol - pos > _MAX_LINE:
                    raise FramingError(_TOO_LONG)
                match = _SIZE_LINE.fullmatch(data, pos, eol)
                if match is None:
                    raise FramingError(f"malformed chunk-size line {data[pos:eol][:40]!r}")
                size = int(match[1], 16)
                pos = eol + 2
                if not size:
                    state = _TRAILERS
                    continue
                stop = pos + size
                if data.startswith(b"\r\n", stop):  # the usual case: the whole chunk is here
                    pieces.append(data[pos:stop])
                    pos = stop + 2
                    continue
                self._left, state = size, _DATA
            elif state == _DATA:
                stop = pos + self._left
                if stop > end:
                    self._left = stop - end
                    pieces.append(data[pos:])
                    pos = end
                    break
                pieces.append(data[pos:stop])
                pos, state = stop, _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    break
                if not data.startswith(b"\r\n", pos):
                    raise FramingError(f"a chunk's data is not followed by CRLF: {data[pos:pos+8]!r}")
                pos, state = pos + 2, _SIZE
            else:  # _TRAILERS: lines up to an empty one
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    break
                if eol == pos:
                    self.done, self._state = True, _DONE
                    self.extra = data[eol + 2 :]
                    return b"".join(pieces)
                if eol - pos > _MAX_LINE:
                    raise FramingError(_TOO_LONG)
                self._trailers += eol - pos
                if self._trailers > _MAX_TRAILERS:
                    raise FramingError("the chunked body's trailers are too large")
                pos = eol + 2
        self._state = state
        if pos < end:
            carry = self._carry = data[pos:]
            # a line still without its CRLF (perhaps with the CR): the same limit as above
            if len(carry) - carry.endswith(b"\r") > _MAX_LINE:
                raise FramingError(_TOO_LONG)
        return b"".join(pieces)

    def end(self) -> None:
        if not self.done:
            raise FramingError("the chunked body ended before its last chunk")
