"""The node as a pure state machine: `step(state, event) -> Step`.

`step` is the one entry point. It never raises and never performs I/O: effects come back in
order, and an adapter must make a step's durable writes durable before it releases that step's
messages and replies (persist, then send).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from dynref import antientropy, coordinator, handoff, liveness, replica
from dynref.causality import AnyVersions, mode_of
from dynref.config import ClusterConfig
from dynref.local import build_trees
from dynref.messages import (
    MESSAGE_TYPES,
    Effect,
    Event,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    Handoff,
    HandoffAck,
    MerkleCompare,
    MerkleLeaves,
    Probe,
    ProbeAck,
    ProtocolError,
    Receive,
    Replicate,
    ReplicateAck,
    Request,
    Restart,
    StoreMeta,
    SyncKeys,
    Tick,
)
from dynref.prng import derive_seed
from dynref.ring import build_ring
from dynref.state import DurableState, NodeState, VolatileState


@attrs.frozen
class Step:
    state: NodeState
    effects: tuple[Effect, ...]


Handler = Callable[[NodeState, str, Any, list[Effect]], NodeState]

HANDLERS: dict[type, Handler] = {
    ForwardPut: coordinator.on_forward_put,
    ForwardReply: coordinator.on_forward_reply,
    Replicate: replica.on_replicate,
    ReplicateAck: coordinator.on_replicate_ack,
    Fetch: coordinator.on_fetch,
    FetchReply: coordinator.on_fetch_reply,
    Handoff: handoff.on_handoff,
    HandoffAck: handoff.on_handoff_ack,
    Probe: liveness.on_probe,
    ProbeAck: lambda state, _sender, _message, _out: state,
    MerkleCompare: antientropy.on_merkle_compare,
    MerkleLeaves: antientropy.on_merkle_leaves,
    SyncKeys: antientropy.on_sync_keys,
}
assert set(HANDLERS) == set(MESSAGE_TYPES), "every message type has a handler"


def fresh_volatile(config: ClusterConfig, durable: DurableState, now: int) -> VolatileState:
    """Volatile state as a restart finds it: timers armed from `now`, nothing pending."""
    return VolatileState(
        now=now,
        rng=derive_seed(config.seed, durable.node_id, durable.incarnation, durable.boots),
        next_handoff=now + config.handoff_interval,
        next_antientropy=now + config.antientropy_interval,
        next_probe=now + config.probe_interval,
    )


def boot(config: ClusterConfig, node_id: str, incarnation: int, now: int) -> Step:
    """A node starting with an empty disk under a fresh incarnation (never reused, riak_kv 679)."""
    durable = DurableState(node_id=node_id, incarnation=incarnation, boots=0)
    return _start(config, durable, now, (StoreMeta(node_id, incarnation, 0),))


def recover(config: ClusterConfig, durable: DurableState, now: int) -> Step:
    """A node starting from the durable state its disk kept; its boot count advances."""
    durable = attrs.evolve(durable, boots=durable.boots + 1)
    meta = StoreMeta(durable.node_id, durable.incarnation, durable.boots)
    return _start(config, durable, now, (meta,))


def _start(
    config: ClusterConfig, durable: DurableState, now: int, effects: tuple[Effect, ...]
) -> Step:
    if durable.node_id not in {spec.node_id for spec in config.nodes}:
        raise ValueError(f"node {durable.node_id!r} is not a member of the cluster")
    stored_modes = {mode_of(versions) for versions in durable.data.values()}
    for held in durable.hints.values():
        stored_modes |= {mode_of(versions) for versions in held.values()}
    if stored_modes - {config.mode}:
        found = ", ".join(sorted(mode.value for mode in stored_modes))
        raise ValueError(
            f"the store holds {found} versions but the cluster runs {config.mode.value}"
        )
    state = NodeState(
        config=config,
        ring=build_ring(config.nodes, config.ring),
        durable=durable,
        volatile=fresh_volatile(config, durable, now),
    )
    trees = build_trees(state)
    return Step(attrs.evolve(state, volatile=attrs.evolve(state.volatile, trees=trees)), effects)


def step(state: NodeState, event: Event) -> Step:
    """Apply one event. Never raises: a defect in the input becomes a ProtocolError effect."""
    out: list[Effect] = []
    try:
        new_state = _dispatch(state, event, out)
    except Exception as exc:  # the contract: nothing escapes step
        reason = f"internal error on {type(event).__name__}: {type(exc).__name__}: {exc}"
        return Step(_count_errors(state, 1), (ProtocolError(None, reason),))
    errors = sum(isinstance(effect, ProtocolError) for effect in out)
    return Step(_count_errors(new_state, errors) if errors else new_state, tuple(out))


def _count_errors(state: NodeState, count: int) -> NodeState:
    stats = state.volatile.stats
    stats = attrs.evolve(stats, protocol_errors=stats.protocol_errors + count)
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, stats=stats))


def _dispatch(state: NodeState, event: object, out: list[Effect]) -> NodeState:
    if isinstance(event, Receive):
        return _receive(state, event, out)
    if isinstance(event, Request):
        return coordinator.on_client_request(state, event.request, out)
    if isinstance(event, Tick):
        return on_tick(state, event.now, out)
    if isinstance(event, Restart):
        restarted = recover(state.config, state.durable, event.now)
        out.extend(restarted.effects)
        return restarted.state
    out.append(ProtocolError(None, f"unknown event {type(event).__name__}"))
    return state


def _receive(state: NodeState, event: Receive, out: list[Effect]) -> NodeState:
    sender, message = event.sender, event.message
    if sender == state.node_id or sender not in state.ring.node_ids():
        out.append(ProtocolError(sender, f"message from unknown peer {sender!r}"))
        return state
    handler = HANDLERS.get(type(message))
    if handler is None:
        out.append(ProtocolError(sender, f"unknown message {type(message).__name__}"))
        return state
    carried = _versions_carried(message)
    if any(mode_of(versions) is not state.config.mode for versions in carried):
        out.append(ProtocolError(sender, "versions of another causality mode"))
        return state
    state = liveness.mark_up(state, sender)
    return handler(state, sender, message, out)


def _versions_carried(message: object) -> list[AnyVersions]:
    if isinstance(message, Replicate | FetchReply | Handoff):
        return [message.versions]
    if isinstance(message, SyncKeys):
        return [versions for _, versions in message.items]
    return []


def on_tick(state: NodeState, now: int, out: list[Effect]) -> NodeState:
    if now > state.volatile.now:
        state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, now=now))
    state = coordinator.on_deadlines(state, out)
    state = handoff.on_handoff_timer(state, out)
    state = liveness.on_probe_timer(state, out)
    return antientropy.on_antientropy_timer(state, out)
