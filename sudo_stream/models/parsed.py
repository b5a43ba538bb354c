"""A chat completion whose messages carry the structured object they were asked for."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from .completion import ChatCompletion, ChatCompletionMessage, Choice

T = TypeVar("T")


class ParsedMessage(ChatCompletionMessage, Generic[T]):
    """A message with ``parsed``, its content decoded into the requested type (``None``
    when the model refused: see ``refusal``)."""

    parsed: T | None = None


class ParsedChoice(Choice, Generic[T]):
    """A choice whose message is a :class:`ParsedMessage`."""

    message: ParsedMessage[T] = msgspec.field(default_factory=ParsedMessage)


class ParsedChatCompletion(ChatCompletion, Generic[T]):
    """A chat completion from ``router.parse()``: ``choices[i].message.parsed`` is typed."""

    choices: list[ParsedChoice[T]] = []  # type: ignore[assignment]  # narrowed: decoded so
