"""The ids of a run, on disk: the input's (to refuse duplicates before anything is sent)
and the output's (to skip what is done). In SQLite, so that a run of a million requests
keeps flat memory. A scratch file beside the output, removed when the run ends: the output
itself is the journal (see ``_output``), this only indexes it.

Its methods block; the run calls them in a worker thread, one at a time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class RunInProgressError(OSError):
    """Another run holds this output."""


def _claim(lock: Path) -> BinaryIO:
    """Hold ``lock`` for this run: two runs appending to one output would each send what
    the other is sending. (An advisory lock, released by the system if the process dies.)"""
    handle = open(lock, "a+b")  # noqa: SIM115 (held for the run)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunInProgressError(f"another run is writing to this output (it holds {lock})") from None
    return handle


# Bound on the ids of one query (SQLite's variable limit is 999 on old builds).
_CHUNK = 500


class IdIndex:
    """Input and done ids of one run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._owner = _claim(Path(f"{path}.lock"))
        self.remove()  # a scratch file left by a killed run: rebuilt from the output
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE inputs (custom_id TEXT NOT NULL, place TEXT NOT NULL);"
            "CREATE TABLE done (custom_id TEXT PRIMARY KEY) WITHOUT ROWID;"
        )
        self.done_count = 0

    def add_inputs(self, ids: Iterable[tuple[str, str]]) -> None:
        """Record input ids with where they are (checked for duplicates at the end)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO inputs VALUES (?, ?)", ids)
            self._db.execute("COMMIT")

    def duplicates(self, limit: int = 5) -> list[tuple[str, str, str]]:
        """Up to ``limit`` ids that the input holds more than once: (id, where first,
        where next)."""
        with self._lock:
            self._db.execute("CREATE INDEX inputs_by_id ON inputs (custom_id)")
            place = "(SELECT place FROM inputs i WHERE i.custom_id = d.custom_id ORDER BY rowid"
            return self._db.execute(
                f"SELECT custom_id, {place} LIMIT 1), {place} LIMIT 1 OFFSET 1) FROM "
                "(SELECT custom_id, MIN(rowid) AS first FROM inputs GROUP BY custom_id "
                " HAVING COUNT(*) > 1 ORDER BY first LIMIT ?) AS d",
                (limit,),
            ).fetchall()

    def seen_among(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are already among the inputs (an input read only once)."""
        return self._among("inputs", ids)

    def add_done(self, ids: Iterable[str]) -> None:
        """Record ids already in the output."""
        with self._lock:
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO done VALUES (?)", ((i,) for i in ids))
            self.done_count += self._db.total_changes - before
            self._db.execute("COMMIT")

    def done_among(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are done."""
        return self._among("done", ids) if self.done_count else set()

    def _among(self, table: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT custom_id FROM {table} WHERE custom_id IN ({marks})"
                found.update(row[0] for row in self._db.execute(query, chunk))
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.remove()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{self.path}.lock").unlink()
        self._owner.close()

    def remove(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()
