"""Merkle anti-entropy: replicas of a range compare trees top-down and swap only differing keys.

On its timer a node picks (with its seeded generator) one range it replicates and one other
replica of it, and sends its root. Each side answers a comparison with the children of the nodes
that differ, level by level, down to the exchange depth; there it sends its (key, digest)
entries below the differing nodes; the side that then knows both entry sets sends its versions
of the differing keys and asks for the peer's, and the exchange ends when those arrive. No
session state is kept: every message carries its range, depth and level, so a lost message just
ends that round.

The depth (SPEC REQ-AE-3): the initiator proposes `depth_for` of its key count in the range (or
the configured `merkle_depth`), and each side continues at the larger of the depth it received
and its own proposal. Node hashes do not depend on where an exchange stops (REQ-MERKLE-3), so
the replicas need not agree on it beforehand, and a depth that grows mid-exchange only makes
the exchange descend further.
"""

from __future__ import annotations

from dynref.limits import batch_by_size
from dynref.local import keeps_repairs, merge_into_store, misplaced, stored
from dynref.merkle import HASH_BYTES, MAX_DEPTH, depth_for, differing_keys
from dynref.merkle_tree import MerkleTree, differing_children
from dynref.messages import (
    Effect,
    MerkleCompare,
    MerkleLeaves,
    ProtocolError,
    Send,
    SyncKeys,
)
from dynref.prng import choose_index
from dynref.state import Draft


def on_antientropy_timer(node: Draft, out: list[Effect]) -> None:
    if node.now < node.next_antientropy:
        return
    node.next_antientropy = node.now + node.config.antientropy_interval
    ranges = sorted(node.trees.keys())
    if not ranges:
        return
    pick, rng = choose_index(node.rng, len(ranges))
    range_index = ranges[pick]
    peers = [
        peer
        for peer in node.ring.range_preference_list(range_index, node.config.n)
        if peer != node.node_id and peer not in node.unreachable()
    ]
    if peers:
        pick, rng = choose_index(rng, len(peers))
        tree = node.trees[range_index]
        depth = proposed_depth(node, tree)
        out.append(Send(peers[pick], MerkleCompare(range_index, depth, 0, ((0, tree.root()),))))
        node.count("antientropy_exchanges")
    node.rng = rng


def proposed_depth(node: Draft, tree: MerkleTree) -> int:
    """The depth this node proposes for exchanges of the range `tree` covers (REQ-AE-3)."""
    return node.config.merkle_depth or depth_for(tree.key_count())


def _tree(node: Draft, sender: str, range_index: int, out: list[Effect]) -> MerkleTree | None:
    tree = node.trees.get(range_index)
    if tree is None:
        misplaced(node)
    return tree


def _bad_indexes(indexes: list[int], level: int) -> bool:
    return any(not 0 <= index < (1 << level) for index in indexes)


def on_merkle_compare(node: Draft, sender: str, message: MerkleCompare, out: list[Effect]) -> None:
    tree = _tree(node, sender, message.range_index, out)
    if tree is None:
        return
    level = message.level
    if (
        not 0 <= level <= message.depth <= MAX_DEPTH
        or _bad_indexes([index for index, _ in message.hashes], level)
        or any(len(node_hash) != HASH_BYTES for _, node_hash in message.hashes)
    ):
        out.append(ProtocolError(sender, "malformed Merkle comparison"))
        return
    differing = differing_children(tree, level, message.hashes)
    if not differing:
        return
    depth = max(message.depth, proposed_depth(node, tree))
    if level == depth:
        entries = tree.leaf_entries(depth, differing)
        out.append(Send(sender, MerkleLeaves(message.range_index, depth, differing, entries)))
    else:
        children = tree.child_hashes(level, differing)
        out.append(Send(sender, MerkleCompare(message.range_index, depth, level + 1, children)))


def _keys_in_range(node: Draft, range_index: int, keys: list[bytes]) -> bool:
    return all(node.ring.range_index(key) == range_index for key in keys)


def on_merkle_leaves(node: Draft, sender: str, message: MerkleLeaves, out: list[Effect]) -> None:
    tree = _tree(node, sender, message.range_index, out)
    if tree is None:
        return
    if not 0 <= message.depth <= MAX_DEPTH or _bad_indexes(list(message.buckets), message.depth):
        out.append(ProtocolError(sender, "malformed Merkle leaves"))
        return
    if not _keys_in_range(node, message.range_index, [key for key, _ in message.entries]):
        misplaced(node)
        return
    keys = differing_keys(tree.leaf_entries(message.depth, message.buckets), message.entries)
    if not keys:
        return
    theirs = {key for key, _ in message.entries}
    items = batch_by_size(node.config, [(key, node.data[key]) for key in keys if key in node.data])
    wanted = tuple(key for key in keys if key in theirs and keeps_repairs(node, key))
    out.append(Send(sender, SyncKeys(message.range_index, items, wanted)))


def on_sync_keys(node: Draft, sender: str, message: SyncKeys, out: list[Effect]) -> None:
    if _tree(node, sender, message.range_index, out) is None:
        return
    keys = [key for key, _ in message.items] + list(message.wanted)
    if not _keys_in_range(node, message.range_index, keys):
        misplaced(node)
        return
    repaired = 0
    for key, versions in message.items:
        if keeps_repairs(node, key):
            repaired += merge_into_store(node, key, versions, out)
    if message.wanted:
        held = [(key, stored(node, key)) for key in message.wanted if key in node.data]
        items = batch_by_size(node.config, held)
        out.append(Send(sender, SyncKeys(message.range_index, items, ())))
    if repaired:
        node.count("antientropy_keys_repaired", repaired)
