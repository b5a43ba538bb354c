"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
# Run on every supported Python that this machine has; skip the others (also on CI).
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite (pytest, every async test on asyncio and trio)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "sudo_stream", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode on the package."""
    session.install("-e", ".", "mypy>=1.11", "trio>=0.25")
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
