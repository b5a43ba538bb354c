"""The report of a batch run, and its progress while it runs."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._engine import RunStats

logger: logging.Logger = logging.getLogger("sudo_stream.batch")


@dataclass(frozen=True)
class BatchReport:
    """What a run did. ``skipped`` requests were already in the output (a resumed run);
    ``done`` and ``failed`` are this run's, as are the counts after them."""

    output: str
    total: int | None
    skipped: int
    done: int
    failed: int
    retried: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    @property
    def requests_per_second(self) -> float:
        """This run's answered and failed requests per second."""
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """This run's tokens (prompt and completion) per second."""
        tokens = self.prompt_tokens + self.completion_tokens
        return tokens / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        total = "?" if self.total is None else f"{self.total:,}"
        return (
            f"{self.done:,} done, {self.failed:,} failed, {self.skipped:,} already in "
            f"{self.output} (of {total}); {self.retried:,} retries "
            f"({self.rate_limited:,} rate-limited); "
            f"{self.prompt_tokens + self.completion_tokens:,} tokens "
            f"({self.prompt_tokens:,} prompt, {self.completion_tokens:,} completion); "
            f"{self.seconds:.1f} s, {self.requests_per_second:.1f} requests/s, "
            f"{self.tokens_per_second:,.0f} tokens/s"
        )


class Progress(Protocol):
    """Shows a run's progress: ``start`` once, ``update`` often, ``finish`` once."""

    def start(self, total: int | None, skipped: int) -> None:
        """The run starts: ``total`` requests (``None`` for an iterator), ``skipped``
        of them already in the output."""
        ...

    def update(self, stats: RunStats) -> None:
        """A request finished; ``stats`` are the run's counts so far."""
        ...

    def finish(self, report: BatchReport | None) -> None:
        """The run is over (``None``: it stopped on an error, or was cancelled)."""
        ...


class LogProgress:
    """A line every ``every`` seconds: to ``write`` if given, else a log record (logger
    ``sudo_stream.batch``, INFO)."""

    def __init__(self, every: float = 10.0, *, write: Callable[[str], object] | None = None) -> None:
        self.every = every
        self._write = write
        self._next = 0.0
        self._total: int | None = None
        self._skipped = 0
        self._started = time.monotonic()

    def start(self, total: int | None, skipped: int) -> None:
        """See :meth:`Progress.start`."""
        self._total, self._skipped = total, skipped
        self._started = time.monotonic()
        self._next = self._started + self.every
        self._say(f"batch: {'?' if total is None else total} requests, {skipped} already done")

    def update(self, stats: RunStats) -> None:
        """See :meth:`Progress.update`."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        finished = stats.done + stats.failed
        rate = finished / (now - self._started) if now > self._started else 0.0
        total = "?" if self._total is None else self._total
        self._say(
            f"batch: {self._skipped + finished}/{total} ({stats.failed} failed, "
            f"{stats.retried} retries), {rate:.1f} requests/s"
        )

    def finish(self, report: BatchReport | None) -> None:
        """See :meth:`Progress.finish`."""
        if report is not None and self._write is None:
            logger.info("batch: %s", report)

    def _say(self, line: str) -> None:
        if self.every == float("inf"):
            return
        if self._write is not None:
            self._write(line)
        else:
            logger.info("%s", line)


class RichProgress:
    """A progress bar on the terminal (``rich``), on standard error."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            transient=False,
        )  # fmt: skip
        self._task: Any = None
        self._skipped = 0

    def start(self, total: int | None, skipped: int) -> None:
        """See :meth:`Progress.start`."""
        self._skipped = skipped
        self._bar.start()
        self._task = self._bar.add_task("batch", total=total, completed=skipped, detail="")

    def update(self, stats: RunStats) -> None:
        """See :meth:`Progress.update`."""
        self._bar.update(
            self._task,
            completed=self._skipped + stats.done + stats.failed,
            detail=f"{stats.failed} failed, {stats.retried} retries",
        )

    def finish(self, report: BatchReport | None) -> None:
        """See :meth:`Progress.finish`."""
        self._bar.stop()
        if report is not None:
            self._bar.console.print(str(report))


def default_progress() -> Progress:
    """A bar when standard error is a terminal and ``rich`` is installed, else log lines."""
    if sys.stderr.isatty():
        try:
            return RichProgress()
        except ImportError:
            pass
    return LogProgress()
