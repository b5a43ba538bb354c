"""Tools from Python functions: definitions from signatures and docstrings, calls with
decoded arguments, errors given back to the model. Async tests run on asyncio and trio."""

from __future__ import annotations

import enum
import threading
from typing import Any, Literal

import msgspec
import pytest

import sudo_stream as ss
from sudo_stream.tools import FunctionTool, ToolResult, tool

from . import contract


class Unit(enum.Enum):
    C = "C"
    F = "F"


class Place(msgspec.Struct):
    city: str
    country: str | None = None


@tool
async def get_weather(place: Place, unit: Unit = Unit.C, days: int = 1) -> dict[str, Any]:
    """The weather in a place.

    Longer explanation that is not the summary.

    Args:
        place: Where: a city, and its country if the
            name is ambiguous.
        unit (Unit): Celsius or Fahrenheit.
        days: How many days ahead: 1 to 7.
    """
    if days > 7:
        raise ValueError("at most 7 days")
    return {"city": place.city, "unit": unit.value, "days": days}


def add(a: int, b: int) -> int:
    """:param a: the first number
    :param b: the second number
    """
    return a + b


def test_the_definition_comes_from_the_signature_and_the_docstring() -> None:
    definition = get_weather.definition
    function = definition["function"]
    assert definition["type"] == "function"
    assert function["name"] == "get_weather"
    assert function["description"] == "The weather in a place."
    assert function["strict"] is True
    parameters = function["parameters"]
    assert parameters["required"] == ["place", "unit", "days"]
    assert parameters["additionalProperties"] is False
    properties = parameters["properties"]
    assert properties["place"]["description"] == (
        "Where: a city, and its country if the name is ambiguous."
    )
    assert properties["unit"]["description"] == "Celsius or Fahrenheit."
    assert properties["days"] == {"type": "integer", "description": "How many days ahead: 1 to 7."}
    assert parameters["$defs"]["Place"]["required"] == ["city", "country"]
    contract.check("ChatCompletionRequest", {"model": "m", "messages": [], "tools": [definition]})


def test_sphinx_params_a_name_and_a_description_of_ones_own() -> None:
    adder = tool(add)
    assert adder.parameters["properties"]["a"]["description"] == "the first number"
    assert "description" not in adder.definition["function"]  # no summary line
    named = tool(name="sum_two", description="Adds.")(add)
    assert named.definition["function"]["name"] == "sum_two"
    assert named.definition["function"]["description"] == "Adds."
    assert isinstance(named, FunctionTool) and repr(named) == "FunctionTool('sum_two')"


@pytest.mark.anyio
async def test_a_call_decodes_the_arguments_into_the_annotated_types() -> None:
    result = await get_weather.call('{"place": {"city": "Paris", "country": null}, "unit": "F", "days": 3}')
    assert result == ToolResult('{"city":"Paris","unit":"F","days":3}')


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"place": {"city": 3}}', "Expected `str`, got `int`"),
        ('{"place": {"city": "Paris"}, "unit": "K"}', "Invalid enum value 'K'"),
        ('{"unit": "C"}', "missing required field `place`"),
        ('{"place": {"city": "Paris"}, "colour": "red"}', "unknown field `colour`"),
        ('{"place": ', "truncated"),
    ],
)
async def test_bad_arguments_are_an_error_for_the_model(arguments: str, message: str) -> None:
    result = await get_weather.call(arguments)
    assert result.is_error
    assert result.content.startswith("error: invalid arguments for get_weather: ")
    assert message.lower() in result.content.lower()


@pytest.mark.anyio
async def test_an_exception_in_the_tool_is_an_error_for_the_model() -> None:
    result = await get_weather.call('{"place": {"city": "Oslo"}, "days": 9}')
    assert result == ToolResult("error: get_weather raised ValueError: at most 7 days", is_error=True)


@pytest.mark.anyio
async def test_a_sync_function_runs_in_a_worker_thread() -> None:
    seen: list[bool] = []

    @tool
    def where(tag: Literal["x", "y"]) -> str:
        """Which thread runs me."""
        seen.append(threading.current_thread() is threading.main_thread())
        return f"tag {tag}"

    assert await where.call('{"tag": "y"}') == ToolResult("tag y")
    assert seen == [False]
    assert ss.tool is tool


def test_functions_that_cannot_be_described_are_refused() -> None:
    def untyped(a):  # type: ignore[no-untyped-def]
        return a

    def variadic(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match="parameter 'a' needs a type annotation"):
        tool(untyped)
    with pytest.raises(TypeError, match=r"\*args and \*\*kwargs"):
        tool(variadic)
    with pytest.raises(ValueError, match="a tool's name must match"):
        tool(name="no spaces")(add)
