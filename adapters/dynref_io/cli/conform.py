"""The `conform` and `check` subcommands: judge a store from what its clients saw.

`dynref conform --adapter 'CMD ARGS'` (or `--target dynref`) runs seeded workloads against a
store through its adapter (docs/conformance.md) and judges each run's History; `dynref check
HISTORY.jsonl ...` judges histories recorded by any harness. Both print a summary on stdout and
write the same reports (`--junit`, `--json`; `conform` also `--history DIR`). Exit statuses:
0 pass, 1 violation, 2 usage or adapter error (or an unreadable history), 3 incomplete,
130 interrupted (the reports hold what was done).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynref.check import CheckStatus, check_history
from dynref.history import HistoryFormatError, decode_history

from dynref_io.cli import EXIT_INTERRUPTED, Subcommand, UsageError
from dynref_io.cli.options import at_least, check_writable_dir, check_writable_file, seed_range
from dynref_io.conform.faults import FAULTS
from dynref_io.conform.reports import write_reports
from dynref_io.conform.runner import (
    ConformPlan,
    RunResult,
    UnusableAdapterError,
    describe_result,
    run_seeds,
)
from dynref_io.conform.verdict import EXIT_ERROR, exit_status, incomplete_reasons
from dynref_io.conform.workload import WORKLOADS, WorkloadPlan

TARGETS = ("dynref",)
MODES = ("dvv", "vclock", "lww")
SHOWN_VIOLATIONS = 3
"""Violations printed per check and run; the JSON report holds them all."""


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return seconds


def fault_list(text: str) -> tuple[str, ...]:
    if text == "none":
        return ()
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [kind for kind in kinds if kind not in FAULTS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(FAULTS)}, or none; got {text!r}"
        )
    return tuple(dict.fromkeys(kinds))


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reports")
    group.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    group.add_argument("--json", type=Path, metavar="FILE", help="write a JSON summary here")


def add_conform_arguments(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--adapter", metavar="'CMD ARGS'", help="the adapter program to run")
    chosen.add_argument("--target", choices=TARGETS, help="a target shipped with dynref")
    parser.add_argument(
        "--mode", choices=MODES, help="with --target dynref: the causality mode (default dvv)"
    )
    parser.add_argument("--seeds", type=seed_range, default=range(5), help="A:B (default 0:5)")
    parser.add_argument(
        "--workload",
        choices=sorted(WORKLOADS),
        default="mixed",
        help="rmw: read, then write with the read's context; blind: empty contexts; delete: "
        "rmw with deletes; mixed (default): careful, stale-context and blind writers",
    )
    parser.add_argument("--clients", type=at_least(1), default=4, help="concurrent clients (4)")
    parser.add_argument("--keys", type=at_least(1), default=4, help="shared keys (4)")
    parser.add_argument("--ops", type=at_least(1), default=400, help="operations per seed (400)")
    parser.add_argument(
        "--faults",
        type=fault_list,
        metavar="LIST",
        help=f"fault kinds to inject: {', '.join(FAULTS)} or none (default: every kind the "
        "adapter has hooks for)",
    )
    group = parser.add_argument_group("time limits (seconds)")
    group.add_argument("--request-timeout", type=positive_seconds, default=30.0, metavar="S",
                       help="for each client request, replica read and status (30)")  # fmt: skip
    group.add_argument("--setup-timeout", type=positive_seconds, default=120.0, metavar="S",
                       help="for init and each fault hook (120)")  # fmt: skip
    group.add_argument("--converge-timeout", type=positive_seconds, default=60.0, metavar="S",
                       help="for the replicas to agree once faults healed (60)")  # fmt: skip
    add_report_arguments(parser)
    parser.add_argument("--history", type=Path, metavar="DIR", help="write each run's History")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def adapter_command(arguments: argparse.Namespace) -> tuple[tuple[str, ...], str]:
    if arguments.target is not None:
        mode = arguments.mode or "dvv"
        module = "dynref_io.conform.dynref_target"
        return (sys.executable, "-m", module, "--mode", mode), f"dynref-{mode}"
    if arguments.mode is not None:
        raise UsageError("--mode goes with --target dynref; an adapter declares its own mode")
    try:
        argv = tuple(shlex.split(arguments.adapter))
    except ValueError as exc:
        raise UsageError(f"--adapter {arguments.adapter!r}: {exc}") from None
    if not argv:
        raise UsageError("--adapter is empty")
    return argv, Path(argv[-1] if len(argv) > 1 else argv[0]).stem


def check_outputs(arguments: argparse.Namespace) -> None:
    for flag in ("junit", "json"):
        path = getattr(arguments, flag)
        if path is not None:
            check_writable_file(path, f"--{flag}")
    history = getattr(arguments, "history", None)
    if history is not None:
        if history.exists() and not history.is_dir():
            raise UsageError(f"--history {history} is not a directory")
        check_writable_dir(history, "--history")


class Progress:
    """Lines on stderr, prefixed with the elapsed time; periodic ones at most every few
    seconds (the run's own pace), whether or not stderr is a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


def run_conform(arguments: argparse.Namespace) -> int:
    argv, label = adapter_command(arguments)
    check_outputs(arguments)
    plan = ConformPlan(
        argv=argv,
        workload=WorkloadPlan(arguments.workload, arguments.clients, arguments.keys),
        ops=arguments.ops,
        faults=arguments.faults,
        request_timeout=arguments.request_timeout,
        setup_timeout=arguments.setup_timeout,
        converge_timeout=arguments.converge_timeout,
        target=label,
    )
    seeds = list(arguments.seeds)
    settings: dict[str, Any] = {
        "adapter": list(argv),
        "seeds": [seeds[0], seeds[-1] + 1],
        "workload": arguments.workload,
        "clients": arguments.clients,
        "keys": arguments.keys,
        "ops": arguments.ops,
        "faults": None if arguments.faults is None else list(arguments.faults),
    }
    say = Progress(arguments.quiet)
    say(f"conform: {shlex.join(argv)}; seeds {seeds[0]}:{seeds[-1] + 1}")
    results: list[RunResult] = []
    status: int | None = None
    try:
        asyncio.run(run_seeds(plan, seeds, say, results))
    except UnusableAdapterError as exc:
        print(f"dynref conform: {exc}", file=sys.stderr)
        status = EXIT_ERROR
    except KeyboardInterrupt:
        say("interrupted: the adapter is stopped; the reports hold what was done")
        status = EXIT_INTERRUPTED
    for result in results:
        if result.error is not None and status is None:
            first = result.error.splitlines()[0]
            print(f"dynref conform: adapter error (seed {result.seed}): {first}", file=sys.stderr)
    target = _target_name(results, label)
    write_reports(results, target, settings, arguments.junit, arguments.json, arguments.history)
    print(summary_text(results, target, len(seeds)))
    return exit_status(r.status for r in results) if status is None else status


def _target_name(results: Sequence[RunResult], fallback: str) -> str:
    for result in results:
        if result.history is not None and result.history.header.target:
            return result.history.header.target
    return fallback


def summary_text(results: Sequence[RunResult], target: str, asked: int) -> str:
    lines = [f"dynref conform: {target}"]
    lines += [f"  seed {r.seed if r.source is None else r.source}: {describe_result(r)}"
              for r in results]  # fmt: skip
    lines += check_table(results)
    for result in results:
        for note in (*result.notes, *result.incomplete):
            lines.append(f"  note (seed {result.seed}): {note}")
        if result.error is not None:
            lines.append(f"  ERROR (seed {result.seed}): {result.error}")
        for check in result.report.results if result.report is not None else ():
            for found in check.violations[:SHOWN_VIOLATIONS]:
                where = result.source or f"seed {result.seed}"
                lines.append(f"  {where}: " + found.describe().replace("\n", "\n    "))
            if len(check.violations) > SHOWN_VIOLATIONS:
                more = len(check.violations) - SHOWN_VIOLATIONS
                lines.append(f"  ... and {more} more {check.check} violations (see --json)")
    status = exit_status(r.status for r in results)
    verdict = {0: "PASS", 1: "FAIL", 2: "ERROR", 3: "INCOMPLETE"}[status]
    violations = sum(len(r.report.violations) for r in results if r.report is not None)
    ops = sum(len(r.history.ops) for r in results if r.history is not None)
    judged = sum(1 for r in results if r.report is not None)
    lines.append(
        f"verdict: {verdict}: {judged} of {asked} runs judged, {violations} violations "
        f"({ops:,} operations)"
    )
    return "\n".join(lines)


def check_table(results: Sequence[RunResult]) -> list[str]:
    rows: dict[str, dict[str, int]] = {}
    notes: dict[str, str] = {}
    for result in results:
        for check in result.report.results if result.report is not None else ():
            counts = rows.setdefault(check.check, {s.value: 0 for s in CheckStatus})
            counts[check.status.value] += 1
            if check.status is CheckStatus.SKIP:
                notes.setdefault(check.check, check.note)
    lines = []
    for name, counts in rows.items():
        shown = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        note = f" ({notes[name]})" if name in notes else ""
        lines.append(f"  {name:<14}{shown}{note}")
    return lines


# ---------------------------------------------------------------- check


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("histories", nargs="+", type=Path, metavar="HISTORY.jsonl")
    add_report_arguments(parser)


def judge_file(path: Path, index: int) -> RunResult:
    started = time.monotonic()
    try:
        history = decode_history(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, HistoryFormatError) as exc:
        return RunResult(index, time.monotonic() - started, error=str(exc), source=str(path))
    report = check_history(history)
    seed = history.header.seed if history.header.seed is not None else index
    return RunResult(
        seed,
        time.monotonic() - started,
        history,
        report,
        incomplete=incomplete_reasons(history),
        source=str(path),
    )


def run_check(arguments: argparse.Namespace) -> int:
    check_outputs(arguments)
    results = [judge_file(path, index) for index, path in enumerate(arguments.histories)]
    for result in results:
        if result.error is not None:
            print(f"dynref check: {result.source}: {result.error}", file=sys.stderr)
    target = _target_name(results, "history")
    settings: dict[str, Any] = {"histories": [str(path) for path in arguments.histories]}
    write_reports(results, target, settings, arguments.junit, arguments.json, None)
    print(summary_text(results, target, len(results)).replace("dynref conform", "dynref check", 1))
    return exit_status(r.status for r in results)


SUBCOMMANDS = (
    Subcommand(
        "conform",
        "judge a store through its adapter: seeded workloads, faults, the black-box checks",
        add_conform_arguments,
        run_conform,
        description="Start the adapter program of a store (docs/conformance.md), or a local "
        "dynref cluster's (--target dynref), once per seed; run concurrent clients with "
        "unique values, inject faults through its hooks, heal, wait for the replicas to "
        "agree, take final reads and judge the History with the black-box checks. Exit 0 "
        "pass, 1 violation, 2 usage or adapter error, 3 incomplete, 130 interrupted.",
    ),
    Subcommand(
        "check",
        "judge recorded histories (JSON lines, spec/history.md) with the black-box checks",
        add_check_arguments,
        run_check,
        description="Read each History file strictly and judge it. Exit 0 pass, 1 violation, "
        "2 unreadable or malformed file, 3 incomplete (writes no final read could judge).",
    ),
)
