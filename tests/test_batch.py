"""Batch runs against the fake server: answers, resume, bad input and output, failures,
rate limits. Every async test runs on asyncio and trio."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sudo_stream import AsyncSudo, AuthenticationError, RetryConfig, Sudo, batch, testing
from sudo_stream.batch._requests import parse_line

from .helpers import wait_until_no_connections

pytestmark = pytest.mark.anyio

FAST = RetryConfig(max_retries=3)


def line(custom_id: str, content: str = "hi", **body: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text().splitlines() if text.strip()]


def ids_of(path: Path) -> list[str]:
    return [record["custom_id"] for record in records(path)]


def chat_requests(server: testing.FakeSudoServer) -> list[Any]:
    return [r.json() for r in server.requests if r.path == "/v1/chat/completions"]


def client(server: testing.FakeSudoServer, **options: Any) -> AsyncSudo:
    options.setdefault("retries", FAST)
    return AsyncSudo("key", server.url, **options)


async def test_every_request_answered_once_in_the_openai_batch_format(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    rows = [line(f"q-{i}", f"question {i}", max_tokens=50) for i in range(40)]
    rows[3]["body"]["stream"] = True
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        report = await batch.run(sudo, source, output, concurrency=8, progress=False)

    assert sorted(ids_of(output)) == sorted(f"q-{i}" for i in range(40))
    for record in records(output):
        assert record["id"].startswith("batch_req_")
        assert record["error"] is None
        assert record["response"]["status_code"] == 200
        body = record["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == testing.DEFAULT_REPLY
    assert (report.total, report.done, report.failed, report.skipped) == (40, 40, 0, 0)
    assert report.prompt_tokens == 80 and report.completion_tokens > 0
    sent = chat_requests(server)
    assert len(sent) == 40
    # max_tokens is sent under the API's name; a streamed request asks for its usage
    assert all(body["max_completion_tokens"] == 50 and "max_tokens" not in body for body in sent)
    streamed = [body for body in sent if body["stream"] is True]
    assert [b["stream_options"] for b in streamed] == [{"include_usage": True}]
    assert not (tmp_path / ".out.jsonl.ids").exists()  # the scratch index is gone


async def test_a_rerun_sends_only_what_is_missing(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    rows = [line(f"q-{i}") for i in range(30)]
    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        await batch.run(sudo, write_jsonl(tmp_path / "a.jsonl", rows[:12]), output, progress=False)
        report = await batch.run(sudo, write_jsonl(tmp_path / "b.jsonl", rows), output, progress=False)
        again = await batch.run(sudo, tmp_path / "b.jsonl", output, progress=False)

    assert (report.skipped, report.done) == (12, 18)
    assert (again.skipped, again.done) == (30, 0)
    assert sorted(ids_of(output)) == sorted(r["custom_id"] for r in rows)
    assert len(chat_requests(server)) == 30


async def test_a_torn_last_line_is_cut_and_its_request_sent_again(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    rows = [line(f"q-{i}") for i in range(5)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        await batch.run(sudo, rows[:3], output, progress=False)
        whole = output.read_bytes()
        last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
        output.write_bytes(whole[: -len(last) - 1] + last[: len(last) // 2])  # killed mid-line
        report = await batch.run(sudo, source, output, progress=False)

    assert report.skipped == 2 and report.done == 3
    assert sorted(ids_of(output)) == [f"q-{i}" for i in range(5)]
    assert len(chat_requests(server)) == 6


async def test_an_output_that_is_not_a_batch_output_is_left_alone(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    output = tmp_path / "notes.txt"
    output.write_text("my notes\n")
    async with client(server) as sudo:
        with pytest.raises(batch.BatchOutputError, match="line 1 is not a batch output record"):
            await batch.run(sudo, [line("a")], output, progress=False)
    assert output.read_text() == "my notes\n"
    assert chat_requests(server) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"custom_id": "x", "body": ', "not valid JSON"),
        ("[1, 2]", "Expected `object`"),
        ('{"body": {"model": "m", "messages": []}}', "missing required field `custom_id`"),
        (json.dumps({**line("x"), "url": "/v1/embeddings"}), "url must be one of"),
        (json.dumps({**line("x"), "method": "GET"}), "method must be POST"),
        (json.dumps({**line("x"), "extra": 1}), "unknown field `extra`"),
        (json.dumps(line("x", temperature=7)), "temperature"),
        (json.dumps(line("x", tempreature=0.5)), "unknown body field 'tempreature'"),
        (json.dumps(line("x", timeout=5)), "unknown field(s) 'timeout'"),
        (json.dumps(line("x", max_tokens=5, max_completion_tokens=5)), "not both"),
        (json.dumps(line("")), "custom_id must be a non-empty string"),
    ],
)
async def test_a_malformed_line_stops_the_run_before_anything_is_sent(
    server: testing.FakeSudoServer, tmp_path: Path, bad: str, message: str
) -> None:
    rows: list[Any] = [line("a"), line("b"), "", bad, line("c")]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        with pytest.raises(batch.BatchInputError) as caught:
            await batch.run(sudo, source, output, progress=False)
    assert caught.value.where == "line 4 of in.jsonl"
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert chat_requests(server) == []
    assert not output.exists()


async def test_duplicate_ids_are_refused_up_front(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [line("a"), line("b"), line("c"), line("b")])
    async with client(server) as sudo:
        with pytest.raises(batch.DuplicateCustomIdError, match=r"line 4 of in.jsonl: custom_id 'b' is also at line 2"):
            await batch.run(sudo, source, tmp_path / "out.jsonl", progress=False)
    assert chat_requests(server) == []


async def test_an_iterator_is_checked_as_it_is_read(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    def requests() -> Iterator[dict[str, Any]]:
        for i in range(600):  # past the first chunk of 512
            yield line("dup" if i in (550, 590) else f"q-{i}")

    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        with pytest.raises(batch.DuplicateCustomIdError, match="request 591 of the input"):
            await batch.run(sudo, requests(), output, progress=False)
    # the first chunk went out (some of it perhaps cancelled), nothing of the second
    done = ids_of(output)
    assert len(done) == len(set(done))
    assert set(done) <= {f"q-{i}" for i in range(512)}
    assert len(chat_requests(server)) <= 512


async def test_failures_are_error_records_and_the_run_goes_on(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    server.enqueue(
        testing.Error(400, message="bad model", body={"error": {"message": "bad model", "type": "invalid_request_error", "code": "model_not_found"}}),
        *[testing.Error(500)] * 4,  # one request's 4 attempts
    )
    output = tmp_path / "out.jsonl"
    async with client(server) as sudo:
        report = await batch.run(sudo, [line(f"q-{i}") for i in range(6)], output, concurrency=1, progress=False)

    by_id = {r["custom_id"]: r for r in records(output)}
    assert by_id["q-0"]["response"]["status_code"] == 400
    assert by_id["q-0"]["response"]["body"]["error"]["code"] == "model_not_found"
    assert by_id["q-0"]["error"]["code"] == "model_not_found"
    assert by_id["q-0"]["error"]["type"] == "BadRequestError"
    assert by_id["q-1"]["error"] == {
        "code": "http_500", "message": by_id["q-1"]["error"]["message"], "type": "InternalServerError"
    }
    assert all(by_id[f"q-{i}"]["error"] is None for i in range(2, 6))
    assert (report.done, report.failed, report.retried) == (4, 2, 3)


async def test_a_bad_key_stops_the_run(tmp_path: Path) -> None:
    async with testing.FakeSudoServer(api_key="right") as server:
        async with AsyncSudo("wrong", server.url) as sudo:
            with pytest.raises(AuthenticationError):
                await batch.run(sudo, [line("a"), line("b")], tmp_path / "out.jsonl", progress=False)
    # nothing recorded for them: a rerun with the right key sends both
    assert not (tmp_path / "out.jsonl").exists() or ids_of(tmp_path / "out.jsonl") == []


async def test_a_429_pauses_the_run_and_is_not_a_failure(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    server.enqueue(*[testing.Error(429, headers=[("retry-after-ms", "50")])] * 6)
    output = tmp_path / "out.jsonl"
    async with client(server, retries=RetryConfig(max_retries=1)) as sudo:
        report = await batch.run(sudo, [line(f"q-{i}") for i in range(4)], output, progress=False)
    assert sorted(ids_of(output)) == [f"q-{i}" for i in range(4)]
    assert all(r["error"] is None for r in records(output))
    assert (report.done, report.failed, report.rate_limited) == (4, 0, 6)
    # the run waited after each 429: no request went out within 50 ms of a refusal
    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 10


async def test_python_dicts_and_parquet_files_are_inputs_too(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [line(f"q-{i}") for i in range(5)]
    table = pa.table(
        {
            "custom_id": [r["custom_id"] for r in rows],
            "body": [json.dumps(r["body"]) for r in rows],  # a JSON text column
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    async with client(server) as sudo:
        from_parquet = await batch.run(sudo, tmp_path / "in.parquet", tmp_path / "a.jsonl", progress=False)
        from_dicts = await batch.run(sudo, rows, tmp_path / "b.jsonl", progress=False)
    assert from_parquet.done == from_dicts.done == 5
    assert sorted(ids_of(tmp_path / "a.jsonl")) == sorted(ids_of(tmp_path / "b.jsonl"))


async def test_an_unwritable_output_is_a_clear_error(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only directories")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        async with client(server) as sudo:
            with pytest.raises(batch.BatchOutputError, match="cannot write"):
                await batch.run(sudo, [line("a")], folder / "out.jsonl", progress=False)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert chat_requests(server) == []


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="Linux's /proc: a read-only file system")
async def test_an_output_on_a_read_only_file_system_is_a_clear_error(
    server: testing.FakeSudoServer,
) -> None:
    async with client(server) as sudo:
        with pytest.raises(batch.BatchOutputError, match=r"cannot write beside the output /proc/out\.jsonl"):
            await batch.run(sudo, [line("a")], "/proc/out.jsonl", progress=False)
    assert chat_requests(server) == []


def test_the_blocking_client_runs_a_batch(tmp_path: Path) -> None:
    with testing.serve_in_thread() as server, Sudo("key", server.url) as sudo:
        report = batch.run(sudo, [line("a"), line("b")], tmp_path / "out.jsonl", progress=False)
    assert report.done == 2
    assert sorted(ids_of(tmp_path / "out.jsonl")) == ["a", "b"]


def test_parse_line_estimates_tokens() -> None:
    request = parse_line(json.dumps(line("a", "x" * 400, max_tokens=100, n=2)), "line 1")
    assert 100 + 200 <= request.estimated_tokens <= 130 + 200
    assert request.choices == 2
    default = parse_line(json.dumps(line("a")), "line 1", default_completion_tokens=10)
    assert 10 < default.estimated_tokens < 40


async def test_a_parquet_output_is_written_at_the_end_and_resumed(
    server: testing.FakeSudoServer, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    output = tmp_path / "out.parquet"
    rows = [line(f"q-{i}") for i in range(8)]
    server.enqueue(testing.Error(400))
    async with client(server) as sudo:
        first = await batch.run(sudo, rows[:5], output, concurrency=1, progress=False)
        second = await batch.run(sudo, rows, output, progress=False)
    assert (first.done, first.failed, second.skipped, second.done) == (4, 1, 5, 3)
    assert not (tmp_path / "out.parquet.partial.jsonl").exists()
    table = pq.read_table(output).to_pylist()
    assert sorted(row["custom_id"] for row in table) == [f"q-{i}" for i in range(8)]
    by_id = {row["custom_id"]: row for row in table}
    assert by_id["q-0"]["status_code"] == 400 and json.loads(by_id["q-0"]["error"])["code"] == "http_400"
    answer = json.loads(by_id["q-7"]["response"])
    assert answer["body"]["choices"][0]["message"]["content"] == testing.DEFAULT_REPLY
    assert by_id["q-7"]["error"] is None and by_id["q-7"]["id"].startswith("batch_req_")
    assert len(chat_requests(server)) == 8


async def test_two_runs_cannot_write_one_output_at_once(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    async with testing.FakeSudoServer() as server:
        server.enqueue(testing.Stall())  # the first run's only request hangs
        async with client(server) as sudo, anyio.create_task_group() as group:
            group.start_soon(lambda: batch.run(sudo, [line("a")], output, progress=False))
            while not server.requests:
                await anyio.sleep(0.01)
            with pytest.raises(batch.BatchOutputError, match="another run is writing to this output"):
                await batch.run(sudo, [line("b")], output, progress=False)
            group.cancel_scope.cancel()
        # cancelled: its scratch files are gone, its connection closed
        assert [p async for p in anyio.Path(tmp_path).iterdir()] == []
        await wait_until_no_connections(server)
        async with client(server) as sudo:  # the first is gone: its lock with it
            report = await batch.run(sudo, [line("b")], output, progress=False)
    assert report.done == 1


async def test_image_generations_run_in_a_batch_too(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    rows = [
        {"custom_id": "img", "url": "/v1/images/generations",
         "body": {"model": "gpt-image-1", "prompt": "a lighthouse", "response_format": "b64_json"}},
        line("chat"),
    ]  # fmt: skip
    async with client(server) as sudo:
        report = await batch.run(sudo, rows, tmp_path / "out.jsonl", progress=False)
    by_id = {r["custom_id"]: r for r in records(tmp_path / "out.jsonl")}
    assert report.done == 2
    assert by_id["img"]["response"]["body"]["data"][0]["b64_json"] == testing.TINY_PNG_B64
    sent = [r for r in server.requests if r.path == "/v1/images/generations"]
    assert [r.json() for r in sent] == [rows[0]["body"]]
    with pytest.raises(batch.BatchInputError, match="prompt must be a non-empty string"):
        await batch.run(AsyncSudo("k", server.url), [{**rows[0], "body": {"model": "m"}}], tmp_path / "x.jsonl", progress=False)


async def test_a_server_that_rate_limits_hard(tmp_path: Path) -> None:
    # 6 requests per half second, and a client that sets no limit of its own: the 429s
    # pause the run (for their Retry-After), and every request gets through in the end.
    async with testing.FakeSudoServer(rate_limit=testing.RateLimit(rpm=6, window=0.5)) as server:
        async with client(server) as sudo:
            report = await batch.run(sudo, [line(f"q-{i}") for i in range(30)], tmp_path / "out.jsonl", concurrency=10, progress=False)
        usage = server.rate_limit_log.usage("key")
    assert sorted(ids_of(tmp_path / "out.jsonl")) == sorted(f"q-{i}" for i in range(30))
    assert (report.done, report.failed) == (30, 0)
    assert report.rate_limited == usage.refused > 0
    assert usage.admitted == 30


async def test_a_run_under_its_limit_meets_few_429s(tmp_path: Path) -> None:
    limit = testing.RateLimit(rpm=20, tpm=2_000, window=1.0)
    async with testing.FakeSudoServer(rate_limit=limit) as server:
        async with client(server) as sudo:
            limiter = batch.RateLimiter(rpm=20, tpm=2_000, window=1.0)
            report = await batch.run(
                sudo, [line(f"q-{i}", max_tokens=10) for i in range(60)], tmp_path / "out.jsonl",
                concurrency=16, limiter=limiter, progress=False,
            )  # fmt: skip
        usage = server.rate_limit_log.usage("key")
    assert report.done == 60
    # Within the limit but for the jitter between our clock and the server's (a request
    # reserved just in time may arrive just too early), large against a 1-second window
    # on a loaded machine; without the limiter, most requests are refused.
    assert usage.refused <= 10, usage
    assert usage.max_requests_sent <= 20 + usage.refused


async def test_failed_requests_can_be_sent_again(server: testing.FakeSudoServer, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    rows = [line(f"q-{i}") for i in range(5)]
    server.enqueue(testing.Error(400), testing.Error(404))
    async with client(server) as sudo:
        first = await batch.run(sudo, rows, output, concurrency=1, progress=False)
        again = await batch.run(sudo, rows, output, progress=False)  # failures are final
        retried = await batch.run(sudo, rows, output, retry_failed=True, progress=False)
    assert (first.done, first.failed) == (3, 2)
    assert (again.skipped, again.done) == (5, 0)
    assert (retried.skipped, retried.done, retried.failed) == (3, 2, 0)
    assert sorted(ids_of(output)) == [f"q-{i}" for i in range(5)]
    assert all(record["error"] is None for record in records(output))
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == ["out.jsonl"]  # nothing left over
