"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sudo_stream import testing

from .soak import BlockingCallDetector, watch_loop

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def hygiene() -> AsyncIterator[None]:
    """No blocking call in async code, no stuck loop, no asyncio error log."""
    with BlockingCallDetector() as blocking:
        async with watch_loop(1.0) as loop:
            yield
    assert not blocking.violations, "\n".join(blocking.violations)
    assert not loop.problems(), loop.problems()


@pytest.fixture
async def server() -> AsyncIterator[testing.FakeSudoServer]:
    """A fake Sudo server on 127.0.0.1 for one test; it must end without errors of its own."""
    async with testing.FakeSudoServer() as fake:
        yield fake
        assert fake.errors == []
