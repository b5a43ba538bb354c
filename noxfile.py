"""Development sessions: ``nox -s tests``, ``tests_lowest``, ``tests_ray``, ``coverage``,
``lint``, ``typecheck``, ``bench``, ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself needs tomli there
    import tomli as tomllib

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
# Run on every supported Python that this machine has; skip the others (also on CI).
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# The lowest versions of the dependencies run on the lowest Python (requires-python).
LOWEST_PYTHON = "3.10"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite (pytest, every async test on asyncio and trio)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_ray(session: nox.Session) -> None:
    """The Ray scale-out (``sudo_stream.batch.ray``, the ``ray`` extra) on a local Ray.

    The other sessions skip these tests (no Ray there); here they must run: a missing
    ``ray`` fails them rather than skip.
    """
    session.install("-e", ".[test,ray]")
    session.run(
        "pytest", "tests/test_batch_ray.py", *session.posargs, env={"SUDO_STREAM_REQUIRE_RAY": "1"}
    )


@nox.session(python=LOWEST_PYTHON)
def tests_lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions of the dependencies that pyproject.toml allows.

    Every floor there (the dependencies' and the test extra's) is then a version the tests
    passed on. uv resolves each of them to its lowest version (``--resolution lowest-direct``); the
    pins are printed and installed exactly (in a reused venv too). A floor that cannot be
    installed with the rest (another requirement asks for more) would go untested: the
    session fails and names it, as it does a requirement without a floor.
    """
    session.install("uv")
    pins = Path(session.create_tmp()) / "lowest.txt"
    python = ["--python", str(Path(session.bin) / "python")]
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--extra", "test", "--quiet",
        "--resolution", "lowest-direct", "--python-version", LOWEST_PYTHON,
        "--output-file", str(pins),
    )  # fmt: skip
    untested = _untested_floors(pins.read_text())
    if untested:
        session.error("floors in pyproject.toml that would go untested:\n" + "\n".join(untested))
    session.run("uv", "pip", "install", *python, "--quiet", "--requirement", str(pins))
    session.run("uv", "pip", "install", *python, "--quiet", "--no-deps", "--editable", ".")
    session.run("uv", "pip", "list", *python)
    session.run("pytest", *session.posargs)


def _untested_floors(pinned: str) -> list[str]:
    """Each dependency or test requirement of pyproject.toml whose floor (``>=``) is not
    the version resolved in ``pinned`` (``name==version`` lines), or that has no floor."""
    versions = {}
    for line in pinned.splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith((" ", "#")):
            versions[canonicalize_name(name)] = Version(version.split(";")[0].strip())
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    lines = [*project["dependencies"], *extras["test"]]
    untested = []
    for line in lines:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
            lines += [dependency for extra in requirement.extras for dependency in extras[extra]]
            continue  # our own extras (test = [sudo-stream[brotli,zstd], ...]): their floors
        floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
        resolved = versions.get(canonicalize_name(requirement.name))
        if not floors:
            untested.append(f"  {line}: no floor (>=)")
        elif resolved is not None and resolved != max(floors):
            untested.append(f"  {line}: the lowest that installs with the rest is {resolved}")
    return untested


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage; lists the lines of sudo_stream no test reaches."""
    session.install("-e", ".[test]", "pytest-cov>=5")
    session.run(
        "pytest", "--cov=sudo_stream", "--cov-report=term-missing:skip-covered", *session.posargs
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "sudo_stream", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode on the package."""
    # rich (the batch progress bar), exceptiongroup (anyio's on 3.10) and opentelemetry-api
    # (sudo_stream.otel) are typed
    session.install(
        "-e", ".[otel]", "mypy>=1.11", "trio>=0.25", "rich>=13", "exceptiongroup>=1.0.2"
    )  # fmt: skip
    session.run("mypy", "--strict", "sudo_stream")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with openai-python, sudo-ai and httpx-sse."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Stream a reply token by token (from the embedded fake server without an API key)."""
    session.install("-e", ".")
    session.run("python", "-m", "sudo_stream", "chat", *(session.posargs or ["Tell me about streaming."]))


@nox.session
def soak(session: nox.Session) -> None:
    """10,000 streams with random faults and cancellations on asyncio and trio, leak checks."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.soak", *session.posargs)


@nox.session
def verifytypes(session: nox.Session) -> None:
    """pyright's public-API completeness report (types and docstrings of every public name)."""
    session.install(".", "pyright>=1.1.380")
    session.run("pyright", "--verifytypes", "sudo_stream", "--ignoreexternal")
