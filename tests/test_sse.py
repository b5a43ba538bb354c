"""Tests for the sans-IO SSE parser: spec vectors at every split point, properties, limits."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sudo_stream.sse import ServerSentEvent, SSEError, SSEParser

_BOM = b"\xef\xbb\xbf"
VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "sse_vectors.json").read_text(encoding="utf-8")
)


def _body(vector: dict[str, Any]) -> bytes:
    if "input_b64" in vector:
        return base64.b64decode(vector["input_b64"])
    return str(vector["input"]).encode("utf-8")


def _parse(pieces: list[bytes], **kwargs: Any) -> tuple[list[ServerSentEvent], SSEParser]:
    parser = SSEParser(**kwargs)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return events, parser


def _parse_plain(pieces: list[bytes], **kwargs: Any) -> tuple[list[ServerSentEvent], SSEParser]:
    """As a stream reads: the fast lane first, :meth:`SSEParser.feed` when it declines."""
    parser = SSEParser(**kwargs)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        payload = parser.feed_plain(piece)
        if payload is None:
            events += parser.feed(piece)
        else:
            text = payload.decode("utf-8", "replace")
            events.append(ServerSentEvent("message", text, parser.last_event_id))
    events += parser.close()
    return events, parser


def _as_dicts(events: list[ServerSentEvent]) -> list[dict[str, Any]]:
    return [{"event": e.event, "data": e.data, "id": e.id, "retry": e.retry} for e in events]


def _splittings(vector: dict[str, Any]) -> Iterator[tuple[str, list[bytes]]]:
    """Whole, at every single split point, byte by byte, and in the vector's chunks."""
    body = _body(vector)
    yield "whole", [body]
    for i in range(len(body) + 1):
        yield f"split@{i}", [body[:i], body[i:]]
    yield "bytewise", [body[i : i + 1] for i in range(len(body))]
    if vector.get("chunks"):
        cuts = [0, *vector["chunks"], len(body)]
        yield "chunks", [body[a:b] for a, b in pairwise(cuts)]


def test_vectors_are_all_there() -> None:
    assert len(VECTORS) == 96
    assert len({v["name"] for v in VECTORS}) == 96


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    for how, pieces in _splittings(vector):
        events, parser = _parse(pieces)
        assert _as_dicts(events) == vector["events"], how
        assert parser.last_event_id == vector["last_event_id"], how
        assert parser.reconnection_time == vector["reconnection_time"], how


def test_event_object() -> None:
    event = ServerSentEvent(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", "", None)
    assert event == ServerSentEvent("message", "x", "", None)
    assert event != ServerSentEvent("message", "x", "1", None)
    assert event != "x"
    assert repr(event) == "ServerSentEvent(event='message', data='x', id='', retry=None)"
    assert not hasattr(event, "__dict__")
    match event:
        case ServerSentEvent("message", data):
            assert data == "x"
        case _:  # pragma: no cover
            pytest.fail("positional match failed")


def test_feed_returns_events_as_soon_as_their_block_ends() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [ServerSentEvent(data="a")]
    assert parser.feed(b"data: b\n\ndata: c\n\ndata: d") == [
        ServerSentEvent(data="b"),
        ServerSentEvent(data="c"),
    ]
    assert parser.feed(b"\n\n") == [ServerSentEvent(data="d")]
    assert parser.feed(b"") == []
    assert parser.close() == []
    assert not parser.truncated


def test_mixed_blocks_in_one_piece() -> None:
    body = (
        b"data: 1\n\n: keep-alive\n\nevent: delta\ndata: 2\nid: 7\n\n\n\ndata:3\n\n"
        b"retry: 15\ndata: 4\n\ndata: 5\ndata: 6\n\ndata: 7\n\n"
    )
    expected = [
        ServerSentEvent("message", "1", "", None),
        ServerSentEvent("delta", "2", "7", None),
        ServerSentEvent("message", "3", "7", None),
        ServerSentEvent("message", "4", "7", 15),
        ServerSentEvent("message", "5\n6", "7", None),
        ServerSentEvent("message", "7", "7", None),
    ]
    for size in (1, 2, 3, 7, 64, len(body)):
        events, parser = _parse([body[i : i + size] for i in range(0, len(body), size)])
        assert events == expected, size
        assert parser.reconnection_time == 15


def test_no_space_data_fast_path_and_mixed_spacing() -> None:
    assert _parse([b"data:a\n\ndata:b\n\n"])[0] == [
        ServerSentEvent(data="a"),
        ServerSentEvent(data="b"),
    ]
    assert _parse([b"data:a\n\ndata: b\n\ndata:  c\n\n"])[0] == [
        ServerSentEvent(data="a"),
        ServerSentEvent(data="b"),
        ServerSentEvent(data=" c"),
    ]
    assert _parse([b"data: a\n\ndata:\n\ndata: \n\n"])[0] == [
        ServerSentEvent(data="a"),
        ServerSentEvent(data=""),
        ServerSentEvent(data=""),
    ]


def test_reconnection_time_takes_effect_before_dispatch() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 250\ndata: x")
    assert parser.reconnection_time == 250
    assert parser.feed(b"\n\n") == [ServerSentEvent("message", "x", "", 250)]


def test_last_event_id_commits_at_dispatch_and_carries_over_close() -> None:
    parser = SSEParser(last_event_id="41")
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent("message", "a", "41", None)]
    parser.feed(b"id: 42\ndata: b\n")
    assert parser.last_event_id == "41"  # not dispatched yet
    parser.close()
    assert parser.truncated
    assert parser.last_event_id == "41"
    # A new connection's body; a BOM at its start is stripped again.
    assert parser.feed(b"\xef\xbb\xbfdata: c\n\n") == [ServerSentEvent("message", "c", "41", None)]


# -- truncation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "truncated"),
    [
        (b"", False),
        (b"data: a\n\n", False),
        (b"data: a\n\n\n\n", False),
        (b"data: a\n\n: ping\n", False),  # only a comment pending
        (b"data: a\n\ndata: [DONE]\n", True),  # the last blank line never came
        (b"data: a\n\ndata: [DONE]", True),  # inside a line
        (b"data: a\n\ndata: b\r", True),
        (b"data: a\n\nevent: x\n", True),
        (b"data: a\n\n: pin", True),  # inside a line, even a comment
        (b"\xef\xbb", True),
    ],
)
def test_truncated(body: bytes, truncated: bool) -> None:
    for pieces in ([body], [body[i : i + 1] for i in range(len(body))]):
        _, parser = _parse(pieces)
        assert parser.truncated is truncated


# -- size limit ------------------------------------------------------------------------


def test_event_under_the_limit_passes() -> None:
    data = b"x" * 1000
    body = b"data: " + data + b"\n\n"
    for size in (1, 100, len(body)):
        events, _ = _parse(
            [body[i : i + size] for i in range(0, len(body), size)], max_event_size=1024
        )
        assert events == [ServerSentEvent(data="x" * 1000)]


@pytest.mark.parametrize("piece_size", [1, 7, 100, 5000])
def test_oversized_event_raises(piece_size: int) -> None:
    body = (
        b"data: ok\n\n"
        + b"data: "
        + b"y" * 100
        + b"\n" * 1
        + (b"data: " + b"z" * 100 + b"\n") * 20
        + b"\n"
    )
    parser = SSEParser(max_event_size=1000)
    with pytest.raises(SSEError, match=r"max_event_size=1000") as info:
        for i in range(0, len(body), piece_size):
            parser.feed(body[i : i + piece_size])
    assert "bytes" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_oversized_block_in_one_big_piece_raises() -> None:
    body = b"data: ok\n\n" + b"data: " + b"y" * 5000 + b"\n\ndata: ok\n\n"
    with pytest.raises(SSEError):
        SSEParser(max_event_size=1000).feed(body)


@pytest.mark.parametrize("piece_size", [1, 1024])
def test_endless_line_raises(piece_size: int) -> None:
    parser = SSEParser(max_event_size=10_000)
    piece = b"data: " + b"a" * (piece_size - 6) if piece_size > 6 else b"a" * piece_size
    with pytest.raises(SSEError):
        for _ in range(20_000):
            parser.feed(piece)
    # What is held stays bounded by the limit.
    assert sum(map(len, parser._parts)) <= 10_000 + piece_size


@pytest.mark.parametrize("line", [b"data: x\n", b": keep-alive\r\n", b"id: 1\r"])
def test_endless_block_without_blank_line_raises(line: bytes) -> None:
    parser = SSEParser(max_event_size=1000)
    with pytest.raises(SSEError):
        for _ in range(1000):
            parser.feed(line)


def test_oversized_single_event_piece_raises() -> None:
    parser = SSEParser(max_event_size=100)
    assert parser.feed(b"data: ok\n\n") == [ServerSentEvent(data="ok")]
    assert parser.feed(b"data: " + b"x" * 93 + b"\n\n") == [ServerSentEvent(data="x" * 93)]
    with pytest.raises(SSEError):
        parser.feed(b"data: " + b"x" * 94 + b"\n\n")  # its line and line end: 101 bytes


def test_block_spanning_pieces_over_the_limit_raises() -> None:
    parser = SSEParser(max_event_size=100)
    assert parser.feed(b"data: " + b"x" * 50 + b"\n") == []
    with pytest.raises(SSEError):
        parser.feed(b"data: " + b"y" * 60 + b"\n\n")


def test_unterminated_line_after_complete_lines_over_the_limit_raises() -> None:
    parser = SSEParser(max_event_size=100)
    with pytest.raises(SSEError):
        parser.feed(b"data: " + b"x" * 90 + b"\ndata: " + b"y" * 30)


def test_absurdly_long_retry_does_not_crash() -> None:
    # Past int()'s digit limit the value is ignored rather than raising.
    parser = SSEParser()
    events = parser.feed(b"retry: " + b"1" * 5000 + b"\ndata: x\n\n")
    assert [e.data for e in events] == ["x"]


def test_max_event_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEParser(max_event_size=0)


# -- linear time ------------------------------------------------------------------------


def test_big_event_in_small_pieces_is_linear() -> None:
    # 2 MB event in 1 KiB pieces, then byte by byte for its last 64 KiB. A quadratic
    # parser (re-joining or re-scanning the pending bytes on each piece) would copy
    # ~2 GB here and take minutes; this one copies each byte a bounded number of times.
    payload = b"x" * (2 * 1024 * 1024)
    body = b"data: " + payload + b"\n\n"
    parser = SSEParser()
    events: list[ServerSentEvent] = []
    head, tail = body[: -64 * 1024], body[-64 * 1024 :]
    for i in range(0, len(head), 1024):
        events += parser.feed(head[i : i + 1024])
    assert len(parser._parts) == len(range(0, len(head), 1024))  # appended, never joined
    for i in range(len(tail)):
        events += parser.feed(tail[i : i + 1])
    assert len(events) == 1
    assert len(events[0].data) == len(payload)


def test_many_lines_in_one_event_byte_by_byte() -> None:
    body = b"data: " + b"\ndata: ".join([b"0123456789"] * 20_000) + b"\n\n"
    parser = SSEParser()
    events: list[ServerSentEvent] = []
    for i in range(0, len(body), 3):
        events += parser.feed(body[i : i + 3])
    assert len(events) == 1
    assert events[0].data == "\n".join(["0123456789"] * 20_000)


# -- properties ------------------------------------------------------------------------

_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_lines = st.one_of(
    st.builds(lambda v: f"data: {v}", _values),
    st.builds(lambda v: f"data:{v}", _values),
    st.just("data"),
    st.builds(lambda v: f"event: {v}", _values),
    st.builds(lambda v: f"id: {v}", _values),
    st.builds(lambda v: f"retry: {v}", st.one_of(_values, st.integers(0, 10**6).map(str))),
    st.builds(lambda v: f":{v}", _values),
    st.builds(lambda v: f"{v}", _values),
)
_blocks = st.lists(_lines, max_size=4).map(lambda lines: [*lines, ""])
_eols = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    lines = [line for block in draw(st.lists(_blocks, max_size=8)) for line in block]
    lines += draw(st.lists(_lines, max_size=2))  # possibly an unterminated block
    text = "".join(line + draw(_eols) for line in lines)
    if draw(st.booleans()):
        text += draw(_values)  # possibly an unterminated line
    raw = text.encode("utf-8")
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.booleans()):  # some invalid UTF-8 somewhere
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xe2\x82", b"\xc0\xaf", b"\x80"]))
            + raw[at:]
        )
    return raw


def _reference(body: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """The spec's algorithm, literally, on the whole body at once: the test oracle."""
    text = body.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split("\r\n|\r|\n", text)[:-1]  # the last piece is unterminated
    events = []
    data: list[str] = []
    event_type, id_buffer, last_id, retry, block_retry = "", "", "", None, None
    for line in lines:
        if not line:
            last_id = id_buffer
            if data:
                events.append(
                    ServerSentEvent(event_type or "message", "\n".join(data), last_id, block_retry)
                )
            data, event_type, block_retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = block_retry = int(value)
    return events, last_id, retry


@settings(max_examples=300, deadline=None)
@given(body=_streams(), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_rechunking_never_changes_the_result(body: bytes, cuts: list[int]) -> None:
    expected, whole = _parse([body])
    assert (expected, whole.last_event_id, whole.reconnection_time) == _reference(body)
    bounds = [0, *sorted(c for c in cuts if c <= len(body)), len(body)]
    events, chunked = _parse([body[a:b] for a, b in pairwise(bounds)])
    assert events == expected
    assert chunked.last_event_id == whole.last_event_id
    assert chunked.reconnection_time == whole.reconnection_time
    assert chunked.truncated == whole.truncated
    bytewise, _ = _parse([body[i : i + 1] for i in range(len(body))])
    assert bytewise == expected


@settings(max_examples=200, deadline=None)
@given(datas=st.lists(_values, min_size=1, max_size=30), size=st.integers(1, 64))
def test_data_only_streams_roundtrip(datas: list[str], size: int) -> None:
    body = "".join(f"data: {d}\n\n" for d in datas).encode("utf-8")
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    events, parser = _parse(pieces)
    assert [e.data for e in events] == datas
    assert all(e.event == "message" and e.id == "" and e.retry is None for e in events)
    assert not parser.truncated


_raw_values = st.lists(
    st.one_of(
        _values.map(lambda v: v.encode("utf-8")),
        st.sampled_from([b"\xff", b"\xe2\x82", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80"]),
    ),
    max_size=3,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(st.sampled_from([b"data: ", b"data:"]), _raw_values), min_size=1, max_size=30
    ),
    size=st.one_of(st.integers(1, 64), st.just(1 << 20)),
)
def test_data_only_streams_match_the_reference(
    blocks: list[tuple[bytes, bytes]], size: int
) -> None:
    # Streams of single `data:` lines take the fast paths (ASCII text, non-ASCII bytes,
    # invalid UTF-8 fallback); they must agree with the literal algorithm.
    body = b"".join(prefix + value + b"\n\n" for prefix, value in blocks)
    events, _ = _parse([body[i : i + size] for i in range(0, len(body), size)])
    assert events == _reference(body)[0]


def test_region_fast_paths_decode_like_the_whole_body() -> None:
    body = b"data: caf\xc3\xa9\n\ndata: a\xffb\n\ndata: \xe2\x82\n\ndata: \xf0\x9f\x99\x82\n\n"
    expected = ["café", "a\ufffdb", "\ufffd", "🙂"]
    for variant in (body, body.replace(b"data: ", b"data:")):
        for size in (1, 5, len(variant)):
            events, _ = _parse([variant[i : i + size] for i in range(0, len(variant), size)])
            assert [e.data for e in events] == expected
    ascii_body = b"data: a\n\ndata: b\n\ndata:c\n\n"  # mixed spacing: general path
    assert [e.data for e in _parse([ascii_body])[0]] == ["a", "b", "c"]


def test_bytearray_pieces_are_accepted() -> None:
    body = b"data: a\n\ndata: caf\xc3\xa9\n\ndata: b\n\ndata: c"
    pieces = [body[:9], body[9:], b"\n\n", b"data: d\n\n"]
    events, _ = _parse([bytearray(piece) for piece in pieces])
    assert [e.data for e in events] == ["a", "café", "b", "c", "d"]


def test_module_imports_only_the_standard_library_and_msgspec() -> None:
    import ast
    import sys

    import sudo_stream.sse

    tree = ast.parse(Path(sudo_stream.sse.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    # msgspec for the event struct (built in C); nothing that does I/O.
    assert imported <= set(sys.stdlib_module_names) | {"__future__", "msgspec"}


_tokens = st.sampled_from(
    [
        *(b"data", b"data:", b"data: ", b":", b" ", b"\n", b"\n\n", b"\r", b"\r\n", b"id:"),
        *(b"event:", b"retry:", b"12", b"x", b"\x00", b"\xff", b"\xc3\xa9", b"\xe2\x82", _BOM),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(_tokens, max_size=40).map(b"".join),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_token_soup_matches_the_reference(body: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(c for c in cuts if c <= len(body)), len(body)]
    pieces = [body[a:b] for a, b in pairwise(bounds)]
    expected = _reference(body)
    for parse in (_parse, _parse_plain):
        events, parser = parse(pieces)
        assert (events, parser.last_event_id, parser.reconnection_time) == expected


@settings(max_examples=300, deadline=None)
@given(blocks=st.lists(st.lists(_tokens, max_size=8).map(b"".join), max_size=12))
def test_feed_plain_takes_only_what_feed_would_make_one_event_of(blocks: list[bytes]) -> None:
    # One piece per block, the shape the fast lane is for, among pieces it must decline.
    pieces = [b"data: " + block + b"\n\n" for block in blocks] + blocks
    pieces += [b"id: 7\n\n", b"data: after id\n\n", b"data: \xff\n\n", b"data: a\r\n\r\n"]
    expected = _reference(b"".join(pieces))
    events, parser = _parse_plain(pieces)
    assert (events, parser.last_event_id, parser.reconnection_time) == expected


def test_feed_plain() -> None:
    parser = SSEParser(max_event_size=20)
    assert parser.feed_plain(b"data: x\n\n") is None  # the BOM check comes first
    assert parser.feed(b"data: x\n\n") == [ServerSentEvent(data="x")]
    assert parser.feed_plain(b'data: {"a": 1}\n\n') == b'{"a": 1}'
    # The parser is left as it was: the same piece may still go to feed.
    assert parser.feed(b'data: {"a": 1}\n\n') == [ServerSentEvent(data='{"a": 1}')]
    assert parser.feed_plain(b"data: caf\xc3\xa9\n\n") == b"caf\xc3\xa9"
    declined = [b"data: x\n", b"data: a\nb\n\n", b"data:x\n\n", b"event: e\n\n", b"data: a\r\n\r\n"]
    declined += [b"data: " + b"x" * 20 + b"\n\n", b"", b"\n"]
    for piece in declined:
        assert parser.feed_plain(piece) is None, piece
    assert parser.feed(b"data: part") == []
    assert parser.feed_plain(b"data: x\n\n") is None  # not at a block boundary


def test_empty_piece_between_cr_and_lf() -> None:
    # The empty piece must not make the parser forget that an LF may complete the CR.
    events, parser = _parse([b"id: 1\r", b"", b"\n"])
    assert (events, parser.last_event_id) == ([], "")
    for pieces in ([b"data: a\r", b"", b"\n", b"", b"\n"], [b"data: a\r", b"", b"\n\r\n"]):
        events, _ = _parse(pieces)
        assert events == [ServerSentEvent(data="a")]


@pytest.mark.parametrize(
    "body",
    [
        b"event: a\ndata: b\n\nevent: response.done\ndata: {\"x\": 1}\n\n",
        b"event: \ndata: x\n\n",  # an empty event type is a "message"
        b"event: a\ndata: b\ndata: c\n\n",  # two data lines: the line-by-line path
        b"event:a\ndata: b\n\nevent: a\ndata:b\n\n",  # no space after a colon
        b"event: a\nid: 5\ndata: b\n\nevent: c\ndata: d\n\n",  # the id carries on
        b"event: a\n\nevent: b\ndata: \n\n",  # no data: nothing fired; empty data fired
        b"event: a: b\ndata: c: d\n\n",  # colons inside the values
    ],
)
def test_event_and_data_blocks_parse_as_line_by_line(body: bytes) -> None:
    whole = SSEParser().feed(body)
    one_by_one = SSEParser()
    by_bytes = [event for i in range(len(body)) for event in one_by_one.feed(body[i : i + 1])]
    assert whole == by_bytes  # a piece of whole blocks takes the fast paths; bytes cannot
    assert [e.event for e in whole] == [e.event for e in by_bytes]
