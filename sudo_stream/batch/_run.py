"""A batch run: check the input, read back the output so far, send what is missing."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, overload

import anyio
from anyio.abc import TaskGroup
from typing_extensions import TypedDict, Unpack

from ._engine import RequestRunner
from ._errors import BatchOutputError, DuplicateCustomIdError
from ._index import IdIndex, RunInProgressError
from ._inputs import InputSource, Requests
from ._limiter import Limiter, RateLimiter
from ._output import OutputFile
from ._parquet import partial_path, restore_records, write_parquet
from ._report import BatchReport, LogProgress, Progress, default_progress
from ._requests import BatchRequest

if TYPE_CHECKING:
    from .._blocking import Sudo
    from ..client import AsyncSudo

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


class BatchOptions(TypedDict, total=False):
    """The options of :func:`run`."""

    concurrency: int
    """Requests in flight at most (default 64)."""
    rpm: int | None
    """Requests per minute at most, over any 60 seconds (default: no limit of ours)."""
    tpm: int | None
    """Tokens per minute at most: each request reserves its estimate (prompt + completion
    cap) before it is sent, settled from its answer's usage."""
    limiter: Limiter | None
    """A limiter of your own (shared by several runs), instead of rpm/tpm."""
    progress: Progress | bool | None
    """A bar on a terminal with rich installed, else a log line every 10 s (``None`` or
    ``True``); ``False`` for none; or a :class:`Progress` of your own."""
    default_completion_tokens: int
    """The completion tokens reserved for a request without max_completion_tokens
    (default 256)."""
    retry_failed: bool
    """Send again the requests whose records in the output are errors (their records are
    dropped first). By default a failure is final, as an answer is."""


@overload
def run(
    sudo: AsyncSudo, input: InputSource, output: str | os.PathLike[str], **options: Unpack[BatchOptions]
) -> Awaitable[BatchReport]: ...


@overload
def run(
    sudo: Sudo, input: InputSource, output: str | os.PathLike[str], **options: Unpack[BatchOptions]
) -> BatchReport: ...


def run(
    sudo: AsyncSudo | Sudo,
    input: InputSource,
    output: str | os.PathLike[str],
    **options: Unpack[BatchOptions],
) -> Awaitable[BatchReport] | BatchReport:
    r"""Send every request of ``input`` through ``sudo`` and write each answer to
    ``output``, one line per ``custom_id`` (the OpenAI Batch output format).

    With an :class:`~sudo_stream.AsyncSudo`, ``await`` it; with the blocking
    :class:`~sudo_stream.Sudo`, it returns when the run is over. Running it again with the
    same ``output`` resumes: what is already there is not sent again, and a torn last
    line (a run killed while writing it) is cut first. Every request is checked, and
    duplicate ``custom_id``\ s refused, before anything is sent (an iterator's as it is
    read). A request that fails after its retries is an error record in the output; an
    error that every request would meet (a bad key, no quota left) stops the run.

    ``input`` is a ``.jsonl`` path, a ``.parquet`` path (``pip install
    'sudo-stream[parquet]'``) or an iterable of request dicts. Returns a
    :class:`BatchReport`; the options are :class:`BatchOptions`'.
    """
    from .._blocking import Sudo
    from ..client import AsyncSudo

    if isinstance(sudo, Sudo):
        client = sudo._client
        return sudo._runner.run(lambda: run_batch(client, input, output, **options))
    if isinstance(sudo, AsyncSudo):
        return run_batch(sudo, input, output, **options)
    raise TypeError(f"run() takes an AsyncSudo or a Sudo, got {type(sudo).__name__}")


async def run_batch(
    client: AsyncSudo,
    input: InputSource,
    output: str | os.PathLike[str],
    *,
    concurrency: int = 64,
    rpm: int | None = None,
    tpm: int | None = None,
    limiter: Limiter | None = None,
    progress: Progress | bool | None = None,
    default_completion_tokens: int = 256,
    retry_failed: bool = False,
) -> BatchReport:
    """See :func:`sudo_stream.batch.run`."""
    started = time.monotonic()
    if limiter is not None and (rpm is not None or tpm is not None):
        raise ValueError("give rpm/tpm or a limiter, not both")
    if (
        isinstance(default_completion_tokens, bool)
        or not isinstance(default_completion_tokens, int)
        or default_completion_tokens < 0
    ):
        raise ValueError(
            f"default_completion_tokens must be an int >= 0, got {default_completion_tokens!r}"
        )
    runner = RequestRunner(
        client,
        concurrency=concurrency,
        limiter=limiter if limiter is not None else RateLimiter(rpm, tpm),
    )
    requests = Requests(input, default_completion_tokens=default_completion_tokens)
    path = Path(output)
    parquet = path.suffix.lower() == ".parquet"
    records = partial_path(path) if parquet else path
    shown = _progress(progress)
    index = await anyio.to_thread.run_sync(_open_index, records)
    out = OutputFile(records)
    report: BatchReport | None = None
    try:
        total = await anyio.to_thread.run_sync(_check_input, requests, index)
        if parquet:
            await anyio.to_thread.run_sync(restore_records, path, records)
        if retry_failed:
            await anyio.to_thread.run_sync(out.drop_failures)
        skipped = await anyio.to_thread.run_sync(_recover, out, index)
        shown.start(total, skipped)
        await _send_all(requests, index, runner, out, shown)
        out.close()
        if parquet:
            await anyio.to_thread.run_sync(write_parquet, records, path)
        stats = runner.stats
        report = BatchReport(
            output=str(path), total=total, skipped=skipped, done=stats.done,
            failed=stats.failed, retried=stats.retried, rate_limited=stats.rate_limited,
            prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
            seconds=time.monotonic() - started,
        )  # fmt: skip
        return report
    finally:
        out.close()
        with anyio.CancelScope(shield=True):  # cancelled too: the scratch files go
            await anyio.to_thread.run_sync(index.close)
        shown.finish(report)


def _progress(progress: Progress | bool | None) -> Progress:
    if progress is None or progress is True:
        return default_progress()
    if progress is False:
        return LogProgress(every=float("inf"))
    return progress


def _open_index(output: Path) -> IdIndex:
    if not output.parent.is_dir():
        raise BatchOutputError(f"cannot write the output {output}: {output.parent} is not a directory")
    try:
        return IdIndex(output.with_name(f".{output.name}.ids"))
    except RunInProgressError as exc:
        raise BatchOutputError(f"cannot write the output {output}: {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise BatchOutputError(
            f"cannot write beside the output {output}: {exc} (a run keeps its scratch index there)"
        ) from exc


def _check_input(requests: Requests, index: IdIndex) -> int | None:
    """Check every request of a source that can be read again, and refuse duplicate
    ids, before anything is sent; the number of requests (``None`` for an iterator,
    which is checked as it is sent)."""
    if not requests.rereadable:
        return None
    total = 0
    for chunk in requests.chunks():
        index.add_inputs((request.custom_id, where) for where, request in chunk)
        total += len(chunk)
    for custom_id, first, again in index.duplicates():
        raise DuplicateCustomIdError(again, f"custom_id {custom_id!r} is also at {first}")
    return total


def _recover(out: OutputFile, index: IdIndex) -> int:
    """Index the ids already in the output; how many there are."""

    def ids() -> Iterator[str]:
        for record in out.recover():
            yield record.custom_id

    index.add_done(ids())
    return index.done_count


async def _send_all(
    requests: Requests, index: IdIndex, runner: RequestRunner, out: OutputFile, progress: Progress
) -> None:
    try:
        async with anyio.create_task_group() as workers:
            await _feed(requests, index, runner, workers, out, progress)
    except BaseExceptionGroup as group:
        # One error stops the run (the others are the cancellations it caused): raise it
        # as itself, as a caller of run() expects, not wrapped in task-group groups.
        raise _first_error(group, anyio.get_cancelled_exc_class()) from None


def _first_error(group: BaseExceptionGroup[BaseException], cancelled: type[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first_error(exc, cancelled)
        if not isinstance(exc, cancelled):
            return exc
    return group


async def _feed(
    requests: Requests,
    index: IdIndex,
    runner: RequestRunner,
    workers: TaskGroup,
    out: OutputFile,
    progress: Progress,
) -> None:
    slots = anyio.Semaphore(runner.concurrency)

    async def work(request: BatchRequest) -> None:
        try:
            # Written as soon as it is in hand, with no await between: a cancelled run
            # loses no answer it got. An append to the page cache, on the loop: it costs
            # less than a thread's round trip.
            out.write(await runner.answer(request))
        finally:
            slots.release()
        progress.update(runner.stats)

    chunks = requests.chunks()
    while chunk := await anyio.to_thread.run_sync(next, chunks, None):
        ids = [request.custom_id for _, request in chunk]
        if not requests.rereadable:  # an iterator: its duplicates are found as it is read
            await anyio.to_thread.run_sync(_refuse_seen, index, chunk)
        done = await anyio.to_thread.run_sync(index.done_among, ids)
        for _, request in chunk:
            if request.custom_id not in done:
                await slots.acquire()
                workers.start_soon(work, request)


def _refuse_seen(index: IdIndex, chunk: list[tuple[str, BatchRequest]]) -> None:
    seen = index.seen_among([request.custom_id for _, request in chunk])
    places: dict[str, str] = {}
    for where, request in chunk:
        if request.custom_id in seen or request.custom_id in places:
            first = places.get(request.custom_id, "an earlier request")
            raise DuplicateCustomIdError(where, f"custom_id {request.custom_id!r} is also at {first}")
        places[request.custom_id] = where
    index.add_inputs((custom_id, where) for custom_id, where in places.items())
