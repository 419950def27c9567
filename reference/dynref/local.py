"""A node's own storage: primary versions, hints, and the Merkle trees that summarise them.

Every change to durable state goes through here, so that each one is listed as a durable-write
effect and mirrored in the Merkle tree of its range in the same step.
"""

from __future__ import annotations

import immutables

from dynref.causality import AnyVersions, DvvSet, LwwRegister, VclockSiblings, empty_versions
from dynref.merkle_tree import MerkleTree, build_tree
from dynref.messages import (
    DeleteHint,
    DropVersions,
    Effect,
    StoreHint,
    StoreMeta,
    StoreVersions,
)
from dynref.ring import Ring
from dynref.state import Draft, NodeState


def join(left: AnyVersions, right: AnyVersions) -> AnyVersions:
    """Merge two sibling sets of the same mode; a mode mismatch is a ValueError."""
    if isinstance(left, DvvSet) and isinstance(right, DvvSet):
        return left.merge(right)
    if isinstance(left, VclockSiblings) and isinstance(right, VclockSiblings):
        return left.merge(right)
    if isinstance(left, LwwRegister) and isinstance(right, LwwRegister):
        return left.merge(right)
    raise ValueError(f"cannot merge {type(left).__name__} with {type(right).__name__}")


def stored(node: Draft, key: bytes) -> AnyVersions:
    held = node.data.get(key)
    return held if held is not None else empty_versions(node.config.mode)


def replicates(node: Draft, key: bytes) -> bool:
    return node.node_id in node.preference_list(key)


def accepts(node: Draft, key: bytes) -> bool:
    """Whether this node takes the key as a primary: a current or a future owner of it."""
    return replicates(node, key) or (
        node.future is not None and node.node_id in node.future_preference_list(key)
    )


def keeps_repairs(node: Draft, key: bytes) -> bool:
    """Whether anti-entropy may give this node `key`: always, unless the ring is changing and
    the node is no future owner of it. Such a node hands its copy on and drops it; a repair
    would give the key back, to be handed on and dropped again, round after round, and a leaving
    node would never get its backlog down to one round and exit (REQ-AE-4)."""
    return node.future is None or node.node_id in node.future_preference_list(key)


def misplaced(node: Draft) -> None:
    """Refuse a message that assumes a placement this node does not share: not stored, not
    acknowledged, counted (REQ-MEMBER-6).

    Once nodes can join and leave, a peer that learnt of a change first sends such messages in
    good faith, to a node that has not learnt of it yet (or that learnt of a later one); neither
    side can tell a lagging view from a defective peer, so neither is a protocol error.
    """
    node.count("stale_messages")


def local_view(node: Draft, key: bytes) -> AnyVersions:
    """What this node can tell of a key: its own versions merged with any hints it holds."""
    view = stored(node, key)
    for held in node.hints.values():
        hinted = held.get(key)
        if hinted is not None:
            view = join(view, hinted)
    return view


def merge_into_store(node: Draft, key: bytes, incoming: AnyVersions, out: list[Effect]) -> bool:
    """Merge versions into the primary store; return whether it changed."""
    current = stored(node, key)
    merged = join(current, incoming)
    if merged == current:
        return False
    replace_stored(node, key, merged, out)
    return True


def replace_stored(node: Draft, key: bytes, versions: AnyVersions, out: list[Effect]) -> None:
    out.append(StoreVersions(key, versions))
    node.data = node.data.set(key, versions)
    range_index = node.range_of(key)
    tree = node.trees.get(range_index)
    if tree is not None:
        node.trees = node.trees.set(range_index, tree.update(key, versions.digest()))


def drop_stored(node: Draft, key: bytes, out: list[Effect]) -> None:
    """Forget a key every new owner acknowledged (dynref.transfer decides when).

    The key's versions may hold dots of this node's actor, and a dot is the actor's counter
    for the key plus one: a later write of the key here would issue them again (the data loss
    of riak_kv issue 679). So a node that may have issued dots moves to a new incarnation, and a
    new actor, before it drops anything (REQ-MEMBER-12).
    """
    if key not in node.data:
        return
    if node.dots_issued:
        node.incarnation += 1
        node.dots_issued = False
        out.append(StoreMeta(node.node_id, node.incarnation, node.boots))
    out.append(DropVersions(key))
    node.data = node.data.delete(key)
    range_index = node.range_of(key)
    tree = node.trees.get(range_index)
    if tree is not None:
        node.trees = node.trees.set(range_index, tree.update(key, None))


def merge_into_hint(
    node: Draft, target: str, key: bytes, incoming: AnyVersions, out: list[Effect]
) -> None:
    held_for_target = node.hints.get(target, immutables.Map())
    current = held_for_target.get(key)
    merged = incoming if current is None else join(current, incoming)
    if merged == current:
        return
    out.append(StoreHint(target, key, merged))
    node.hints = node.hints.set(target, held_for_target.set(key, merged))


def drop_hint(node: Draft, target: str, key: bytes, out: list[Effect]) -> None:
    held_for_target = node.hints.get(target)
    if held_for_target is None or key not in held_for_target:
        return
    out.append(DeleteHint(target, key))
    remaining = held_for_target.delete(key)
    node.hints = node.hints.set(target, remaining) if len(remaining) else node.hints.delete(target)


def build_trees(state: NodeState) -> immutables.Map[int, MerkleTree]:
    """The Merkle tree of every range this node replicates, rebuilt from its primary store."""
    config = state.config
    return trees_of(state.ring, state.node_id, config.n, state.durable.data)


def trees_of(
    ring: Ring, node_id: str, n: int, data: immutables.Map[bytes, AnyVersions]
) -> immutables.Map[int, MerkleTree]:
    """The Merkle trees of the ranges `node_id` replicates in `ring`, over its keys there."""
    ranges = ring.ranges_replicated_by(node_id, n)
    entries: dict[int, list[tuple[bytes, bytes]]] = {index: [] for index in ranges}
    if entries:
        for key, versions in data.items():
            bucket = entries.get(ring.range_index(key))
            if bucket is not None:
                bucket.append((key, versions.digest()))
    return immutables.Map({index: build_tree(items) for index, items in entries.items()})
