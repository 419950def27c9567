"""What a node tells remote administration about its ring (`RingRequest`), read from its state.

Ranges are reported by key position: a range's first position is one past the previous token
(wrapping round 2^128), its last is its own token (REQ-RING-2); the keys a node holds in a range
are the size of that range's Merkle tree, so the answer costs no scan of the store.
"""

from __future__ import annotations

from dynref.ring import KEY_SPACE
from dynref.state import NodeState

from dynref_io.wire.frames import RingReply, RingRequest


def position_text(position: int) -> str:
    return f"{position:032x}"


def ring_reply(state: NodeState, request: RingRequest) -> RingReply:
    ring, n, node_id = state.ring, state.config.n, state.node_id
    tokens = ring.tokens
    ranges = []
    for index in ring.ranges_replicated_by(node_id, n):
        first = (tokens[index - 1] + 1) % KEY_SPACE
        tree = state.volatile.trees.get(index)
        ranges.append((
            index,
            position_text(first),
            position_text(tokens[index]),
            ring.range_preference_list(index, n),
            tree.size if tree is not None else 0,
        ))  # fmt: skip
    hints = {owner: len(held) for owner, held in sorted(state.durable.hints.items())}
    key_range: int | None = None
    preference_list: tuple[str, ...] = ()
    targets: tuple[tuple[str, str], ...] = ()
    if request.key is not None:
        key_range = ring.range_index(request.key)
        preference_list = ring.preference_list(request.key, n)
        sloppy = ring.sloppy_targets(request.key, n, state.volatile.down)
        targets = tuple((target.node_id, target.hint_for or "") for target in sloppy)
    return RingReply(
        request.request_id,
        node_id,
        ring.node_ids(),
        n,
        tuple(ranges),
        hints,
        key_range,
        preference_list,
        targets,
    )
