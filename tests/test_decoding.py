"""Compressed answers: every coding the client advertises is decoded a bounded step at a
time; any other is refused with an error naming it, never handed to httpx's decoders
(which inflate a piece whole)."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Sequence

import anyio
import httpx
import pytest

import sudo_stream as ss
from sudo_stream import _decoding, testing
from sudo_stream._decoding import Decoder, DecodingError, accept_encoding, decoder_for

from . import codings
from .helpers import MESSAGES

FAST = ss.Timeout(connect=5, first_event=5, idle=5)
CHUNKS = testing.text_chunks("alpha beta gamma")
EVENTS = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in CHUNKS] + [b"data: [DONE]\n\n"]
BODY = b"".join(EVENTS)  # the SSE body, [DONE] included
ALL = "gzip, deflate, br, zstd"


def run(decoder: Decoder, pieces: Sequence[bytes]) -> list[bytes]:
    """Feed ``pieces`` as the client does; return every step of output."""
    out = []
    for piece in pieces:
        out.append(decoder.decode(piece))
        while decoder.pending:
            out.append(decoder.more())
    out.append(decoder.flush())
    while decoder.pending:
        out.append(decoder.more())
    return out


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- the decoders ---------------------------------------------------------------------------


@pytest.mark.parametrize("coding", codings.CODINGS)
@pytest.mark.parametrize("step", [1000, _decoding.STEP])
def test_a_bomb_decodes_a_step_at_a_time(coding: str, step: int) -> None:
    """Every piece of output is at most ``step`` bytes, however the input comes, and all
    of it comes out. (Google's brotli binding returns whole 32 KiB blocks past its bound.)"""
    body = codings.bomb(coding)
    decoder = decoder_for(coding, step)
    assert decoder is not None
    pieces = run(decoder, split(body, 4096))
    assert max(len(piece) for piece in pieces) <= step
    assert sum(len(piece) for piece in pieces) == codings.BOMB_DECODED


@pytest.mark.parametrize("coding", codings.CODINGS)
def test_every_split_point(coding: str) -> None:
    body = b"".join(codings.compress(coding, EVENTS))
    for cut in range(len(body) + 1):
        decoder = decoder_for(coding, 16)
        assert decoder is not None
        assert b"".join(run(decoder, [body[:cut], body[cut:]])) == BODY, cut
    decoder = decoder_for(coding, 16)
    assert decoder is not None
    assert b"".join(run(decoder, split(body, 1))) == BODY


@pytest.mark.parametrize("coding", codings.CODINGS)
def test_a_corrupt_body_is_a_decoding_error(coding: str) -> None:
    head = codings.compress(coding, EVENTS[:1])[:-1]
    name = "brotli" if coding == "br" else coding
    decoder = decoder_for(coding)
    assert decoder is not None
    with pytest.raises(DecodingError, match=f"corrupt {name} data"):
        run(decoder, [*head, b"garbage!" * 4])


def test_raw_deflate_without_the_zlib_header() -> None:
    import zlib

    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(BODY) + packer.flush()
    decoder = decoder_for("deflate")
    assert decoder is not None
    assert b"".join(run(decoder, split(body, 7))) == BODY


def test_zstd_frames_one_after_another() -> None:
    zstd = codings.zstd()
    body = b"".join(zstd.compress(event) for event in EVENTS)
    for size in (1, 5, len(body)):
        decoder = decoder_for("zstd", 16)
        assert decoder is not None
        assert b"".join(run(decoder, split(body, size))) == BODY


def test_a_zstd_window_over_8_mib_is_refused() -> None:
    """RFC 9659: the zstd content coding uses at most an 8 MiB window, which bounds the
    decoder's own buffer."""
    zstd = codings.zstd()
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 24})
    body = compressor.compress(b"x" * 100_000) + compressor.flush()
    decoder = decoder_for("zstd")
    assert decoder is not None
    with pytest.raises(DecodingError, match="corrupt zstd data"):
        run(decoder, [body])


@pytest.mark.parametrize("value", ["", "identity", "Identity", " identity , "])
def test_no_coding_is_read_raw(value: str) -> None:
    assert decoder_for(value) is None


@pytest.mark.parametrize(("value", "kind"), [
    ("GZIP", _decoding.ZlibDecoder), ("x-gzip", _decoding.ZlibDecoder),
    ("identity, gzip", _decoding.ZlibDecoder), ("Br", _decoding.BrotliDecoder),
    ("zstd", _decoding.ZstdDecoder),
])
def test_coding_names(value: str, kind: type) -> None:
    assert isinstance(decoder_for(value), kind)


@pytest.mark.parametrize(("value", "match"), [
    ("compress", "content-encoding 'compress', which this client cannot decode"),
    ("gzip, br", r"more than one content coding \(gzip, br\)"),
    ("gzip, gzip", r"more than one content coding"),
])
def test_an_undecodable_coding_names_itself(value: str, match: str) -> None:
    decoder = decoder_for(value)
    assert decoder is not None
    assert decoder.flush() == b""  # an empty body is just empty
    with pytest.raises(DecodingError, match=match):
        decoder.decode(b"\x1f\x8b")


def test_br_and_zstd_without_their_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_decoding, "_brotli", lambda: None)
    monkeypatch.setattr(_decoding, "_zstd", lambda: None)
    assert accept_encoding() == "gzip, deflate"
    for coding, extra in (("br", "brotli"), ("zstd", "zstd")):
        decoder = decoder_for(coding)
        assert decoder is not None
        with pytest.raises(DecodingError, match=rf"pip install 'sudo-stream\[{extra}\]'"):
            decoder.decode(b"x")


def test_a_brotli_binding_without_an_output_bound_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """brotli before 1.2 (and brotlicffi before 1.2) decodes a piece whole."""
    old = types.ModuleType("brotli")
    old.Decompressor = type("Decompressor", (), {"process": lambda self, data: data})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "brotli", old)
    monkeypatch.setitem(sys.modules, "brotlicffi", None)  # not installed
    assert _decoding._brotli.__wrapped__() is None


def test_what_is_installed_is_advertised() -> None:
    """The test extra installs brotli and (before Python 3.14) backports.zstd."""
    assert accept_encoding() == ALL


# -- over real sockets ----------------------------------------------------------------------


def encoded(coding: str, body: bytes = BODY) -> testing.Stream:
    return testing.Stream(
        codings.compress(coding, [body]), headers=[("content-encoding", coding)], done=False
    )


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_the_client_asks_for_what_it_can_decode(
    server: testing.FakeSudoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.enqueue(*[testing.Stream(CHUNKS)] * 4)
    async with ss.AsyncSudo(api_key="k", server_url=server.url, timeout=FAST) as sudo:
        await (await sudo.router.create_streaming(messages=MESSAGES, model="m")).final_completion()
        # a caller's own header is sent as given
        stream = await sudo.router.create_streaming(
            messages=MESSAGES, model="m", extra_headers={"Accept-Encoding": "identity"}
        )
        await stream.final_completion()
    assert [r.headers["accept-encoding"] for r in server.requests] == [ALL, "identity"]
    # A borrowed client's default (httpx names br and zstd when their libraries are
    # importable, whatever their decoders do) is replaced by ours.
    http = await anyio.to_thread.run_sync(httpx.AsyncClient)
    async with http, ss.AsyncSudo(server_url=server.url, http_client=http, timeout=FAST) as sudo:
        await (await sudo.router.create_streaming(messages=MESSAGES, model="m")).final_completion()
    assert server.requests[-1].headers["accept-encoding"] == ALL
    # Without brotli and zstd, only gzip and deflate are asked for.
    monkeypatch.setattr(_decoding, "_brotli", lambda: None)
    monkeypatch.setattr(_decoding, "_zstd", lambda: None)
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST) as sudo:
        await (await sudo.router.create_streaming(messages=MESSAGES, model="m")).final_completion()
    assert server.requests[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
@pytest.mark.parametrize("coding", codings.CODINGS)
async def test_a_compressed_answer(server: testing.FakeSudoServer, coding: str) -> None:
    completion = testing.completion_from_chunks(CHUNKS)
    server.enqueue(encoded(coding), encoded(coding, json.dumps(completion).encode()))
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST, retries=0) as sudo:
        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            assert (await stream.final_completion()).choices[0].message.content == "alpha beta gamma"
        answer = await sudo.router.create(messages=MESSAGES, model="m")
        assert answer.choices[0].message.content == "alpha beta gamma"


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
@pytest.mark.parametrize(
    ("coding", "match"),
    [
        ("compress", "content-encoding 'compress'"),
        ("gzip, br", r"more than one content coding \(gzip, br\)"),
        ("br", r"sudo-stream\[brotli\]"),  # brotli is taken away below
    ],
)
async def test_an_answer_in_a_coding_the_client_cannot_decode_is_refused(
    server: testing.FakeSudoServer, monkeypatch: pytest.MonkeyPatch, coding: str, match: str
) -> None:
    """The body is plain SSE: a client that passed it through unread, or to httpx (which
    skips codings it does not know), would take it as it is."""
    monkeypatch.setattr(_decoding, "_brotli", lambda: None)
    label = [("content-encoding", coding)]
    server.enqueue(
        testing.Stream(CHUNKS, headers=label),
        testing.Stream(CHUNKS, headers=label),
        testing.Error(503, headers=label),
    )
    async with ss.AsyncSudo(server_url=server.url, timeout=FAST, retries=0) as sudo:
        with pytest.raises(ss.StreamError, match=f"could not decode.*{match}"):
            await sudo.router.create_streaming(messages=MESSAGES, model="m")
        with pytest.raises(ss.APIResponseValidationError, match=f"could not decode.*{match}"):
            await sudo.router.create(messages=MESSAGES, model="m")
        # An error answer keeps its status (here: retryable), and says why it has no text.
        with pytest.raises(ss.InternalServerError, match=f"HTTP 503: .*could not be read.*{match}"):
            await sudo.router.create(messages=MESSAGES, model="m")
    assert len(server.requests) == 3


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_other_tasks_run_while_a_small_body_decodes_to_a_lot(
    server: testing.FakeSudoServer,
) -> None:
    """A 30 KiB body that decodes to 4 MiB arrives in a read or two; the decoder lets the
    event loop run between its 64 KiB steps, not only between reads."""
    bomb = codings.bomb("gzip", EVENTS[0])
    label = [("content-encoding", "gzip")]
    server.enqueue(*[testing.Stream([bomb], headers=label, done=False)] * 2)
    steps = (4 << 20) // _decoding.STEP
    async with ss.AsyncSudo(
        server_url=server.url, timeout=FAST, retries=0, max_response_size=4 << 20
    ) as sudo:
        for call in ("stream", "create"):
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await anyio.lowlevel.checkpoint()
                    ticks += 1

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(tick)
                with pytest.raises(ss.SudoError, match="max_response_size"):
                    if call == "stream":
                        async with sudo.router.create_streaming(messages=MESSAGES, model="m") as s:
                            await s.final_completion()
                    else:
                        await sudo.router.create(messages=MESSAGES, model="m")
                tasks.cancel_scope.cancel()
            assert ticks >= steps // 2, (call, ticks)
