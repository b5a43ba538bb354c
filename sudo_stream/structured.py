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

from typing import Any, TypeVar, cast

import msgspec

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
    json_schema: dict[str, Any] = {"name": schema_name, "schema": strict_schema(tp), "strict": True}
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
