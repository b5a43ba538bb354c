"""The second chance for JSON that the strict decoders refuse.

OpenAI-compatible servers are not all OpenAI: some send ``null`` where a field has a
default (``"choices": null``, ``"completion_tokens": null``), a number where text belongs
(a numeric tool-call id), a float where an integer belongs (``"created": 1712345678.0``)
or an object where JSON text belongs (tool ``arguments``). The strict decoder stays the
fast path; only what it refuses comes here, is bent toward the declared types, and is
converted again. What still does not fit raises ``msgspec.ValidationError`` as before,
except in a field declared ``OrJSON[...]`` (one the API's document leaves untyped): there
a value of another shape is kept as it came, and the rest of the answer decodes.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, get_args, get_origin

import msgspec
from msgspec import inspect

from ._base import KEPT_AS_SENT
from .common import ErrorDetail

T = TypeVar("T")

Path = tuple[str | int, ...]
"""Where a value sits in a decoded answer: attribute names and list indexes."""


def decode_lenient(data: bytes | str, type_: type[T]) -> T:
    """Decode ``data`` as ``type_``, bending the near misses described above."""
    value = msgspec.json.decode(data)
    kept: list[tuple[Path, Any]] = []
    result = msgspec.convert(_bend(value, _info(type_), (), kept), type_, strict=False)
    for path, raw in kept:
        _put(result, path, raw)
    return result


_infos: dict[Any, inspect.Type] = {}  # the few response types, inspected once each
_kept_fields: dict[type, dict[str, Any]] = {}


def _info(type_: Any) -> inspect.Type:
    info = _infos.get(type_)
    if info is None:
        info = _infos[type_] = inspect.type_info(type_)
    return info


def _kept_as_sent(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """The ``OrJSON`` fields of ``cls``: attribute name -> declared type."""
    fields = _kept_fields.get(cls)
    if fields is None:
        fields = _kept_fields[cls] = {
            field.name: field.type
            for field in msgspec.structs.fields(cls)
            if get_origin(field.type) is Annotated and KEPT_AS_SENT in get_args(field.type)
        }
    return fields


def _bend(value: Any, info: inspect.Type, path: Path, kept: list[tuple[Path, Any]]) -> Any:
    """``value`` bent toward ``info``; values kept as sent are left out and listed in
    ``kept`` by their path, to be put back once the answer is converted."""
    if isinstance(info, inspect.UnionType):
        if value is None and any(isinstance(t, inspect.NoneType) for t in info.types):
            return None
        for option in info.types:
            if _fits(value, option):
                return _bend(value, option, path, kept)
        options = [t for t in info.types if not isinstance(t, inspect.NoneType)]
        return _bend(value, options[0], path, kept) if len(options) == 1 else value
    if isinstance(info, inspect.StructType):
        if isinstance(value, dict):
            return _bend_struct(value, info, path, kept)
        if info.cls is ErrorDetail:  # "error": "overloaded": the error, in its own words
            return {"detail": value} if value else None
    if isinstance(info, inspect.ListType) and isinstance(value, list):
        return [_bend(item, info.item_type, (*path, i), kept) for i, item in enumerate(value)]
    if isinstance(info, inspect.StrType):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, (dict, list)):
            return msgspec.json.encode(value).decode()
    if isinstance(info, inspect.IntType) and isinstance(value, float):
        return int(value)  # 1712345678.0, or a fractional timestamp: its whole seconds
    return value


def _bend_struct(
    value: dict[str, Any], info: inspect.StructType, path: Path, kept: list[tuple[Path, Any]]
) -> dict[str, Any]:
    fields = {field.encode_name: field for field in info.fields}
    free = _kept_as_sent(info.cls)
    bent: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            continue  # unknown: ignored anyway
        if item is None and not field.required and not _allows_none(field.type):
            continue  # null where a default exists: take the default
        where = (*path, field.name)
        declared = free.get(field.name)
        if declared is None:
            bent[key] = _bend(item, field.type, where, kept)
            continue
        # A field the document leaves untyped: typed if it has the usual shape (its
        # insides bent as anywhere else), else left out here and put back as it came.
        inner: list[tuple[Path, Any]] = []
        if _fits(item, field.type):
            try:
                bent[key] = msgspec.convert(
                    _bend(item, field.type, where, inner), declared, strict=False
                )
            except msgspec.ValidationError:
                pass
            else:
                kept.extend(inner)
                continue
        kept.append((where, item))
    return bent


def _put(result: Any, path: Path, raw: Any) -> None:
    target = result
    for step in path[:-1]:
        target = target[step] if isinstance(step, int) else getattr(target, step)
    setattr(target, str(path[-1]), raw)


def _fits(value: Any, info: inspect.Type) -> bool:
    """Whether ``value`` has the JSON shape of ``info`` (before bending its insides)."""
    if isinstance(info, inspect.UnionType):
        return any(_fits(value, option) for option in info.types)
    if isinstance(info, inspect.NoneType):
        return value is None
    if isinstance(info, inspect.StructType):
        return isinstance(value, dict)
    if isinstance(info, (inspect.ListType, inspect.DictType)):
        return isinstance(value, list if isinstance(info, inspect.ListType) else dict)
    if isinstance(info, inspect.StrType):
        return isinstance(value, str)
    if isinstance(info, inspect.IntType):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(info, inspect.AnyType)


def _allows_none(info: inspect.Type) -> bool:
    if isinstance(info, (inspect.NoneType, inspect.AnyType)):
        return True
    return isinstance(info, inspect.UnionType) and any(
        isinstance(t, (inspect.NoneType, inspect.AnyType)) for t in info.types
    )
