"""A batch run killed at random moments (SIGKILL), then resumed: every id exactly once,
none lost. And a disk that fills up mid-run. The runs are real processes
(``python -m sudo_stream batch``) against the fake server in this process."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sudo_stream import testing

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")

TOTAL = 1500


@pytest.fixture
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread(api_key="key") as fake:
        yield fake


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    with path.open("w") as out:
        for i in range(TOTAL):
            body = {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]}
            if i % 7 == 0:
                body["stream"] = True
            out.write(json.dumps({"custom_id": f"q-{i}", "url": "/v1/chat/completions", "body": body}) + "\n")
    return path


def start(
    server: testing.FakeSudoServer, source: Path, output: Path, backend: str = "asyncio", **popen: object
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SUDO_API_KEY": "key", "SUDO_SERVER_URL": server.url}
    return subprocess.Popen(
        [sys.executable, "-m", "sudo_stream", "batch", str(source), str(output),
         "--concurrency", "16", "--no-progress", "--backend", backend],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,  # type: ignore[arg-type]
    )  # fmt: skip


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def output_ids(path: Path) -> list[str]:
    return [json.loads(text)["custom_id"] for text in path.read_text().splitlines()]


def chat_requests(server: testing.FakeSudoServer) -> int:
    return sum(r.path == "/v1/chat/completions" for r in server.requests)


def test_killed_at_random_moments_then_resumed_every_id_once(
    server: testing.FakeSudoServer, source: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    rng = random.Random(os.environ.get("PYTEST_XDIST_WORKER", "") + str(time.time_ns()))
    kills = 0
    for attempt in range(4):
        before = lines_in(output)
        run = start(server, source, output, ("asyncio", "trio")[attempt % 2])
        # a kill once some answers are in (mid-write, maybe), or at a random moment
        # (while the input is checked or the output read back, maybe)
        if rng.random() < 0.7:
            target = before + rng.randint(1, max(1, (TOTAL - before) // 3))
            deadline = time.monotonic() + 60
            while lines_in(output) < target and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            time.sleep(rng.uniform(0.0, 1.0))
        if run.poll() is not None:
            run.communicate()
            break
        run.send_signal(signal.SIGKILL)
        run.communicate()
        kills += 1

    final = start(server, source, output, "trio")
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()
    ids = output_ids(output)
    assert len(ids) == len(set(ids)) == TOTAL
    assert set(ids) == {f"q-{i}" for i in range(TOTAL)}
    # a kill costs at most the requests in flight: 16 each
    assert chat_requests(server) <= TOTAL + 16 * kills
    assert not (tmp_path / ".out.jsonl.ids").exists()


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails (EFBIG), not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_stops_the_run_with_a_clear_error_and_a_rerun_completes(
    server: testing.FakeSudoServer, source: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    full = start(server, source, output, preexec_fn=lambda: _limit_file_size(200_000))
    _, stderr = full.communicate(timeout=120)
    assert full.returncode == 1
    message = stderr.decode()
    assert "BatchOutputError: cannot write to the output" in message
    assert "File too large" in message and "run again with the same output to resume" in message
    assert 0 < output.stat().st_size <= 200_000

    final = start(server, source, output)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()
    ids = output_ids(output)
    assert len(ids) == len(set(ids)) == TOTAL


def test_ctrl_c_stops_the_run_cleanly_and_a_rerun_completes(
    server: testing.FakeSudoServer, source: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    run = start(server, source, output)
    deadline = time.monotonic() + 60
    while lines_in(output) < 100 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    if run.returncode == 0:
        pytest.skip("the run finished before the signal")  # a very fast machine
    assert run.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    # whole lines only, each id once, and no scratch files left behind
    ids = output_ids(output)
    assert len(ids) == len(set(ids)) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]

    final = start(server, source, output)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()
    assert sorted(output_ids(output)) == sorted(f"q-{i}" for i in range(TOTAL))
