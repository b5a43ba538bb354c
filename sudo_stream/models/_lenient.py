"""The second chance for JSON that the strict decoders refuse.

OpenAI-compatible servers are not all OpenAI: some send ``null`` where a field has a
default (``"choices": null``, ``"completion_tokens": null``), a number where text belongs
(a numeric tool-call id), a float where an integer belongs (``"created": 1712345678.0``)
or an object where JSON text belongs (tool ``arguments``). The strict decoder stays the
fast path; only what it refuses comes here, is bent toward the declared types, and is
converted again. What still does not fit raises ``msgspec.ValidationError`` as before.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from msgspec import inspect

T = TypeVar("T")


def decode_lenient(data: bytes | str, type_: type[T]) -> T:
    """Decode ``data`` as ``type_``, bending the near misses described above."""
    value = msgspec.json.decode(data)
    info = _infos.get(type_)
    if info is None:
        info = _infos[type_] = inspect.type_info(type_)
    return msgspec.convert(_bend(value, info), type_, strict=False)


_infos: dict[Any, inspect.Type] = {}  # the few response types, inspected once each


def _bend(value: Any, info: inspect.Type) -> Any:
    if isinstance(info, inspect.UnionType):
        if value is None and any(isinstance(t, inspect.NoneType) for t in info.types):
            return None
        for option in info.types:
            if _fits(value, option):
                return _bend(value, option)
        options = [t for t in info.types if not isinstance(t, inspect.NoneType)]
        return _bend(value, options[0]) if len(options) == 1 else value
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        fields = {field.encode_name: field for field in info.fields}
        bent: dict[str, Any] = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                continue  # unknown: ignored anyway
            if item is None and not field.required and not _allows_none(field.type):
                continue  # null where a default exists: take the default
            bent[key] = _bend(item, field.type)
        return bent
    if isinstance(info, inspect.ListType) and isinstance(value, list):
        return [_bend(item, info.item_type) for item in value]
    if isinstance(info, inspect.StrType):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, (dict, list)):
            return msgspec.json.encode(value).decode()
    if isinstance(info, inspect.IntType) and isinstance(value, float):
        return int(value)  # 1712345678.0, or a fractional timestamp: its whole seconds
    return value


def _fits(value: Any, info: inspect.Type) -> bool:
    """Whether ``value`` has the JSON shape of ``info`` (before bending its insides)."""
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
