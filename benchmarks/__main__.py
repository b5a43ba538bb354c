"""``python -m benchmarks``: run the benchmarks, print the tables and the targets.

The default run (about 13 minutes on 2 cores) and ``--full`` rewrite
``benchmarks/README.md`` and ``benchmarks/throughput.png``; ``--quick`` (about a minute),
``--smoke`` (tiny sizes, a check that every part works) and runs of selected parts only
print, unless ``--readme`` is given. Exit status 0
even when a target is missed (it is a measurement, not a test); 2 if a part failed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import machine, readme, report
from .clients import DRIVERS
from .measure import Rounds
from .plot import plot_throughput
from .runner import ALL_PARTS, BACKENDS, OPT_IN_PARTS, PARTS, Plan, Runner
from .targets import verdicts
from .workloads import QUICK, SMOKE

HERE = Path(__file__).resolve().parent


def _names(allowed: tuple[str, ...]) -> object:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(allowed)})"
            )
        return names

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="~1 minute: smaller, fewer rounds")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: does everything run?")
    size.add_argument(
        "--full",
        action="store_true",
        help="everything the issue lists: sudo-ai in the concurrency part too, openai-python "
        "in the bulk part, a traced run of 200 streams, more rounds, the batch, "
        "structured, responses and otel parts (~30 minutes)",
    )
    parser.add_argument(
        "--parts",
        type=_names(ALL_PARTS),
        default=PARTS,
        help=f"{','.join(ALL_PARTS)} (default: all but {','.join(p for p in ALL_PARTS if p not in PARTS)})",
    )
    parser.add_argument("--backends", type=_names(BACKENDS), default=BACKENDS)
    parser.add_argument("--clients", type=_names(tuple(DRIVERS)), default=tuple(DRIVERS))
    parser.add_argument("--rounds", type=int, help="max rounds per client (default 11)")
    parser.add_argument("--budget", type=float, help="seconds per client and stream")
    parser.add_argument("--streams", type=int, help="concurrent streams (default 1000)")
    parser.add_argument(
        "--bulk-streams",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="bulk part: streams started at once, comma-separated (default 100,500)",
    )
    parser.add_argument(
        "--batch-lines",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="batch part, memory: input lines, comma-separated (default 10000,100000)",
    )
    parser.add_argument(
        "--batch-requests", type=int, help="batch part, overhead: requests a round (3000)"
    )
    parser.add_argument(
        "--batch-window",
        type=float,
        help="batch part, rate limits: the server's window in seconds, 10/20/30/60 (10)",
    )
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="N", help="traced run of N streams"
    )
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: write README.md, the plot and the summary from a --json file",
    )
    readme_group = parser.add_mutually_exclusive_group()
    readme_group.add_argument("--readme", action="store_true", help="write README.md and png")
    readme_group.add_argument("--no-readme", action="store_true")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    plan = Plan(parts=args.parts, backends=args.backends, clients=args.clients)
    if args.quick:
        plan = replace(
            plan,
            sizes=QUICK,
            rounds=Rounds(3, 2, 2.0),
            concurrency_rounds=Rounds(2, 1, 3.0),
            bulk_rounds=Rounds(3, 2, 10.0),
            core_rounds=1,
            sse_rounds=3,
            latency_samples=10,
            import_repeat=3,
            batch_requests=2_000,
            batch_rounds=Rounds(3, 2, 10.0),
            batch_lines=(2_000, 20_000),
            batch_windows=2,
            structured_rounds=3,
            structured_parse_items=(20,),
            structured_partial_items=(20,),
            structured_linear_items=50,
            responses_rounds=3,
            responses_words=2_000,
            otel_rounds=3,
            otel_calls=100,
        )
    elif args.smoke:
        plan = replace(
            plan,
            sizes=SMOKE,
            rounds=Rounds(2, 1, 1.0),
            concurrency_rounds=Rounds(1, 1, 1.0),
            bulk_rounds=Rounds(1, 1, 1.0),
            core_rounds=1,
            sse_rounds=1,
            latency_samples=3,
            import_repeat=1,
            batch_requests=200,
            batch_rounds=Rounds(1, 1, 1.0),
            batch_lines=(500, 1_000),
            batch_windows=1,
            structured_rounds=1,
            structured_parse_items=(3,),
            structured_partial_items=(3,),
            structured_linear_items=3,
            responses_rounds=1,
            responses_words=100,
            otel_rounds=1,
            otel_calls=5,
        )
    elif args.full:
        plan = replace(
            plan,
            parts=plan.parts if args.parts != PARTS else ALL_PARTS,
            full=True,
            rounds=Rounds(7, 3, 60.0),
            concurrency_rounds=Rounds(5, 3, 30.0),
            bulk_rounds=Rounds(7, 3, 40.0),
            core_rounds=3,
            latency_samples=60,
            tracemalloc_streams=200,
        )
    if args.rounds is not None:
        plan.rounds = replace(plan.rounds, rounds=args.rounds)
    if args.budget is not None:
        plan.rounds = replace(plan.rounds, budget=args.budget)
    if args.streams is not None:
        plan.sizes = replace(plan.sizes, concurrent_streams=args.streams)
    if args.bulk_streams is not None:
        plan.sizes = replace(plan.sizes, bulk_streams=args.bulk_streams)
    if args.tracemalloc:
        plan.tracemalloc_streams = args.tracemalloc
    if args.batch_lines is not None:
        plan.batch_lines = args.batch_lines
    if args.batch_requests is not None:
        plan.batch_requests = args.batch_requests
    if args.batch_window is not None:
        from .batch import rate_scenarios

        rate_scenarios(args.batch_window)  # refuses a window it cannot hold exactly
        plan.batch_window = args.batch_window
    return plan


def _partial(args: argparse.Namespace) -> bool:
    """A run of some parts, loops or clients only (the README shows whole runs)."""
    return (args.parts, args.backends, args.clients) != (PARTS, BACKENDS, tuple(DRIVERS))


def _opt_in_only(parts: tuple[str, ...]) -> bool:
    """Only opt-in parts (batch, structured, responses, otel): with ``--readme`` such a run
    rewrites only their sections of the README."""
    return bool(parts) and set(parts) <= set(OPT_IN_PARTS)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        command = results.get("command", "python -m benchmarks")
        args.readme = True
    else:
        plan = make_plan(args)
        command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
        results = Runner(plan).run()
        results["machine"] = machine.describe()
        results["plan"] = plan.describe()
        results["finished"] = time.time()
        results["command"] = command.strip()
    print(report.tables(results, level="##"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    write = args.readme or not (args.quick or args.smoke or args.no_readme or _partial(args))
    parts = tuple(results.get("plan", {}).get("parts", args.parts))
    if write and _opt_in_only(parts):
        readme.update_opt_in_sections(HERE / "README.md", results, command.strip())
        print(f"\nwrote the {' and '.join(parts)} section(s) of {HERE / 'README.md'}")
    elif write:
        previous = (HERE / "README.md").read_text(encoding="utf-8")
        (HERE / "README.md").write_text(readme.render(results, command.strip(), previous))
        drawn = plot_throughput(results, HERE / "throughput.png")
        print(f"\nwrote {HERE / 'README.md'}" + (" and throughput.png" if drawn else ""))
        if readme.update_summary(HERE.parent / "README.md", results):
            print(f"updated the benchmark summary in {HERE.parent / 'README.md'}")
    missed = [v for v in verdicts(results) if v.passed is False]
    print(f"\n{len(missed)} target(s) missed" if missed else "\nall measured targets met")
    for failure in results.get("failures", []):
        print(f"FAILED: {failure}")
    return 2 if results.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
