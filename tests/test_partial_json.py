"""Tests for the incremental partial-JSON parser of streamed tool-call arguments."""

from __future__ import annotations

import itertools
import json
import math
import pickle
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sudo_stream._partial_json import PartialJSON, PartialJSONError, parse_partial

MISSING = object()


def strict_loads(text: str) -> Any:
    """json.loads without its NaN/Infinity extension: the grammar PartialJSON accepts."""

    def reject(name: str) -> Any:
        raise ValueError(f"non-standard constant {name}")

    return json.loads(text, parse_constant=reject)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (so True != 1 and 1 != 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a == 0.0:
        return math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def assert_prefix(part: Any, final: Any) -> None:
    """``part`` is a state the streamed ``final`` value can pass through.

    Containers have the same type; every element but the last is complete, so equal to
    the final one; the last may still be in progress. A partial string is a prefix of the
    final string; a partial int is a digit prefix of the final int.
    """
    if isinstance(final, dict):
        assert type(part) is dict
        keys = list(part)
        assert keys == list(final)[: len(keys)]
        for key in keys[:-1]:
            assert same(part[key], final[key])
        if keys:
            assert_prefix(part[keys[-1]], final[keys[-1]])
    elif isinstance(final, list):
        assert type(part) is list
        assert len(part) <= len(final)
        for got, want in zip(part[:-1], final, strict=False):
            assert same(got, want)
        if part:
            assert_prefix(part[-1], final[len(part) - 1])
    elif isinstance(final, str):
        assert type(part) is str
        assert final.startswith(part)
    elif type(final) is int:
        assert type(part) is int
        assert str(final).startswith(str(part))
    elif type(final) is float:
        assert type(part) in (int, float)
    else:
        assert same(part, final)


def split(text: str, cuts: list[int]) -> list[str]:
    points = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


# -- property tests --------------------------------------------------------------------------

tricky_text = st.text(
    alphabet=st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f aé€😀\u2028\ufeff')), max_size=8
)
lone_surrogates = st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3)
strings = st.text(max_size=12) | tricky_text | lone_surrogates
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(strings, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2, "\t"]),
    data=st.data(),
)
def test_any_split_finishes_as_json_loads_with_consistent_partials(
    value: Any, ensure_ascii: bool, indent: int | str | None, data: st.DataObject
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    final = json.loads(text)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=len(text)), label="cuts")
    parser = PartialJSON()
    for fragment in split(text, cuts):
        parser.feed(fragment)
        partial = parser.value(default=MISSING)
        if partial is not MISSING:
            assert_prefix(partial, final)
    assert parser.text == text
    assert same(parser.finish(), final)
    assert same(parser.value(), final)
    is_number = type(final) in (int, float)
    assert parser.complete is (not is_number)


@settings(max_examples=200, deadline=None)
@given(value=json_values, ensure_ascii=st.booleans())
def test_every_prefix_one_char_at_a_time(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    final = json.loads(text)
    parser = PartialJSON()
    for ch in text:
        assert not parser.complete
        parser.feed(ch)
        partial = parser.value(default=MISSING)
        if partial is not MISSING:
            assert_prefix(partial, final)
    assert same(parser.finish(), final)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list('{}[]:,"\\ 0123456789.eE+-tnrufalsx')), max_size=16)
)
def test_accepts_and_rejects_what_strict_json_does(text: str) -> None:
    try:
        expected: Any = strict_loads(text)
    except ValueError:
        expected = MISSING
    parser = PartialJSON()
    try:
        parser.feed(text)
        got = parser.finish()
    except PartialJSONError as exc:
        assert expected is MISSING, f"rejected valid JSON {text!r}: {exc}"
        assert 0 <= exc.offset <= len(text)
    else:
        assert expected is not MISSING, f"accepted invalid JSON {text!r} as {got!r}"
        assert same(got, expected)


# -- partial values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MISSING),
        ("   \n", MISSING),
        ('"', ""),
        ('"ab', "ab"),
        ("-", MISSING),
        ("-1", -1),
        ("12.", 12),
        ("1.5e", 1.5),
        ("1.5e-", 1.5),
        ("1e+", 1),
        ("tru", MISSING),
        ("nul", MISSING),
        ("null", None),
        ("{", {}),
        ('{"a', {}),
        ('{"a"', {}),
        ('{"a":', {}),
        ('{"a": ', {}),
        ('{"a": "', {"a": ""}),
        ('{"a": "hel', {"a": "hel"}),
        ('{"a": "x\\', {"a": "x"}),
        ('{"a": "x\\u00', {"a": "x"}),
        ('{"a": "x\\u00e9', {"a": "xé"}),
        ('{"a": "x\\n', {"a": "x\n"}),
        ('"\\ud83d', ""),
        ('"\\ud83d\\', ""),
        ('"\\ud83d\\ude0', ""),
        ('"\\ud83d\\ude00', "😀"),
        ('"\\ud83dx', "\ud83dx"),
        ('"\\ud83d\\u0041', "\ud83dA"),
        ('"\\ud83d\\n', "\ud83d\n"),
        ('"\\ud83d\\ud83d\\ude00', "\ud83d😀"),
        ('{"a": 1, "b', {"a": 1}),
        ('{"a": 1, "b": [', {"a": 1, "b": []}),
        ('{"a": 12.', {"a": 12}),
        ('{"a": -', {}),
        ('{"a": t', {}),
        ('{"a": true', {"a": True}),
        ("[-", []),
        ("[tru", []),
        ("[1.5e-", [1.5]),
        ("[1, [2, [3, {", [1, [2, [3, {}]]]),
        ('{"a":{"b":[1,{"c":"d', {"a": {"b": [1, {"c": "d"}]}}),
        ('{"a": 1, "a": "x', {"a": "x"}),
        ('{"a": [1], "b": 2} ', {"a": [1], "b": 2}),
    ],
)
def test_partial_values(text: str, expected: Any) -> None:
    got = parse_partial(text, default=MISSING)
    assert got is expected if expected is MISSING else same(got, expected)
    # Splitting the text anywhere gives the same value.
    for cut in range(len(text) + 1):
        parser = PartialJSON()
        parser.feed(text[:cut])
        parser.feed(text[cut:])
        split_value = parser.value(default=MISSING)
        assert split_value is got if got is MISSING else same(split_value, got)


def test_value_default_is_none_and_value_is_a_copy() -> None:
    assert parse_partial("") is None
    parser = PartialJSON()
    parser.feed('{"a": [1, {"b": "c"}], "d": "e')
    first = parser.value()
    first["a"][1]["b"] = "changed"
    first["a"].append(99)
    first["new"] = 1
    assert parser.value() == {"a": [1, {"b": "c"}], "d": "e"}
    parser.feed('f"}')
    assert parser.finish() == {"a": [1, {"b": "c"}], "d": "ef"}


def test_complete_and_top_level_scalars() -> None:
    parser = PartialJSON()
    parser.feed("12")
    assert not parser.complete  # more digits may come
    assert parser.value() == 12
    assert parser.finish() == 12
    parser.feed("3")  # finish() is a query: feeding may go on
    assert parser.finish() == 123
    parser.feed(" ")
    assert parser.complete
    assert parser.finish() == 123
    for text, want in [('"x"', "x"), ("true", True), ("false", False), ("null", None)]:
        parser = PartialJSON()
        parser.feed(text)
        assert parser.complete
        assert same(parser.finish(), want)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        "[" + "9" * 1000 + ", -" + "1" * 999 + "]",
        "[1e400, -1e400, 1e-400, -0.0, -0, 0.1, 1E+2, 1e-2, 12345678901234567890.5]",
        '["\\u0000\\u001f\\"\\\\\\/\\b\\f\\n\\r\\t", "\\udc00\\ud800", "\\uDBFF\\uDFFF"]',
        '  {"\\ud83d\\ude00": "\u2028\x7f\ud800"}\r\n\t',
        '[[], {}, [[]], [{}], {"": {}}]',
    ],
)
def test_finish_equals_json_loads_on_edge_cases(text: str) -> None:
    expected = json.loads(text)
    for size in (1, 2, 3, len(text)):
        parser = PartialJSON()
        for start in range(0, len(text), size):
            parser.feed(text[start : start + size])
        assert same(parser.finish(), expected)


def test_deep_nesting_does_not_recurse() -> None:
    depth = 5000
    parser = PartialJSON()
    parser.feed("[" * depth + '"x')
    node = parser.value()
    for _ in range(depth - 1):
        assert len(node) == 1
        node = node[0]
    assert node == ["x"]
    parser.feed('"' + "]" * depth)
    node = parser.finish()
    for _ in range(depth):
        node = node[0]
    assert node == "x"


# -- errors -----------------------------------------------------------------------------------

INVALID = [
    # (text, offset, raised by feed?)
    ('{"a" x', 5, True),
    ('{"a": 1} x', 9, True),
    ("[1] ]", 4, True),
    ("true false", 5, True),
    ('{"a": 1', 7, False),
    ("[1, 2", 5, False),
    ('[1, {"a": ', 10, False),
    ('"abc', 4, False),
    ('["abc\\', 6, False),
    ('"\\x"', 2, True),
    ('"\\u12G4"', 5, True),
    ('"\\U0041"', 2, True),
    ('"a\nb"', 2, True),
    ('"a\tb"', 2, True),
    ("01", 1, True),
    ("[01]", 2, True),
    ("-01", 2, True),
    ("-00", 2, True),
    ("-", 1, False),
    ("[-]", 2, True),
    ("-a", 1, True),
    ("1.", 2, False),
    ("1.e5", 2, True),
    (".5", 0, True),
    ("+1", 0, True),
    ("1e", 2, False),
    ("1e+", 3, False),
    ("[1e]", 3, True),
    ("0x10", 1, True),
    ("NaN", 0, True),
    ("[NaN]", 1, True),
    ("Infinity", 0, True),
    ("-Infinity", 1, True),
    ("", 0, False),
    ("   ", 3, False),
    ("[1,]", 3, True),
    ('{"a": 1,}', 8, True),
    ("[,1]", 1, True),
    ("{'a': 1}", 1, True),
    ("{1: 2}", 1, True),
    ('{"a" 1}', 5, True),
    ('{"a":}', 5, True),
    ("[1 2]", 3, True),
    ('{"a": 1 "b": 2}', 8, True),
    ("]", 0, True),
    ("}", 0, True),
    ('{"a": 1]', 7, True),
    ("[1}", 2, True),
    ("// c\n{}", 0, True),
    ("/* c */ {}", 0, True),
    ("tru", 3, False),
    ("trux", 3, True),
    ("nulL", 3, True),
    ("True", 0, True),
    ("\ufeff{}", 0, True),
    ("[\u00a0]", 1, True),
]


def _feed_all(parser: PartialJSON, fragments: Iterator[str]) -> Any:
    for fragment in fragments:
        parser.feed(fragment)
    return parser.finish()


@pytest.mark.parametrize(("text", "offset", "at_feed"), INVALID)
def test_invalid_documents(text: str, offset: int, at_feed: bool) -> None:
    with pytest.raises(ValueError):
        strict_loads(text)  # the stdlib (minus NaN/Infinity) agrees it is invalid

    splits: list[Callable[[], Iterator[str]]] = [
        lambda: iter([text]),
        lambda: iter(text),
        *[(lambda cut=cut: iter([text[:cut], text[cut:]])) for cut in range(len(text) + 1)],
    ]
    for fragments in splits:
        parser = PartialJSON()
        feeding = True
        with pytest.raises(PartialJSONError) as info:
            for fragment in fragments():
                parser.feed(fragment)
            feeding = False
            parser.finish()
        assert feeding is at_feed
        assert info.value.offset == offset
        assert f"at offset {offset}" in str(info.value)
        if at_feed:  # the parser stays failed
            with pytest.raises(PartialJSONError) as again:
                parser.feed(" ")
            assert again.value is info.value
            with pytest.raises(PartialJSONError):
                parser.finish()
            parser.value()  # still returns what was parsed before the error


def test_error_messages_and_pickling() -> None:
    with pytest.raises(PartialJSONError, match=r"expected ':' after an object key at offset 5"):
        parse_partial('{"a" x')
    with pytest.raises(
        PartialJSONError, match=r"unclosed object \(opened at offset 0\) at offset 14"
    ):
        parser = PartialJSON()
        parser.feed('{"a": {"b": 1}')
        parser.finish()
    with pytest.raises(PartialJSONError, match="leading zeros"):
        parse_partial("[01")
    with pytest.raises(PartialJSONError, match="empty document"):
        PartialJSON().finish()
    error = PartialJSONError("bad thing", 7)
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), str(clone), clone.offset) == (PartialJSONError, str(error), 7)
    assert isinstance(error, ValueError)


def test_integer_beyond_the_conversion_limit_is_an_error() -> None:
    limit = sys.get_int_max_str_digits()
    if not limit:
        pytest.skip("no int conversion limit in this interpreter")
    text = "[" + "1" * (limit + 1) + "]"
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(PartialJSONError, match="integer too large"):
        parse_partial(text)


# -- cost -------------------------------------------------------------------------------------


def _big_arguments(copies: int) -> str:
    """Tool-call arguments like a file write: long text with escapes, plus a numeric list."""
    line = 'def f(x):\n\treturn "é😀\\" + x  # \u2028 ok\n'
    return json.dumps(
        {
            "path": "src/module.py",
            "content": line * copies,
            "edits": [
                {"line": i, "score": i / 7, "ok": i % 2 == 0, "note": None}
                for i in range(copies // 8)
            ],
        },
        ensure_ascii=copies % 2 == 0,
    )


def test_200kb_fed_one_char_at_a_time() -> None:
    text = _big_arguments(4000)
    assert len(text) > 200_000
    parser = PartialJSON()
    feed = parser.feed
    for ch in text:
        feed(ch)
    assert parser.complete
    assert parser.finish() == json.loads(text)


def test_no_step_rereads_the_prefix() -> None:
    # 1. The parser never needs earlier fragments: drop the log of fed text as it is fed.
    class Forgetful(list[str]):
        def append(self, item: str) -> None:
            pass

    text = _big_arguments(400)
    parser = PartialJSON()
    parser._fragments = Forgetful()
    for start in range(0, len(text), 3):
        parser.feed(text[start : start + 3])
    assert parser.finish() == json.loads(text)

    # 2. Work per fragment does not grow with the prefix: the number of function calls
    #    (Python and C) made while feeding a document twice as long is twice as many.
    def calls_to_feed(doc: str) -> int:
        count = 0

        def profile(frame: FrameType, event: str, arg: object) -> None:
            nonlocal count
            if event in ("call", "c_call"):
                count += 1

        parser = PartialJSON()
        feed = parser.feed
        sys.setprofile(profile)
        try:
            for ch in doc:
                feed(ch)
        finally:
            sys.setprofile(None)
        assert parser.complete
        return count

    item = '{"k": "a\\"b\\u00e9", "n": [1.5, -2, true, null]}'
    small = calls_to_feed("[" + ", ".join([item] * 100) + "]")
    large = calls_to_feed("[" + ", ".join([item] * 200) + "]")
    assert large <= 2 * small + 50
