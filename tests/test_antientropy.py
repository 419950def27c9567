"""Anti-entropy between two nodes, through `step` alone: the exchange depth and what it finds.

Two replicas of a range hold any key sets; an exchange started at any depth, under any depth
policy (chosen per range from the key count, or pinned by the configuration), must carry the
versions of exactly the keys whose digests differ, and leave the replicas equal.
"""

from __future__ import annotations

import collections

import immutables
import pytest
from dynref.causality import AnyVersions, DvvSet, DvvSibling, Mode, VersionVector
from dynref.config import ClusterConfig
from dynref.merkle import MAX_DEPTH, depth_for
from dynref.messages import (
    MerkleCompare,
    MerkleLeaves,
    Message,
    ProtocolError,
    Receive,
    Send,
    SyncKeys,
    Tick,
)
from dynref.node import recover, step
from dynref.ring import NodeSpec
from dynref.state import DurableState, NodeState
from hypothesis import given
from hypothesis import strategies as st

NODES = (NodeSpec("a"), NodeSpec("b"))


def config(merkle_depth: int = 0) -> ClusterConfig:
    return ClusterConfig(nodes=NODES, mode=Mode.DVV, n=2, r=1, w=1, merkle_depth=merkle_depth)


def versions(actor: str, value: int) -> DvvSet:
    sibling = DvvSibling(actor, 1, b"%d" % value, value)
    return DvvSet(VersionVector(((actor, 1),)), (sibling,))


def started(node_id: str, cluster: ClusterConfig, data: dict[bytes, AnyVersions]) -> NodeState:
    """A node recovered from a disk holding `data` (its trees rebuilt from it)."""
    durable = DurableState(node_id, 0, 0, immutables.Map(data))
    return recover(cluster, durable, 0).state


def run_exchange(
    states: dict[str, NodeState], first: tuple[str, str, Message], differing: int
) -> list[tuple[str, Message]]:
    """Deliver `first` and every message it leads to; return (sender, message) in order.

    A comparison names at most two children of each differing node, and no more nodes of a
    level differ than keys do (REQ-MERKLE-8): a larger one is a runaway exchange.
    """
    queue = collections.deque([first])
    sent: list[tuple[str, Message]] = []
    while queue:
        sender, receiver, message = queue.popleft()
        if isinstance(message, MerkleCompare):
            assert len(message.hashes) <= max(1, 2 * differing), message
        sent.append((sender, message))
        result = step(states[receiver], Receive(sender, message))
        states[receiver] = result.state
        assert not [e for e in result.effects if isinstance(e, ProtocolError)], result.effects
        queue.extend((receiver, e.to, e.message) for e in result.effects if isinstance(e, Send))
        assert len(sent) < 2 * MAX_DEPTH + 10
    return sent


def in_range(state: NodeState, range_index: int) -> dict[bytes, AnyVersions]:
    return {k: v for k, v in state.durable.data.items() if state.ring.range_index(k) == range_index}


key_sets = st.dictionaries(st.binary(min_size=1, max_size=3), st.integers(0, 3), max_size=60)


@st.composite
def replica_pairs(draw: st.DrawFn) -> tuple[dict[bytes, AnyVersions], dict[bytes, AnyVersions]]:
    """Two replicas' stores: any keys on each side, many shared, some shared keys changed."""
    shared = draw(key_sets)
    only_a = draw(key_sets)
    only_b = draw(key_sets)
    changed = draw(st.sets(st.sampled_from(sorted(shared)))) if shared else set()
    a = {key: versions("a#0", value) for key, value in {**only_a, **shared}.items()}
    b = {key: versions("b#0", value) for key, value in only_b.items()}
    for key, value in shared.items():
        b[key] = versions("b#0", value) if key in changed else a[key]
    return a, b


@given(
    replica_pairs(),
    st.integers(0, MAX_DEPTH),
    st.sampled_from([0, 0, 1, 3, 7]),
    st.booleans(),
    st.data(),
)
def test_req_ae_3_an_exchange_at_any_depth_finds_exactly_the_differing_keys(
    stores: tuple[dict[bytes, AnyVersions], dict[bytes, AnyVersions]],
    first_depth: int,
    merkle_depth: int,
    b_starts: bool,
    data: st.DataObject,
) -> None:
    """REQ-AE-3, REQ-AE-2, REQ-MERKLE-5: whatever depth the first message names and whatever the
    depth policy, the exchange carries the versions of exactly the differing keys of the range,
    every reply's depth is at least the depth it answered and its sender's proposal, and the
    replicas end equal on that range."""
    cluster = config(merkle_depth)
    states = {"a": started("a", cluster, stores[0]), "b": started("b", cluster, stores[1])}
    ring = states["a"].ring
    range_index = data.draw(st.sampled_from(sorted(states["a"].volatile.trees)))
    before = {node: in_range(state, range_index) for node, state in states.items()}
    differing = {
        key
        for key in set(before["a"]) | set(before["b"])
        if before["a"].get(key) != before["b"].get(key)
    }
    starter, other = ("b", "a") if b_starts else ("a", "b")
    root = states[starter].volatile.trees[range_index].root()
    opening = MerkleCompare(range_index, first_depth, 0, ((0, root),))
    sent = run_exchange(states, (starter, other, opening), len(differing))

    synced = set()
    for _, message in sent:
        if isinstance(message, SyncKeys):
            assert message.range_index == range_index
            synced |= {key for key, _ in message.items} | set(message.wanted)
    assert synced == differing
    after = {node: in_range(state, range_index) for node, state in states.items()}
    assert after["a"] == after["b"]
    assert set(after["a"]) == set(before["a"]) | set(before["b"])
    assert all(ring.range_index(key) == range_index for key in synced)

    depth = first_depth
    for sender, message in sent[1:]:
        if isinstance(message, MerkleCompare | MerkleLeaves):
            proposal = merkle_depth or depth_for(len(before[sender]))
            assert message.depth == max(depth, proposal)
            depth = message.depth


def test_req_ae_3_the_exchange_descends_to_the_larger_proposal() -> None:
    """REQ-AE-3: a replica of 3 keys opens at its depth 1; the peer holding 600 continues at
    depth_for(600) = 9, and the exchange still finds every key that differs."""
    cluster = config()
    ring = started("a", cluster, {}).ring
    range_index = ring.range_index(b"key 0")
    candidates = (b"key %d" % i for i in range(100_000))
    mine = [key for key in candidates if ring.range_index(key) == range_index][:600]
    a = {key: versions("a#0", 1) for key in mine}
    b = {**{key: a[key] for key in mine[:2]}, mine[2]: versions("b#0", 2)}
    states = {"a": started("a", cluster, a), "b": started("b", cluster, b)}
    b_state = states["b"]
    root = b_state.volatile.trees[range_index].root()
    opening = MerkleCompare(range_index, 1, 0, ((0, root),))
    sent = run_exchange(states, ("b", "a", opening), len(mine) - 2)
    depths = [m.depth for _, m in sent if isinstance(m, MerkleCompare | MerkleLeaves)]
    assert depths[0] == 1 and set(depths[1:]) == {depth_for(600)} == {9}
    leaves = [m for _, m in sent if isinstance(m, MerkleLeaves)]
    assert leaves and all(m.depth == 9 for m in leaves)
    synced = {key for _, m in sent if isinstance(m, SyncKeys) for key, _ in m.items}
    assert synced == set(mine[2:])
    assert in_range(states["a"], range_index) == in_range(states["b"], range_index)


def test_req_ae_3_the_timer_proposes_the_depth_for_the_key_count_or_the_pinned_one() -> None:
    """REQ-AE-3, REQ-MERKLE-7: the opening comparison names depth_for(keys in the range), or the
    configured merkle_depth when one is set."""
    keys = {b"k%d" % i: versions("a#0", i) for i in range(400)}
    for merkle_depth in (0, 5):
        state = started("a", config(merkle_depth), keys)
        result = step(state, Tick(state.volatile.next_antientropy))
        (opening,) = [e.message for e in result.effects if isinstance(e, Send)]
        assert isinstance(opening, MerkleCompare) and opening.level == 0
        count = state.volatile.trees[opening.range_index].key_count()
        assert opening.depth == (merkle_depth or depth_for(count))


def test_req_ae_3_merkle_depth_is_zero_for_per_range_or_a_depth_up_to_32() -> None:
    """REQ-AE-3: the configured depth is 0 (chosen per range, the default) or pins 1..32."""
    assert config().merkle_depth == 0
    assert config(32).merkle_depth == 32
    for bad in (-1, 33):
        with pytest.raises(ValueError, match="merkle_depth"):
            config(bad)
