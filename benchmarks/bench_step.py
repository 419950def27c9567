"""Cost of one node step, by event kind, under a 5-node N=3 mixed get/put workload.

Run: .venv/bin/python benchmarks/bench_step.py [--ops 4000] [--runs 5] [--mode dvv]

The workload drives `dynref.node.step` the way tests/node_harness.py does: messages queue in
order and are delivered in waves, and every few waves every node gets a `Tick` 10 ms later (the
real runtime ticks every 10 ms), so timers fire while requests are in flight. Ten clients each
read a key, then write it back with the context the read returned (read-then-write), over 50
keys, entering the cluster at a node chosen at random (a put entering outside the key's
preference list is forwarded).

Each run plays the workload afresh and times every `step` call with the wall clock; only the
time inside `step` counts. It prints, per event kind, the mean microseconds per step and the
steps per second of the whole workload (medians of the runs). The collector is paused during a
run, as in timeit. The figures are only as quiet as the machine: other busy processes inflate
them. The effects digest hashes every step's effects: it must not change when the core gets
faster without changing behaviour. A last figure times a Tick at a node with 200 puts in
flight and no deadline due, which the runtime sends every 10 ms.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import statistics
import time
import timeit
from collections import defaultdict, deque
from collections.abc import Callable

from dynref.causality import Mode
from dynref.config import ClusterConfig
from dynref.messages import (
    ClientGet,
    ClientPut,
    ClientRequest,
    Event,
    GetOk,
    Receive,
    Reply,
    Request,
    Tick,
)
from dynref.node import boot, step
from dynref.ring import NodeSpec
from dynref.state import NodeState

NODES = tuple(NodeSpec(f"n{i}") for i in range(1, 6))
KEYS = tuple(b"key-%02d" % i for i in range(50))
CLIENTS = 10
WAVES_PER_TICK = 3
TICK_MS = 10
SEED = 20070101


def kind_of(event: Event) -> str:
    if isinstance(event, Receive):
        return type(event.message).__name__
    if isinstance(event, Request):
        return "Client" + type(event.request).__name__.removeprefix("Client")
    return type(event).__name__


class Workload:
    """One deterministic run: clients, a FIFO network, and the time of every step by kind."""

    def __init__(self, ops: int, mode: Mode) -> None:
        config = ClusterConfig(nodes=NODES, mode=mode, seed=SEED)
        self.states: dict[str, NodeState] = {
            spec.node_id: boot(config, spec.node_id, 0, 0).state for spec in NODES
        }
        self.random = random.Random(SEED)
        self.queue: deque[tuple[str, Event]] = deque()
        self.now = 0
        self.ops_left = ops
        self.next_request = 1
        self.client_of: dict[int, int] = {}
        self.idle = list(range(CLIENTS))
        self.reading: dict[int, bytes] = {}  # client -> the key it is reading, to write next
        self.spent: dict[str, list[int]] = defaultdict(list)  # event kind -> ns per step
        self.effects_hash = hashlib.blake2b(digest_size=16)
        self.results: dict[str, int] = defaultdict(int)

    def run_step(self, node: str, event: Event) -> None:
        state = self.states[node]
        started = time.perf_counter_ns()
        result = step(state, event)
        self.spent[kind_of(event)].append(time.perf_counter_ns() - started)
        self.states[node] = result.state
        self.effects_hash.update(repr((node, result.effects)).encode())
        ready = result.ready
        self.queue.extend((send.to, Receive(node, send.message)) for send in ready.sends)
        for reply in ready.replies:
            self.on_reply(reply)

    def on_reply(self, reply: Reply) -> None:
        self.results[type(reply.result).__name__] += 1
        client = self.client_of.pop(reply.request_id)
        if isinstance(reply.result, GetOk):
            # Read-then-write: put the key back with the context the read returned.
            key, context = self.reading.pop(client), reply.result.context
            value = b"v%d" % self.next_request
            self.issue(client, lambda rid: ClientPut(rid, key, value, context))
        else:
            self.idle.append(client)

    def issue(self, client: int, make: Callable[[int], ClientRequest]) -> None:
        request_id = self.next_request
        self.next_request += 1
        self.client_of[request_id] = client
        node = self.random.choice(NODES).node_id
        self.queue.append((node, Request(make(request_id))))

    def run(self) -> None:
        waves = 0
        while self.ops_left or self.queue or self.client_of:
            while self.idle and self.ops_left:
                client = self.idle.pop()
                key = self.random.choice(KEYS)
                self.reading[client] = key
                self.ops_left -= 1
                self.issue(client, lambda rid: ClientGet(rid, key))  # noqa: B023 (called now)
            for _ in range(len(self.queue)):
                node, event = self.queue.popleft()
                self.run_step(node, event)
            waves += 1
            if waves % WAVES_PER_TICK == 0 or not self.queue:
                self.now += TICK_MS
                for spec in NODES:
                    self.run_step(spec.node_id, Tick(self.now))


def play(ops: int, mode: Mode) -> Workload:
    workload = Workload(ops, mode)
    gc.collect()
    gc.disable()
    try:
        workload.run()
    finally:
        gc.enable()
    return workload


def quiet_tick_us(pending: int) -> float:
    """Microseconds of a Tick that fires nothing, at a node with `pending` puts in flight."""
    config = ClusterConfig(nodes=NODES, seed=SEED)
    state = boot(config, "n1", 0, 0).state
    request_id = 0
    while len(state.volatile.puts) < pending:
        request_id += 1
        put = ClientPut(request_id, b"pending-%d" % request_id, b"v", b"")
        state = step(state, Request(put)).state
    tick = Tick(state.volatile.now + 1)
    best = min(timeit.repeat(lambda: step(state, tick), number=2_000, repeat=5))
    return best / 2_000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000, help="read-then-write pairs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.DVV.value)
    args = parser.parse_args()

    runs = [play(args.ops, Mode(args.mode)) for _ in range(args.runs)]
    counts = {kind: len(times) for kind, times in runs[0].spent.items()}
    total_steps = sum(counts.values())
    totals = [sum(sum(times) for times in run.spent.values()) for run in runs]
    digests = {run.effects_hash.hexdigest() for run in runs}
    assert len(digests) == 1, "the workload is deterministic"

    print(f"5 nodes, N=3, {args.mode}, {args.ops} read-then-write pairs over {len(KEYS)} keys,")
    print(f"{CLIENTS} clients; median of {args.runs} runs")
    print(f"{'event':<16}{'steps':>8}{'us/step':>10}")
    for kind in sorted(counts, key=lambda k: -counts[k]):
        us = statistics.median(sum(run.spent[kind]) for run in runs) / counts[kind] / 1000
        print(f"{kind:<16}{counts[kind]:>8}{us:>10.1f}")
    print(f"{'all':<16}{total_steps:>8}{statistics.median(totals) / total_steps / 1000:>10.1f}")
    print(f"steps/s: {statistics.median(total_steps / (ns / 1e9) for ns in totals):,.0f}")
    print(f"a Tick that fires nothing, 200 puts pending: {quiet_tick_us(200):.1f} us (best of 5)")
    print(f"client results: {dict(sorted(runs[0].results.items()))}")
    print(f"effects digest: {digests.pop()}")


if __name__ == "__main__":
    main()
