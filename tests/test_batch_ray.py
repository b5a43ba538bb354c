"""sudo_stream.batch.ray: batch runs through Ray Data, against the fake server.

Skipped without the ``ray`` extra. One local Ray (2 CPUs, no dashboard) for the module;
the kill-and-resume test starts a second one in the driver it kills.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

if os.environ.get("SUDO_STREAM_REQUIRE_RAY"):  # nox -s tests_ray: run, never skip
    import ray
else:
    ray = pytest.importorskip("ray")

from sudo_stream import AsyncSudo, testing
from sudo_stream.batch import RateLimitState, Reservation
from sudo_stream.batch import ray as batch_ray

from .batch_files import (
    assert_answers_match,
    assert_each_once,
    is_error,
    output_records,
    write_jsonl,
)

WORKER_HEADER = "x-test-worker"
pytestmark = [
    # Ray warns about its own settings when a DataContext is copied, whatever we set
    pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\..*"),
    # Older Rays (2.44) leave files and helper processes of their own to the garbage
    # collector after ray.shutdown(). This process holds nothing else of ours: the units'
    # files are checked under strict warnings in test_batch_units.py.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake
        assert fake.errors == []


def test_every_request_answered_once(tmp_path: Path, server: testing.FakeSudoServer) -> None:
    ids = write_jsonl(tmp_path / "in.jsonl", 30)

    report = batch_ray.run(
        tmp_path / "in.jsonl", tmp_path / "out", api_key="k", server_url=server.url,
        unit_rows=8, actors=2, concurrency_per_actor=4,
    )  # fmt: skip

    records = output_records(tmp_path / "out")
    assert_each_once(records, ids)
    assert_answers_match(records)
    assert not any(is_error(record) for record in records)
    assert len(server.requests) == 30
    assert (report.total, report.skipped, report.done, report.failed) == (30, 0, 30, 0)
    assert all(r.headers["authorization"] == "Bearer k" for r in server.requests)


def test_a_failed_request_gets_an_error_record(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    ids = write_jsonl(tmp_path / "in.jsonl", 12)
    server.enqueue(testing.Error(400))  # the first request to arrive gets it, not retried

    report = batch_ray.run(
        tmp_path / "in.jsonl", tmp_path / "out", api_key="k", server_url=server.url,
        actors=1, concurrency_per_actor=4,
    )  # fmt: skip

    records = output_records(tmp_path / "out")
    assert_each_once(records, ids)
    failed = [record for record in records if is_error(record)]
    refused = server.requests[0].json()["model"].replace("model-", "req-")
    assert [record["custom_id"] for record in failed] == [refused]
    assert_answers_match(records)
    assert (report.done, report.failed) == (11, 1)


def test_a_rerun_skips_finished_units_and_journaled_requests(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    ids = write_jsonl(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out"
    batch_ray.run(tmp_path / "in.jsonl", out, api_key="k", server_url=server.url, unit_rows=10)
    # a dead run: unit 1 had 4 answers on disk (and a 5th cut short), unit 2 none at all
    unit1 = (out / "part-00001.jsonl").read_bytes().splitlines(keepends=True)
    (out / "part-00001.jsonl.partial").write_bytes(b"".join(unit1[:4]) + unit1[4][:25])
    (out / "part-00001.jsonl").unlink()
    (out / "part-00002.jsonl").unlink()
    unit0 = (out / "part-00000.jsonl").read_bytes()
    before = len(server.requests)

    report = batch_ray.run(tmp_path / "in.jsonl", out, api_key="k", server_url=server.url)

    assert (report.done, report.skipped) == (16, 14)
    journaled = {json.loads(line)["custom_id"] for line in unit1[:4]}
    resent = {r.json()["model"].replace("model-", "req-") for r in server.requests[before:]}
    assert len(server.requests) - before == 16
    assert resent == set(ids[10:30]) - journaled
    assert (out / "part-00000.jsonl").read_bytes() == unit0
    records = output_records(out)
    assert_each_once(records, ids)
    assert_answers_match(records)
    assert not list(out.glob("*.partial"))


def test_nothing_is_sent_again_for_a_finished_run(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    write_jsonl(tmp_path / "in.jsonl", 5)
    run = partial(batch_ray.run, tmp_path / "in.jsonl", tmp_path / "out", server_url=server.url)
    run(api_key="k")
    report = run(api_key="k")
    assert len(server.requests) == 5
    assert (report.done, report.skipped) == (0, 5)


def _client_marked_by_worker(url: str) -> AsyncSudo:
    return AsyncSudo(
        api_key="k", server_url=url, default_headers={WORKER_HEADER: str(os.getpid())}
    )


def _burst(rpm: int) -> tuple[int, float]:
    """How many requests the limit lets through at once, and how long until the next
    (the limiter's own answer)."""
    state = RateLimitState(rpm=rpm, tpm=None)
    count = 0
    while isinstance(got := state.try_reserve(1, 0.0), Reservation):
        count += 1
    return count, got


def test_one_rate_limit_holds_across_actors(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    rpm, count = 60, 15
    burst, period = _burst(rpm)
    assert burst < count, "the limit would not show in so few requests"
    ids = write_jsonl(tmp_path / "in.jsonl", count)
    context = ray.data.DataContext.get_current()
    waited, context.wait_for_min_actors_s = context.wait_for_min_actors_s, 120
    try:
        batch_ray.run(
            tmp_path / "in.jsonl", tmp_path / "out", rpm=rpm, unit_rows=5, actors=2,
            client=partial(_client_marked_by_worker, server.url),
        )  # fmt: skip
    finally:
        context.wait_for_min_actors_s = waited

    assert_each_once(output_records(tmp_path / "out"), ids)
    requests = sorted(server.requests, key=lambda r: r.received_at)
    assert len({r.headers[WORKER_HEADER] for r in requests}) == 2  # both actors sent
    # No more than the burst arrived within the limit's period; a limit per actor would
    # let each actor's burst through. A second of slack: a request is counted when it
    # arrives, not when it reserved its place, and a new connection delays it.
    times = [r.received_at for r in requests]
    for first in range(len(times)):
        for last in range(first, len(times)):
            if times[last] - times[first] < period - 1.0:
                assert last - first + 1 <= burst, (first, last, times[last] - times[first])


def _session_processes(session: int) -> list[int]:
    """The processes in ``session`` (the driver we started and every Ray process it did)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            # state, ppid, pgrp, session; a zombie is dead (its parent reaps it)
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _kill_session(session: int) -> None:
    deadline = time.monotonic() + 60
    while pids := _session_processes(session):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.kill(pid, signal.SIGKILL)
        assert time.monotonic() < deadline, f"processes {pids} outlived SIGKILL"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the Ray processes through /proc")
def test_a_killed_run_resumes_with_every_id_once(
    tmp_path: Path, server: testing.FakeSudoServer
) -> None:
    count = 80  # a limit lets 20 through, then none for 10 s: the kill comes then
    ids = write_jsonl(tmp_path / "in.jsonl", count)
    out = tmp_path / "out"
    environment = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    environment["SUDO_API_KEY"] = "k"
    # a driver with its own Ray, in a session of its own: killing the session kills all
    with (tmp_path / "driver.log").open("wb") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "sudo_stream.batch.ray", str(tmp_path / "in.jsonl"), str(out),
             "--server-url", server.url, "--unit-rows", "10", "--rpm", "120"],
            env=environment, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 100
        while len(output_records(out, partial=True)) < 15 and driver.poll() is None:
            assert time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
            time.sleep(0.05)
    finally:
        _kill_session(driver.pid)
        driver.wait()
    written = output_records(out, partial=True)
    assert 15 <= len(written) < count, "the kill came after the run had ended"
    sent_before = len(server.requests)

    report = batch_ray.run(tmp_path / "in.jsonl", out, api_key="k", server_url=server.url)

    records = output_records(out)
    assert_each_once(records, ids)
    assert_answers_match(records)
    assert not list(out.glob("*.partial"))
    # what was in the output was not sent again; what was in flight was
    assert report.skipped >= len(written)
    assert len(server.requests) - sent_before == report.done == count - report.skipped
    assert sent_before >= len(written)
