"""Stored completions: list pages, messages, deletion confirmation."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ._base import OrJSON, Response
from .common import FunctionCall, ToolCall
from .completion import ChatCompletion

T = TypeVar("T")


class ListPage(Response, Generic[T]):
    """A page of a paginated list. ``first_id``/``last_id`` are empty on an empty page
    (``""``, as the seed SDK types them, or null from some servers)."""

    object: str = "list"
    data: list[T] = []
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class ChatCompletionList(ListPage[ChatCompletion]):
    """A page of stored chat completions."""


class StoredMessage(Response):
    """A message of a stored completion's conversation.

    ``refusal``, ``tool_calls``, ``tool_call_id`` and ``function_call`` (which the API's
    documents do not list for stored messages) are kept as sent when not the usual shape.
    """

    id: str = ""
    role: str = ""
    content: str | list[Any] | None = None
    name: str | None = None
    refusal: OrJSON[str | None] = None
    tool_calls: OrJSON[list[ToolCall] | None] = None
    tool_call_id: OrJSON[str | None] = None
    function_call: OrJSON[FunctionCall | None] = None
    audio: Any = None
    content_parts: list[Any] | None = None


class ChatMessageList(ListPage[StoredMessage]):
    """A page of a stored completion's messages."""


class ChatDeletionConfirmation(Response):
    """The answer to deleting a stored completion."""

    id: str = ""
    object: str = "chat.completion.deleted"
    deleted: bool = False
