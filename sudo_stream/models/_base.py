"""Base classes shared by every wire type.

Responses ignore unknown fields (msgspec's default) so a new server field never breaks a
client, and a field the API's document leaves untyped is declared ``OrJSON[T]``: typed
when the value has the usual shape, kept as sent otherwise. Requests are keyword-only and
use ``msgspec.UNSET`` for "not given", so an unset option is never sent while an explicit
``None`` is sent as ``null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

import msgspec

T = TypeVar("T")


class _KeptAsSent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "KEPT_AS_SENT"


KEPT_AS_SENT = _KeptAsSent()
"""Marks a response field the API's document leaves untyped (or does not list)."""

if TYPE_CHECKING:
    OrJSON = Union[T, Any]
else:

    class OrJSON:
        """``OrJSON[T]``: a ``T`` when the server sent the usual shape, else the JSON value
        as it came (a dict, list, string, number or bool).

        For fields the API's document leaves untyped or does not list: an answer the
        document accepts must decode. Decoders see ``T`` (the fast path stays typed); when
        the value does not fit, the second pass (``_lenient``) keeps it as sent instead of
        failing the answer. Type checkers see ``T | Any``.
        """

        def __class_getitem__(cls, item: Any) -> Any:
            return Annotated[item, KEPT_AS_SENT]


class Response(msgspec.Struct, kw_only=True, gc=False, repr_omit_defaults=True):
    """A decoded response body or fragment. Decoded data never forms reference cycles,
    so the garbage collector need not track these (a measurable saving per chunk)."""


class Request(msgspec.Struct, kw_only=True, omit_defaults=True, repr_omit_defaults=True):
    """A request body or fragment: unset fields are omitted when encoded."""
