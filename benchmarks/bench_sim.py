"""Simulator throughput: delivered messages per second on one core, beside the loop's floor.

    python benchmarks/bench_sim.py                 # 5 nodes, N=3 R=2 W=2, dvv, median of 5 runs
    python benchmarks/bench_sim.py --mode vclock --actions 20000 --runs 3
    python benchmarks/bench_sim.py --profile       # also the top costs of one real run

A fixed schedule is generated once (8 clients on 32 keys, each alternating a get and a put of
the key it read, at random nodes; messages delivered in random order; every clock ticking now
and then) and then timed
twice through the same harness, `cluster = cluster.apply(action)` per action:

- real: the node's `step` does the protocol work;
- no-op: the node's `step` is replaced by an identity step that returns the state it was given
  and the effects the real step produced at that point (recorded beforehand), so the harness
  routes exactly the same messages and replies with no protocol work at all.

Times are the thread's CPU time (one core's work, whatever else runs on the machine).
real / no-op is the share of the loop's floor the simulator reaches: 1.0 would mean the node
logic costs nothing. Figures and method: docs/benchmarks.md (Simulator and explorers).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pkgutil
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dynref import sim
from dynref.causality import Mode
from dynref.explore.draws import Dice
from dynref.node import Step
from dynref.node import step as real_step
from dynref.sim import Action, Cluster, Deliver, Get, Put, TickAll, explorer_config

CLIENTS = tuple(f"c{index}" for index in range(1, 9))
KEYS = tuple(f"k{index}".encode() for index in range(32))
REQUEST_PER_MILLE = 300
TICK_EVERY = 50
TARGET = 50_000


def workload(mode: Mode, actions: int, seed: int) -> list[Action]:
    """A mixed get/put schedule of `actions` actions for a 5-node N=3 cluster.

    Each client alternates a get of a random key and a put of the key it just read (with the
    read's context: a read-modify-write), so gets and puts are half each, and sibling sets stay
    as small as the clients' real concurrency makes them.
    """
    cluster = Cluster.start(explorer_config(mode, 5, 3, 2, 2), CLIENTS)
    dice = Dice("bench-sim", seed)
    nodes = cluster.node_ids()
    last_read: dict[str, bytes] = {}
    schedule: list[Action] = []
    for index in range(actions):
        idle = [c for c in CLIENTS if not cluster.client_busy(c)]
        action: Action
        if index % TICK_EVERY == TICK_EVERY - 1:
            action = TickAll(10)
        elif idle and (not cluster.in_flight or dice.chance(REQUEST_PER_MILLE)):
            client = dice.pick(idle)
            key = last_read.pop(client, None)
            if key is None:
                key = dice.pick(KEYS)
                last_read[client] = key
                action = Get(client, dice.pick(nodes), key)
            else:
                action = Put(client, dice.pick(nodes), key)
        elif cluster.in_flight:
            action = Deliver(dice.pick(cluster.message_ids()))
        else:
            action = TickAll(10)
        cluster = cluster.apply(action)
        schedule.append(action)
    return schedule


def run(mode: Mode, schedule: list[Action]) -> tuple[float, int]:
    """CPU seconds of this thread to apply the schedule action by action, and the messages
    delivered. CPU time, not the wall clock: the target is per core, and on a machine shared
    with other jobs the wall clock measures the scheduler's share as much as the code."""
    cluster = Cluster.start(explorer_config(mode, 5, 3, 2, 2), CLIENTS)
    started = time.thread_time()
    for action in schedule:
        cluster = cluster.apply(action)
    return time.thread_time() - started, cluster.counters.delivered


def _step_holders() -> list[Any]:
    """The simulator modules that call the node's `step` (found, not hard-coded)."""
    holders = []
    for info in pkgutil.iter_modules(sim.__path__, "dynref.sim."):
        module = importlib.import_module(info.name)
        if getattr(module, "step", None) is real_step:
            holders.append(module)
    return holders


@contextmanager
def patched_step(replacement: Callable[..., Step]) -> Iterator[None]:
    holders = _step_holders()
    if not holders:
        raise RuntimeError("no simulator module calls dynref.node.step")
    for module in holders:
        module.step = replacement  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in holders:
            module.step = real_step  # type: ignore[attr-defined]


def record_effects(mode: Mode, schedule: list[Action]) -> list[tuple[Any, ...]]:
    recorded: list[tuple[Any, ...]] = []

    def recording_step(state: Any, event: Any) -> Step:
        result = real_step(state, event)
        recorded.append(result.effects)
        return result

    with patched_step(recording_step):
        run(mode, schedule)
    return recorded


def run_noop(mode: Mode, schedule: list[Action], recorded: list[tuple[Any, ...]]) -> float:
    calls = iter(recorded)

    def identity_step(state: Any, _event: Any) -> Step:
        return Step(state, next(calls))

    with patched_step(identity_step):
        seconds, _ = run(mode, schedule)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=[m.value for m in Mode], default="dvv")
    parser.add_argument("--actions", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the top costs of a run")
    arguments = parser.parse_args(argv)
    mode = Mode(arguments.mode)
    schedule = workload(mode, arguments.actions, arguments.seed)
    recorded = record_effects(mode, schedule)
    real_times, noop_times = [], []
    delivered = 0
    for _ in range(arguments.runs):
        seconds, delivered = run(mode, schedule)
        real_times.append(seconds)
        noop_times.append(run_noop(mode, schedule, recorded))
    real = delivered / statistics.median(real_times)
    floor = delivered / statistics.median(noop_times)
    print(f"simulator, {mode.value}, 5 nodes N=3 R=2 W=2, {len(CLIENTS)} clients, {len(KEYS)} keys")
    print(f"schedule: {len(schedule):,} actions, {delivered:,} messages delivered")
    print(f"real step:  {real:>10,.0f} delivered messages/s (median of {arguments.runs})")
    print(f"no-op step: {floor:>10,.0f} delivered messages/s (median of {arguments.runs})")
    print(f"ratio real/no-op: {real / floor:.2f}   target: {TARGET:,}/s real")
    if arguments.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(mode, schedule)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
