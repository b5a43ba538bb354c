"""A structured answer, streamed: ask for a Recipe (a msgspec Struct), show each
ingredient and step the moment it is complete, and get a typed Recipe at the end.

    python examples/structured.py

With SUDO_API_KEY set it asks the Sudo API; without it, the fake server streams a recipe
as a model would, and it says so.
"""

import json
import os
from typing import Any

import anyio
import msgspec

import sudo_stream as ss
from sudo_stream import testing

MODEL = os.environ.get("SUDO_MODEL", "gpt-4o-mini")
QUESTION = [{"role": "user", "content": "A simple pancake recipe, please."}]


class Step(msgspec.Struct):
    instruction: str
    minutes: int


class Recipe(msgspec.Struct):
    title: str
    servings: int
    ingredients: list[str]
    steps: list[Step]


def show(field: str, item: Any) -> None:
    if field == "steps":
        print(f"  step ({item['minutes']} min): {item['instruction']}")
    else:
        print(f"  ingredient: {item}")


async def cook(sudo: ss.AsyncSudo) -> Recipe:
    async with sudo.router.create_streaming(
        messages=QUESTION, model=MODEL, response_format=Recipe
    ) as stream:
        shown = {"ingredients": 0, "steps": 0}
        snapshots = 0
        async for partial in stream.partial_objects():  # plain data, growing
            snapshots += 1
            last_field = next(reversed(partial), None)
            for field in shown:
                items = partial.get(field, [])
                # An item is complete once the next one started, or a later field did.
                end = len(items) - 1 if field == last_field else len(items)
                for item in items[shown[field] : end]:
                    show(field, item)
                shown[field] = max(shown[field], end)
        completion = await stream.final_completion()
    recipe = completion.choices[0].message.parsed  # a Recipe, validated once
    if recipe is None:
        raise SystemExit(f"the model refused: {completion.choices[0].message.refusal}")
    for field in shown:  # what the last snapshot left open
        for item in msgspec.to_builtins(getattr(recipe, field))[shown[field] :]:
            show(field, item)
    total = sum(step.minutes for step in recipe.steps)
    print(f"{recipe.title}: serves {recipe.servings}, {total} minutes ({snapshots} snapshots)")
    return recipe


PANCAKES = Recipe(
    title="Fluffy pancakes",
    servings=4,
    ingredients=["200 g flour", "2 eggs", "300 ml milk", "1 tbsp sugar", "a pinch of salt"],
    steps=[
        Step("Whisk the flour, sugar and salt.", 2),
        Step("Beat in the eggs and the milk until smooth.", 3),
        Step("Fry ladlefuls in a hot buttered pan, turning once.", 15),
    ],
)


async def main() -> None:
    if os.environ.get("SUDO_API_KEY"):
        async with ss.AsyncSudo() as sudo:
            await cook(sudo)
        return
    async with testing.FakeSudoServer() as server:
        print(f"(no SUDO_API_KEY: the fake server at {server.url} plays the model)")
        answer = json.dumps(msgspec.to_builtins(PANCAKES))
        server.enqueue(testing.Stream(testing.text_chunks(answer, model=MODEL), delay=0.005))
        async with ss.AsyncSudo(server_url=server.url) as sudo:
            recipe = await cook(sudo)
        assert recipe == PANCAKES


if __name__ == "__main__":
    anyio.run(main)
