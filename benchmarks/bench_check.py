"""Black-box checking throughput: operations judged per second by `check_history`, one core.

    python benchmarks/bench_check.py                  # dvv, 100,000 operations, median of 5
    python benchmarks/bench_check.py --mode lww --operations 20000 --runs 3

A history is generated once from the seeded model store of tests/history_model.py (correct, so
that every check judges everything and finds nothing: the work a passing run costs): 3 nodes,
N=3 R=2 W=2, 8 clients on 64 keys, 45 % gets, 10 % deletes, 20 % blind writes, with timeouts,
refused writes and redeliveries. It is then encoded to JSON lines and decoded back (timed apart),
and judged `--runs` times: each run builds its `Facts` afresh and runs every check. Each run is
timed by the wall clock and by the process's CPU time (the two agree on an idle core; on a
shared machine the CPU time is the one-core figure). Figures and method: docs/benchmarks.md
(Black-box checking).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from dynref.causality import Mode
from dynref.check import CheckStatus, check_history
from dynref.history import decode_history, encode_history

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ holds the model store
from tests.history_model import ModelSettings, generate

TARGET = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["dvv", "lww"], default="dvv")
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    settings = ModelSettings(
        mode=Mode(arguments.mode),
        clients=8,
        keys=64,
        operations=arguments.operations,
        timeout_per_mille=20,
        refuse_per_mille=10,
        redeliver_per_mille=20,
    )
    started = time.perf_counter()
    history = generate(settings, arguments.seed)
    generated = time.perf_counter() - started
    print(
        f"history: {len(history.ops):,} operations, {len(history.finals):,} final reads, "
        f"{len(history.faults):,} faults ({arguments.mode}; generated in {generated:.1f} s)"
    )
    started = time.perf_counter()
    text = encode_history(history)
    encoded = time.perf_counter() - started
    started = time.perf_counter()
    decoded = decode_history(text)
    parsed = time.perf_counter() - started
    assert decoded == history
    lines = text.count("\n")
    print(f"encode  {lines / encoded:>12,.0f} lines/s   decode {lines / parsed:>12,.0f} lines/s")
    rates: list[float] = []
    cpu_rates: list[float] = []
    for run in range(arguments.runs):
        started, cpu = time.perf_counter(), time.process_time()
        report = check_history(history)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        rates.append(len(history.ops) / seconds)
        cpu_rates.append(len(history.ops) / cpu_seconds)
        print(
            f"run {run + 1}: {seconds:.2f} s ({cpu_seconds:.2f} s of CPU), "
            f"{rates[-1]:,.0f} operations judged per second ({cpu_rates[-1]:,.0f} per CPU second)"
        )
    for result in report.results:
        print("  " + result.describe())
    assert not report.failed, "the model's history must pass"
    wanted = {"SIBLING-BOUND"} if settings.mode is Mode.LWW else set()
    assert {r.check for r in report.results if r.status is CheckStatus.SKIP} == wanted
    median, cpu_median = statistics.median(rates), statistics.median(cpu_rates)
    verdict = "meets" if cpu_median >= TARGET else "misses"
    print(
        f"median: {median:,.0f} operations judged per second, {cpu_median:,.0f} per CPU second "
        f"({verdict} the {TARGET:,} goal)"
    )


if __name__ == "__main__":
    main()
