"""Sloppy quorum, hinted handoff, read repair and anti-entropy between real node processes."""

from __future__ import annotations

from typing import Any

import pytest
from dynref_io.client.native import QuorumError
from dynref_io.node.local_cluster import LocalCluster

from tests.e2e.conftest import StartCluster, eventually, ring_of

NEVER_MS = 3_600_000
"""An anti-entropy interval no test waits for: repairs then come from reads or handoff only."""


def status(cluster: LocalCluster, node_id: str, field: str) -> Any:
    found = cluster.status(node_id)
    assert found is not None, f"{node_id} does not answer"
    return found[field]


def cut_off(cluster: LocalCluster, node_id: str) -> None:
    """Fault injection at the node itself: it drops all traffic to and from every peer."""
    with cluster.client(node_id) as client:
        client.isolate([other for other in cluster.node_ids if other != node_id])


def heal(cluster: LocalCluster, node_id: str) -> None:
    with cluster.client(node_id) as client:
        client.isolate([])


@pytest.mark.e2e
def test_sloppy_quorum_and_hinted_handoff(start_cluster: StartCluster) -> None:
    """REQ-SLOPPY-1, REQ-HANDOFF-1, INV-HINT-1 over TCP: with a home node cut off, a fallback's
    hinted acknowledgement completes W=N; after healing, the hint reaches the owner and goes."""
    cluster = start_cluster(4, w=3, antientropy_interval=NEVER_MS)
    key = b"handoff"
    coordinator, owner, _ = ring_of(cluster).preference_list(key, 3)
    cut_off(cluster, owner)
    with cluster.client(coordinator) as client:
        # The first put finds the owner silent: W=3 is not reached and the owner is marked down.
        with pytest.raises(QuorumError):
            client.put(key, "first")
        context = client.get(key, r=2).context
        client.put(key, "handed off", context=context)  # W=3 with the fallback's hint
    fallbacks = [node for node in cluster.node_ids if status(cluster, node, "hints") == 1]
    assert len(fallbacks) == 1 and fallbacks[0] not in (coordinator, owner)
    assert status(cluster, owner, "keys") == 0

    heal(cluster, owner)
    eventually(
        lambda: (
            status(cluster, owner, "keys") == 1
            and all(status(cluster, node, "hints") == 0 for node in cluster.node_ids)
        ),
        timeout=15,
        what="the owner holds the key and no hint is left",
    )
    assert status(cluster, fallbacks[0], "hints_handed_off") >= 1
    with cluster.client(owner) as client:
        assert client.get(key, r=1).values == (b"handed off",)  # the owner's own copy


@pytest.mark.e2e
def test_read_repair_fixes_a_replica_that_missed_a_write(start_cluster: StartCluster) -> None:
    """REQ-COORD-5 over TCP: a read that sees a stale primary sends it the merge."""
    cluster = start_cluster(3, antientropy_interval=NEVER_MS)
    cut_off(cluster, "n3")
    with cluster.client("n1") as client:
        client.put("repaired", "value")  # W=2: n1 and n2
    # At the put's deadline n1 marks the silent n3 down; after healing, a probe answered marks
    # it up again, and only then does a read ask n3.
    eventually(lambda: status(cluster, "n1", "down") == ["n3"], timeout=5, what="n3 marked down")
    heal(cluster, "n3")
    eventually(lambda: status(cluster, "n1", "down") == [], timeout=10, what="n1 probes n3 up")
    assert status(cluster, "n3", "keys") == 0

    with cluster.client("n1") as client:
        assert client.get("repaired", r=3).values == (b"value",)
    eventually(lambda: status(cluster, "n3", "keys") == 1, timeout=10, what="n3 is repaired")
    assert status(cluster, "n1", "read_repairs") >= 1


@pytest.mark.e2e
def test_anti_entropy_catches_up_a_replica_without_reads(start_cluster: StartCluster) -> None:
    """REQ-AE-2 over TCP: Merkle exchanges alone bring a replica that missed writes up to date."""
    cluster = start_cluster(3, tokens_per_capacity=2)  # few ranges: exchanges cover them fast
    cut_off(cluster, "n3")
    with cluster.client("n1") as client:
        for i in range(30):
            client.put(f"key{i}", f"value {i}")
    assert status(cluster, "n3", "keys") == 0
    heal(cluster, "n3")
    eventually(lambda: status(cluster, "n3", "keys") == 30, timeout=30, what="n3 catches up")
    repaired = sum(status(cluster, node, "antientropy_keys_repaired") for node in cluster.node_ids)
    assert repaired >= 30
    assert all(status(cluster, node, "read_repairs") == 0 for node in cluster.node_ids)
