"""A short soak: a few hundred streams with random faults and cancellations, on asyncio and
trio. The long one is ``nox -s soak`` (``python -m tests.soak``): 10,000 streams a backend."""

from __future__ import annotations

import pytest

from .soak import soak

pytestmark = pytest.mark.anyio


async def test_short_soak() -> None:
    report = await soak(streams=300, concurrency=50, seed=20240607, rounds=3)
    print(report.summary())
    assert report.ok, report.summary()
    assert sum(report.outcomes.values()) + report.cancelled + report.left_early == 300
    assert report.outcomes["ok"] > 100 and len(report.outcomes) > 5  # faults were exercised
