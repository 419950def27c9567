"""The replica side of writes: storing replicated versions as a primary or as a hint."""

from __future__ import annotations

import attrs

from dynref.local import merge_into_hint, merge_into_store, replicates
from dynref.messages import Effect, ProtocolError, Replicate, ReplicateAck, Send
from dynref.state import NodeState


def on_replicate(state: NodeState, sender: str, message: Replicate, out: list[Effect]) -> NodeState:
    if message.hint_for is None or message.hint_for == state.node_id:
        if not replicates(state, message.key):
            out.append(
                ProtocolError(sender, "replicate to a node outside the key's preference list")
            )
            return state
        state, _ = merge_into_store(state, message.key, message.versions, out)
    else:
        if message.hint_for not in state.ring.node_ids():
            out.append(ProtocolError(sender, f"hint for unknown node {message.hint_for!r}"))
            return state
        state = merge_into_hint(state, message.hint_for, message.key, message.versions, out)
        stats = state.volatile.stats
        stats = attrs.evolve(stats, hinted_writes=stats.hinted_writes + 1)
        state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, stats=stats))
    out.append(Send(sender, ReplicateAck(message.request_id, message.key)))
    return state
