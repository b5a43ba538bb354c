"""The second decode pass for Responses API answers: unknown tags kept, near misses bent.

The Responses API grows new output item types (web searches, file searches, computer and
MCP calls, ...) and new content part types faster than any client: a tagged union of the
types this client knows would refuse an answer holding one more. So the strict decoder
stays the fast path, and only what it refuses comes here: the JSON is decoded to plain
values, walked alongside the declared type, and converted again, with

- a dict whose tag no member of its tagged union carries set aside (a placeholder of the
  union's first member takes its place during the conversion) and put back afterwards as
  the union's "unknown" class (a ``dict`` subclass: kept exactly as sent);
- ``null`` where a field has a non-null default taking the default (``"output": null``);
- a whole float where an integer belongs taken as that integer (``"created_at": 1.7e9``).

What still does not fit raises ``msgspec.ValidationError``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

T = TypeVar("T")

Path = tuple[str | int, ...]
"""Where a value sits in a decoded answer: attribute names and list indexes."""

Unknowns = Mapping[type, Callable[[dict[str, Any]], Any]]
"""For a tagged union (named by its first member's class): what keeps an unknown member."""


def convert_tolerant(value: Any, type_: type[T], unknowns: Unknowns) -> T:
    """Convert the plain JSON ``value`` to ``type_`` as the module docstring says."""
    found: list[tuple[Path, Any]] = []
    walked = _walk(value, _info(type_), (), found, unknowns)
    result = msgspec.convert(walked, type_, strict=False)
    for path, kept in found:
        result = _put(result, path, kept)
    return result


_infos: dict[Any, inspect.Type] = {}


def _info(type_: Any) -> inspect.Type:
    info = _infos.get(type_)
    if info is None:
        info = _infos[type_] = inspect.type_info(type_)
    return info


def _walk(
    value: Any, info: inspect.Type, path: Path, found: list[tuple[Path, Any]], unknowns: Unknowns
) -> Any:
    if isinstance(info, inspect.UnionType):
        return _walk_union(value, info, path, found, unknowns)
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        out: dict[str, Any] = {}
        for field in info.fields:
            if field.encode_name not in value:
                continue
            item = value[field.encode_name]
            if item is None and not field.required and not _allows_none(field.type):
                continue  # null where a default exists: take the default
            out[field.encode_name] = _walk(item, field.type, (*path, field.name), found, unknowns)
        if info.tag_field is not None:
            out[info.tag_field] = info.tag
        return out
    if isinstance(info, inspect.ListType) and isinstance(value, list):
        return [
            _walk(item, info.item_type, (*path, i), found, unknowns) for i, item in enumerate(value)
        ]
    if isinstance(info, inspect.IntType) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _walk_union(
    value: Any,
    info: inspect.UnionType,
    path: Path,
    found: list[tuple[Path, Any]],
    unknowns: Unknowns,
) -> Any:
    if value is None:
        return None
    tagged = [t for t in info.types if isinstance(t, inspect.StructType) and t.tag_field]
    if tagged and isinstance(value, dict):
        first = tagged[0]
        tag = value.get(first.tag_field or "")
        for member in tagged:
            if member.tag == tag:
                return _walk(value, member, path, found, unknowns)
        keep = unknowns.get(first.cls)
        if keep is None:
            return value  # no fallback for this union: let the conversion name the problem
        found.append((path, keep(value)))
        return {first.tag_field: first.tag}  # every member has defaults for all fields
    for option in info.types:
        if _fits(value, option):
            return _walk(value, option, path, found, unknowns)
    return value


def _fits(value: Any, info: inspect.Type) -> bool:
    if isinstance(info, inspect.NoneType):
        return value is None
    if isinstance(info, (inspect.StructType, inspect.DictType)):
        return isinstance(value, dict)
    if isinstance(info, inspect.ListType):
        return isinstance(value, list)
    if isinstance(info, inspect.StrType):
        return isinstance(value, str)
    if isinstance(info, inspect.IntType):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(info, inspect.FloatType):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(info, inspect.BoolType):
        return isinstance(value, bool)
    return isinstance(info, inspect.AnyType)


def _allows_none(info: inspect.Type) -> bool:
    if isinstance(info, (inspect.NoneType, inspect.AnyType)):
        return True
    return isinstance(info, inspect.UnionType) and any(
        isinstance(t, (inspect.NoneType, inspect.AnyType)) for t in info.types
    )


def _put(result: Any, path: Path, kept: Any) -> Any:
    """``result`` with ``kept`` at ``path``. The top-level struct may be frozen (an event):
    it is then replaced; what is inside (items, lists) is changed in place."""
    if not path:
        return kept
    if len(path) == 1 and isinstance(path[0], str):
        return msgspec.structs.replace(result, **{path[0]: kept})
    target = result
    for step in path[:-1]:
        target = target[step] if isinstance(step, int) else getattr(target, step)
    last = path[-1]
    if isinstance(last, int):
        target[last] = kept
    else:
        setattr(target, last, kept)
    return result
