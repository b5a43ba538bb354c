"""Parquet output (``pip install 'sudo-stream[parquet]'``).

A Parquet file cannot be appended to a line at a time, so a run writes its records to a
JSONL file beside it (``results.parquet.partial.jsonl``: the journal, as for a JSONL
output) and turns that into the Parquet file when it ends, written to a temporary name
and renamed, a row group at a time. A rerun with a finished Parquet file and no partial
file turns the Parquet file back into one first, so the run resumes the same way.

Columns: ``id``, ``custom_id``, ``status_code`` (null without a response), and
``response`` and ``error`` as JSON text, as they are in the JSONL records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from ._errors import BatchOutputError

ROWS_PER_GROUP = 10_000
_encode = msgspec.json.encode


def partial_path(output: Path) -> Path:
    """Where the records of a Parquet output are kept until the run ends."""
    return output.with_name(output.name + ".partial.jsonl")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ImportError("a Parquet output needs pyarrow: pip install 'sudo-stream[parquet]'") from None
    return pyarrow


def write_parquet(records: Path, output: Path) -> None:
    """Turn the JSONL ``records`` into the Parquet file ``output`` (atomically), then
    remove them."""
    pa = _pyarrow()
    schema = pa.schema(
        [("id", pa.string()), ("custom_id", pa.string()), ("status_code", pa.int32()),
         ("response", pa.string()), ("error", pa.string())]
    )  # fmt: skip
    temporary = output.with_name(f".{output.name}.writing")
    try:
        with open(records, "rb") as lines, pa.parquet.ParquetWriter(temporary, schema) as writer:
            for group in _groups(lines):
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
        os.replace(temporary, output)
        records.unlink()
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise BatchOutputError(
            f"cannot write the output {output}: {exc.strerror or exc}; the records are kept in "
            f"{records}, and a rerun with the same output writes it again"
        ) from exc


def _groups(lines: Any) -> Iterator[list[dict[str, Any]]]:
    while group := list(islice(lines, ROWS_PER_GROUP)):
        rows = []
        for line in group:
            record = msgspec.json.decode(line)
            response, error = record.get("response"), record.get("error")
            rows.append(
                {"id": record.get("id"), "custom_id": record["custom_id"],
                 "status_code": response.get("status_code") if response else None,
                 "response": None if response is None else _encode(response).decode(),
                 "error": None if error is None else _encode(error).decode()}
            )  # fmt: skip
        yield rows


def restore_records(output: Path, records: Path) -> None:
    """Write the records of a finished Parquet file ``output`` back as JSONL to
    ``records``, unless there is no such file or the records are there already."""
    if records.exists() or not output.exists():
        return
    pa = _pyarrow()
    temporary = records.with_name(f".{records.name}.writing")
    try:
        with open(temporary, "wb") as out:
            for batch in pa.parquet.ParquetFile(output).iter_batches(batch_size=ROWS_PER_GROUP):
                for row in batch.to_pylist():
                    out.write(
                        b'{"id":' + _encode(row["id"]) + b',"custom_id":' + _encode(row["custom_id"])
                        + b',"response":' + (row["response"] or "null").encode()
                        + b',"error":' + (row["error"] or "null").encode() + b"}\n"
                    )  # fmt: skip
        os.replace(temporary, records)
    except (OSError, KeyError, pa.ArrowException) as exc:
        temporary.unlink(missing_ok=True)
        raise BatchOutputError(f"cannot read the output {output} back to resume it: {exc}") from exc
