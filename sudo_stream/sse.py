"""Sans-IO, incremental parser for Server-Sent Events (``text/event-stream``).

The parser is fed raw bytes as they come off the network and returns the events that
those bytes complete; it never reads, sleeps, logs or looks at a clock. It follows the
WHATWG HTML "Parsing an event stream" and "Interpreting an event stream" rules exactly:

- the body is UTF-8 whatever the Content-Type says; invalid bytes become U+FFFD (one per
  maximal subpart) and one leading BOM is stripped, even when split across feeds;
- lines end at CRLF, LF or CR, in any mix, including a CR at the end of one feed and its
  LF at the start of the next;
- ``:`` starts a comment; the field name ends at the first colon and one space after it
  is dropped; ``data`` lines join with LF; ``id`` holding NUL is ignored; ``retry`` must be
  ASCII digits only and takes effect at once; unknown fields are ignored;
- a blank line dispatches the block: nothing is fired when it holds no ``data`` field,
  but the last event ID is still committed;
- at end of input the unterminated block is discarded (:attr:`SSEParser.truncated` records
  that it happened).

Speed: the parser works on whole pieces, not lines. A piece holding exactly one
``data: ...\n\n`` block (one network chunk per event) becomes an event after four C-level
checks, and :meth:`SSEParser.feed_plain` hands back its payload as bytes, for a decoder
that reads bytes, with no event object at all. In a bigger piece the complete blocks are
found with one ``rfind``; when each is a single ``data:`` line (what chat-completion
streams send, proven by splitting on ``\n\ndata: `` and finding no LF left in the pieces)
the events come out of that one ``split`` with no per-line Python work. A block of an
``event:`` line and one ``data:`` line (what the Responses API sends) takes two finds.
Other blocks, and the block that straddles two pieces, go through the line-by-line path. Pending bytes are
kept as a list of pieces and joined once, so time stays linear however the body is cut.
"""

from __future__ import annotations

from itertools import repeat

import msgspec

__all__ = ["SSEError", "SSEParser", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"
_DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024
# Block separators of the fast path, by the length of the "data:" prefix they end with.
_SEPARATORS = {5: "\n\ndata:", 6: "\n\ndata: "}
_SEPARATORS_B = {5: b"\n\ndata:", 6: b"\n\ndata: "}


class ServerSentEvent(msgspec.Struct, gc=False):
    """One dispatched event.

    ``event`` is the event type (``"message"`` when the block named none), ``data`` the
    data lines joined with LF, ``id`` the stream's last event ID at dispatch (``""`` if
    none) and ``retry`` the reconnection time set by a valid ``retry`` field in the same
    block, else ``None``. Compared by value; unhashable.
    """

    # A msgspec struct: built in C, so an event costs about half a plain class's __init__.
    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


class SSEError(ValueError):
    """An event, or a single unterminated line, grew larger than ``max_event_size``.

    The parser that raised it is left mid-block and should be discarded.
    """


class SSEParser:
    """Incremental event-stream parser: ``feed(bytes) -> events``, then ``close()``.

    ``max_event_size`` bounds, in bytes, the block being assembled (its lines with one
    byte per line end, comments included) and any unterminated line, so memory stays
    bounded whatever the server sends. Exceeding it raises :class:`SSEError`.

    ``last_event_id`` is the stream's last event ID string (committed at each blank line);
    pass it in when resuming a stream. ``reconnection_time`` is the last valid ``retry``
    value in milliseconds, or ``None``. ``truncated`` is set by :meth:`close`.

    After :meth:`close` the parser may be fed the body of a new connection: the last event
    ID and reconnection time carry over, as they do for a browser's ``EventSource``.
    """

    __slots__ = (
        "_block_fields",
        "_block_size",
        "_clean",
        "_data",
        "_event",
        "_id",
        "_max",
        "_max_piece",
        "_parts",
        "_pending_size",
        "_retry",
        "_skip_lf",
        "_special",
        "_started",
        "last_event_id",
        "reconnection_time",
        "truncated",
    )

    last_event_id: str
    reconnection_time: int | None
    truncated: bool

    def __init__(
        self, *, max_event_size: int = _DEFAULT_MAX_EVENT_SIZE, last_event_id: str = ""
    ) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be positive")
        self._max = max_event_size
        self._max_piece = max_event_size + 1  # a `data: x\n\n` piece whose block fits
        self.last_event_id = last_event_id
        self.reconnection_time = None
        self.truncated = False
        self._id = last_event_id  # the last event ID *buffer*
        self._reset()

    def _reset(self) -> None:
        # Pieces of the unterminated line (or of a possible BOM at the start of input);
        # never containing CR or LF.
        self._parts: list[bytes] = []
        self._pending_size = 0
        self._started = False  # past the BOM check
        self._skip_lf = False  # previous piece ended with CR: drop one LF at the start
        self._special = True  # not started or skip_lf: the next piece needs _prelude
        self._clean = False  # not special, at a block boundary, nothing pending
        # The block being assembled from lines already seen (one that spans feeds).
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self._block_size = 0  # bytes of its lines so far; > 0 means inside a block
        self._block_fields = False  # it holds a line that is not a comment

    def feed_plain(self, data: bytes) -> bytes | None:
        """The fast lane for servers that send one event per network piece.

        If ``data`` is exactly one block ``data: <payload>\\n\\n`` arriving at a block
        boundary, return ``<payload>`` as bytes, not yet decoded: the piece is that one
        event, ``ServerSentEvent("message", payload.decode("utf-8", "replace"),
        last_event_id)``, and a JSON decoder can take the bytes as they are. Otherwise
        return ``None``: pass the piece to :meth:`feed`.

        Either way the parser is left as it was (such a piece leaves it at a block
        boundary, with nothing to commit), so a piece taken here may still be given to
        :meth:`feed`, which then returns that one event.
        """
        # At a block boundary, one `data: ...\n\n` within the limit (its block counts its
        # line and one byte for the line end): four C-level scans of a short piece.
        if (
            self._clean
            and data.startswith(b"data: ")
            and data.find(b"\n") == (size := len(data)) - 2
            and data[-1] == 10
            and data.find(b"\r") < 0
            and size <= self._max_piece
        ):
            return data[6:-2]
        return None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume the next piece of the body; return the events it completes, in order.

        ``data`` may be cut anywhere: inside a line, a CRLF pair or a UTF-8 character.
        Raises :class:`SSEError` when the block being assembled outgrows the limit.
        """
        payload = self.feed_plain(data)
        if payload is not None:
            return [ServerSentEvent("message", payload.decode("utf-8", "replace"), self._id)]
        if not data:
            return []  # and keep any pending CR's state for the next piece
        if data.__class__ is not bytes:
            data = bytes(data)  # a bytearray, say: bytes.decode below needs bytes
        if self._special:
            data = self._prelude(data)
        if data.find(b"\r") >= 0:
            # The CR that ends this piece is a line end now; an LF opening the next
            # piece is its second half. Pending parts never hold CR or LF.
            if data[-1] == 13:
                self._skip_lf = self._special = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        elif data.find(b"\n") < 0:
            if data:
                self._clean = False
                self._parts.append(data)
                self._pending_size += len(data)
                if self._pending_size + self._block_size > self._max:
                    self._too_big(self._pending_size + self._block_size)
            return []

        events: list[ServerSentEvent] = []
        pos = 0
        if self._block_size:
            pos = self._finish_block(data, events)
            if pos < 0:
                self._clean = False
                return events
        elif self._parts:
            # The pending line opens a block: parse from there as if it came whole. Each
            # byte is joined once: what stays pending after this came from `data`.
            self._parts.append(data)
            data = b"".join(self._parts)
            self._parts = []
            self._pending_size = 0

        # At a block boundary: blank lines here dispatch nothing.
        n = len(data)
        while pos < n and data[pos] == 10:
            pos += 1
        cut = data.rfind(b"\n\n", pos)
        if cut >= 0:
            end = cut + 2
            if end - pos > self._max:
                for block in data[pos:end].split(b"\n\n"):
                    if len(block) >= self._max:
                        self._too_big(len(block) + 1)
            self._blocks(data if pos == 0 and end == n else data[pos:end], events)
            pos = end
        if pos < n:
            self._clean = False
            if data.find(b"\n", pos) < 0:  # the usual tail: one unterminated line
                rest = data[pos:]
                self._parts.append(rest)
                self._pending_size = size = len(rest)
                if size > self._max:
                    self._too_big(size)
            else:
                self._partial(data, pos, events)
        else:
            self._clean = not self._special
        return events

    def close(self) -> list[ServerSentEvent]:
        """Signal end of input.

        The spec discards an unterminated block, so this always returns ``[]``; it sets
        :attr:`truncated` when input ended inside a line or inside a block holding
        fields, and resets the parser for a new connection.
        """
        self.truncated = bool(self._parts) or self._block_fields
        self._id = self.last_event_id
        self._reset()
        return []

    # -- internals ---------------------------------------------------------------------

    def _too_big(self, size: int) -> None:
        raise SSEError(
            f"SSE event exceeds max_event_size={self._max} bytes (at least {size} bytes)"
        )

    def _prelude(self, data: bytes) -> bytes:
        """Drop the LF of a CRLF split across pieces; strip a BOM opening the stream."""
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if not self._started:
            if self._parts:
                data = b"".join(self._parts) + data
                self._parts = []
                self._pending_size = 0
            if len(data) < 3 and _BOM.startswith(data):
                if data:
                    self._parts.append(data)
                    self._pending_size = len(data)
                return b""
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
        self._special = not self._started
        return data

    def _finish_block(self, data: bytes, events: list[ServerSentEvent]) -> int:
        """Complete the block begun in earlier pieces, line by line.

        Return where the next block starts in ``data``, or -1 if the block goes on.
        """
        parts = self._parts
        if not parts and data[0] == 10:
            end = 0
            pos = 1
        else:
            # Two-byte searches are slow; memchr to the first LF usually lands on it.
            end = data.find(b"\n")
            if data[end + 1 : end + 2] != b"\n":
                end = data.find(b"\n\n", end + 1)
            if end < 0:
                if parts:
                    parts.append(data)
                    data = b"".join(parts)
                    self._parts = []
                    self._pending_size = 0
                self._partial(data, 0, events)
                return -1
            pos = end + 2
        if parts:
            parts.append(data[:end])
            head = b"".join(parts)
            self._parts = []
            self._pending_size = 0
        else:
            head = data[:end]
        size = self._block_size + len(head) + 1
        if size > self._max:
            self._too_big(size)
        if head:
            text = head.decode("utf-8", "replace")
            self._lines(text.split("\n") if "\n" in text else [text], events)
        self._dispatch(events)
        return pos

    def _blocks(self, region: bytes, events: list[ServerSentEvent]) -> None:
        """Dispatch ``region``: whole blocks, each ended by a blank line, starting at one."""
        # Fast path: every block is one `data:` line. Split on the separator and strip
        # the ends; if no piece holds an LF, that shape is proven (one memchr, C speed).
        if region.startswith(b"data:"):
            skip = 6 if region[5] == 32 else 5  # "data: x" or "data:x"
            if skip == 6 or region.find(b"\n\ndata: ") < 0:
                if region.isascii():
                    # Decode once, split the text.
                    datas = region.decode("ascii").split(_SEPARATORS[skip])
                    datas[-1] = datas[-1][:-2]
                    datas[0] = datas[0][skip:]
                    if "\n" not in "".join(datas):
                        self.last_event_id = lid = self._id
                        events.extend(map(ServerSentEvent, repeat("message"), datas, repeat(lid)))
                        return
                else:
                    # Split the bytes, decode each piece: splitting a text holding any
                    # non-Latin-1 character would copy every piece at 2 or 4 bytes a char.
                    parts = region.split(_SEPARATORS_B[skip])
                    parts[-1] = parts[-1][:-2]
                    parts[0] = parts[0][skip:]
                    if b"".join(parts).find(b"\n") < 0:
                        self.last_event_id = lid = self._id
                        mark = len(events)
                        try:
                            texts = map(bytes.decode, parts)  # strict: the common case
                            events.extend(
                                map(ServerSentEvent, repeat("message"), texts, repeat(lid))
                            )
                        except UnicodeDecodeError:
                            del events[mark:]
                            texts = map(_decode_replace, parts)
                            events.extend(
                                map(ServerSentEvent, repeat("message"), texts, repeat(lid))
                            )
                        return
        blocks = region.decode("utf-8", "replace").split("\n\n")
        blocks.pop()  # "" or "\n": blank lines after the last block, nothing to do
        for block in blocks:
            if block.startswith("data: ") and "\n" not in block:
                self.last_event_id = self._id
                events.append(ServerSentEvent("message", block[6:], self._id))
                continue
            if block.startswith("event: "):  # "event: name" then one "data:" line: Responses
                nl = block.find("\n")
                if block.startswith("data: ", nl + 1) and block.find("\n", nl + 1) < 0:
                    self.last_event_id = self._id
                    name = block[7:nl] or "message"
                    events.append(ServerSentEvent(name, block[nl + 7 :], self._id))
                    continue
            self._lines(block.split("\n"), events)
            self._dispatch(events)

    def _partial(self, buf: bytes, pos: int, events: list[ServerSentEvent]) -> None:
        """Take in ``buf[pos:]``, holding no blank line: the lines of an unended block."""
        nl = buf.rfind(b"\n", pos)
        if nl >= 0:
            size = self._block_size + nl + 1 - pos
            if size > self._max:
                self._too_big(size)
            self._block_size = size
            text = buf[pos:nl].decode("utf-8", "replace")
            self._lines(text.split("\n") if "\n" in text else [text], events)
            pos = nl + 1
        if pos < len(buf):
            rest = buf[pos:]
            self._parts.append(rest)
            self._pending_size = len(rest)
            if self._pending_size + self._block_size > self._max:
                self._too_big(self._pending_size + self._block_size)

    def _lines(self, lines: list[str], events: list[ServerSentEvent]) -> None:
        """Interpret complete lines (``""`` is a blank line) into the block state."""
        for line in lines:
            if not line:
                self._dispatch(events)
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # comment
            self._block_fields = True
            if colon < 0:
                name = line
                value = ""
            else:
                name = line[:colon]
                value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                try:
                    retry = int(value)
                except ValueError:  # beyond int()'s digit limit: not a usable delay
                    continue
                self._retry = self.reconnection_time = retry

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        """A blank line: commit the last event ID, fire the block if it has data, reset."""
        self.last_event_id = self._id
        if self._data:
            events.append(
                ServerSentEvent(
                    self._event or "message", "\n".join(self._data), self._id, self._retry
                )
            )
            self._data = []
        self._event = ""
        self._retry = None
        self._block_size = 0
        self._block_fields = False


def _decode_replace(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
