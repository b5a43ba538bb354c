"""Work units (sudo_stream.batch._units): planning, the per-unit journal, resume, without Ray.

Run on asyncio and trio against the fake server; ``tests/test_batch_ray.py`` runs the same
units on Ray.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from sudo_stream import AsyncSudo, testing
from sudo_stream.batch import BatchInputError, DuplicateCustomIdError
from sudo_stream.batch._engine import RequestRunner
from sudo_stream.batch._units import (
    MANIFEST,
    Plan,
    UnitBusyError,
    UnitJournal,
    plan,
    run_unit,
)

from .batch_files import assert_answers_match, assert_each_once, output_records, write_jsonl

pytestmark = pytest.mark.anyio


async def run_all(made: Plan, output_dir: Path, server: testing.FakeSudoServer) -> list[int]:
    """Run every unit of ``made``; return how many requests each sent."""
    sent = []
    async with AsyncSudo(api_key="k", server_url=server.url, retries=0) as client:
        runner = RequestRunner(client, concurrency=8)
        in_flight = anyio.Semaphore(8)
        with anyio.fail_after(20):
            for unit in made.units:
                result = await run_unit(made, unit, output_dir, runner, in_flight)
                sent.append(result.sent)
    return sent


async def test_units_cover_every_request_once(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    ids = write_jsonl(tmp_path / "in.jsonl", 25)
    made = plan(tmp_path / "in.jsonl", tmp_path / "out", unit_rows=10)
    assert [unit.rows for unit in made.units] == [10, 10, 5]

    assert await run_all(made, tmp_path / "out", server) == [10, 10, 5]

    records = output_records(tmp_path / "out")
    assert_each_once(records, ids)
    assert_answers_match(records)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        MANIFEST, "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"
    ]  # fmt: skip


async def test_a_unit_resumes_from_its_journal_and_a_torn_line_is_cut(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    ids = write_jsonl(tmp_path / "in.jsonl", 10)
    made = plan(tmp_path / "in.jsonl", tmp_path / "out", unit_rows=10)
    await run_all(made, tmp_path / "out", server)
    # a dead run: the unit's first 4 lines on disk, a 5th cut mid-way, not yet renamed
    final = tmp_path / "out" / "part-00000.jsonl"
    lines = final.read_bytes().splitlines(keepends=True)
    final.with_name(final.name + ".partial").write_bytes(b"".join(lines[:4]) + lines[4][:30])
    final.unlink()
    before = len(server.requests)

    assert await run_all(made, tmp_path / "out", server) == [6]

    assert len(server.requests) - before == 6
    journaled = {json.loads(line)["custom_id"] for line in lines[:4]}
    resent = {r.json()["messages"][0]["content"] for r in server.requests[before:]}
    assert resent == {f"prompt {i[4:]}" for i in ids if i not in journaled}
    assert_each_once(output_records(tmp_path / "out"), ids)
    assert not list((tmp_path / "out").glob("*.partial"))


async def test_a_finished_unit_is_not_run_again(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    write_jsonl(tmp_path / "in.jsonl", 5)
    made = plan(tmp_path / "in.jsonl", tmp_path / "out")
    await run_all(made, tmp_path / "out", server)
    before = len(server.requests)
    assert await run_all(made, tmp_path / "out", server) == [0]
    assert len(server.requests) == before
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_unit_being_written_is_refused_to_a_second_writer(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", 3)
    made = plan(tmp_path / "in.jsonl", tmp_path / "out")
    journal = UnitJournal.open(tmp_path / "out", made.units[0])
    assert journal is not None
    try:
        with pytest.raises(UnitBusyError, match=r"part-00000\.jsonl\.partial"):
            UnitJournal.open(tmp_path / "out", made.units[0])
    finally:
        journal.close()
    second = UnitJournal.open(tmp_path / "out", made.units[0])  # free again once closed
    assert second is not None
    second.close()


def test_a_rerun_keeps_the_first_runs_units(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", 7)
    first = plan(tmp_path / "in.jsonl", tmp_path / "out", unit_rows=3)
    assert plan(tmp_path / "in.jsonl", tmp_path / "out") == first
    with pytest.raises(BatchInputError, match="unit_rows=3, not 2"):
        plan(tmp_path / "in.jsonl", tmp_path / "out", unit_rows=2)


def test_changed_input_is_refused_by_a_rerun(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", 3)
    plan(tmp_path / "in.jsonl", tmp_path / "out")
    write_jsonl(tmp_path / "in.jsonl", 4)
    with pytest.raises(BatchInputError, match="other input files"):
        plan(tmp_path / "in.jsonl", tmp_path / "out")


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("{not json", BatchInputError, "line 3 of in.jsonl: not valid JSON"),
        (json.dumps({"custom_id": "req-0", "body": {"model": "m", "messages": []}}),
         DuplicateCustomIdError, "line 3 of in.jsonl: custom_id 'req-0' is also at line 1 of in.jsonl"),
    ],
)  # fmt: skip
def test_bad_input_stops_the_plan_naming_the_line(
    tmp_path: Path, line: str, error: type[Exception], message: str
) -> None:
    write_jsonl(tmp_path / "in.jsonl", 2)
    with (tmp_path / "in.jsonl").open("a") as file:
        file.write(line + "\n")
    with pytest.raises(error, match=message):
        plan(tmp_path / "in.jsonl", tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST).exists()


async def test_parquet_units_span_row_groups(tmp_path: Path, server: testing.FakeSudoServer) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    write_jsonl(tmp_path / "in.jsonl", 23)
    rows = [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()]
    table = pa.table({
        "custom_id": [r["custom_id"] for r in rows],
        "method": [r["method"] for r in rows],
        "url": [r["url"] for r in rows],
        "body": [json.dumps(r["body"]) for r in rows],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=4)
    made = plan(tmp_path / "in.parquet", tmp_path / "out", unit_rows=7)
    assert [(u.first_row, u.rows) for u in made.units] == [(0, 7), (7, 7), (14, 7), (21, 2)]

    await run_all(made, tmp_path / "out", server)

    records = output_records(tmp_path / "out")
    assert_each_once(records, [r["custom_id"] for r in rows])
    assert_answers_match(records)
