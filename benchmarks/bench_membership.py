"""Keys moved by a join and by a leave, against the ideal, and the time until the ring settles.

    python benchmarks/bench_membership.py      # 5 nodes, 2,000 keys, both strategies
    python benchmarks/bench_membership.py --nodes 8 --keys 5000 --value-bytes 100

The cluster runs in the simulator (`dynref.sim`), N=3, dvv, with the keys preloaded on their
owners (each key's N replicas hold one version of `--value-bytes` bytes). Then, once from that
state: a spare node joins through n1, and separately n2 leaves; each run is driven by
`Cluster.quiesce` (faults off, deliver everything, tick every clock by 100 ms) until the fixed
point: every member holds the same membership with nobody joining or leaving, and every key
sits with exactly its owners (SPEC INV-MEMBER-2, INV-MEMBER-3).

Printed per run: the ideal copies moved (the key copies whose owner is new in the final ring,
sum over keys of |final owners - initial owners|), the key copies offered by digest only
(`TransferDigests`, `keys_offered`), the copies the transfers actually moved (the keys sent in
full in `Transfer` batches, `keys_transferred`; both summed over nodes), their key and value
bytes, the copies dropped, and the simulated time until the fixed point (tick rounds x 100 ms).
Method and figures: docs/benchmarks.md (Membership).
"""

from __future__ import annotations

import argparse
import time

import attrs
import immutables
from dynref.causality import AnyVersions, Mode, VersionVector, empty_versions
from dynref.config import ClusterConfig
from dynref.node import recover
from dynref.ring import NodeSpec, RingConfig, Strategy, build_ring
from dynref.sim import Cluster

STEP_MS = 100


def preloaded(config: ClusterConfig, keys: int, value_bytes: int) -> Cluster:
    """A started cluster whose nodes hold every key on its N owners, as after full replication."""
    ring = build_ring(config.nodes, config.ring)
    data: dict[str, dict[bytes, AnyVersions]] = {spec.node_id: {} for spec in config.nodes}
    for index in range(keys):
        key = b"key-%06d" % index
        versions = empty_versions(config.mode).write(
            bytes([97 + index % 26]) * value_bytes, VersionVector(), "n1#0", 1
        )
        for owner in ring.preference_list(key, config.n):
            data[owner][key] = versions
    cluster = Cluster.start(config)
    nodes = cluster.nodes
    for node, held in data.items():
        state = cluster.state(node)
        assert state is not None
        durable = attrs.evolve(state.durable, data=immutables.Map(held))
        nodes = nodes.set(node, recover(config, durable, 0).state)
    return attrs.evolve(cluster, nodes=nodes)


def owners(cluster: Cluster, keys: int) -> dict[bytes, frozenset[str]]:
    ring = cluster.ring
    return {
        b"key-%06d" % index: frozenset(ring.preference_list(b"key-%06d" % index, cluster.config.n))
        for index in range(keys)
    }


def measure(label: str, before: Cluster, after: Cluster, keys: int, wall: float) -> None:
    initial, final = owners(before, keys), owners(after, keys)
    ideal = sum(len(final[key] - initial[key]) for key in initial)
    moved = dropped = moved_bytes = offered = 0
    for node in after.node_ids():
        state = after.state(node)
        assert state is not None
        offered += state.volatile.stats.keys_offered
        moved += state.volatile.stats.keys_transferred
        moved_bytes += state.volatile.stats.bytes_transferred
        dropped += state.volatile.stats.keys_dropped
    quiescence = after.quiescence
    assert quiescence is not None and quiescence.converged, quiescence
    print(
        f"{label:<28} ideal {ideal:>6,}  offered {offered:>6,}  "
        f"moved {moved:>6,} ({moved / max(ideal, 1):.2f}x)  "
        f"bytes {moved_bytes:>10,}  dropped {dropped:>6,}  "
        f"settled in {quiescence.rounds * STEP_MS:>6,} ms simulated  ({wall:.1f} s wall)"
    )


def run(strategy: Strategy, nodes: int, keys: int, value_bytes: int) -> None:
    config = ClusterConfig(
        nodes=tuple(NodeSpec(f"n{i}") for i in range(1, nodes + 1)),
        mode=Mode.DVV,
        ring=RingConfig(strategy=strategy, tokens_per_capacity=8, partitions=64),
        n=3,
        handoff_interval=STEP_MS,
        probe_interval=STEP_MS,
        antientropy_interval=1_000,
        gossip_interval=STEP_MS,
        transfer_batch=64,
    )
    start = preloaded(config, keys, value_bytes)
    spare = f"n{nodes + 1}"
    for label, change in (
        (f"{strategy.value}: {spare} joins", lambda c: c.join(spare, "n1")),
        (f"{strategy.value}: n2 leaves", lambda c: c.leave("n2")),
    ):
        began = time.perf_counter()
        after = change(start).quiesce(bound=2_000, step_ms=STEP_MS)
        measure(label, start, after, keys, time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    arguments = parser.parse_args()
    print(
        f"{arguments.nodes} nodes, N=3, {arguments.keys:,} keys of "
        f"{arguments.value_bytes} bytes, transfer batches of 64 keys every {STEP_MS} ms"
    )
    for strategy in Strategy:
        run(strategy, arguments.nodes, arguments.keys, arguments.value_bytes)


if __name__ == "__main__":
    main()
