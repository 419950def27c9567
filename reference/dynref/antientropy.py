"""Merkle anti-entropy: replicas of a range compare trees top-down and swap only differing keys.

On its timer a node picks (with its seeded generator) one range it replicates and one other
replica of it, and sends its root. Each side answers a comparison with the children of the nodes
that differ, level by level; at the leaves it sends the differing buckets' (key, digest) entries;
the side that then knows both entry sets sends its versions of the differing keys and asks for
the peer's, and the exchange ends when those arrive. No session state is kept: every message
carries its range and level, so a lost message just ends that round.
"""

from __future__ import annotations

import attrs

from dynref.local import merge_into_store, stored
from dynref.merkle import HASH_BYTES, MerkleTree, differing_children, differing_keys
from dynref.messages import (
    Effect,
    MerkleCompare,
    MerkleLeaves,
    ProtocolError,
    Send,
    SyncKeys,
)
from dynref.prng import choose_index
from dynref.state import NodeState


def on_antientropy_timer(state: NodeState, out: list[Effect]) -> NodeState:
    volatile = state.volatile
    if volatile.now < volatile.next_antientropy:
        return state
    volatile = attrs.evolve(
        volatile, next_antientropy=volatile.now + state.config.antientropy_interval
    )
    ranges = sorted(volatile.trees.keys())
    if not ranges:
        return attrs.evolve(state, volatile=volatile)
    pick, rng = choose_index(volatile.rng, len(ranges))
    range_index = ranges[pick]
    peers = [
        node
        for node in state.ring.range_preference_list(range_index, state.config.n)
        if node != state.node_id and node not in volatile.down
    ]
    if peers:
        pick, rng = choose_index(rng, len(peers))
        root = volatile.trees[range_index].root()
        out.append(Send(peers[pick], MerkleCompare(range_index, 0, ((0, root),))))
        stats = attrs.evolve(
            volatile.stats, antientropy_exchanges=volatile.stats.antientropy_exchanges + 1
        )
        volatile = attrs.evolve(volatile, stats=stats)
    return attrs.evolve(state, volatile=attrs.evolve(volatile, rng=rng))


def _tree(state: NodeState, sender: str, range_index: int, out: list[Effect]) -> MerkleTree | None:
    tree = state.volatile.trees.get(range_index)
    if tree is None:
        out.append(
            ProtocolError(
                sender, f"anti-entropy for range {range_index} this node does not replicate"
            )
        )
    return tree


def _bad_indexes(indexes: list[int], level: int) -> bool:
    return any(not 0 <= index < (1 << level) for index in indexes)


def on_merkle_compare(
    state: NodeState, sender: str, message: MerkleCompare, out: list[Effect]
) -> NodeState:
    tree = _tree(state, sender, message.range_index, out)
    if tree is None:
        return state
    if (
        not 0 <= message.level <= tree.depth
        or _bad_indexes([index for index, _ in message.hashes], message.level)
        or any(len(node_hash) != HASH_BYTES for _, node_hash in message.hashes)
    ):
        out.append(ProtocolError(sender, "malformed Merkle comparison"))
        return state
    differing = differing_children(tree, message.level, message.hashes)
    if not differing:
        return state
    if message.level == tree.depth:
        entries = tree.leaf_entries(differing)
        out.append(Send(sender, MerkleLeaves(message.range_index, differing, entries)))
    else:
        children = tree.child_hashes(message.level, differing)
        out.append(Send(sender, MerkleCompare(message.range_index, message.level + 1, children)))
    return state


def _keys_in_range(state: NodeState, range_index: int, keys: list[bytes]) -> bool:
    return all(state.ring.range_index(key) == range_index for key in keys)


def on_merkle_leaves(
    state: NodeState, sender: str, message: MerkleLeaves, out: list[Effect]
) -> NodeState:
    tree = _tree(state, sender, message.range_index, out)
    if tree is None:
        return state
    if _bad_indexes(list(message.buckets), tree.depth) or not _keys_in_range(
        state, message.range_index, [key for key, _ in message.entries]
    ):
        out.append(ProtocolError(sender, "malformed Merkle leaves"))
        return state
    keys = differing_keys(tree.leaf_entries(message.buckets), message.entries)
    if not keys:
        return state
    theirs = {key for key, _ in message.entries}
    items = tuple((key, state.durable.data[key]) for key in keys if key in state.durable.data)
    wanted = tuple(key for key in keys if key in theirs)
    out.append(Send(sender, SyncKeys(message.range_index, items, wanted)))
    return state


def on_sync_keys(state: NodeState, sender: str, message: SyncKeys, out: list[Effect]) -> NodeState:
    if _tree(state, sender, message.range_index, out) is None:
        return state
    keys = [key for key, _ in message.items] + list(message.wanted)
    if not _keys_in_range(state, message.range_index, keys):
        out.append(ProtocolError(sender, "anti-entropy keys outside their range"))
        return state
    repaired = 0
    for key, versions in message.items:
        state, changed = merge_into_store(state, key, versions, out)
        repaired += changed
    if message.wanted:
        items = tuple(
            (key, stored(state, key)) for key in message.wanted if key in state.durable.data
        )
        out.append(Send(sender, SyncKeys(message.range_index, items, ())))
    if repaired:
        stats = state.volatile.stats
        stats = attrs.evolve(
            stats, antientropy_keys_repaired=stats.antientropy_keys_repaired + repaired
        )
        state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, stats=stats))
    return state
