"""Work units: a batch split into fixed pieces that resume on their own, on any scheduler.

A *unit* is a fixed range of the requests of one input file (JSONL lines by byte range,
Parquet rows by row range). The first run plans the units once and keeps the plan in the
output directory (``_manifest.json``), so a rerun sees the same units whatever a scheduler
did the first time. A unit writes its output to ``part-NNNNN.jsonl.partial``, a line per
finished request, appended as ``batch.run`` appends to its output (``_output``): that file
is the unit's journal. A rerun cuts a torn last line off, reads the ids in it and sends
only the others. When every request of the unit has its line, the file is renamed to
``part-NNNNN.jsonl``: an existing final file is a finished unit, skipped whole. So every
``custom_id`` appears once in the output, wherever the run was killed.

A unit's partial file is locked (``flock``) while it runs: two runs into one output
directory fail with :class:`UnitBusyError` rather than interleave.

Nothing here imports a scheduler: :func:`run_unit` runs one unit on any anyio loop with
the engine's :class:`RequestRunner`; ``sudo_stream.batch.ray`` hands units to Ray Data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import msgspec

from ._engine import RequestRunner
from ._errors import BatchInputError, BatchOutputError, DuplicateCustomIdError
from ._index import IdIndex, RunInProgressError
from ._inputs import CHUNK, Requests, parquet_request
from ._output import OutputFile
from ._requests import BatchRequest, parse_line

MANIFEST = "_manifest.json"
DEFAULT_UNIT_ROWS = 1000
_MANIFEST_VERSION = 1
_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class UnitBusyError(RunInProgressError):
    """Another process is writing this unit (two runs into one output directory)."""


@dataclass(frozen=True)
class InputFile:
    """One input file as it was when the run was planned (a rerun checks it is unchanged)."""

    path: str
    format: str  # "jsonl" or "parquet"
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Unit:
    """``rows`` requests of input file number ``file``, from row ``first_row`` (0-based).

    For JSONL, ``start`` and ``stop`` are the byte range that holds them and
    ``first_line`` the line number at ``start``, for error messages.
    """

    index: int
    file: int
    first_row: int
    rows: int
    start: int = 0
    stop: int = 0
    first_line: int = 1

    @property
    def name(self) -> str:
        """The unit's output file, once finished."""
        return f"part-{self.index:05d}.jsonl"


@dataclass(frozen=True)
class Plan:
    """The input files and their units, as kept in the output directory."""

    inputs: tuple[InputFile, ...]
    unit_rows: int
    units: tuple[Unit, ...]

    @property
    def requests(self) -> int:
        """How many requests the input holds."""
        return sum(unit.rows for unit in self.units)


@dataclass(frozen=True)
class UnitResult:
    """What running a unit did: ``sent`` requests answered now, ``skipped`` were in the
    unit's journal already."""

    unit: int
    sent: int
    skipped: int


def input_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The input files: a file, a directory (its ``.jsonl`` and ``.parquet`` files in
    name order), or a list of either."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in _FORMATS)
            if not found:
                raise BatchInputError(str(path), "no .jsonl or .parquet file in this directory")
            files += found
        elif path.is_file():
            if path.suffix.lower() not in _FORMATS:
                raise BatchInputError(str(path), "not a .jsonl or .parquet file")
            files.append(path)
        else:
            raise BatchInputError(str(path), "no such file or directory")
    if not files:
        raise BatchInputError("input", "no input file given")
    return files


def plan(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output_dir: Path,
    unit_rows: int | None = None,
) -> Plan:
    """The units of a run into ``output_dir``: the ones planned there before (the inputs
    must be unchanged), else planned now and kept there.

    Planning reads every request once and checks it, and refuses duplicate ids (with
    the run's on-disk index, so memory stays flat), so that a bad input stops the run
    before anything is sent. Blocking.
    """
    if unit_rows is not None and (isinstance(unit_rows, bool) or unit_rows < 1):
        raise ValueError(f"unit_rows must be a positive int, got {unit_rows!r}")
    inputs = tuple(_describe(path.resolve()) for path in input_files(source))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchOutputError(f"cannot make the output directory {output_dir}: {exc}") from exc
    manifest = output_dir / MANIFEST
    if manifest.exists():
        kept = _load_plan(manifest)
        if kept.inputs != inputs:
            raise BatchInputError(
                str(output_dir), "it holds the output of other input files (or of these "
                f"before they changed: {', '.join(i.path for i in kept.inputs)}); "
                "give another output directory",
            )  # fmt: skip
        if unit_rows is not None and unit_rows != kept.unit_rows:
            raise BatchInputError(
                str(output_dir), f"its run was planned with unit_rows={kept.unit_rows}, not {unit_rows}"
            )
        return kept
    rows = unit_rows or DEFAULT_UNIT_ROWS
    index = IdIndex(output_dir / ".plan.ids")  # also one planner at a time
    try:
        units: list[Unit] = []
        for number, described in enumerate(inputs):
            planner = _plan_jsonl if described.format == "jsonl" else _plan_parquet
            for unit in planner(described, number, rows, index):
                units.append(Unit(len(units), *_fields(unit)[1:]))
        for custom_id, first, again in index.duplicates(limit=1):
            raise DuplicateCustomIdError(again, f"custom_id {custom_id!r} is also at {first}")
    finally:
        index.close()
    made = Plan(inputs, rows, tuple(units))
    _write_atomically(manifest, msgspec.json.encode(_plan_document(made)))
    return made


def finished(output_dir: Path, unit: Unit) -> bool:
    """Whether the unit's output file is published."""
    return (output_dir / unit.name).exists()


async def run_unit(
    made: Plan,
    unit: Unit,
    output_dir: Path,
    runner: RequestRunner,
    in_flight: anyio.Semaphore,
    *,
    default_completion_tokens: int = 256,
) -> UnitResult:
    """Send the unit's requests that are not in its journal, then publish its output.

    ``in_flight`` bounds the requests started and not finished: one for all the units a
    process runs at once, so that the bound is the process's. A request is read from the
    input only once it can start.
    """
    journal = await anyio.to_thread.run_sync(UnitJournal.open, output_dir, unit)
    if journal is None:  # published by an earlier attempt at this unit
        return UnitResult(unit.index, 0, unit.rows)
    try:
        skipped = len(journal.done)
        sent = 0
        chunks = unit_requests(made, unit, default_completion_tokens)

        async def send(request: BatchRequest) -> None:
            try:
                journal.add(await runner.run_one(request))
            finally:
                in_flight.release()

        async with anyio.create_task_group() as group:
            while chunk := await anyio.to_thread.run_sync(next, chunks, None):
                for request in chunk:
                    if request.custom_id not in journal.done:
                        await in_flight.acquire()
                        group.start_soon(send, request)
                        sent += 1
        if skipped + sent != unit.rows:  # a journal from another input
            raise BatchOutputError(
                f"{journal.partial}: {skipped} of its records and {sent} requests left make "
                f"{skipped + sent}, but unit {unit.index} has {unit.rows} requests"
            )
        # every add() has returned: every line is written
        await anyio.to_thread.run_sync(journal.publish)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(journal.close)
    return UnitResult(unit.index, sent, skipped)


class UnitJournal:
    """A unit's partial output, under a lock: the ids finished before (``done``), and
    the lines of this run appended as they come."""

    def __init__(self, lock: BinaryIO, partial: Path, final: Path, done: set[str]) -> None:
        self._lock = lock
        self.partial = partial
        self._final = final
        self._out = OutputFile(partial)
        self.done = done

    @classmethod
    def open(cls, output_dir: Path, unit: Unit) -> UnitJournal | None:
        """Lock the unit's partial file (made if missing), cut a torn last line off and
        read the ids in it; ``None`` if the unit is finished already. Blocking."""
        final = output_dir / unit.name
        partial = final.with_name(f"{final.name}.partial")
        lock = open(partial, "ab")  # noqa: SIM115 (held until close)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UnitBusyError(
                    f"another run is writing unit {unit.index} into this output (it holds {partial})"
                ) from None
            if final.exists():  # published before we locked: the new empty file is ours
                partial.unlink()
                lock.close()
                return None
            done = {record.custom_id for record in OutputFile(partial).recover()}
        except BaseException:
            lock.close()
            raise
        return cls(lock, partial, final, done)

    def add(self, line: bytes) -> None:
        """Append one output line at once, as ``batch.run`` does (a small append on the
        loop; nothing in hand is lost to a cancellation); a write failure is a
        :class:`BatchOutputError`."""
        self._out.write(line)

    def publish(self) -> None:
        """Finish the unit: its lines on disk, then the file under its final name."""
        try:
            os.fsync(self._lock.fileno())
            os.rename(self.partial, self._final)
        except OSError as exc:
            raise BatchOutputError(f"cannot publish {self._final}: {exc}") from exc
        with contextlib.suppress(OSError):  # not every file system syncs a directory
            directory = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def close(self) -> None:
        """Close the file, and so release the lock."""
        self._out.close()
        self._lock.close()


def unit_requests(
    made: Plan, unit: Unit, default_completion_tokens: int = 256
) -> Iterator[list[BatchRequest]]:
    """The unit's requests, read lazily from its input file, a list of a few at a time.
    Blocking (read them in a worker thread)."""
    described = made.inputs[unit.file]
    reader = _jsonl_rows if described.format == "jsonl" else _parquet_rows
    rows = reader(described, unit, default_completion_tokens)
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


# -- planning --------------------------------------------------------------------------


def _describe(path: Path) -> InputFile:
    stat = path.stat()
    return InputFile(str(path), _FORMATS[path.suffix.lower()], stat.st_size, stat.st_mtime_ns)


def _fields(unit: Unit) -> tuple[int, ...]:
    return (unit.index, unit.file, unit.first_row, unit.rows, unit.start, unit.stop, unit.first_line)


def _plan_jsonl(described: InputFile, number: int, rows: int, index: IdIndex) -> Iterator[Unit]:
    """Units of ``rows`` requests each (blank lines are skipped, as ``batch.run`` does)."""
    name = Path(described.path).name
    ids: list[tuple[str, str]] = []
    offset = start = first_row = count = 0
    first_line = 1
    with open(described.path, "rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            if count == 0:
                start, first_line = offset, line_number
            offset += len(line)
            if not line.strip():
                continue
            where = f"line {line_number} of {name}"
            ids.append((parse_line(line, where).custom_id, where))
            if len(ids) == CHUNK:
                index.add_inputs(ids)
                ids = []
            count += 1
            if count == rows:
                yield Unit(0, number, first_row, count, start, offset, first_line)
                first_row, count = first_row + count, 0
    index.add_inputs(ids)
    if count:
        yield Unit(0, number, first_row, count, start, offset, first_line)


def _plan_parquet(described: InputFile, number: int, rows: int, index: IdIndex) -> Iterator[Unit]:
    total = 0
    for chunk in Requests(described.path).chunks():  # checks each row as batch.run does
        index.add_inputs((request.custom_id, where) for where, request in chunk)
        total += len(chunk)
    for first in range(0, total, rows):
        yield Unit(0, number, first, min(rows, total - first))


# -- reading a unit --------------------------------------------------------------------


def _jsonl_rows(described: InputFile, unit: Unit, tokens: int) -> Iterator[BatchRequest]:
    name = Path(described.path).name
    with open(described.path, "rb") as lines:
        lines.seek(unit.start)
        left = unit.stop - unit.start
        line_number = unit.first_line
        while left > 0 and (line := lines.readline(left)):
            left -= len(line)
            if line.strip():
                where = f"line {line_number} of {name}"
                yield parse_line(line, where, default_completion_tokens=tokens)
            line_number += 1


def _parquet_rows(described: InputFile, unit: Unit, tokens: int) -> Iterator[BatchRequest]:
    """The unit's rows, reading only the row groups that hold them."""
    import pyarrow.parquet as pq  # planning read this file: pyarrow is there

    name = Path(described.path).name
    parquet = pq.ParquetFile(described.path)
    groups: list[int] = []
    row = first = 0
    stop = unit.first_row + unit.rows
    for group in range(parquet.metadata.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if row < stop and row + size > unit.first_row:
            first = row if not groups else first
            groups.append(group)
        row += size
    row = first
    for batch in parquet.iter_batches(batch_size=CHUNK, row_groups=groups):
        for item in batch.to_pylist():
            if row >= unit.first_row:
                yield parquet_request(item, f"row {row + 1} of {name}", tokens)
            row += 1
            if row >= stop:
                return


# -- the manifest ----------------------------------------------------------------------


def _plan_document(made: Plan) -> dict[str, Any]:
    return {
        "version": _MANIFEST_VERSION,
        "unit_rows": made.unit_rows,
        "inputs": [
            {"path": i.path, "format": i.format, "size": i.size, "mtime_ns": i.mtime_ns}
            for i in made.inputs
        ],
        # a unit a row: file, first row, rows, byte start, byte stop, first line
        "units": [list(_fields(unit)[1:]) for unit in made.units],
    }


def _load_plan(manifest: Path) -> Plan:
    try:
        document = msgspec.json.decode(manifest.read_bytes())
        if document.get("version") != _MANIFEST_VERSION:
            raise ValueError(f"version {document.get('version')!r}")
        inputs = tuple(InputFile(**item) for item in document["inputs"])
        units = tuple(Unit(index, *row) for index, row in enumerate(document["units"]))
        return Plan(inputs, int(document["unit_rows"]), units)
    except (msgspec.DecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BatchOutputError(
            f"{manifest} is not the manifest of a Ray batch run ({exc}); give another output directory"
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise BatchOutputError(f"cannot write {path}: {exc}") from exc
