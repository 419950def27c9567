"""The explorer's subcommands: `explore` (seeded swarm runs), `replay` (re-execute a trace and
draw it) and `search` (bounded exhaustive search).

    dynref explore --mode vclock --seeds 0:300 --jobs 2 --json
    dynref replay traces/vclock-seed0-INV-ACK-1.jsonl --diagram html --out lost-update.html
    dynref search --mode dvv --n 3 --r 2 --w 2 --drops 1

Exit status: 0 nothing violated, 1 a violation (explore, search) or a violation reproduced
(replay), 2 bad arguments, an unreadable trace or one that does not replay, 3 a search cut
short by its state limit, 130 interrupted (explore and search print what they found so far).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dynref.causality import Mode
from dynref.explore.diagram import html_diagram, text_diagram
from dynref.explore.judge import judge
from dynref.explore.summary import SwarmTally, format_summary, summary_json
from dynref.explore.swarm import DEFAULT_SCHEDULE_STEPS, SwarmSettings
from dynref.sim import DEFAULT_QUIESCE_BOUND, InvalidActionError, fingerprint, from_jsonl, replay

from dynref_io.cli import EXIT_INTERRUPTED, Subcommand, UsageError
from dynref_io.cli.explore_runner import ProgressBar, run_seeds, save_trace, shrink_all
from dynref_io.cli.options import (
    add_check_flag,
    at_least,
    check_quorums,
    check_writable_dir,
    check_writable_file,
    load_checks,
    quorum_flags,
    seed_range,
)
from dynref_io.cli.search import add_search_arguments, run_search

DEFAULT_TRACE_DIR = Path("traces")


# ---------------------------------------------------------------- explore


def add_explore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seeds",
        type=seed_range,
        default=range(0, 100),
        metavar="A:B",
        help="run seeds A..B-1 (default 0:100)",
    )
    quorum_flags(parser, nodes=5, n=3, r=2, w=2)
    parser.add_argument(
        "--steps",
        type=at_least(1),
        default=DEFAULT_SCHEDULE_STEPS,
        help=f"actions per schedule before the liveness phase ({DEFAULT_SCHEDULE_STEPS})",
    )
    parser.add_argument(
        "--quiesce-bound",
        type=at_least(1),
        default=DEFAULT_QUIESCE_BOUND,
        help="tick rounds the liveness phase may take (INV-CONV-1)",
    )
    parser.add_argument(
        "--disk-loss", action="store_true", help="also draw disk losses (judged by INV-ACK-2)"
    )
    parser.add_argument(
        "--membership",
        action="store_true",
        help="also draw a spare node's join and a member's leave (SPEC section 12)",
    )
    parser.add_argument(
        "--jobs", type=at_least(1), default=1, metavar="K", help="worker processes (1)"
    )
    parser.add_argument(
        "--save",
        type=Path,
        default=DEFAULT_TRACE_DIR,
        metavar="DIR",
        help="where shrunk counterexamples go (./traces)",
    )
    parser.add_argument(
        "--shrink",
        type=at_least(0),
        default=1,
        metavar="COUNT",
        help="failing seeds to shrink and save per invariant (1)",
    )
    parser.add_argument(
        "--require-sometimes",
        action="store_true",
        help="also fail when a sometimes-property never fired",
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line summarising the run"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_check_flag(parser)


def run_explore(arguments: argparse.Namespace) -> int:
    check_quorums(arguments)
    seeds: range = arguments.seeds
    settings = SwarmSettings(
        mode=Mode(arguments.mode),
        nodes=arguments.nodes,
        n=arguments.n,
        r=arguments.r,
        w=arguments.w,
        schedule_steps=arguments.steps,
        quiesce_bound=arguments.quiesce_bound,
        disk_loss=arguments.disk_loss,
        membership=arguments.membership,
        checks=load_checks(arguments.check),
    )
    print(
        f"dynref explore: {settings.mode.value}, seeds {seeds.start}:{seeds.stop}, "
        f"{settings.nodes} nodes N={settings.n} R={settings.r} W={settings.w}, "
        f"{settings.schedule_steps} steps per schedule"
        + (", disk loss" if settings.disk_loss else "")
        + (", joins and leaves" if settings.membership else "")
        + f", {arguments.jobs} process(es)"
    )
    if arguments.shrink:
        check_writable_dir(arguments.save, "--save")
    tally = SwarmTally()
    progress = ProgressBar(len(seeds), enabled=not arguments.quiet)
    started = time.perf_counter()
    try:
        for outcome in run_seeds(seeds, settings, arguments.jobs):
            tally.add(outcome)
            progress.advance(bool(outcome.violations))
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted after {progress.done} of {len(seeds)} seeds; the summary so far:")
        print(format_summary(tally.summary(), time.perf_counter() - started))
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - started
    progress.close()
    summary = tally.summary()
    print(format_summary(summary, seconds))
    saved: dict[tuple[int, str], str] = {}
    to_shrink = [
        (seed, inv) for inv, seeds_of in summary.failing for seed in seeds_of[: arguments.shrink]
    ]
    if to_shrink:
        print(f"shrinking {len(to_shrink)} counterexample(s)...", file=sys.stderr)
    for example in shrink_all(to_shrink, settings, arguments.jobs):
        name = f"{settings.mode.value}-seed{example.seed}-{example.invariant}"
        path = save_trace(arguments.save, name, example.trace)
        saved[(example.seed, example.invariant)] = str(path)
        how = "shrunk" if example.shrunk else "not shrunk"
        # A shrunk trace ends with the liveness phase; an unshrunk one keeps the degraded phase
        # and its quiesce too (the shrinker replays the schedule and the liveness phase only).
        after = "with the liveness phase" if example.shrunk else "in the whole run"
        print(
            f"{'saved':<22}{path} ({how}: {example.schedule} of {example.original_schedule} "
            f"schedule actions, {len(example.trace.actions)} {after})"
        )
        print(f"{'':<22}replay with: dynref replay {path}")
    never = summary.never_fired()
    if never:
        print(
            f"warning: sometimes-properties that never fired: {', '.join(never)}", file=sys.stderr
        )
    if arguments.json:
        document = summary_json(summary)
        document.update(
            mode=settings.mode.value,
            seeds=[seeds.start, seeds.stop],
            seconds=round(seconds, 3),
            events_per_second=round(summary.events / seconds, 1) if seconds else 0.0,
            violations=[
                {"invariant": inv, "seed": seed, "trace": saved.get((seed, inv))}
                for inv, seeds_of in summary.failing
                for seed in seeds_of
            ],
        )
        print(json.dumps(document, separators=(",", ":")))
    failed = summary.failed or (arguments.require_sometimes and bool(never))
    return 1 if failed else 0


# ---------------------------------------------------------------- replay


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", type=Path, help="a trace file (JSON lines)")
    parser.add_argument(
        "--diagram",
        choices=["text", "html", "none"],
        default="text",
        help="how to show the run (text)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write the diagram here instead of to stdout"
    )
    add_check_flag(parser)


def run_replay(arguments: argparse.Namespace) -> int:
    try:
        trace = from_jsonl(arguments.trace.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {arguments.trace}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{arguments.trace} is not a dynref trace: {exc}") from exc
    if arguments.out is not None:
        check_writable_file(arguments.out, "--out")
    try:
        cluster = replay(trace)
    except InvalidActionError as exc:
        raise UsageError(f"{arguments.trace} does not replay (edited by hand?): {exc}") from None
    verdict = judge(cluster, load_checks(arguments.check))
    found = verdict.invariants
    same = cluster.step == len(trace.actions) and (
        trace.observations.fingerprint == fingerprint(cluster)
    )
    if arguments.diagram != "none":
        render = html_diagram if arguments.diagram == "html" else text_diagram
        drawing = render(trace, verdict.violations)
        if arguments.out is None:
            sys.stdout.write(drawing)
        else:
            arguments.out.write_text(drawing, encoding="utf-8")
            print(f"diagram written to {arguments.out}")
    print(
        f"replayed {len(trace.actions)} actions: the final state "
        + ("matches the recording bit for bit" if same else "DIFFERS from the recording")
    )
    recorded = set(trace.violations)
    if found:
        again = [inv for inv in found if inv in recorded]
        new = [inv for inv in found if inv not in recorded]
        if again:
            print(f"violation reproduced: {', '.join(again)}")
        if new:
            print(f"violation not in the recording: {', '.join(new)}")
        return 1
    if recorded:
        print(f"recorded violation did not reproduce: {', '.join(sorted(recorded))}")
    else:
        print("no violation")
    return 0


SUBCOMMANDS = (
    Subcommand(
        "explore",
        "run seeded swarm schedules in the simulator and check every invariant",
        add_explore_arguments,
        run_explore,
        description="Each seed draws its own fault profile and workload, runs a schedule, "
        "then a liveness phase, then every checker. Violations are shrunk and saved.",
    ),
    Subcommand(
        "replay",
        "re-execute a saved trace and draw it as a sequence diagram",
        add_replay_arguments,
        run_replay,
        description="Run a trace saved by explore or search again, action by action, check "
        "that it ends in the recorded state, judge it with every checker, and draw it as a "
        "text or HTML sequence diagram.",
    ),
    Subcommand(
        "search",
        "explore every schedule of a tiny cluster (bounded exhaustive search)",
        add_search_arguments,
        run_search,
        description="Breadth-first search over every interleaving of a tiny cluster's "
        "messages, client operations and the faults the bound allows, judging every quiesced "
        "state. Exit 0: no violation within the bound; 1: a violation (printed, --save keeps "
        "it); 3: the state limit cut the search short.",
    ),
)
