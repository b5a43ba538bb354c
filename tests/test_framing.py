"""HTTP/1.1 body framing (sudo_stream._framing): every vector at every split point."""

from __future__ import annotations

import pytest

from sudo_stream._framing import ChunkedBody, CloseDelimitedBody, FramingError, LengthBody

Framer = ChunkedBody | LengthBody | CloseDelimitedBody


def feed_all(framer: Framer, pieces: list[bytes]) -> bytes:
    return b"".join(framer.feed(piece) for piece in pieces)


def splits(wire: bytes) -> list[list[bytes]]:
    """The wire whole, cut once at every point, and byte by byte."""
    return [
        [wire],
        *([wire[:i], wire[i:]] for i in range(1, len(wire))),
        [wire[i : i + 1] for i in range(len(wire))],
    ]


CHUNKED = [
    # (wire, body, extra)
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello", b""),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", b""),
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),  # upper-case hex
    (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),
    (b"0005\r\nhello\r\n0\r\n\r\n", b"hello", b""),  # leading zeros
    (b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello", b""),  # chunk extensions
    (b"5 \t;x\r\nhello\r\n0\r\n\r\n", b"hello", b""),  # whitespace before an extension
    (b"5\r\nhello\r\n0\r\nx-trailer: 1\r\nx-other: 2\r\n\r\n", b"hello", b""),  # trailers
    (b"2\r\n\r\n\r\n0\r\n\r\n", b"\r\n", b""),  # data that looks like framing
    (b"0\r\n\r\n", b"", b""),  # an empty body
    (b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1", b"abc", b"HTTP/1.1"),  # bytes past the end
]


@pytest.mark.parametrize(("wire", "body", "extra"), CHUNKED)
def test_chunked_vectors_at_every_split(wire: bytes, body: bytes, extra: bytes) -> None:
    for pieces in splits(wire):
        framer = ChunkedBody()
        assert feed_all(framer, pieces) == body, pieces
        assert framer.done, pieces
        assert framer.extra == extra, pieces
        framer.end()  # complete: not an error


def test_chunk_data_is_handed_on_before_its_chunk_is_complete() -> None:
    framer = ChunkedBody()
    assert framer.feed(b"a\r\n01234") == b"01234"
    assert framer.feed(b"56") == b"56"
    assert framer.feed(b"789\r") == b"789"
    assert not framer.done
    assert framer.feed(b"\n0\r\n\r\n") == b""
    assert framer.done


def test_one_socket_read_of_many_chunks_is_one_piece() -> None:
    events = [b"data: %d\n\n" % i for i in range(100)]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    framer = ChunkedBody()
    assert framer.feed(wire) == b"".join(events)
    assert not framer.done


def test_bytes_after_the_end_are_kept_as_extra() -> None:
    framer = ChunkedBody()
    framer.feed(b"1\r\nx\r\n0\r\n\r\nab")
    assert framer.feed(b"cd") == b""
    assert framer.extra == b"abcd"


@pytest.mark.parametrize(
    "line",
    [b"zz", b"", b" 5", b"0x5", b"+5", b"-5", b"5_0", b"1" * 17, b"5\x00", b"\xff"],
)
def test_a_malformed_chunk_size_is_an_error(line: bytes) -> None:
    with pytest.raises(FramingError, match="chunk-size"):
        ChunkedBody().feed(line + b"\r\nhello\r\n0\r\n\r\n")


def test_chunk_data_must_end_with_crlf() -> None:
    with pytest.raises(FramingError, match="not followed by CRLF"):
        ChunkedBody().feed(b"5\r\nhelloXX0\r\n\r\n")
    framer = ChunkedBody()
    framer.feed(b"5\r\nhello\r")
    with pytest.raises(FramingError, match="not followed by CRLF"):
        framer.feed(b"X0\r\n\r\n")


def test_body_before_a_fault_comes_with_the_error() -> None:
    framer = ChunkedBody()
    with pytest.raises(FramingError) as caught:
        framer.feed(b"3\r\nabc\r\n2\r\nde\r\nzz\r\n")
    assert caught.value.body == b"abcde"
    with pytest.raises(FramingError, match="broken"):  # and it stays broken
        framer.feed(b"1\r\nx\r\n")


def test_endless_lines_are_refused() -> None:
    with pytest.raises(FramingError, match="longer than 4096 bytes"):
        ChunkedBody().feed(b"1" + b";" * 5000)
    with pytest.raises(FramingError, match="trailers are too large"):
        ChunkedBody().feed(b"0\r\n" + b"x-t: 1\r\n" * 20_000)


def outcome(pieces: list[bytes]) -> bytes | str:
    framer = ChunkedBody()
    body = b""
    try:
        for piece in pieces:
            body += framer.feed(piece)
    except FramingError as exc:
        return str(exc)
    assert framer.done, pieces
    return body


@pytest.mark.parametrize(
    ("line", "whole"),
    [
        (b"5;" + b"x" * 4094, True),  # 4,096 bytes: at the limit
        (b"5;" + b"x" * 4095, False),  # 4,097 bytes: one over
        (b"5;" + b"x" * 5000, False),  # a complete line well over it, in one read
    ],
    ids=["at-the-limit", "one-over", "far-over"],
)
@pytest.mark.parametrize("where", ["size", "trailer"])
def test_the_line_limit_is_the_same_however_the_bytes_arrive(line: bytes, whole: bool, where: str) -> None:
    if where == "size":
        wire = line + b"\r\nhello\r\n0\r\n\r\n"
    else:
        wire = b"5\r\nhello\r\n0\r\nx-t: " + line[5:] + b"\r\n\r\n"
        whole = len(line[5:]) + 5 <= 4096
    cuts = {0, 1, len(wire) // 2, *range(len(wire) - 12, len(wire))}
    results = {outcome([wire[:i], wire[i:]] if i else [wire]) for i in cuts}
    results.add(outcome([wire[i : i + 700] for i in range(0, len(wire), 700)]))
    assert results == ({b"hello"} if whole else {"a chunk-size or trailer line is longer than 4096 bytes"})


@pytest.mark.parametrize("zeros", [1, 16, 17, 40])
def test_leading_zeros_in_a_chunk_size_are_accepted_as_h11_does(zeros: int) -> None:
    wire = b"0" * zeros + b"5\r\nhello\r\n" + b"0" * zeros + b"\r\n\r\n"
    for pieces in splits(wire):
        assert outcome(pieces) == b"hello", pieces


def test_a_chunk_size_over_64_bits_is_refused() -> None:
    assert outcome([b"1" + b"0" * 16 + b"\r\nx\r\n"]).startswith("malformed chunk-size line")
    assert ChunkedBody().feed(b"f" * 16 + b"\r\nx") == b"x"  # 2**64 - 1: a size, if an absurd one


def test_a_chunked_body_cut_short_is_an_error_at_its_end() -> None:
    for cut in (b"", b"5\r\nhel", b"5\r\nhello\r\n", b"0\r\n", b"0\r\nx-t: 1\r\n"):
        framer = ChunkedBody()
        framer.feed(cut)
        assert not framer.done
        with pytest.raises(FramingError, match="before its last chunk"):
            framer.end()


def test_length_body_at_every_split() -> None:
    wire = b"0123456789extra"
    for pieces in splits(wire):
        framer = LengthBody(10)
        assert feed_all(framer, pieces) == b"0123456789"
        assert framer.done and framer.extra == b"extra"


def test_length_body_cut_short() -> None:
    framer = LengthBody(10)
    assert framer.feed(b"0123") == b"0123"
    with pytest.raises(FramingError, match="6 bytes short"):
        framer.end()


def test_an_empty_length_body_is_done_at_once() -> None:
    framer = LengthBody(0)
    assert framer.done
    assert framer.feed(b"x") == b"" and framer.extra == b"x"


def test_close_delimited_body_ends_with_the_connection() -> None:
    framer = CloseDelimitedBody()
    assert framer.feed(b"any") == b"any"
    assert not framer.done
    framer.end()
    assert framer.done
