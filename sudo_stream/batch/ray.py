"""Batch runs scaled out on Ray: the same requests and output records, scheduled by Ray Data.

::

    from sudo_stream.batch import ray as batch_ray

    report = batch_ray.run("requests.jsonl", "results/", actors=4, rpm=10_000)

Needs the ``ray`` extra (``pip install 'sudo-stream[ray]'``). Locally it starts Ray on this
machine; with ``RAY_ADDRESS`` set (or under ``ray job submit``) it runs on that cluster.

How it is built (each point is what a spike on a 2-core machine measured):

- Ray Data schedules *work units* (:mod:`sudo_stream.batch._units`: a fixed range of one
  input file) over a pool of actors with ``map_batches``. Each actor holds one long-lived
  :class:`~sudo_stream.AsyncSudo`, built lazily inside the actor on its event loop (a
  client cannot be pickled), and one in-flight limit shared by every unit the actor runs
  at once: throughput is set by requests in flight, and Ray runs several async batches per
  actor at the same time, so a limit per batch would multiply.
- Output: ``results/part-NNNNN.jsonl``, one OpenAI Batch output line per ``custom_id``, the
  same records ``batch.run`` writes. Ray's own writers name their files by write id, not
  by input, so a dead job's files could not be matched to the requests they hold; units
  are written to a temporary name and renamed when complete instead, with the partial file
  as the unit's journal. Running the same command again resumes: finished units are
  skipped whole, and a unit cut short sends only the requests missing from its journal.
- ``rpm`` / ``tpm``: one limit for the whole run, held by a named actor (no CPU of its own)
  from which every request reserves its place, whichever actor sends it.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from ..client import AsyncSudo
from ..models.ratelimit import RateLimitInfo
from ._engine import RequestRunner
from ._errors import BatchError
from ._limiter import RateLimiter
from ._limits import MINUTE, Reservation
from ._report import BatchReport
from ._units import Plan, Unit, finished, plan, run_unit

__all__ = ["run"]

logger: logging.Logger = logging.getLogger("sudo_stream.batch.ray")

_STAT_FIELDS = ("done", "failed", "retried", "rate_limited", "prompt_tokens", "completion_tokens")
# Units an actor runs at once: while one unit's last requests finish, the next one starts,
# so the in-flight limit stays used at unit boundaries.
_UNITS_PER_ACTOR = 2


class _ClientSettings:
    """How an actor builds its client: a factory, or :class:`AsyncSudo` keyword arguments.

    The key is resolved on the driver (a cluster's workers may not have the driver's
    environment) and never shown in the repr."""

    def __init__(self, factory: Callable[[], AsyncSudo] | None, options: Mapping[str, Any]) -> None:
        self._factory = factory
        self._options = dict(options)

    def build(self) -> AsyncSudo:
        return self._factory() if self._factory is not None else AsyncSudo(**self._options)

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k == "api_key" else v) for k, v in self._options.items()}
        return f"_ClientSettings(factory={self._factory!r}, options={shown!r})"


class _RateLimitActor:
    """The run's one rate limit, in a Ray actor: the engine's :class:`RateLimiter` on the
    actor's own clock (workers on other machines need no common clock). Reservations
    stay here; workers hold a number for each."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self._limiter = RateLimiter(rpm, tpm)
        self._held: dict[int, tuple[float, Reservation]] = {}
        self._next = 0

    def reserve(self, tokens: int) -> int | float:
        """A reservation's number, or the seconds to wait (an ``int`` is a number)."""
        now = time.monotonic()
        got = self._limiter.state.try_reserve(tokens, now)
        if not isinstance(got, Reservation):
            return float(got)
        # an answer without usage (an image, a failure) is never settled; past a minute
        # the windows have forgotten the reservation anyway
        while self._held and next(iter(self._held.values()))[0] < now - 2 * MINUTE:
            del self._held[next(iter(self._held))]
        self._next += 1
        self._held[self._next] = (now, got)
        return self._next

    def settle(self, number: int, used_tokens: int) -> None:
        held = self._held.pop(number, None)
        if held is not None:
            self._limiter.settle(held[1], used_tokens)

    def pause(self, seconds: float) -> None:
        self._limiter.pause(seconds)

    def observe(self, info: RateLimitInfo) -> None:
        self._limiter.observe(info)


class _RemoteReservation(Reservation):
    """A reservation held by the limit actor, by number."""

    __slots__ = ("number",)

    def __init__(self, tokens: int, number: int) -> None:
        super().__init__(tokens, [])
        self.number = number


class _SharedLimiter:
    """The engine's ``Limiter``, reserving each request's place from the limit actor."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor

    async def acquire(self, tokens: int) -> Reservation:
        while True:
            got = await self._actor.reserve.remote(tokens)
            if isinstance(got, int):
                return _RemoteReservation(tokens, got)
            await anyio.sleep(got)

    def settle(self, reservation: Reservation, used_tokens: int) -> None:
        if isinstance(reservation, _RemoteReservation):
            self._actor.settle.remote(reservation.number, used_tokens)

    def pause(self, seconds: float) -> None:
        self._actor.pause.remote(seconds)

    def observe(self, info: RateLimitInfo) -> None:
        # every answer has these headers: the actor hears only of a spent limit, the
        # one thing the limiter acts on
        if info.remaining_requests == 0 or info.remaining_tokens == 0:
            self._actor.observe.remote(info)


class _UnitWorker:
    """Ray Data's callable class: runs the units of each batch on the actor's event loop,
    with one client, one request runner and one in-flight limit for the whole actor."""

    def __init__(
        self,
        plan: Plan,
        output_dir: str,
        settings: _ClientSettings,
        concurrency: int,
        limiter_name: str | None,
        default_completion_tokens: int,
    ) -> None:
        self._plan = plan
        self._output_dir = Path(output_dir)
        self._settings = settings
        self._concurrency = concurrency
        self._limiter_name = limiter_name
        self._completion_tokens = default_completion_tokens
        self._id = uuid.uuid4().hex
        self._runner: RequestRunner | None = None
        self._in_flight: anyio.Semaphore | None = None

    def _start(self) -> tuple[RequestRunner, anyio.Semaphore]:
        # at the actor's first batch, on its loop: the client's pool belongs to this loop
        if self._runner is None or self._in_flight is None:
            limiter = None
            if self._limiter_name is not None:
                import ray

                limiter = _SharedLimiter(ray.get_actor(self._limiter_name))
            self._runner = RequestRunner(
                self._settings.build(), concurrency=self._concurrency, limiter=limiter
            )
            self._in_flight = anyio.Semaphore(self._concurrency)
        return self._runner, self._in_flight

    async def __call__(self, batch: dict[str, Any]) -> AsyncIterator[dict[str, list[Any]]]:
        # an async generator: the form of async UDF that every Ray Data release since
        # 2.44 takes (a coroutine only since later ones)
        runner, in_flight = self._start()
        out: dict[str, list[Any]] = {k: [] for k in ("unit", "sent", "actor", *_STAT_FIELDS)}
        for index in batch["unit"]:
            unit = self._plan.units[int(index)]
            result = await run_unit(
                self._plan, unit, self._output_dir, runner, in_flight,
                default_completion_tokens=self._completion_tokens,
            )  # fmt: skip
            out["unit"].append(result.unit)
            out["sent"].append(result.sent)
            out["actor"].append(self._id)
            # the actor's totals so far: the driver keeps each actor's latest
            for name in _STAT_FIELDS:
                out[name].append(getattr(runner.stats, name))
        yield out


def run(
    input: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    client: Callable[[], AsyncSudo] | None = None,
    api_key: str | None = None,
    server_url: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    actors: int = 2,
    concurrency_per_actor: int = 64,
    rpm: int | None = None,
    tpm: int | None = None,
    unit_rows: int | None = None,
    default_completion_tokens: int = 256,
    num_cpus_per_actor: float = 1,
) -> BatchReport:
    """Send every request of ``input`` through Ray and write the answers under ``output``.

    ``input``: a JSONL file in the OpenAI Batch format, a Parquet file (``custom_id``,
    ``method``, ``url``, ``body`` columns, the body as JSON text or a struct), a directory
    of them, or a list. Every request is checked and duplicate ids refused before anything
    is sent (:class:`~sudo_stream.batch.BatchInputError` names the first bad one).
    ``output``: a directory, on storage that every node sees; it gets a
    ``part-NNNNN.jsonl`` per unit of ``unit_rows`` requests (1,000 by default), each line
    an OpenAI Batch output record, as ``batch.run`` writes them. Run the same call again
    to resume (the first run's units are kept).

    The client: ``client``, a function that builds an :class:`~sudo_stream.AsyncSudo`
    (it is called inside each actor), or ``api_key``, ``server_url`` and other
    ``client_options`` for one; the key and URL fall back to ``$SUDO_API_KEY`` and
    ``$SUDO_SERVER_URL`` here, on the driver. ``actors`` actors send
    ``concurrency_per_actor`` requests at once each; ``rpm`` and ``tpm`` limit the whole
    run, as ``batch.run``'s do (``default_completion_tokens``: the tokens reserved for a
    request without ``max_completion_tokens``).

    Uses the Ray already initialised, else ``ray.init()`` (a cluster when ``RAY_ADDRESS``
    is set), shut down again at the end. Blocking; returns a
    :class:`~sudo_stream.batch.BatchReport` (``output`` the directory).
    """
    for name, value in (("actors", actors), ("concurrency_per_actor", concurrency_per_actor)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    started = time.monotonic()
    settings = _client_settings(client, api_key, server_url, client_options)
    output_dir = Path(output).resolve()
    made = plan(input, output_dir, unit_rows)
    todo = [unit for unit in made.units if not finished(output_dir, unit)]
    logger.info(
        "%d requests in %d units, %d of them finished before",
        made.requests, len(made.units), len(made.units) - len(todo),
    )  # fmt: skip
    totals = _run_units(
        made, todo, output_dir, settings, actors, concurrency_per_actor, rpm, tpm,
        default_completion_tokens, num_cpus_per_actor,
    )  # fmt: skip
    return BatchReport(
        output=str(output_dir),
        total=made.requests,
        skipped=made.requests - totals["sent"],
        done=totals["done"],
        failed=totals["failed"],
        retried=totals["retried"],
        rate_limited=totals["rate_limited"],
        prompt_tokens=totals["prompt_tokens"],
        completion_tokens=totals["completion_tokens"],
        seconds=time.monotonic() - started,
    )


def _client_settings(
    factory: Callable[[], AsyncSudo] | None,
    api_key: str | None,
    server_url: str | None,
    options: Mapping[str, Any] | None,
) -> _ClientSettings:
    if factory is not None:
        if api_key is not None or server_url is not None or options:
            raise TypeError("give client= or the client's settings, not both")
        return _ClientSettings(factory, {})
    settings = dict(options or {})
    settings["api_key"] = api_key if api_key is not None else os.environ.get("SUDO_API_KEY")
    url = server_url if server_url is not None else os.environ.get("SUDO_SERVER_URL")
    if url is not None:
        settings["server_url"] = url
    return _ClientSettings(None, settings)


def _run_units(
    made: Plan,
    todo: list[Unit],
    output_dir: Path,
    settings: _ClientSettings,
    actors: int,
    concurrency: int,
    rpm: int | None,
    tpm: int | None,
    default_completion_tokens: int,
    num_cpus: float,
) -> dict[str, int]:
    totals = dict.fromkeys(("sent", *_STAT_FIELDS), 0)
    if not todo:
        return totals
    import ray

    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init()
    limiter: Any = None
    try:
        limiter_name = None
        if rpm is not None or tpm is not None:
            limiter_name = f"sudo_stream.batch.limit.{uuid.uuid4().hex}"
            limiter = (
                ray.remote(num_cpus=0)(_RateLimitActor).options(name=limiter_name).remote(rpm, tpm)
            )
        units = ray.data.from_items(
            [{"unit": unit.index} for unit in todo], override_num_blocks=len(todo)
        )
        results = units.map_batches(
            _UnitWorker,
            fn_constructor_kwargs={
                "plan": made,
                "output_dir": str(output_dir),
                "settings": settings,
                "concurrency": concurrency,
                "limiter_name": limiter_name,
                "default_completion_tokens": default_completion_tokens,
            },
            batch_size=1,
            num_cpus=num_cpus,
            **_actor_pool(ray, min(actors, len(todo))),  # an actor without a unit would idle
        )
        latest: dict[str, dict[str, int]] = {}
        for count, row in enumerate(results.iter_rows(), start=1):
            totals["sent"] += int(row["sent"])
            actor = latest.setdefault(str(row["actor"]), dict.fromkeys(_STAT_FIELDS, 0))
            for name in _STAT_FIELDS:
                actor[name] = max(actor[name], int(row[name]))
            logger.info("unit %d finished (%d of %d)", int(row["unit"]), count, len(todo))
        for actor in latest.values():
            for name in _STAT_FIELDS:
                totals[name] += actor[name]
    finally:
        if limiter is not None:
            ray.kill(limiter)
        if own_ray:
            ray.shutdown()
    return totals


def _actor_pool(ray: Any, size: int) -> dict[str, Any]:
    """``map_batches`` arguments for ``size`` actors, each running its units at once
    rather than in turn. Ray 2.59 named that ``max_concurrent_calls_per_actor`` (and
    deprecated passing ``max_concurrency``, which older releases need)."""
    strategy = ray.data.ActorPoolStrategy
    concurrent = "max_concurrent_calls_per_actor"
    if concurrent in inspect.signature(strategy).parameters:
        options = {"max_tasks_in_flight_per_actor": _UNITS_PER_ACTOR, concurrent: _UNITS_PER_ACTOR}
        return {"compute": strategy(size=size, **options)}
    return {
        "compute": strategy(size=size, max_tasks_in_flight_per_actor=_UNITS_PER_ACTOR),
        "max_concurrency": _UNITS_PER_ACTOR,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sudo_stream.batch.ray IN... OUT``; the key and server URL come from
    ``$SUDO_API_KEY`` and ``$SUDO_SERVER_URL`` (or ``--server-url``)."""
    parser = argparse.ArgumentParser(
        prog="python -m sudo_stream.batch.ray",
        description="Send a batch of requests through Ray (a cluster when RAY_ADDRESS is set); "
        "run it again with the same output to resume.",
    )
    parser.add_argument("input", nargs="+", help="JSONL or Parquet files, or directories of them")
    parser.add_argument("output", help="the output directory")
    parser.add_argument("--server-url", help="default: $SUDO_SERVER_URL")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency-per-actor", type=int, default=64)
    parser.add_argument("--rpm", type=int, help="requests per minute, for the whole run")
    parser.add_argument("--tpm", type=int, help="tokens per minute, for the whole run")
    parser.add_argument("--unit-rows", type=int, help="requests per output file (first run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = run(
            args.input, args.output, server_url=args.server_url, actors=args.actors,
            concurrency_per_actor=args.concurrency_per_actor, rpm=args.rpm, tpm=args.tpm,
            unit_rows=args.unit_rows,
        )  # fmt: skip
    except BatchError as exc:
        print(f"sudo-stream batch: {exc}", file=sys.stderr)
        return 2
    print(report, file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
