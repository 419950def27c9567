"""`dynref search`: the bounded exhaustive search over a tiny cluster's schedules.

    dynref search --mode vclock                      # finds the lost update, prints it
    dynref search --mode dvv --n 3 --r 2 --w 2       # every schedule of that bound passes
    dynref search --mode lww --drops 1 --save traces

Exit status: 0 no violation within the bound, 1 a violation (its minimal trace is printed and,
with --save, written as JSON lines), 2 bad arguments, 3 the state limit cut the search short
(no violation found so far), 130 interrupted (the counts so far are printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dynref.causality import Mode
from dynref.explore.diagram import text_diagram
from dynref.explore.exhaustive import (
    DEFAULT_MAX_STATES,
    OPERATIONS,
    SearchProgress,
    SearchSettings,
    default_program,
    search,
)

from dynref_io.cli import EXIT_INCOMPLETE, EXIT_INTERRUPTED, UsageError
from dynref_io.cli.explore_runner import ProgressLines, save_trace
from dynref_io.cli.options import (
    add_check_flag,
    at_least,
    check_quorums,
    check_writable_dir,
    load_checks,
    quorum_flags,
)


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    quorum_flags(parser, nodes=3, n=2, r=1, w=2)
    parser.add_argument("--keys", type=at_least(1), default=1, help="keys k0.. (1)")
    parser.add_argument("--clients", type=at_least(1), default=2, help="clients c1.. (2)")
    parser.add_argument(
        "--ops",
        type=at_least(1),
        default=1,
        help="operations per client, ending with a put: 1 put, 2 get,put, ... (1)",
    )
    parser.add_argument(
        "--program", metavar="OP,OP", help="each client's operations instead, e.g. get,put"
    )
    parser.add_argument("--drops", type=at_least(0), default=0, help="messages lost, at most (0)")
    parser.add_argument(
        "--duplicates", type=at_least(0), default=0, help="messages duplicated, at most (0)"
    )
    parser.add_argument(
        "--timeouts",
        type=at_least(0),
        default=0,
        help="times a node's clock may jump by the request timeout (0)",
    )
    parser.add_argument("--crashes", type=at_least(0), default=0, help="crashes, at most (0)")
    parser.add_argument(
        "--join", action="store_true", help="a spare node joins through a seed, once (no)"
    )
    parser.add_argument(
        "--coordinators", metavar="NODE,NODE", help="nodes clients may send to (all)"
    )
    parser.add_argument(
        "--max-states",
        type=at_least(1),
        default=DEFAULT_MAX_STATES,
        help=f"stop after this many distinct states ({DEFAULT_MAX_STATES:,})",
    )
    parser.add_argument(
        "--all", action="store_true", help="explore everything, not only up to a violation"
    )
    parser.add_argument(
        "--save", type=Path, metavar="DIR", help="save the counterexample's trace here"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    add_check_flag(parser)


def search_settings(arguments: argparse.Namespace) -> SearchSettings:
    check_quorums(arguments)
    program = default_program(arguments.ops)
    if arguments.program:
        program = tuple(op.strip() for op in arguments.program.split(",") if op.strip())
        unknown = sorted(set(program) - set(OPERATIONS))
        if not program or unknown:
            raise UsageError(f"--program takes get, put and delete, got {arguments.program!r}")
    coordinators = None
    if arguments.coordinators:
        coordinators = tuple(n.strip() for n in arguments.coordinators.split(",") if n.strip())
        known = {f"n{index}" for index in range(1, arguments.nodes + 1)}
        if not coordinators or not set(coordinators) <= known:
            raise UsageError(f"--coordinators must name nodes among {sorted(known)}")
    return SearchSettings(
        mode=Mode(arguments.mode),
        nodes=arguments.nodes,
        n=arguments.n,
        r=arguments.r,
        w=arguments.w,
        keys=arguments.keys,
        clients=arguments.clients,
        program=program,
        drops=arguments.drops,
        duplicates=arguments.duplicates,
        timeouts=arguments.timeouts,
        crashes=arguments.crashes,
        joins=arguments.join,
        coordinators=coordinators,
        max_states=arguments.max_states,
        stop_at_first=not arguments.all,
        checks=load_checks(arguments.check),
    )


def run_search(arguments: argparse.Namespace) -> int:
    settings = search_settings(arguments)
    if arguments.save is not None:
        check_writable_dir(arguments.save, "--save")
    faults = (
        f"drops {settings.drops}, duplicates {settings.duplicates}, "
        f"timeouts {settings.timeouts}, crashes {settings.crashes}"
        + (", a join" if settings.joins else "")
    )
    print(
        f"dynref search: {settings.mode.value}, {settings.nodes} nodes N={settings.n} "
        f"R={settings.r} W={settings.w}, {settings.keys} key(s), {settings.clients} clients "
        f"each running {','.join(settings.program)}; {faults}"
    )
    started = time.perf_counter()
    latest: list[SearchProgress] = []
    lines = ProgressLines(sys.stderr) if not sys.stderr.isatty() else None

    def progress(now: SearchProgress) -> None:
        latest[:] = [now]
        if lines is not None:
            lines.maybe(lambda seconds: f"search: {describe(now)}, {seconds:.0f} s")

    try:
        report = search(settings, progress)
    except KeyboardInterrupt:
        seconds = time.perf_counter() - started
        so_far = describe(latest[0]) if latest else "nothing counted yet"
        print(f"interrupted after {seconds:.1f} s; the search so far: {so_far}")
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - started
    print(f"{'states visited':<22}{report.states_visited:,}")
    print(f"{'distinct states':<22}{report.distinct_states:,}")
    print(f"{'judged (quiesced)':<22}{report.judged_states:,}")
    print(f"{'deepest path':<22}{report.max_depth} actions")
    print(f"{'time':<22}{seconds:.2f} s")
    print(f"{'symmetry reduced':<22}{report.symmetry}")
    print(f"{'verdict':<22}{report.verdict}")
    saved = None
    example = report.counterexample
    if example is not None:
        print(f"minimal counterexample: {example.depth} actions, then the liveness phase\n")
        sys.stdout.write(text_diagram(example.trace, example.violations))
        if arguments.save is not None:
            invariant = example.violations[0].invariant
            name = f"search-{settings.mode.value}-{invariant}"
            saved = str(save_trace(arguments.save, name, example.trace))
            print(f"saved {saved}")
    elif report.verdict == "incomplete":
        print("the state limit cut the search short: raise --max-states or shrink the bound")
    if arguments.json:
        document = {
            "mode": settings.mode.value,
            "states_visited": report.states_visited,
            "distinct_states": report.distinct_states,
            "judged_states": report.judged_states,
            "max_depth": report.max_depth,
            "seconds": round(seconds, 3),
            "verdict": report.verdict,
            "violations": [
                {"invariant": v.invariant, "message": v.message, "trace": saved}
                for v in (example.violations if example else ())
            ],
            "counterexample_length": None if example is None else example.depth,
        }
        print(json.dumps(document, separators=(",", ":")))
    if example is not None:
        return 1
    return EXIT_INCOMPLETE if report.verdict == "incomplete" else 0


def describe(progress: SearchProgress) -> str:
    return (
        f"{progress.states_visited:,} states visited, {progress.distinct_states:,} distinct, "
        f"{progress.judged_states:,} judged, depth {progress.max_depth}, "
        f"{progress.queued:,} queued"
    )
