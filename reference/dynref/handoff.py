"""Hinted handoff: a node holding versions for an unreachable owner delivers them later.

A hint is deleted only after its owner acknowledged versions with the very digest the hint still
holds; a hint that grew meanwhile stays until a later round delivers the rest (INV-HINT-1).
"""

from __future__ import annotations

import attrs

from dynref.local import drop_hint, merge_into_store, replicates
from dynref.messages import Effect, Handoff, HandoffAck, ProtocolError, Send
from dynref.state import NodeState


def on_handoff_timer(state: NodeState, out: list[Effect]) -> NodeState:
    volatile = state.volatile
    if volatile.now < volatile.next_handoff:
        return state
    for target, held in state.durable.hints.items():
        if target in volatile.down:
            continue  # the probe marks it up once it answers
        for key, versions in held.items():
            out.append(Send(target, Handoff(key, versions)))
    next_handoff = volatile.now + state.config.handoff_interval
    return attrs.evolve(state, volatile=attrs.evolve(volatile, next_handoff=next_handoff))


def on_handoff(state: NodeState, sender: str, message: Handoff, out: list[Effect]) -> NodeState:
    if not replicates(state, message.key):
        out.append(ProtocolError(sender, "handoff to a node outside the key's preference list"))
        return state
    state, _ = merge_into_store(state, message.key, message.versions, out)
    out.append(Send(sender, HandoffAck(message.key, message.versions.digest())))
    return state


def on_handoff_ack(
    state: NodeState, sender: str, message: HandoffAck, out: list[Effect]
) -> NodeState:
    held = state.durable.hints.get(sender)
    versions = None if held is None else held.get(message.key)
    if versions is None or versions.digest() != message.digest:
        return state  # already dropped, or the hint grew since that handoff was sent
    state = drop_hint(state, sender, message.key, out)
    stats = state.volatile.stats
    stats = attrs.evolve(stats, hints_handed_off=stats.hints_handed_off + 1)
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, stats=stats))
