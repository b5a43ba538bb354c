"""Tools from Python functions: the function-tool definition from the signature and the
docstring, and a call that decodes the model's arguments into the annotated types::

    @ss.tool
    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
        '''The current weather in a city.

        Args:
            city: The city's name, e.g. "Paris".
            unit: Celsius or Fahrenheit.
        '''

    get_weather.definition  # {"type": "function", "function": {..., "strict": True}}
    result = await get_weather.call('{"city": "Paris", "unit": "C"}')  # a ToolResult

Arguments that are not valid for the signature, and an exception raised by the function,
come back as a :class:`ToolResult` with ``is_error`` set and a message meant for the
model, never as an exception in the app: the model can correct itself. A sync function
runs in a worker thread, so that it cannot stall the event loop; a call cancelled while
it runs returns at once and leaves the thread to finish alone (no thread can be stopped).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints, overload

import anyio.to_thread
import msgspec

from ._params import TOOL_NAME
from .structured import strict_schema

R = TypeVar("R")

# "name: text" or "name (type): text" in a Google-style Args: section; ":param name: text".
_ARG = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gives back to the model: ``content`` (the result as text: a
    string as it is, anything else as JSON), and ``is_error`` when the arguments were
    wrong or the function raised."""

    content: str
    is_error: bool = False


class FunctionTool(Generic[R]):
    """A Python function as a tool. ``definition`` is what the API takes in ``tools``;
    :meth:`call` runs the function on the model's arguments."""

    def __init__(
        self,
        function: Callable[..., R] | Callable[..., Awaitable[R]],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        if not callable(function):
            raise TypeError(f"tool() takes a function, got {type(function).__name__}")
        self.function = function
        self.name: str = name or function.__name__
        if not TOOL_NAME.fullmatch(self.name):
            raise ValueError(f"a tool's name must match [a-zA-Z0-9_-]{{1,64}}, got {self.name!r}")
        summary, arguments = _docstring(inspect.getdoc(function) or "")
        self.description: str = description if description is not None else summary
        self.arguments: type[msgspec.Struct] = _arguments_struct(function, self.name)
        parameters = strict_schema(self.arguments)
        for field, text in arguments.items():
            if field in parameters["properties"]:
                parameters["properties"][field]["description"] = text
        self.parameters: dict[str, Any] = parameters
        self._is_async = inspect.iscoroutinefunction(function)

    @property
    def definition(self) -> dict[str, Any]:
        """The function-tool definition (strict: the model's arguments always match)."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters, "strict": True}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"

    async def call(self, arguments: str | bytes) -> ToolResult:
        """Decode ``arguments`` (the model's JSON) into the signature's types and run the
        function; wrong arguments or an exception become an error result for the model."""
        try:
            decoded = msgspec.json.decode(arguments or b"{}", type=self.arguments)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return ToolResult(f"error: invalid arguments for {self.name}: {exc}", is_error=True)
        kwargs = msgspec.structs.asdict(decoded)
        try:
            if self._is_async:
                result: Any = await self.function(**kwargs)  # type: ignore[misc]
            else:
                # A call cancelled (a timeout, the app leaving) returns at once; the
                # thread, which nothing can stop, is left to finish on its own.
                result = await anyio.to_thread.run_sync(
                    lambda: self.function(**kwargs), abandon_on_cancel=True
                )
        except Exception as exc:
            return ToolResult(f"error: {self.name} raised {type(exc).__name__}: {exc}", is_error=True)
        if isinstance(result, str):
            return ToolResult(result)
        try:
            return ToolResult(msgspec.json.encode(result).decode())
        except TypeError as exc:
            return ToolResult(f"error: {self.name} returned what is not JSON: {exc}", is_error=True)


@overload
def tool(function: Callable[..., R], /) -> FunctionTool[R]: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., R]], FunctionTool[R]]: ...


def tool(
    function: Callable[..., R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool[R] | Callable[[Callable[..., R]], FunctionTool[R]]:
    """A :class:`FunctionTool` from ``function``: ``tool(fn)``, ``@tool`` or
    ``@tool(name=..., description=...)``. The description defaults to the docstring's
    first paragraph, each parameter's to its line in an ``Args:`` section (or
    ``:param name:``)."""
    if function is None:
        return lambda fn: FunctionTool(fn, name=name, description=description)
    return FunctionTool(function, name=name, description=description)


def _arguments_struct(function: Callable[..., Any], name: str) -> type[msgspec.Struct]:
    signature = inspect.signature(function)
    try:
        hints = get_type_hints(function)
    except NameError as exc:
        raise TypeError(f"tool {name}: cannot resolve an annotation ({exc})") from None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"tool {name}: *args and **kwargs cannot be described to the model")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"tool {name}: {parameter.name} is positional-only; tools take keywords")
        if parameter.name not in hints:
            raise TypeError(f"tool {name}: parameter {parameter.name!r} needs a type annotation")
        if parameter.default is parameter.empty:
            fields.append((parameter.name, hints[parameter.name]))
        else:
            fields.append((parameter.name, hints[parameter.name], parameter.default))
    return msgspec.defstruct(f"{name}_arguments", fields, kw_only=True, forbid_unknown_fields=True)


def _docstring(text: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each parameter's description."""
    paragraphs = text.strip().split("\n\n", 1)
    summary = " ".join(paragraphs[0].split()) if paragraphs[0] else ""
    described: dict[str, str] = {}
    in_args = False
    indent: int | None = None  # of the parameter lines of the Args: section
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        param = _PARAM.match(line)
        if param:
            last = param.group(1)
            described[last] = param.group(2).strip()
            continue
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args, indent, last = True, None, None
            continue
        if not in_args or not stripped:
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:
            in_args = False  # the next section
            continue
        match = _ARG.match(line)
        if match and (indent is None or depth == indent):
            indent = depth
            last = match.group(1).lstrip("*")
            described[last] = match.group(2).strip()
        elif last is not None:  # a description's next line
            described[last] = f"{described[last]} {stripped}".strip()
    if paragraphs[0].lstrip().startswith((":param", "Args:")):
        summary = ""
    return summary, described
