"""The Sudo API's contract as JSON Schema validators, for the tests.

The schemas are the seed's OpenAPI document (``data/seed_openapi.md``, a verbatim copy of
the seed, so a clean clone has it) and ``data/contract_supplement.yaml`` for the answers
and bodies that document has no schema for (transcribed from the seed SDK; see its header).
``check(name, value)`` raises ``AssertionError`` listing every place ``value`` breaks the
schema ``name``.

Integers are strict: ``1.0`` is not an integer here. JSON Schema would take it, but the
document's ``format: int32`` fields are read by typed servers that refuse a float.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DATA = Path(__file__).resolve().parent / "data"
DOCUMENT = DATA / "seed_openapi.md"
SUPPLEMENT = DATA / "contract_supplement.yaml"

_YAML_BLOCK = re.compile(r"^````yaml[^\n]*\n(.*?)^````", re.S | re.M)


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", _strict_integer
    ),
)


@functools.cache
def document() -> dict[str, Any]:
    """The seed's OpenAPI document (the YAML block of the seed page)."""
    match = _YAML_BLOCK.search(DOCUMENT.read_text(encoding="utf-8"))
    assert match is not None, f"{DOCUMENT} has no YAML block"
    loaded: dict[str, Any] = yaml.safe_load(match.group(1))
    return loaded


@functools.cache
def schemas() -> dict[str, Any]:
    """Every named schema: the document's, then the supplement's (no name in both)."""
    own = document()["components"]["schemas"]
    extra = yaml.safe_load(SUPPLEMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    assert not own.keys() & extra.keys(), "the supplement redefines a schema of the document"
    return {**own, **extra}


@functools.cache
def validator(name: str) -> Any:
    """A validator of the schema ``name``, its ``$ref`` resolved within these schemas."""
    assert name in schemas(), f"no schema named {name}"
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas()}}
    _Validator.check_schema(root)
    return _Validator(root)


def problems(name: str, value: Any) -> list[str]:
    """Where ``value`` breaks the schema ``name``, one line each (empty if it conforms)."""
    errors = sorted(validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors:
        where = "".join(f"[{step!r}]" for step in error.absolute_path) or "(the value)"
        cause = _branch_cause(error)
        detail = f" ({cause.message})" if cause is not None else ""
        lines.append(f"{name}{where}: {error.message[:300]}{detail[:300]}")
    return lines


def _branch_cause(error: Any) -> Any:
    """What is wrong in the branch of a oneOf/anyOf the value was meant for: one whose tag
    (an enum, such as a message's role) it has, and whose type it has."""
    branches: dict[Any, list[Any]] = {}
    for inner in error.context or []:
        branches.setdefault(inner.schema_path[0], []).append(inner)
    tagged = [e for errs in branches.values() if not any(x.validator == "enum" for x in errs)
              for e in errs]  # fmt: skip
    candidates = tagged or list(error.context or [])
    typed = [e for e in candidates if e.validator != "type" or e.relative_path]
    return jsonschema.exceptions.best_match(typed or candidates)


def check(name: str, value: Any) -> None:
    """Assert that ``value`` conforms to the schema ``name``."""
    found = problems(name, value)
    assert not found, "\n".join(found)
