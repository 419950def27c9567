"""Load balance of the ring's token strategies (the paper's Figure 8) and lookup throughput.

Run: .venv/bin/python benchmarks/bench_ring.py

(a) Figure 8: S = 30 equal-capacity nodes; for T tokens per node, strategy 1 (T random tokens per
    node) and strategy 3 (Q = S * T equal partitions). Load is the share of the ring a node owns
    as first owner, measured two ways: exactly over the whole 2^128 key space, and over a fixed
    sample of 100,000 keys (`key-0` .. `key-99999`). Efficiency = mean load / max load.
(b) Lookups per second of `preference_list(key, 3)` and `sloppy_targets(key, 3, down)` on a
    30-node ring with 256 tokens per node, over 100,000 distinct keys; median of 5 runs.
(c) Join movement: the share of the key space (strategy 1) or of the ranges (strategy 3) whose
    first owner changes when one node joins S nodes, against the minimum 1/(S+1).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable

from dynref.ring import (
    NodeSpec,
    Ring,
    RingConfig,
    Strategy,
    build_ring,
    first_index_at_or_after,
    key_position,
)

NODES = 30
TOKENS_PER_NODE = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SAMPLE_KEYS = [b"key-%d" % i for i in range(100_000)]
RUNS = 5
LOOKUP_TOKENS_PER_NODE = 256
JOIN_SIZES = (5, 10, 20, 30)
JOIN_RANGES_PER_NODE = 32


def members(count: int) -> list[NodeSpec]:
    return [NodeSpec(f"node-{i:02d}") for i in range(count)]


def exact_efficiency(ring: Ring) -> float:
    owned = [size for _node, size in ring.owned_key_space()]
    return statistics.fmean(owned) / max(owned)


def sampled_efficiency(ring: Ring, positions: list[int]) -> float:
    counts = Counter(ring.owners[first_index_at_or_after(ring.tokens, p)] for p in positions)
    loads = [counts.get(node_id, 0) for node_id in ring.node_ids()]
    return statistics.fmean(loads) / max(loads)


def median_seconds(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def figure_8() -> None:
    print(f"(a) Load-balance efficiency (mean load / max load), S = {NODES} nodes")
    print("    exact = share of the 2^128 key space; sample = share of 100,000 fixed keys")
    print(f"{'T/node':>7} {'tokens':>7} | {'s1 exact':>9} {'s1 sample':>9} |", end="")
    print(f" {'s3 exact':>9} {'s3 sample':>9} | {'s3 build s':>10}")
    positions = [key_position(key) for key in SAMPLE_KEYS]
    for per_node in TOKENS_PER_NODE:
        random_tokens = build_ring(members(NODES), RingConfig(tokens_per_capacity=per_node))
        start = time.perf_counter()
        partitions = build_ring(
            members(NODES),
            RingConfig(Strategy.EQUAL_PARTITIONS, partitions=NODES * per_node),
        )
        build_seconds = time.perf_counter() - start
        print(
            f"{per_node:>7} {NODES * per_node:>7} |"
            f" {exact_efficiency(random_tokens):>9.3f}"
            f" {sampled_efficiency(random_tokens, positions):>9.3f} |"
            f" {exact_efficiency(partitions):>9.3f}"
            f" {sampled_efficiency(partitions, positions):>9.3f} | {build_seconds:>10.2f}"
        )


def lookups() -> None:
    print(f"\n(b) Lookups per second, S = {NODES}, {LOOKUP_TOKENS_PER_NODE} tokens per node,")
    print(f"    {len(SAMPLE_KEYS):,} keys per run, median of {RUNS} runs")
    for strategy in Strategy:
        config = RingConfig(
            strategy,
            tokens_per_capacity=LOOKUP_TOKENS_PER_NODE,
            partitions=NODES * LOOKUP_TOKENS_PER_NODE,
        )
        build = median_seconds(lambda config=config: build_ring(members(NODES), config))
        ring = build_ring(members(NODES), config)
        down = frozenset({"node-00", "node-07"})
        preference = median_seconds(
            lambda ring=ring: [ring.preference_list(k, 3) for k in SAMPLE_KEYS]
        )
        sloppy = median_seconds(
            lambda ring=ring, down=down: [ring.sloppy_targets(k, 3, down) for k in SAMPLE_KEYS]
        )
        print(
            f"    {strategy.value:<17} preference_list {len(SAMPLE_KEYS) / preference:>10,.0f}/s"
            f"   sloppy_targets (2 down) {len(SAMPLE_KEYS) / sloppy:>10,.0f}/s"
            f"   build_ring {build * 1000:>7.1f} ms"
        )


def join_movement() -> None:
    print("\n(c) Share moved by one join, as a multiple of the minimum 1/(S+1)")
    for size in JOIN_SIZES:
        before = build_ring(members(size), RingConfig(tokens_per_capacity=64))
        after = before.with_node(NodeSpec("newcomer"))
        random_moved = dict(after.owned_key_space())["newcomer"] / 2**128
        config = RingConfig(Strategy.EQUAL_PARTITIONS, partitions=(size + 1) * JOIN_RANGES_PER_NODE)
        before = build_ring(members(size), config)
        after = before.with_node(NodeSpec("newcomer"))
        moved = sum(a != b for a, b in zip(before.owners, after.owners, strict=True))
        ranges_moved = moved / len(before.owners)
        print(
            f"    S = {size:>2}: strategy 1 (T=64): the newcomer takes"
            f" {random_moved * (size + 1):.2f}x of the key space;"
            f" strategy 3 (Q = {JOIN_RANGES_PER_NODE}(S+1)): {ranges_moved * (size + 1):.2f}x"
            " of the ranges change owner"
        )


def main() -> None:
    figure_8()
    lookups()
    join_movement()


if __name__ == "__main__":
    main()
