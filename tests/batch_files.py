"""Batch input files and output records for the batch tests."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def request_line(index: int, **body: Any) -> dict[str, Any]:
    """Request ``index`` in the OpenAI Batch format; its model names it (the fake server
    echoes the model, so an answer shows which request it belongs to)."""
    return {
        "custom_id": f"req-{index}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": f"model-{index}",
            "messages": [{"role": "user", "content": f"prompt {index}"}],
            **body,
        },
    }


def write_jsonl(path: Path, count: int, start: int = 0) -> list[str]:
    """``count`` requests as a JSONL file; returns their ids in order."""
    lines = [request_line(i) for i in range(start, start + count)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return [line["custom_id"] for line in lines]


def output_records(output_dir: Path, *, partial: bool = False) -> list[dict[str, Any]]:
    """Every output record under ``output_dir`` (with ``partial``: in unfinished units too,
    complete lines only)."""
    paths = sorted(output_dir.glob("part-*.jsonl"))
    if partial:
        paths += sorted(output_dir.glob("part-*.jsonl.partial"))
    records = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a unit finished between the listing and the read: its
            continue  # records are in its final file, which the next look finds
        records += [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return records


def assert_each_once(records: list[dict[str, Any]], ids: list[str]) -> None:
    """Every id of ``ids`` has exactly one record, and there is no other."""
    counts = Counter(record["custom_id"] for record in records)
    twice = sorted(i for i, n in counts.items() if n > 1)
    assert not twice, f"ids written more than once: {twice}"
    assert set(counts) == set(ids), (
        f"missing {sorted(set(ids) - set(counts))}, unexpected {sorted(set(counts) - set(ids))}"
    )


def is_error(record: dict[str, Any]) -> bool:
    """Whether an output record reports a failed request (an error, or an error status)."""
    response = record.get("response")
    return record.get("error") is not None or response is None or response["status_code"] >= 400


def assert_answers_match(records: list[dict[str, Any]]) -> None:
    """Every successful record holds the answer to its own request (the echoed model)."""
    for record in records:
        if not is_error(record):
            index = record["custom_id"].removeprefix("req-")
            assert record["response"]["body"]["model"] == f"model-{index}", record
