"""Benchmarks of sudo_stream against the raw transport and its peers.

Run them with ``python -m benchmarks`` (see ``benchmarks/README.md``). Modules, one idea
each: :mod:`~benchmarks.workloads` (the streams), :mod:`~benchmarks.server` (the process
that serves them), :mod:`~benchmarks.clients` (one driver per client library),
:mod:`~benchmarks.measure` (rounds, statistics, memory, import time),
:mod:`~benchmarks.worker` (one measuring process), :mod:`~benchmarks.runner` (the run),
:mod:`~benchmarks.targets` (PASS/MISS), :mod:`~benchmarks.report`,
:mod:`~benchmarks.plot` and :mod:`~benchmarks.readme` (the output), and the in-memory
micro-benchmarks :mod:`~benchmarks.bench_sse` and :mod:`~benchmarks.bench_core`.
The test suite never imports this package.
"""
