"""Reading a batch's requests lazily, from a JSONL file (the OpenAI Batch input format), a
Parquet file (``pip install 'sudo-stream[parquet]'``) or an iterable of request dicts.

Each source is read in chunks, so memory stays flat whatever its size. Blocking: the run
reads in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any, Union

import msgspec

from ._errors import BatchInputError
from ._requests import BatchRequest, parse_line, request_from_mapping

CHUNK = 512

InputSource = Union[str, "os.PathLike[str]", Iterable[Mapping[str, Any]]]
"""A path to a ``.jsonl`` or ``.parquet`` file, or request dicts (an iterable)."""


class Requests:
    """The requests of one source, parsed and checked a chunk at a time.

    A path or a sequence can be read more than once (a run reads it twice: once to check
    every line before anything is sent, once to send); an iterator only once.
    """

    def __init__(self, source: InputSource, *, default_completion_tokens: int = 256) -> None:
        self._completion_tokens = default_completion_tokens
        if isinstance(source, (str, os.PathLike)):
            self.path: Path | None = Path(source)
            self.items: Iterable[Mapping[str, Any]] | None = None
            if not self.path.is_file():
                raise BatchInputError(str(self.path), "no such file")
            self.parquet = self.path.suffix.lower() == ".parquet"
            self.rereadable = True
        else:
            if isinstance(source, (bytes, Mapping)) or not isinstance(source, Iterable):
                raise TypeError(
                    "input must be a path (.jsonl or .parquet) or an iterable of request dicts, "
                    f"got {type(source).__name__}"
                )
            self.path, self.items, self.parquet = None, source, False
            self.rereadable = not isinstance(source, Iterator)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "input"

    def chunks(self) -> Iterator[list[tuple[str, BatchRequest]]]:
        """The requests, checked, each with where it is (``line 3 of in.jsonl``), in lists
        of up to :data:`CHUNK`; a malformed one is a :class:`BatchInputError` naming it."""
        rows = self._rows()
        while True:
            chunk = list(islice(rows, CHUNK))
            if not chunk:
                return
            yield chunk

    def _rows(self) -> Iterator[tuple[str, BatchRequest]]:
        tokens = self._completion_tokens
        if self.path is None:
            assert self.items is not None
            for number, item in enumerate(self.items, start=1):
                where = f"request {number} of the input"
                yield where, request_from_mapping(item, where, default_completion_tokens=tokens)
        elif self.parquet:
            yield from self._parquet_rows()
        else:
            with open(self.path, "rb") as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        where = f"line {number} of {self.path.name}"
                        yield where, parse_line(line, where, default_completion_tokens=tokens)

    def _parquet_rows(self) -> Iterator[tuple[str, BatchRequest]]:
        assert self.path is not None
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(
                "reading Parquet needs pyarrow: pip install 'sudo-stream[parquet]'"
            ) from None
        number = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=CHUNK):
            for row in batch.to_pylist():
                number += 1
                where = f"row {number} of {self.path.name}"
                yield where, parquet_request(row, where, self._completion_tokens)


def parquet_request(row: dict[str, Any], where: str, default_completion_tokens: int) -> BatchRequest:
    """The request of one Parquet row: ``body`` may be an object or JSON text; a null
    column is left out."""
    if isinstance(row.get("body"), (str, bytes)):
        try:
            row["body"] = msgspec.json.decode(row["body"])
        except msgspec.DecodeError as exc:
            raise BatchInputError(where, f"body is not valid JSON ({exc})") from None
    row = {key: value for key, value in row.items() if value is not None}
    return request_from_mapping(row, where, default_completion_tokens=default_completion_tokens)
