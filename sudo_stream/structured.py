"""Structured outputs from Python types: a strict JSON schema for ``response_format``, and
the answer decoded back into the type. Pure: msgspec only.

Any type msgspec can describe works (a ``msgspec.Struct``, a dataclass, a ``TypedDict``,
and the types they are made of), as does a pydantic model when pydantic is installed
(it is never imported here: the model describes and validates itself)::

    class Answer(msgspec.Struct):
        city: str
        celsius: float

    response_format(Answer)  # {"type": "json_schema", "json_schema": {..., "strict": True}}

Strict structured outputs accept a subset of JSON Schema: every object closed
(``additionalProperties: false``) with every property required (an optional field is one
that may be ``null``), no defaults, the root an object. :func:`strict_schema` makes
msgspec's schema so, and refuses what strict mode cannot express (a mapping with
arbitrary keys) with a ``TypeError`` naming it.
"""

from __future__ import annotations

import functools
from typing import Any, Generic, TypeVar, cast

import msgspec
import msgspec.inspect as mi

from ._partial_json import PartialJSON, PartialJSONError
from .errors import SudoError
from .models.parsed import ParsedChatCompletion

T = TypeVar("T")

# Keywords strict mode rejects, or that say nothing the model needs.
_DROPPED = frozenset({"default", "discriminator", "title"})


class StructuredOutputError(SudoError):
    """The model's answer is not an instance of the requested type (malformed JSON, a
    field of the wrong type, or cut short); ``raw`` is the text as it came."""

    def __init__(self, message: str, *, raw: str | None) -> None:
        super().__init__(message)
        self.raw = raw


class LengthFinishReasonError(StructuredOutputError):
    """The answer was cut short by the token limit (``finish_reason: "length"``): the
    object is incomplete. ``raw`` holds the partial text."""


class ContentFilterFinishReasonError(StructuredOutputError):
    """The answer was stopped by a content filter (``finish_reason: "content_filter"``).
    ``raw`` holds the partial text."""


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and callable(getattr(tp, "model_json_schema", None)) and callable(
        getattr(tp, "model_validate_json", None)
    )


def strict_schema(tp: Any) -> dict[str, Any]:
    """The strict JSON schema of ``tp``: closed objects, every property required."""
    schema = _strict_schema(tp)
    return cast("dict[str, Any]", msgspec.json.decode(msgspec.json.encode(schema)))  # a copy


@functools.lru_cache(maxsize=512)
def _strict_schema(tp: Any) -> dict[str, Any]:
    """:func:`strict_schema`, made once per type (deriving it costs about a millisecond
    for a nested type, every call otherwise); shared, so never to be changed."""
    if _is_pydantic(tp):
        schema = cast("dict[str, Any]", tp.model_json_schema())
    else:
        try:
            schema = msgspec.json.schema(tp)
        except TypeError as exc:
            raise TypeError(f"response_format: {exc}") from None
    defs = dict(schema.get("$defs", {}))
    root = schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        root = defs.pop(ref.removeprefix("#/$defs/"))
        if ref in msgspec.json.encode([root, defs]).decode():  # a recursive type
            defs[ref.removeprefix("#/$defs/")] = root
    name = getattr(tp, "__name__", "the type")
    if root.get("type") != "object":
        raise TypeError(
            f"response_format: {name} must describe a JSON object (a Struct, a dataclass, "
            "a TypedDict, a pydantic model): strict structured outputs need an object at the root"
        )
    strict: dict[str, Any] = _strict(root, name)
    if defs:
        strict["$defs"] = {key: _strict(value, key) for key, value in defs.items()}
    return strict


def _strict(node: Any, where: str) -> Any:
    """A schema node made strict (``where`` names it in errors)."""
    if isinstance(node, list):
        return [_strict(item, where) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key == "$defs":
            continue
        if key == "properties":  # names of fields, not keywords: kept whatever they are
            out[key] = {field: _strict(schema, f"{where}.{field}") for field, schema in value.items()}
        else:
            out[key] = _strict(value, where)
    if out.get("type") == "object" or "properties" in out:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) or ("properties" not in node and extra is not False):
            raise TypeError(
                f"response_format: {where} is a mapping with arbitrary keys, which strict "
                "structured outputs cannot express: use a Struct (or a list of key/value items)"
            )
        out["additionalProperties"] = False
        out["required"] = list(out.setdefault("properties", {}))
    return out


def response_format(tp: Any, *, name: str | None = None, description: str | None = None) -> dict[str, Any]:
    """The ``response_format`` that asks for an instance of ``tp`` (strict)."""
    schema_name = name or getattr(tp, "__name__", None) or "response"
    schema = _strict_schema(tp)  # shared: encoded into the request, never changed
    json_schema: dict[str, Any] = {"name": schema_name, "schema": schema, "strict": True}
    if description is not None:
        json_schema["description"] = description
    return {"type": "json_schema", "json_schema": json_schema}


def parse_content(text: str | None, tp: type[T]) -> T:
    """Decode the answer's text into ``tp``; a :class:`StructuredOutputError` if it is
    not an instance (with the text)."""
    if text is None:
        raise StructuredOutputError("the answer has no content to parse", raw=None)
    if _is_pydantic(tp):
        try:
            return cast(T, tp.model_validate_json(text))  # type: ignore[attr-defined]
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise StructuredOutputError(f"the answer is not a {tp.__name__}: {exc}", raw=text) from None
    try:
        return msgspec.json.decode(text, type=tp)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        name = getattr(tp, "__name__", str(tp))
        raise StructuredOutputError(f"the answer is not a {name}: {exc}", raw=text) from None


def parse_choices(completion: ParsedChatCompletion[Any], tp: type[T]) -> ParsedChatCompletion[T]:
    """Fill each choice's ``message.parsed`` (left ``None`` for a refusal); an answer
    cut short or not an instance of ``tp`` raises, with its text."""
    for choice in completion.choices:
        message = choice.message
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(
                "the answer was cut short by the token limit (finish_reason 'length'): "
                "raise max_completion_tokens", raw=message.content,
            )  # fmt: skip
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(
                "the answer was stopped by a content filter (finish_reason 'content_filter')",
                raw=message.content,
            )
        if message.refusal is None:
            message.parsed = parse_content(message.content, tp)
    return cast("ParsedChatCompletion[T]", completion)


# -- streamed partial objects -------------------------------------------------------------

_OBJECTS = (mi.StructType, mi.DataclassType, mi.TypedDictType)
# msgspec 0.19 added frozendict; what came before has only dict as a mapping
_MAPPINGS: tuple[type[mi.Type], ...] = tuple(
    kind for kind in (mi.DictType, getattr(mi, "FrozenDictType", None)) if kind is not None
)
_ARRAYS = (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)


@functools.lru_cache(maxsize=256)
def _type_info(tp: Any) -> mi.Type | None:
    """msgspec's description of ``tp``, or None for a type it does not describe (a
    pydantic model: validated as a whole, at the end)."""
    if _is_pydantic(tp):
        return None
    try:
        return mi.type_info(tp)
    except (TypeError, ValueError):
        return None


def _narrow(info: mi.Type | None, is_object: bool) -> mi.Type | None:
    """The one alternative of ``info`` a JSON object (or array) can be, or None when
    unknown or ambiguous (then nothing under it is checked before the end)."""
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        fits = [_narrow(option, is_object) for option in info.types]
        found = [option for option in fits if option is not None]
        return found[0] if len(found) == 1 else None
    if is_object:
        if isinstance(info, _OBJECTS) and not getattr(info, "array_like", False):
            return info
        return info if isinstance(info, _MAPPINGS) else None
    return info if isinstance(info, (*_ARRAYS, mi.TupleType)) else None


def _member(info: mi.Type | None, key: str, index: int) -> mi.Type | None:
    """The type of member ``key`` (an object) or item ``index`` (an array) of ``info``."""
    if isinstance(info, _OBJECTS):
        return next((f.type for f in info.fields if f.encode_name == key), None)
    if isinstance(info, _MAPPINGS):
        value_type: mi.Type = getattr(info, "value_type")  # noqa: B009 (either mapping kind)
        return value_type
    if isinstance(info, _ARRAYS):
        return info.item_type
    if isinstance(info, mi.TupleType) and index < len(info.item_types):
        return info.item_types[index]
    return None


class _CheckedJSON(PartialJSON):
    """A partial JSON parser that knows the type expected at each open container and
    checks each object against it as the object closes (the root excepted: that is
    decoded once, at the end)."""

    __slots__ = ("_invalid", "_paths", "_root_type", "_types")

    def __init__(self, root: mi.Type | None) -> None:
        super().__init__()
        self._types: list[mi.Type | None] = []
        self._paths: list[str] = []
        self._root_type = root
        self._invalid: str | None = None

    def _open(self, container: list[Any] | dict[str, Any], offset: int) -> None:
        types, is_object = self._types, type(container) is dict
        if types:
            parent = self._stack[-1]
            key = self._keys[-1]
            index = len(parent)
            info = _narrow(_member(types[-1], key, index), is_object)
            step = f"[{index}]" if type(parent) is list else f".{key}"
            self._paths.append(self._paths[-1] + step)
        else:
            info = _narrow(self._root_type, is_object)
            self._paths.append("$")
        types.append(info)
        super()._open(container, offset)

    def _close(self) -> int:
        info = self._types.pop()
        path = self._paths.pop()
        if self._types and isinstance(info, _OBJECTS) and self._invalid is None:
            try:
                msgspec.convert(self._stack[-1], info.cls)
            except msgspec.ValidationError as exc:  # its path is relative: make it whole
                where, found = path, str(exc)
                if " - at `$" in found:
                    found, _, rest = found.rpartition(" - at `$")
                    where = path + rest.rstrip("`")
                self._invalid = f"{where}: {found}"
        return super()._close()


class PartialObjects(Generic[T]):
    """The object of a structured answer as it streams: feed the content deltas, take a
    :meth:`snapshot` whenever you like, :meth:`finish` at the end. Pure: no I/O.

    A snapshot is the JSON data so far (a ``dict``; strings, numbers, lists and nested
    objects completed as :meth:`PartialJSON.value` does), not an instance of the type:
    a partial answer lacks required fields, which an instance cannot. Each object inside
    is checked against its type when it closes (its ``}``), so an answer that breaks the
    schema fails early, with the text so far; the whole object is decoded and validated
    once, by :meth:`finish`. Feeding costs time linear in the fragment; a snapshot costs
    the size of the containers still open (complete ones are shared, so read-only).
    """

    __slots__ = ("_name", "_parser", "_type")

    def __init__(self, tp: type[T]) -> None:
        self._type = tp
        self._name = getattr(tp, "__name__", str(tp))
        self._parser = _CheckedJSON(_type_info(cast(Any, tp)))

    @property
    def text(self) -> str:
        """The answer's text so far."""
        return self._parser.text

    def feed(self, fragment: str) -> None:
        """Take the next piece of the answer's text. An answer that can no longer become
        an instance (not JSON, or an object that breaks the schema) raises a
        :class:`StructuredOutputError` with the text so far; an incomplete one never does."""
        parser = self._parser
        try:
            parser.feed(fragment)
        except PartialJSONError as exc:
            raise StructuredOutputError(
                f"the answer is not a {self._name}: not JSON ({exc})", raw=parser.text
            ) from None
        if parser._invalid is not None:  # kept: a later feed raises it again
            raise StructuredOutputError(
                f"the answer is not a {self._name}: {parser._invalid}", raw=parser.text
            )

    def snapshot(self) -> dict[str, Any]:
        """The object so far (``{}`` before it starts); read-only, complete parts shared."""
        value = self._parser.snapshot(default=None)
        return value if type(value) is dict else {}

    def finish(self) -> T:
        """The whole answer decoded into the type, validated once; a
        :class:`StructuredOutputError` with the text if it is not an instance."""
        return parse_content(self._parser.text, self._type)
