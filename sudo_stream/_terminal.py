"""Text from a server made safe to print: terminal control sequences removed.

A model's reply (or an error message, a model name) can hold escape sequences that a
terminal acts on instead of showing: a new window title (OSC 0), a cleared screen (CSI 2J),
a rewritten clipboard (OSC 52), a disguised hyperlink (OSC 8). :class:`TerminalText`
removes every control sequence of ECMA-48 (CSI, the OSC/DCS/SOS/PM/APC strings, the other
escapes, in their 7-bit and 8-bit C1 forms) and every other control character except
newline and tab. Text arrives in pieces, and tokenizers split a sequence across them:
the unfinished sequence at the end of a piece is held back until it is whole, so none of
it shows; what remains unfinished when the text ends is dropped.
"""

from __future__ import annotations

import re

# An unfinished sequence is held back up to about this many characters; past that its
# introducer is dropped and the rest shows as text, so that no reply can hide behind one.
_HOLD = 512

_CONTROL = r"\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but tab and newline, DEL, C1
_STRING_START = r"(?:\x1b[PX\]^_]|[\x90\x98\x9d-\x9f])"  # DCS SOS OSC PM APC
_STRING_BODY = rf"[^\x07\x18\x1a\x1b\x9c]{{0,{_HOLD}}}"
_CSI_START = r"(?:\x1b\[|\x9b)"
_CSI_BODY = rf"[0-?]{{0,{_HOLD}}}[ -/]{{0,16}}"

_TOKENS = re.compile(
    rf"(?P<text>[^{_CONTROL}]+)"
    rf"|{_CSI_START}{_CSI_BODY}[@-~]"
    # A string ends with BEL, ST (ESC \ or 0x9c), CAN or SUB, or where another escape starts.
    rf"|{_STRING_START}{_STRING_BODY}(?:[\x07\x18\x1a\x9c]|\x1b\\|(?=\x1b))"
    rf"|(?P<partial>(?:{_CSI_START}{_CSI_BODY}|{_STRING_START}{_STRING_BODY}\x1b?|\x1b[ -/]{{0,16}})\Z)"
    r"|\x1b[ -/]{0,16}[0-~]"  # the other escapes: ESC c, ESC ( B, ESC 7, ...
    rf"|[{_CONTROL}]"  # a control on its own (a stray ESC too)
)


class TerminalText:
    """Removes control sequences from a text that arrives in pieces.

    ``feed(piece)`` returns what of the text so far can be shown; feeding the pieces one
    by one shows exactly what feeding them joined would.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The showable text up to the end of ``piece`` (less an unfinished sequence)."""
        text = self._held + piece
        self._held = ""
        shown = []
        for token in _TOKENS.finditer(text):
            if token.group("text") is not None:
                shown.append(token.group())
            elif token.group("partial") is not None:
                self._held = token.group()
        return "".join(shown)


def terminal_safe(text: str) -> str:
    """``text`` without control sequences (a whole text: an unfinished one is dropped)."""
    return TerminalText().feed(text)
