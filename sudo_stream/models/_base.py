"""Base classes shared by every wire type.

Responses ignore unknown fields (msgspec's default) so a new server field never breaks a
client. Requests are keyword-only and use ``msgspec.UNSET`` for "not given", so an unset
option is never sent while an explicit ``None`` is sent as ``null``.
"""

from __future__ import annotations

import msgspec


class Response(msgspec.Struct, kw_only=True, gc=False, repr_omit_defaults=True):
    """A decoded response body or fragment. Decoded data never forms reference cycles,
    so the garbage collector need not track these (a measurable saving per chunk)."""


class Request(msgspec.Struct, kw_only=True, omit_defaults=True, repr_omit_defaults=True):
    """A request body or fragment: unset fields are omitted when encoded."""
