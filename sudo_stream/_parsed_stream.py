"""A chat stream whose answer is a structured object: partial objects as it streams, the
typed object at the end (``create_streaming(response_format=Type)``)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from . import structured
from ._stream import ChatStream, _EventIterator
from .models.completion import ChatCompletion
from .models.events import TextDelta
from .models.parsed import ParsedChatCompletion, ParsedChoice, ParsedMessage

T = TypeVar("T")


class ParsedChatStream(ChatStream, Generic[T]):
    """A :class:`ChatStream` asked for an instance of a type: everything a stream does,
    plus :meth:`partial_objects` while it streams and a typed :meth:`final_completion`."""

    def __init__(self, *args: Any, response_format: type[T], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_format = response_format
        self._parsed: ParsedChatCompletion[T] | None = None

    def partial_objects(self, choice_index: int = 0) -> PartialObjectIterator:
        """The object so far, after each piece of one choice's answer: plain JSON data
        (a ``dict``), read-only, never an error on incomplete input.

        An answer that cannot become an instance (not JSON, or an object inside it that
        breaks the schema as it closes) raises a
        :class:`~sudo_stream.structured.StructuredOutputError` with the text so far, and
        closes the stream. The typed object is :meth:`final_completion`'s, validated once.
        """
        return PartialObjectIterator(self, choice_index)

    async def final_completion(self) -> ParsedChatCompletion[T]:
        """Read the rest and return the completion with ``choices[i].message.parsed``
        typed, as :meth:`AsyncRouter.parse` does (with its errors, for a refusal, an
        answer cut short or one that is not an instance)."""
        if self._parsed is None:
            completion = parsed_completion(await super().final_completion())
            self._parsed = structured.parse_choices(completion, self.response_format)
        return self._parsed

    def __repr__(self) -> str:
        name = getattr(self.response_format, "__name__", "?")
        return super().__repr__().replace("<ParsedChatStream", f"<ParsedChatStream[{name}]", 1)


class PartialObjectIterator:
    """The snapshots of :meth:`ParsedChatStream.partial_objects`."""

    def __init__(self, stream: ParsedChatStream[Any], choice_index: int) -> None:
        self._stream = stream
        self._events = _EventIterator(stream)
        self._choice = choice_index
        self._parser = structured.PartialObjects(stream.response_format)

    def __aiter__(self) -> PartialObjectIterator:
        return self

    def ready(self) -> bool:
        """Whether the next event is already here (no wait on the socket for it)."""
        return self._events.ready()

    async def __anext__(self) -> dict[str, Any]:
        choice, parser = self._choice, self._parser
        while True:
            event = await self._events.__anext__()
            if type(event) is TextDelta and event.choice_index == choice:
                try:
                    parser.feed(event.text)
                except structured.StructuredOutputError as exc:
                    error = exc
                    break
                return parser.snapshot()
        await self._stream._abort(error)  # outside the except: no context to chain
        raise error


def parsed_completion(completion: ChatCompletion) -> ParsedChatCompletion[Any]:
    """The same completion as a :class:`ParsedChatCompletion` (``parsed`` not yet set):
    one shallow copy per choice, nothing decoded again."""
    fields = msgspec.structs.asdict(completion)
    fields["choices"] = [
        ParsedChoice(
            **{
                **msgspec.structs.asdict(choice),
                "message": ParsedMessage(**msgspec.structs.asdict(choice.message)),
            }
        )
        for choice in completion.choices
    ]
    return ParsedChatCompletion(**fields)
