"""A node's own storage: primary versions, hints, and the Merkle trees that summarise them.

Every change to durable state goes through here, so that each one is listed as a durable-write
effect and mirrored in the Merkle tree of its range in the same step.
"""

from __future__ import annotations

import attrs
import immutables

from dynref.causality import AnyVersions, DvvSet, LwwRegister, VclockSiblings, empty_versions
from dynref.merkle import MerkleTree, build_tree
from dynref.messages import DeleteHint, Effect, StoreHint, StoreVersions
from dynref.state import NodeState


def join(left: AnyVersions, right: AnyVersions) -> AnyVersions:
    """Merge two sibling sets of the same mode; a mode mismatch is a ValueError."""
    if isinstance(left, DvvSet) and isinstance(right, DvvSet):
        return left.merge(right)
    if isinstance(left, VclockSiblings) and isinstance(right, VclockSiblings):
        return left.merge(right)
    if isinstance(left, LwwRegister) and isinstance(right, LwwRegister):
        return left.merge(right)
    raise ValueError(f"cannot merge {type(left).__name__} with {type(right).__name__}")


def stored(state: NodeState, key: bytes) -> AnyVersions:
    held = state.durable.data.get(key)
    return held if held is not None else empty_versions(state.config.mode)


def replicates(state: NodeState, key: bytes) -> bool:
    return state.node_id in state.ring.preference_list(key, state.config.n)


def local_view(state: NodeState, key: bytes) -> AnyVersions:
    """What this node can tell of a key: its own versions merged with any hints it holds."""
    view = stored(state, key)
    for held in state.durable.hints.values():
        hinted = held.get(key)
        if hinted is not None:
            view = join(view, hinted)
    return view


def merge_into_store(
    state: NodeState, key: bytes, incoming: AnyVersions, out: list[Effect]
) -> tuple[NodeState, bool]:
    """Merge versions into the primary store; return the new state and whether it changed."""
    current = stored(state, key)
    merged = join(current, incoming)
    if merged == current:
        return state, False
    return replace_stored(state, key, merged, out), True


def replace_stored(
    state: NodeState, key: bytes, versions: AnyVersions, out: list[Effect]
) -> NodeState:
    out.append(StoreVersions(key, versions))
    durable = attrs.evolve(state.durable, data=state.durable.data.set(key, versions))
    volatile = state.volatile
    range_index = state.ring.range_index(key)
    tree = volatile.trees.get(range_index)
    if tree is not None:
        trees = volatile.trees.set(range_index, tree.update(key, versions.digest()))
        volatile = attrs.evolve(volatile, trees=trees)
    return attrs.evolve(state, durable=durable, volatile=volatile)


def merge_into_hint(
    state: NodeState, target: str, key: bytes, incoming: AnyVersions, out: list[Effect]
) -> NodeState:
    held_for_target = state.durable.hints.get(target, immutables.Map())
    current = held_for_target.get(key)
    merged = incoming if current is None else join(current, incoming)
    if merged == current:
        return state
    out.append(StoreHint(target, key, merged))
    hints = state.durable.hints.set(target, held_for_target.set(key, merged))
    return attrs.evolve(state, durable=attrs.evolve(state.durable, hints=hints))


def drop_hint(state: NodeState, target: str, key: bytes, out: list[Effect]) -> NodeState:
    held_for_target = state.durable.hints.get(target)
    if held_for_target is None or key not in held_for_target:
        return state
    out.append(DeleteHint(target, key))
    remaining = held_for_target.delete(key)
    hints = (
        state.durable.hints.set(target, remaining)
        if len(remaining)
        else state.durable.hints.delete(target)
    )
    return attrs.evolve(state, durable=attrs.evolve(state.durable, hints=hints))


def build_trees(state: NodeState) -> immutables.Map[int, MerkleTree]:
    """The Merkle tree of every range this node replicates, rebuilt from its primary store."""
    ranges = state.ring.ranges_replicated_by(state.node_id, state.config.n)
    entries: dict[int, list[tuple[bytes, bytes]]] = {index: [] for index in ranges}
    for key, versions in state.durable.data.items():
        bucket = entries.get(state.ring.range_index(key))
        if bucket is not None:
            bucket.append((key, versions.digest()))
    depth = state.config.merkle_depth
    return immutables.Map({index: build_tree(depth, items) for index, items in entries.items()})
