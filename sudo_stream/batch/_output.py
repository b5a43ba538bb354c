"""The output file, which is also the run's journal.

A request is done exactly when its line is in the output. Each line is written whole,
appended (``O_APPEND``) in one ``write`` as soon as its answer came; so a process killed
at any moment (``kill -9`` included) leaves whole lines, and at most a torn last one. A rerun cuts that torn tail, reads the ids that are there and sends
only the others; the input has no duplicate id, so no id is ever written twice. What a
kill costs is the requests in flight at that moment: sent again, billed twice.

(A power cut is another matter: lines the kernel had not yet flushed are lost, and a rerun
sends them again; nothing is ever duplicated.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from ._errors import BatchOutputError
from ._records import OutputRecord

_decode_record = msgspec.json.Decoder(OutputRecord).decode


class OutputFile:
    """Appends whole lines to ``path``; :meth:`recover` reads back what is there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.broken: BatchOutputError | None = None

    def recover(self) -> Iterator[OutputRecord]:
        """The records already in the file, after cutting a torn last line (a run that
        was killed while writing it). A whole line that is not a record is an error: the
        file is not a batch output, and nothing is written to it."""
        try:
            handle = open(self.path, "r+b")  # noqa: SIM115 (closed below, then truncated)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error("cannot read", exc) from exc
        with handle:
            end = 0
            for line, record in self._whole_lines(handle):
                end += len(line)
                if record is not None:
                    yield record
            if handle.seek(0, os.SEEK_END) != end:  # a torn last line
                try:
                    handle.truncate(end)
                except OSError as exc:
                    raise self._error("cannot cut the torn last line of", exc) from exc

    def drop_failures(self) -> int:
        """Rewrite the file without its error records (and without a torn last line), so
        that their requests are sent again; how many were dropped. Atomic: the file is
        rewritten beside itself and renamed over."""
        if not self.path.exists():
            return 0
        kept = self.path.with_name(f".{self.path.name}.rewriting")
        dropped = 0
        try:
            with open(self.path, "rb") as lines, open(kept, "wb") as out:
                for line, record in self._whole_lines(lines):
                    if record is not None and record.error is not None:
                        dropped += 1
                    else:
                        out.write(line)
            if dropped:
                os.replace(kept, self.path)
        except OSError as exc:
            raise self._error("cannot rewrite", exc) from exc
        finally:
            kept.unlink(missing_ok=True)
        return dropped

    def _whole_lines(self, lines: Iterable[bytes]) -> Iterator[tuple[bytes, OutputRecord | None]]:
        """Each whole line with its record (``None`` for a blank line), up to a torn last
        line; a whole line that is not a record is a :class:`BatchOutputError`."""
        for number, line in enumerate(lines, start=1):
            if not line.endswith(b"\n"):
                return
            if not line.strip():
                yield line, None
                continue
            try:
                yield line, _decode_record(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise BatchOutputError(
                    f"{self.path}: line {number} is not a batch output record ({exc}); "
                    "give another output path, or fix the file"
                ) from None

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines); a failure leaves the file as it was, or with a
        torn last line that the next run cuts, and nothing more is written to it."""
        if self.broken is not None:
            raise self.broken
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.broken = self._error("cannot write to", exc)
            raise self.broken from exc

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _error(self, what: str, exc: OSError) -> BatchOutputError:
        reason = exc.strerror or str(exc)
        return BatchOutputError(
            f"{what} the output {self.path}: {reason}. What is already in it stays valid: "
            "run again with the same output to resume"
        )
