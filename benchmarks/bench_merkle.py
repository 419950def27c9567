"""Wire cost of Merkle anti-entropy versus a full exchange, and the cost of keeping the tree.

Run: .venv/bin/python benchmarks/bench_merkle.py

Two replicas hold n = 100,000 keys (16-byte keys, 16-byte digests) and differ in d keys: a third
changed on B, a third missing on B, a third present on B only. `simulate_exchange` runs the
top-down protocol of dynref.merkle and counts what crosses the wire. The naive exchange sends
every (key, digest) pair: n * (16 + 16) bytes. The target is d records plus d * log2(n) hashes,
with a record of 116 bytes (a 16-byte key and a 100-byte value); the goal is actual/target <= 2.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time

from dynref.merkle import HASH_BYTES, depth_for
from dynref.merkle_exchange import simulate_exchange
from dynref.merkle_tree import MerkleTree, build_tree

N = 100_000
KEY_BYTES = 16
DIGEST_BYTES = 16
VALUE_BYTES = 100
RECORD_BYTES = KEY_BYTES + VALUE_BYTES
DIFFS = (1, 10, 100, 1_000)
RUNS = 5
TRIALS = 10
UPDATES_PER_RUN = 1_000


def key(i: int) -> bytes:
    return hashlib.md5(b"key/%d" % i).digest()


def digest(i: int, generation: int = 0) -> bytes:
    return hashlib.md5(b"digest/%d/%d" % (i, generation)).digest()


def diverge(tree: MerkleTree, d: int, offset: int) -> MerkleTree:
    """Return `tree` changed in d keys: changed, removed and added in turn (spread by stride)."""
    stride = N // d
    for j in range(d):
        i = (offset + j * stride) % N
        kind = j % 3
        if kind == 0:
            tree = tree.update(key(i), digest(i, 1))
        elif kind == 1:
            tree = tree.update(key(i), None)
        else:
            tree = tree.update(key(N + i), digest(N + i))
    return tree


def main() -> None:
    depth = depth_for(N)
    entries = [(key(i), digest(i)) for i in range(N)]

    build_times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        a = build_tree(entries)
        build_times.append(time.perf_counter() - start)
    update_times = []
    for run in range(RUNS):
        tree = a
        start = time.perf_counter()
        for i in range(UPDATES_PER_RUN):
            tree = tree.update(key(i), digest(i, 2 + run))
        update_times.append((time.perf_counter() - start) / UPDATES_PER_RUN)

    naive = N * (KEY_BYTES + DIGEST_BYTES)
    print(f"n = {N:,} keys, depth = {depth} ({2**depth:,} buckets), hash = {HASH_BYTES} bytes")
    print(f"record = {RECORD_BYTES} bytes (key {KEY_BYTES} + value {VALUE_BYTES})")
    print(f"naive full exchange = n * (key + digest) = {naive:,} bytes")
    print()
    print(f"each row: mean of {TRIALS} trials with different differing keys")
    header = (
        f"{'d':>6} {'rounds':>6} {'hashes':>7} {'leaf ent.':>9} {'index B':>8} "
        f"{'tree B':>9} {'total B':>9} {'naive/total':>11} {'target B':>9} "
        f"{'total/target':>12} {'(max)':>6}"
    )
    print(header)
    print("-" * len(header))
    for d in DIFFS:
        costs = []
        for trial in range(TRIALS):
            b = diverge(a, d, offset=trial * 7_919)
            cost = simulate_exchange(
                a,
                b,
                depth,
                key_bytes=KEY_BYTES,
                digest_bytes=DIGEST_BYTES,
                record_bytes=RECORD_BYTES,
            )
            assert len(cost.differing_keys) == d, (d, len(cost.differing_keys))
            costs.append(cost)
        target = d * RECORD_BYTES + d * math.log2(N) * HASH_BYTES
        total = statistics.mean(c.bytes_on_wire for c in costs)
        tree_bytes = total - d * RECORD_BYTES
        worst = max(c.bytes_on_wire for c in costs) / target
        print(
            f"{d:>6,} {statistics.mean(c.rounds for c in costs):>6.0f} "
            f"{statistics.mean(c.hashes_sent for c in costs):>7,.0f} "
            f"{statistics.mean(c.leaf_entries_sent for c in costs):>9,.1f} "
            f"{statistics.mean(c.index_bytes for c in costs):>8,.0f} "
            f"{tree_bytes:>9,.0f} {total:>9,.0f} {naive / total:>10,.0f}x {target:>9,.0f} "
            f"{total / target:>12.2f} {worst:>6.2f}"
        )
    print()
    print(
        f"build_tree, {N:,} keys: median {statistics.median(build_times):.3f} s "
        f"(min {min(build_times):.3f}, max {max(build_times):.3f}, {RUNS} runs)"
    )
    print(
        f"one incremental update: median {statistics.median(update_times) * 1e6:.1f} us "
        f"({RUNS} runs of {UPDATES_PER_RUN:,} updates on the {N:,}-key tree)"
    )


if __name__ == "__main__":
    main()
