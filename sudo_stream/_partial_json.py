"""Incremental parsing of one JSON document that arrives in fragments.

Tool calls stream their ``arguments`` as thousands of tiny string fragments. ``PartialJSON``
is fed each fragment once and keeps the container tree built as it goes, so feeding costs
time linear in the fragment (never in the prefix) and ``value()`` costs time linear in the
size of the value, never re-reading text.

The grammar is strict JSON (RFC 8259), which is what ``json.loads`` accepts minus its
extensions: ``NaN``, ``Infinity`` and ``-Infinity`` are rejected, as are comments, single
quotes, trailing commas, leading zeros and raw control characters inside strings. A
successful ``finish()`` returns what ``json.loads`` returns for the same text: same types,
the last of duplicate keys wins, integers of any size up to Python's int conversion limit,
floats through ``float()``, and lone surrogate escapes kept as they are.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["PartialJSON", "PartialJSONError", "parse_partial"]


class PartialJSONError(ValueError):
    """The text is not (a prefix of) exactly one strict JSON document.

    ``offset`` is the character offset into the whole text fed so far where the problem
    was found; ``msg`` is the message without the offset.
    """

    def __init__(self, msg: str, offset: int) -> None:
        super().__init__(f"{msg} at offset {offset}")
        self.msg = msg
        self.offset = offset

    def __reduce__(self) -> tuple[type[PartialJSONError], tuple[str, int]]:
        return (type(self), (self.msg, self.offset))


class _Nothing:
    """Marks "no value yet" inside the parser, where ``None`` is a real JSON value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<nothing>"


_NOTHING: Final = _Nothing()

# Parser states. The structural ones come first; the last four are inside a token.
_VALUE: Final = 0  # a value must come next (start, after ':' or after ',' in an array)
_ARRAY_FIRST: Final = 1  # just after '[': a value or ']'
_ARRAY_NEXT: Final = 2  # after an array element: ',' or ']'
_OBJECT_FIRST: Final = 3  # just after '{': a key or '}'
_OBJECT_KEY: Final = 4  # after ',' in an object: a key
_OBJECT_COLON: Final = 5  # after a key: ':'
_OBJECT_NEXT: Final = 6  # after a member's value: ',' or '}'
_DONE: Final = 7  # the top-level value is complete: only whitespace may follow
_STRING: Final = 8
_ESCAPE: Final = 9  # after a backslash in a string; self._escape holds what followed it
_NUMBER: Final = 10
_LITERAL: Final = 11

# Number sub-states.
_N_MINUS: Final = 0
_N_ZERO: Final = 1
_N_INT: Final = 2
_N_DOT: Final = 3
_N_FRAC: Final = 4
_N_E: Final = 5
_N_ESIGN: Final = 6
_N_EXP: Final = 7
_N_ACCEPTING: Final = frozenset({_N_ZERO, _N_INT, _N_FRAC, _N_EXP})
_N_CLASS: Final = {
    **dict.fromkeys("123456789", "d"),
    "0": "0",
    ".": ".",
    "e": "e",
    "E": "e",
    "+": "s",
    "-": "s",
}
_N_NEXT: Final = {
    (_N_MINUS, "0"): _N_ZERO,
    (_N_MINUS, "d"): _N_INT,
    (_N_ZERO, "."): _N_DOT,
    (_N_ZERO, "e"): _N_E,
    (_N_INT, "0"): _N_INT,
    (_N_INT, "d"): _N_INT,
    (_N_INT, "."): _N_DOT,
    (_N_INT, "e"): _N_E,
    (_N_DOT, "0"): _N_FRAC,
    (_N_DOT, "d"): _N_FRAC,
    (_N_FRAC, "0"): _N_FRAC,
    (_N_FRAC, "d"): _N_FRAC,
    (_N_FRAC, "e"): _N_E,
    (_N_E, "s"): _N_ESIGN,
    (_N_E, "0"): _N_EXP,
    (_N_E, "d"): _N_EXP,
    (_N_ESIGN, "0"): _N_EXP,
    (_N_ESIGN, "d"): _N_EXP,
    (_N_EXP, "0"): _N_EXP,
    (_N_EXP, "d"): _N_EXP,
}
_N_EXPECTED: Final = {
    _N_MINUS: "expected a digit after '-'",
    _N_DOT: "expected a digit after the decimal point",
    _N_E: "expected a digit or sign in the exponent",
    _N_ESIGN: "expected a digit in the exponent",
}

_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_LITERALS: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}
_WHITESPACE: Final = frozenset(" \t\n\r")

# A run of string characters that need no attention: no quote, backslash or control char.
_plain_run: Final = re.compile(r'[^"\\\x00-\x1f]*').match
_whitespace_run: Final = re.compile(r"[ \t\n\r]*").match

# Above this nesting depth value() copies iteratively rather than recursively.
_RECURSIVE_COPY_DEPTH: Final = 200


class PartialJSON:
    """Incremental parser for a JSON document that arrives in fragments.

    ``feed()`` each fragment as it arrives; ``value()`` returns the document so far
    completed into Python data; ``finish()`` returns the complete, validated value.
    Each character is examined once, when its fragment is fed.

    After a ``PartialJSONError`` the parser is dead: ``feed()`` and ``finish()`` raise the
    same error again, while ``value()`` still returns what was parsed before the offending
    character.
    """

    __slots__ = (
        "_chars",
        "_consumed",
        "_error",
        "_escape",
        "_fragments",
        "_high",
        "_is_key",
        "_keys",
        "_literal",
        "_literal_matched",
        "_max_depth",
        "_nested",
        "_number",
        "_number_state",
        "_opened",
        "_root",
        "_stack",
        "_state",
        "_token_start",
    )

    def __init__(self) -> None:
        self._fragments: list[str] = []
        self._consumed = 0  # characters fed so far
        self._state: int = _VALUE
        self._error: PartialJSONError | None = None
        self._root: Any = _NOTHING
        # Open containers, outermost first. Each is already attached to its parent, so
        # the tree under _root is always the document so far minus the pending token.
        self._stack: list[Any] = []
        self._keys: list[str] = []  # per open container: the key being parsed ("" in arrays)
        self._opened: list[int] = []  # per open container: offset of its bracket
        self._max_depth = 0
        # ids of the containers that hold a container: value() copies any other one with
        # a single C-level copy(), not element by element.
        self._nested: set[int] = set()
        self._token_start = 0
        # The pending string: decoded pieces, the escape in progress after its backslash,
        # and a high surrogate escape held until we know whether a low one follows.
        self._chars: list[str] = []
        self._is_key = False
        self._escape = ""
        self._high = ""
        self._number: list[str] = []
        self._number_state: int = _N_MINUS
        self._literal = ""
        self._literal_matched = 0

    @property
    def text(self) -> str:
        """The full text fed so far."""
        fragments = self._fragments
        if len(fragments) > 1:
            fragments[:] = ["".join(fragments)]
        return fragments[0] if fragments else ""

    @property
    def complete(self) -> bool:
        """True once a full top-level value has been parsed (only whitespace may follow).

        A top-level number is never complete here, since more digits may follow;
        ``finish()`` accepts it.
        """
        return self._state == _DONE

    def feed(self, fragment: str) -> None:
        """Parse the next fragment of the document.

        Raises ``PartialJSONError`` as soon as the text can no longer be the start of a
        JSON document.
        """
        if self._error is not None:
            raise self._error
        if not fragment:
            return
        self._fragments.append(fragment)
        base = self._consumed
        self._consumed = base + len(fragment)
        s = fragment
        n = len(s)
        i = 0
        state = self._state
        try:
            while i < n:
                if state == _STRING:
                    j = _plain_run(s, i).end()  # type: ignore[union-attr]
                    if j != i:
                        if self._high:
                            self._chars.append(self._high)
                            self._high = ""
                        self._chars.append(s[i:j])
                        i = j
                        if i == n:
                            break
                    c = s[i]
                    if c == '"':
                        state = self._end_string()
                    elif c == "\\":
                        state = _ESCAPE
                    else:
                        raise self._fail(f"invalid control character {c!r} in string", base + i)
                    i += 1
                elif state == _ESCAPE:
                    state = self._escape_char(s[i], base + i)
                    i += 1
                elif state == _NUMBER:
                    c = s[i]
                    number_state = self._number_state
                    cls = _N_CLASS.get(c)
                    following = _N_NEXT.get((number_state, cls)) if cls else None
                    if following is not None:
                        self._number.append(c)
                        self._number_state = following
                        i += 1
                    elif number_state in _N_ACCEPTING:
                        if number_state == _N_ZERO and cls in ("0", "d"):
                            raise self._fail("leading zeros are not allowed", base + i)
                        state = self._end_number()  # c is left for the structural states
                    else:
                        raise self._fail(_N_EXPECTED[number_state], base + i)
                elif state == _LITERAL:
                    word = self._literal
                    k = self._literal_matched
                    take = min(n - i, len(word) - k)
                    if s[i : i + take] != word[k : k + take]:
                        while s[i] == word[k]:
                            i += 1
                            k += 1
                        raise self._fail(f"invalid literal, expected {word!r}", base + i)
                    i += take
                    k += take
                    if k == len(word):
                        state = self._add(_LITERALS[word])
                    else:
                        self._literal_matched = k
                else:
                    c = s[i]
                    if c in _WHITESPACE:
                        i = _whitespace_run(s, i + 1).end()  # type: ignore[union-attr]
                        continue
                    offset = base + i
                    if state == _OBJECT_NEXT:
                        if c == ",":
                            state = _OBJECT_KEY
                        elif c == "}":
                            state = self._close()
                        else:
                            raise self._fail("expected ',' or '}' after an object member", offset)
                    elif state == _ARRAY_NEXT:
                        if c == ",":
                            state = _VALUE
                        elif c == "]":
                            state = self._close()
                        else:
                            raise self._fail("expected ',' or ']' after an array element", offset)
                    elif state in (_OBJECT_KEY, _OBJECT_FIRST):
                        if c == '"':
                            state = self._start_string(True, offset)
                        elif c == "}" and state == _OBJECT_FIRST:
                            state = self._close()
                        else:
                            raise self._fail("expected a double-quoted object key", offset)
                    elif state == _OBJECT_COLON:
                        if c != ":":
                            raise self._fail("expected ':' after an object key", offset)
                        state = _VALUE
                    elif state == _DONE:
                        raise self._fail("extra data after the JSON document", offset)
                    elif c == "]" and state == _ARRAY_FIRST:
                        state = self._close()
                    else:
                        state = self._start_value(c, offset)
                    i += 1
        finally:
            self._state = state

    def value(self, *, default: Any = None) -> Any:
        """The document so far, completed into Python data (best effort).

        Open strings are closed with the characters decoded so far (an incomplete escape,
        or a high surrogate still waiting for its low half, is left out); open arrays and
        objects are closed; an object key whose value has not started is left out; an
        incomplete number gives the longest prefix that is a number (``12.`` gives 12,
        ``-`` is left out); an incomplete ``true``/``false``/``null`` is left out.

        Returns ``default`` while nothing meaningful has arrived (no text, whitespace
        only, a lone ``-`` or an incomplete literal at top level).

        The result is a fresh copy of the containers (strings and numbers are shared, being
        immutable): mutating it never affects the parser. No text is re-read; a container
        holding only scalars is copied by one C-level ``copy()``, so a list of thousands of
        strings costs microseconds, and only containers of containers are walked.
        """
        root = self._root
        if root is _NOTHING:
            pending = self._pending()
            return default if pending is _NOTHING else pending
        if type(root) is not list and type(root) is not dict:
            return root
        if self._max_depth <= _RECURSIVE_COPY_DEPTH:
            snapshot = _copy(root, self._nested)
        else:
            snapshot = _copy_deep(root)
        stack = self._stack
        if stack:
            pending = self._pending()
            if pending is not _NOTHING:
                keys = self._keys
                node = snapshot
                for depth in range(len(stack) - 1):
                    node = node[-1] if type(stack[depth]) is list else node[keys[depth]]
                if type(node) is list:
                    node.append(pending)
                else:
                    node[keys[-1]] = pending
        return snapshot

    def snapshot(self, *, default: Any = None) -> Any:
        """The document so far, as :meth:`value` completes it, sharing what is complete.

        Only the containers still open are copied (each with one C-level ``copy()``), so
        a snapshot costs the size of the open containers' own entries, not the size of the
        document: a snapshot after every fragment keeps the whole stream linear. Arrays
        and objects that are complete are the parser's own: treat the result as read-only.
        """
        root = self._root
        if root is _NOTHING:
            pending = self._pending()
            return default if pending is _NOTHING else pending
        stack = self._stack
        if not stack:
            return root
        keys = self._keys
        copies = [container.copy() for container in stack]
        for depth in range(len(stack) - 1):
            parent = copies[depth]
            if type(parent) is list:
                parent[-1] = copies[depth + 1]
            else:
                parent[keys[depth]] = copies[depth + 1]
        pending = self._pending()
        if pending is not _NOTHING:
            top = copies[-1]
            if type(top) is list:
                top.append(pending)
            else:
                top[keys[-1]] = pending
        return copies[0]

    def finish(self) -> Any:
        """The complete, validated value.

        Raises ``PartialJSONError`` unless the text fed so far is exactly one complete JSON
        document (surrounded by optional whitespace). On success the result equals
        ``json.loads(self.text)``. It is the parser's own tree, not a copy; calling
        ``finish()`` does not change the parser's state, so feeding may go on (though only
        whitespace is then valid, or more digits of a top-level number).
        """
        if self._error is not None:
            raise self._error
        state = self._state
        end = self._consumed
        if state == _DONE:
            return self._root
        if self._stack:
            if state in (_STRING, _ESCAPE):
                raise PartialJSONError(
                    f"unterminated string (opened at offset {self._token_start})", end
                )
            if state == _LITERAL:
                raise PartialJSONError(f"incomplete literal (expected {self._literal!r})", end)
            what = "array" if type(self._stack[-1]) is list else "object"
            raise PartialJSONError(f"unclosed {what} (opened at offset {self._opened[-1]})", end)
        if state == _NUMBER:
            if self._number_state in _N_ACCEPTING:
                return self._number_value("".join(self._number), self._token_start)
            raise PartialJSONError("incomplete number", end)
        if state in (_STRING, _ESCAPE):
            raise PartialJSONError(
                f"unterminated string (opened at offset {self._token_start})", end
            )
        if state == _LITERAL:
            raise PartialJSONError(f"incomplete literal (expected {self._literal!r})", end)
        raise PartialJSONError("empty document: expected a JSON value", end)

    # -- helpers; the ones that change state return the new state -------------------------

    def _fail(self, msg: str, offset: int) -> PartialJSONError:
        self._error = PartialJSONError(msg, offset)
        return self._error

    def _add(self, item: Any) -> int:
        """Attach a finished scalar to the open container (or make it the document)."""
        stack = self._stack
        if not stack:
            self._root = item
            return _DONE
        top = stack[-1]
        if type(top) is list:
            top.append(item)
            return _ARRAY_NEXT
        top[self._keys[-1]] = item
        return _OBJECT_NEXT

    def _open(self, container: list[Any] | dict[str, Any], offset: int) -> None:
        stack = self._stack
        if stack:
            top = stack[-1]
            if type(top) is list:
                top.append(container)
            else:
                top[self._keys[-1]] = container
            self._nested.add(id(top))
        else:
            self._root = container
        stack.append(container)
        self._keys.append("")
        self._opened.append(offset)
        if len(stack) > self._max_depth:
            self._max_depth = len(stack)

    def _close(self) -> int:
        stack = self._stack
        stack.pop()
        self._keys.pop()
        self._opened.pop()
        if not stack:
            return _DONE
        return _ARRAY_NEXT if type(stack[-1]) is list else _OBJECT_NEXT

    def _start_value(self, c: str, offset: int) -> int:
        if c == '"':
            return self._start_string(False, offset)
        if c == "{":
            self._open({}, offset)
            return _OBJECT_FIRST
        if c == "[":
            self._open([], offset)
            return _ARRAY_FIRST
        cls = _N_CLASS.get(c)
        if cls == "d" or cls == "0" or c == "-":
            self._token_start = offset
            self._number = [c]
            self._number_state = _N_INT if cls == "d" else _N_ZERO if cls == "0" else _N_MINUS
            return _NUMBER
        if c == "t" or c == "f" or c == "n":
            self._token_start = offset
            self._literal = "true" if c == "t" else "false" if c == "f" else "null"
            self._literal_matched = 1
            return _LITERAL
        raise self._fail(f"expected a JSON value, got {c!r}", offset)

    def _start_string(self, is_key: bool, offset: int) -> int:
        self._token_start = offset
        self._chars = []
        self._is_key = is_key
        self._escape = ""
        self._high = ""
        return _STRING

    def _end_string(self) -> int:
        chars = self._chars
        if self._high:
            chars.append(self._high)
            self._high = ""
        text = chars[0] if len(chars) == 1 else "".join(chars)
        self._chars = []
        if self._is_key:
            self._keys[-1] = text
            return _OBJECT_COLON
        return self._add(text)

    def _escape_char(self, c: str, offset: int) -> int:
        """Take one character of an escape sequence (the backslash is already consumed)."""
        escape = self._escape
        if not escape:
            if c == "u":
                self._escape = "u"
                return _ESCAPE
            decoded = _SIMPLE_ESCAPES.get(c)
            if decoded is None:
                raise self._fail(f"invalid escape '\\{c}' in string", offset)
            if self._high:
                self._chars.append(self._high)
                self._high = ""
            self._chars.append(decoded)
            return _STRING
        if c not in _HEX_DIGITS:
            raise self._fail(f"invalid \\u escape: {c!r} is not a hex digit", offset)
        escape += c
        if len(escape) < 5:
            self._escape = escape
            return _ESCAPE
        self._escape = ""
        code = int(escape[1:], 16)
        high = self._high
        if high:
            self._high = ""
            if 0xDC00 <= code <= 0xDFFF:
                self._chars.append(chr(0x10000 + ((ord(high) - 0xD800) << 10) + code - 0xDC00))
                return _STRING
            self._chars.append(high)  # a lone high surrogate stays, as json.loads keeps it
        if 0xD800 <= code <= 0xDBFF:
            self._high = chr(code)
        else:
            self._chars.append(chr(code))
        return _STRING

    def _end_number(self) -> int:
        return self._add(self._number_value("".join(self._number), self._token_start))

    def _number_value(self, text: str, offset: int) -> int | float:
        if self._number_state == _N_ZERO or self._number_state == _N_INT:
            try:
                return int(text)
            except ValueError as exc:  # beyond sys.get_int_max_str_digits(), as json.loads
                raise self._fail(f"integer too large to convert ({exc})", offset) from exc
        return float(text)

    def _pending(self) -> Any:
        """The partial value of the token in progress, or _NOTHING."""
        state = self._state
        if state in (_STRING, _ESCAPE):
            if self._is_key:
                return _NOTHING
            chars = self._chars
            if len(chars) > 1:
                chars[:] = ["".join(chars)]  # later calls then join only what came since
            return chars[0] if chars else ""
        if state == _NUMBER:
            text = "".join(self._number).rstrip(".eE+-")
            if not text:
                return _NOTHING
            if "." in text or "e" in text or "E" in text:
                return float(text)
            try:
                return int(text)
            except ValueError:
                return _NOTHING
        return _NOTHING


def _copy(node: Any, nested: set[int]) -> Any:
    """A copy of the containers under ``node`` (``nested``: ids of those holding any)."""
    if id(node) not in nested:
        return node.copy()  # scalars only: copied at C speed
    if type(node) is dict:
        return {
            key: _copy(item, nested) if type(item) is dict or type(item) is list else item
            for key, item in node.items()
        }
    return [
        _copy(item, nested) if type(item) is dict or type(item) is list else item
        for item in node
    ]


def _copy_deep(root: Any) -> Any:
    """``_copy`` without recursion, for documents nested deeper than the recursion limit."""
    out: Any = {} if type(root) is dict else []
    work: list[tuple[Any, Any]] = [(root, out)]
    while work:
        source, target = work.pop()
        items = source.items() if type(source) is dict else enumerate(source)
        is_list = type(target) is list
        for key, item in items:
            if type(item) is dict or type(item) is list:
                child: Any = {} if type(item) is dict else []
                work.append((item, child))
                item = child
            if is_list:
                target.append(item)
            else:
                target[key] = item
    return out


def parse_partial(text: str, *, default: Any = None) -> Any:
    """Parse a possibly incomplete JSON document: ``PartialJSON`` fed once, then ``value()``.

    Raises ``PartialJSONError`` if ``text`` cannot be the start of a JSON document.
    """
    parser = PartialJSON()
    parser.feed(text)
    return parser.value(default=default)
