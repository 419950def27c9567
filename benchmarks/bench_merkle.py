"""Merkle anti-entropy: its wire cost against a full exchange, and the cost of keeping the trees.

    .venv/bin/python benchmarks/bench_merkle.py [model]
    .venv/bin/python benchmarks/bench_merkle.py range [--merkle-depth 0] [--keys 1000000]
        [--runs 3] [--diffs 10,100,1000]

`model` (the default): two trees hold n = 100,000 keys (16-byte keys, 16-byte digests) and differ
in d keys: a third changed on B, a third missing on B, a third present on B only.
`simulate_exchange` runs the top-down protocol and counts what crosses the wire. The naive
exchange sends every (key, digest) pair: n * (16 + 16) bytes. The target is d records plus
d * log2(n) hashes, with a record of 116 bytes (a 16-byte key and a 100-byte value); the goal is
actual/target <= 2.

`range`: two nodes (N=2, dvv) replicate one range of `--keys` keys (16-byte keys, 100-byte
values, one version each); B differs from A in d keys, changed, missing and added in turn. A's
anti-entropy timer opens the exchange and the two nodes' `step` run it to the end, every message
encoded and decoded by the adapters' codec (dynref_io.wire) as a node's peer links do: bytes on
the wire are the sum of the frames' sizes. Build is `build_trees` (a restart's rebuild), update
one `MerkleTree.update` on the range's tree, compare the whole exchange (steps and codec);
timings are medians of `--runs` runs, memory the tree's allocations under tracemalloc.
`--merkle-depth` is the configuration's value (0 chooses the depth per range). The range part
uses only APIs that predate per-range depths, so it also measures the fixed depth of older code.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import math
import statistics
import time
import tracemalloc

import attrs
import immutables
from dynref.causality import DvvSet, DvvSibling, Mode, VersionVector
from dynref.config import ClusterConfig
from dynref.local import build_trees
from dynref.merkle import HASH_BYTES, depth_for
from dynref.merkle_exchange import simulate_exchange
from dynref.merkle_tree import MerkleTree, build_tree
from dynref.messages import Message, Receive, SyncKeys, Tick
from dynref.node import recover, step
from dynref.ring import NodeSpec, RingConfig, Strategy, build_ring
from dynref.state import DurableState, NodeState
from dynref_io.wire.codec import MAX_FRAME_BYTES, decode_body, encode

N = 100_000
KEY_BYTES = 16
DIGEST_BYTES = 16
VALUE_BYTES = 100
RECORD_BYTES = KEY_BYTES + VALUE_BYTES
DIFFS = (1, 10, 100, 1_000)
RUNS = 5
TRIALS = 10
UPDATES_PER_RUN = 1_000


def model_key(i: int) -> bytes:
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
            tree = tree.update(model_key(i), digest(i, 1))
        elif kind == 1:
            tree = tree.update(model_key(i), None)
        else:
            tree = tree.update(model_key(N + i), digest(N + i))
    return tree


def model() -> None:
    """The 100,000-key model: simulate_exchange, without messages."""
    depth = depth_for(N)
    entries = [(model_key(i), digest(i)) for i in range(N)]

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
            tree = tree.update(model_key(i), digest(i, 2 + run))
        tree.root()  # the hashes an update leaves to the next read
        update_times.append((time.perf_counter() - start) / UPDATES_PER_RUN)

    naive = N * (KEY_BYTES + DIGEST_BYTES)
    print(f"n = {N:,} keys, exchange depth = {depth} ({2**depth:,} nodes at that level)")
    print(f"hash = {HASH_BYTES} bytes")
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


# --- range: a million-key range between two nodes, through step and the codec ---------------

RANGE_VALUE_BYTES = 100


def range_key(i: int) -> bytes:
    return hashlib.md5(b"key/%d" % i).digest()


def range_versions(i: int, actor: str) -> DvvSet:
    value = (b"%s value %d " % (actor.encode(), i)).ljust(RANGE_VALUE_BYTES, b".")
    return DvvSet(VersionVector(((actor, 1),)), (DvvSibling(actor, 1, value, 1_000 + i),))


def range_config(merkle_depth: int) -> ClusterConfig:
    """Two nodes, both replicas of both halves of the ring."""
    return ClusterConfig(
        nodes=(NodeSpec("a"), NodeSpec("b")),
        mode=Mode.DVV,
        ring=RingConfig(strategy=Strategy.EQUAL_PARTITIONS, partitions=2),
        n=2,
        r=1,
        w=1,
        merkle_depth=merkle_depth,
    )


def keys_in_one_range(config: ClusterConfig, count: int) -> tuple[int, list[bytes]]:
    ring = build_ring(config.nodes, config.ring)
    target = ring.range_index(range_key(0))
    found: list[bytes] = []
    i = 0
    while len(found) < count:
        candidate = range_key(i)
        if ring.range_index(candidate) == target:
            found.append(candidate)
        i += 1
    return target, found


def diverged(b: NodeState, keys: list[bytes], n: int, d: int, target: int) -> NodeState:
    """B changed in d keys of the range: a new concurrent version, removed, added in turn."""
    data, tree = b.durable.data, b.volatile.trees[target]
    stride = n // d
    for j in range(d):
        i = j * stride
        kind = j % 3
        if kind == 1:
            data = data.delete(keys[i])
            tree = tree.update(keys[i], None)
            continue
        key = keys[i] if kind == 0 else keys[n + j]
        versions = range_versions(n + j, "b#0")
        data = data.set(key, versions)
        tree = tree.update(key, versions.digest())
    durable = attrs.evolve(b.durable, data=data)
    volatile = attrs.evolve(b.volatile, trees=b.volatile.trees.set(target, tree))
    return attrs.evolve(b, durable=durable, volatile=volatile)


@attrs.frozen
class Exchange:
    frames: dict[str, tuple[int, ...]]  # message type -> sizes of its frames
    core_seconds: float
    codec_seconds: float
    keys_synced: int  # distinct keys whose versions SyncKeys carried or asked for


def run_exchange(a: NodeState, b: NodeState, target: int) -> Exchange:
    """A's timer until it opens an exchange of `target`; then every message to the end."""
    states = {"a": a, "b": b}
    now = a.volatile.next_antientropy
    while True:
        result = step(states["a"], Tick(now))
        states["a"] = result.state
        opening = result.ready.sends
        if any(getattr(e.message, "range_index", None) == target for e in opening):
            break
        now += a.config.antientropy_interval
    queue: collections.deque[tuple[str, str, Message]] = collections.deque(
        ("a", e.to, e.message) for e in opening
    )
    frames: dict[str, list[int]] = collections.defaultdict(list)
    synced: set[bytes] = set()
    core = codec = 0.0
    while queue:
        sender, receiver, message = queue.popleft()
        start = time.perf_counter()
        frame = encode(message)
        decoded = decode_body(frame[4:])
        middle = time.perf_counter()
        result = step(states[receiver], Receive(sender, decoded))  # type: ignore[arg-type]
        codec += middle - start
        core += time.perf_counter() - middle
        frames[type(message).__name__].append(len(frame))
        if isinstance(message, SyncKeys):
            synced.update(key for key, _ in message.items)
            synced.update(message.wanted)
        states[receiver] = result.state
        ready = result.ready
        assert not ready.errors, ready.errors
        queue.extend((receiver, e.to, e.message) for e in ready.sends)
    assert states["a"].durable.data == states["b"].durable.data, "the replicas still differ"
    return Exchange({k: tuple(v) for k, v in frames.items()}, core, codec, len(synced))


def range_bench(merkle_depth: int, n: int, runs: int, diffs: list[int]) -> None:
    config = range_config(merkle_depth)
    target, keys = keys_in_one_range(config, n + max(diffs))
    data = immutables.Map({key: range_versions(i, "a#0") for i, key in enumerate(keys[:n])})
    a = recover(config, DurableState("a", 0, 0, data), 0).state
    b = recover(config, DurableState("b", 0, 0, data), 0).state
    print(f"range of {n:,} keys on nodes a and b, merkle_depth = {merkle_depth} in the config")

    builds = []
    for _ in range(runs):
        start = time.perf_counter()
        build_trees(a)
        builds.append(time.perf_counter() - start)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    trees = build_trees(a)
    trees[target].root()
    tree_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del trees
    updates = []
    for run in range(runs):
        tree = a.volatile.trees[target]
        start = time.perf_counter()
        for i in range(1_000):
            tree = tree.update(keys[i * 997 % n], hashlib.md5(b"%d/%d" % (i, run)).digest())
        tree.root()
        updates.append((time.perf_counter() - start) / 1_000)
    print(
        f"build_trees: median {statistics.median(builds):.2f} s ({runs} runs); "
        f"tree memory (tracemalloc) {tree_bytes / 2**20:,.0f} MiB; "
        f"one update: median {statistics.median(updates) * 1e6:,.0f} us (1,000 per run)"
    )
    header = (
        f"{'d':>6} {'depth':>5} {'msgs':>5} {'bytes':>12} {'tree bytes':>12} {'largest':>11} "
        f"{'synced':>8} {'compare s':>9} {'(core)':>7}"
    )
    print(f"largest frame against the reader's limit of {MAX_FRAME_BYTES:,} bytes")
    print(header)
    print("-" * len(header))
    for d in diffs:
        results = [run_exchange(a, diverged(b, keys, n, d, target), target) for _ in range(runs)]
        frames = results[0].frames
        assert all(r.frames == frames for r in results[1:]), "runs differ"
        assert all(r.keys_synced == d for r in results), "the exchange missed or added keys"
        sizes = [size for sent in frames.values() for size in sent]
        tree_sent = [size for kind, sent in frames.items() if kind != "SyncKeys" for size in sent]
        compares = len(frames.get("MerkleCompare", ()))
        total_seconds = statistics.median(r.core_seconds + r.codec_seconds for r in results)
        print(
            f"{d:>6,} {compares - 1:>5} {len(sizes):>5} {sum(sizes):>12,} {sum(tree_sent):>12,} "
            f"{max(sizes):>11,} {results[0].keys_synced:>8,} {total_seconds:>9.3f} "
            f"{statistics.median(r.core_seconds for r in results):>7.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", nargs="?", choices=("model", "range"), default="model")
    parser.add_argument("--merkle-depth", type=int, default=0)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--diffs", default="10,100,1000")
    args = parser.parse_args()
    if args.part == "model":
        model()
        return
    try:
        diffs = [int(d) for d in args.diffs.split(",")]
    except ValueError:
        parser.error(f"--diffs takes comma-separated integers, got {args.diffs!r}")
    if args.keys < 3 * max(diffs) or min(diffs) < 1 or args.runs < 1:
        parser.error("need --runs >= 1, diffs >= 1 and --keys >= 3 * the largest diff")
    range_bench(args.merkle_depth, args.keys, args.runs, diffs)


if __name__ == "__main__":
    main()
