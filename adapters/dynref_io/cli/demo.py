"""The `demo` subcommand: run the demo of `dynref_io.demo.run` and print its verdict."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from dynref_io.cli import EXIT_INTERRUPTED, CommandError, Subcommand, UsageError
from dynref_io.cli.options import check_writable_dir
from dynref_io.client.native import DynrefError
from dynref_io.demo.run import (
    CUT_OFF,
    HISTORY_FILE,
    LEAVER,
    NODES,
    VICTIM,
    DemoPlan,
    DemoReport,
    run_demo,
)
from dynref_io.node.config_file import ConfigError
from dynref_io.node.local_cluster import CLUSTER_FILE, ClusterError

MAX_PHASE_SECONDS = 60.0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoPlan()
    parser.add_argument(
        "--dir",
        type=Path,
        help="where to put the cluster, kept afterwards (default: a temporary directory, "
        "removed at the end)",
    )
    parser.add_argument(
        "--clients", type=int, default=defaults.clients, help="concurrent clients (default 6)"
    )
    parser.add_argument(
        "--keys", type=int, default=defaults.keys, help="size of the shared key set (default 8)"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of the clients' choices"
    )
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=defaults.phase_seconds,
        metavar="SECONDS",
        help=f"length of each phase of the fault schedule (default {defaults.phase_seconds})",
    )


def plan_from(arguments: argparse.Namespace) -> DemoPlan:
    if arguments.clients < 1:
        raise UsageError(f"--clients must be at least 1, got {arguments.clients}")
    if arguments.keys < 1:
        raise UsageError(f"--keys must be at least 1, got {arguments.keys}")
    seconds = arguments.phase_seconds
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_PHASE_SECONDS:
        raise UsageError(f"--phase-seconds must be in (0, {MAX_PHASE_SECONDS:g}], got {seconds}")
    if arguments.dir is not None and arguments.dir.exists() and not arguments.dir.is_dir():
        raise UsageError(f"--dir {arguments.dir} is not a directory")
    if arguments.dir is not None and (arguments.dir / CLUSTER_FILE).exists():
        raise UsageError(f"{arguments.dir} already holds a cluster: give a new directory")
    if arguments.dir is not None:
        check_writable_dir(arguments.dir, "--dir")
    return DemoPlan(
        clients=arguments.clients,
        keys=arguments.keys,
        seed=arguments.seed,
        phase_seconds=seconds,
    )


def _as_interrupt(_signum: int, _frame: object) -> None:
    os.kill(os.getpid(), signal.SIGINT)


def run_demo_command(arguments: argparse.Namespace) -> int:
    plan = plan_from(arguments)
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr, flush=True)

    # SIGTERM takes the path of Ctrl-C: the nodes are stopped and the scratch directory
    # removed, rather than the nodes (in sessions of their own) left running.
    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        if arguments.dir is not None:
            report = run_demo(arguments.dir, plan, say)
        else:
            with tempfile.TemporaryDirectory(prefix="dynref-demo-") as scratch:
                report = run_demo(Path(scratch), plan, say)
    except (ClusterError, ConfigError, DynrefError, OSError) as exc:
        raise CommandError(f"the demo could not run: {exc}") from None
    except KeyboardInterrupt:
        say("interrupted: the nodes are stopped")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(verdict_text(report, kept=arguments.dir is not None))
    return 0 if report.passed else 1


def verdict_text(report: DemoReport, kept: bool) -> str:
    counters = report.counters
    convergence = report.convergence
    converged = (
        "did not converge"
        if convergence.settled_seconds is None
        else f"{convergence.settled_seconds:.1f} s after the workload stopped, when the last "
        "repair was "
        f"seen (confirmed by replica reads at {convergence.confirmed_seconds:.1f} s)"
    )
    rows = [
        ("cluster", f"{NODES} nodes, N=3 R=2 W=2, dvv, SQLite; {VICTIM} killed "
                    f"(SIGKILL) and restarted, {CUT_OFF} cut off and healed, n{NODES + 1} "
                    f"added, {LEAVER} removed"),
        ("operations", f"{report.operations:,} ({report.workload_operations:,} by the "
                       f"workload, {report.operations - report.workload_operations} final reads)"),
        ("acknowledged writes", f"{report.acknowledged_writes:,} ({report.writes_without_effect:,} "
                                "unacknowledged writes certainly took no effect)"),
        ("lost writes", f"{report.lost_writes}"),
        ("siblings seen", f"{report.reads_with_siblings:,} reads returned 2 or more "
                          f"(largest: {report.largest_sibling_set})"),
        ("hints handed off", f"{counters['hints_handed_off']:,} "
                             f"({counters['hinted_writes']:,} writes were stored as hints)"),
        ("keys repaired by anti-entropy", f"{counters['antientropy_keys_repaired']:,} "
                                          f"(in {counters['antientropy_exchanges']:,} exchanges)"),
        ("read repairs", f"{counters['read_repairs']:,}"),
        ("time to converge", converged),
        ("wall time", f"{report.wall_seconds:.1f} s"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = ["dynref demo", *(f"  {name.ljust(width)}  {value}" for name, value in rows)]
    lines.append(
        "  counters are summed over each node's lifetimes (the killed node's read just "
        "before the kill)"
    )
    if kept:
        lines.append(f"  the stopped cluster is in {report.directory}")
        lines.append(f"  its history (`dynref check` judges it): {report.directory / HISTORY_FILE}")
    lines += [f"  note: {note}" for note in report.notes]
    lines += [f"  FAILED: {problem}" for problem in report.problems]
    outcome = "PASS" if report.passed else "FAIL"
    lines.append(
        f"verdict: {outcome}: {report.lost_writes} lost writes of "
        f"{report.acknowledged_writes:,} acknowledged, {len(report.problems)} problems"
    )
    return "\n".join(lines)


SUBCOMMANDS = (
    Subcommand(
        "demo",
        "run a 5-node local cluster under faults and check that no write is lost",
        add_demo_arguments,
        run_demo_command,
        description="Start 5 local node processes (N=3, R=2, W=2, dvv, SQLite), run 6 "
        "concurrent clients on shared keys while one node is killed and restarted and "
        "another cut off and healed, then a sixth node joins and another leaves (handing its "
        "keys to their new owners), wait for convergence, then check the history: no "
        "acknowledged write lost, no value invented. Exit 0 when every check passes, 1 "
        "otherwise; Ctrl-C or SIGTERM stops the nodes and exits 130.",
    ),
)
