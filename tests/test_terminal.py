"""Terminal-safe text: no control sequence survives, however the text is cut into pieces."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sudo_stream._terminal import _HOLD, TerminalText, terminal_safe

CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Text rich in what sequences are made of: introducers, parameters, finals, terminators.
ALPHABET = st.sampled_from(
    ["\x1b", "\x9b", "\x9d", "\x90", "\x9c", "\x07", "\x18", "[", "]", "P", "\\", "(", "0", ";",
     "2", "J", "m", " ", "a", "é", "\n", "\t", "\r", "\x00", "\x7f", "\x85", "漢"]
)  # fmt: skip
TEXTS = st.lists(ALPHABET, max_size=60).map("".join) | st.text(max_size=60)


def fed(pieces: list[str]) -> str:
    cleaner = TerminalText()
    return "".join(cleaner.feed(piece) for piece in pieces)


@given(TEXTS)
def test_no_control_character_but_newline_and_tab_survives(text: str) -> None:
    assert not CONTROLS.search(terminal_safe(text))


@given(TEXTS, st.lists(st.integers(0, 60), max_size=8))
def test_the_pieces_show_what_the_whole_text_shows(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert fed(pieces) == terminal_safe(text)


@given(st.text(st.characters(blacklist_categories=["Cc"]) | st.sampled_from("\n\t")))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert terminal_safe(text) == text
    assert fed(list(text)) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b]0;pwned\x07b", "ab"),  # window title, BEL-terminated
        ("a\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink, ST
        ("a\x1b]52;c;ZXZpbA==\x9cb", "ab"),  # clipboard, 8-bit ST
        ("a\x1b[2Jb\x1b[1;31mc\x1b[?25ld", "abcd"),  # CSI: clear, colour, private mode
        ("a\x9b2Jb\x9d0;t\x07c", "abc"),  # 8-bit CSI and OSC
        ("a\x1bPq#0;2;0;0;0#0~~\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1b(Bb\x1bcc\x1b7d", "abcd"),  # charset, reset, save cursor
        ("a\x1b]0;title\x1b[31mb", "ab"),  # an escape ends an unterminated string
        ("a\rb\x08c\x00d\x7fe\x85f", "abcdef"),  # lone controls, NEL
        ("line\n\ttab\r\n", "line\n\ttab\n"),
        ("cut at the end\x1b[3", "cut at the end"),
    ],
)
def test_sequences_are_removed_whole(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown
    assert fed(list(text)) == shown


def test_an_unfinished_sequence_hides_no_more_than_a_bounded_stretch() -> None:
    reply = "\x1b]0;" + "x" * 10 * _HOLD
    cleaner = TerminalText()
    shown = "".join(cleaner.feed(piece) for piece in reply)
    assert shown == "0;" + "x" * 10 * _HOLD  # the introducer went; the rest shows
    assert len(cleaner._held) <= _HOLD + 8
