"""Local, communication-based failure detection (the paper's section 4.8.1).

A request to a peer that times out marks it down in this node's view; any message from it marks
it up again. Peers believed down are probed periodically. There is no global view of failure.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from dynref.messages import Effect, Probe, ProbeAck, Send
from dynref.state import NodeState


def mark_down(state: NodeState, peers: Iterable[str]) -> NodeState:
    newly_down = frozenset(peers) - {state.node_id}
    if newly_down <= state.volatile.down:
        return state
    volatile = attrs.evolve(state.volatile, down=state.volatile.down | newly_down)
    return attrs.evolve(state, volatile=volatile)


def mark_up(state: NodeState, peer: str) -> NodeState:
    if peer not in state.volatile.down:
        return state
    return attrs.evolve(
        state, volatile=attrs.evolve(state.volatile, down=state.volatile.down - {peer})
    )


def on_probe_timer(state: NodeState, out: list[Effect]) -> NodeState:
    volatile = state.volatile
    if volatile.now < volatile.next_probe:
        return state
    for peer in sorted(volatile.down):
        out.append(Send(peer, Probe(volatile.now)))
    next_probe = volatile.now + state.config.probe_interval
    return attrs.evolve(state, volatile=attrs.evolve(volatile, next_probe=next_probe))


def on_probe(state: NodeState, sender: str, message: Probe, out: list[Effect]) -> NodeState:
    out.append(Send(sender, ProbeAck(message.nonce)))
    return state
