"""Measuring: rounds under a time budget, medians and spreads, memory, import time.

Nothing here knows a client library; :mod:`benchmarks.worker` and
:mod:`benchmarks.runner` call these helpers.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Rounds:
    """How many times to repeat a measurement.

    Each client is measured at least ``min_rounds`` times and up to ``rounds`` times: past
    the minimum it stops when the next round would take it past ``budget`` seconds in
    total, so the fast clients get every round, the slow ones the minimum, and a run stays
    short.
    """

    rounds: int = 11
    min_rounds: int = 2
    budget: float = 10.0

    def wants_more(self, times: list[float]) -> bool:
        """Whether a client that took ``times`` so far gets another round."""
        done = len(times)
        if done < self.min_rounds:
            return True
        if done >= self.rounds:
            return False
        return sum(times) + times[-1] <= self.budget


def summary(times: list[float]) -> dict[str, Any]:
    """Median, spread and count of a list of seconds (empty when nothing was measured)."""
    if not times:
        return {"n": 0}
    return {
        "n": len(times),
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "times": times,
    }


# -- memory -------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False if we can't."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def rss_bytes() -> int | None:
    """Resident set size now."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int | None:
    """Peak resident set size since start or the last :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def pin_to_cpu(cpu: int) -> None:
    """Run this process on one CPU (where the OS allows it; ``-1`` leaves it alone)."""
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


# -- import time --------------------------------------------------------------------------

_IMPORT_PROBE = (
    "import time, sys; t = time.perf_counter(); {stmt}; "
    "d = time.perf_counter() - t; print(d, len(sys.modules))"
)


def import_time(statement: str, repeat: int) -> dict[str, Any]:
    """Seconds that ``statement`` (an import) takes in a fresh interpreter, ``repeat``
    times; also the modules loaded. Interpreter start-up is not counted."""
    times = []
    modules = 0
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE.format(stmt=statement)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        times.append(float(out[0]))
        modules = int(out[1])
    return {**summary(times), "modules": modules}


def part_row(
    part: str, measure: str, implementation: str, times: list[float], **extra: Any
) -> dict[str, Any]:
    """A result row of an opt-in part: the rounds' best, median and worst."""
    return {
        "part": part,
        "measure": measure,
        "implementation": implementation,
        "rounds": len(times),
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "error": None,
        **extra,
    }


def failed_row(
    part: str, measure: str, implementation: str, exc: BaseException, **extra: Any
) -> dict[str, Any]:
    """A row of an opt-in part for a side that failed: the error's first line."""
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return {
        "part": part,
        "measure": measure,
        "implementation": implementation,
        "rounds": 0,
        "error": f"{type(exc).__name__}: {first}".rstrip(": "),
        **extra,
    }
