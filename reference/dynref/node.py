"""The node as a pure state machine: `step(state, event) -> Step`.

`step` is the one entry point. It never raises and never performs I/O: effects come back in
order, and sorted by where they go in `Step.ready` (dynref.ready); an adapter must make a step's
durable writes durable before it releases that step's messages and replies (persist, then
send). The handlers change a `Draft` of the state, which the step freezes once at its end
(state.py says why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from dynref import antientropy, coordinator, gossip, handoff, liveness, replica, transfer
from dynref.causality import Mode, mode_of
from dynref.config import ClusterConfig
from dynref.limits import peer_message_problem
from dynref.local import build_trees, misplaced
from dynref.membership import current_ring, future_ring, initial_membership
from dynref.messages import (
    MESSAGE_TYPES,
    Admin,
    Effect,
    Event,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    Gossip,
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
    Transfer,
    TransferAck,
    TransferDigests,
    TransferOffered,
)
from dynref.prng import derive_seed
from dynref.ready import Ready, ready_of
from dynref.state import (
    LIFE_BITS,
    SEQUENCE_BITS,
    Draft,
    DurableState,
    ForwardMemory,
    NodeState,
    VolatileState,
)


@attrs.frozen
class Step:
    """A step's outcome: the next state, its effects in emission order, and the same effects
    sorted by where they go (`ready`, what drivers act on: persist, then send)."""

    state: NodeState
    effects: tuple[Effect, ...]
    ready: Ready = attrs.field(
        default=attrs.Factory(lambda self: ready_of(self.effects), takes_self=True)
    )


Handler = Callable[[Draft, str, Any, list[Effect]], None]

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
    ProbeAck: lambda _node, _sender, _message, _out: None,
    MerkleCompare: antientropy.on_merkle_compare,
    MerkleLeaves: antientropy.on_merkle_leaves,
    SyncKeys: antientropy.on_sync_keys,
    Gossip: gossip.on_gossip,
    Transfer: transfer.on_transfer,
    TransferAck: transfer.on_transfer_ack,
    TransferDigests: transfer.on_transfer_digests,
    TransferOffered: transfer.on_transfer_offered,
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
        next_gossip=now + config.gossip_interval,
        request_id_base=request_id_base(durable),
        forward_memory=ForwardMemory(renew_at=now + forward_memory_window(config)),
    )


def request_id_base(durable: DurableState) -> int:
    """The high bits of this life's request ids: a hash of (incarnation, boot count).

    The boot count alone repeats after a disk loss (a new incarnation boots at 0), and then a
    stale acknowledgement could count toward W. Two lives of a node collide with probability
    2**-31; a collision matters only if a reply to the earlier life is still in flight.
    """
    life = derive_seed("request ids", durable.incarnation, durable.boots) & ((1 << LIFE_BITS) - 1)
    return life << SEQUENCE_BITS


def forward_memory_window(config: ClusterConfig) -> int:
    """How long a forwarded put is remembered against duplicates, at least."""
    return 4 * config.forward_timeout


def boot(config: ClusterConfig, node_id: str, incarnation: int, now: int) -> Step:
    """A node starting with an empty disk under a fresh incarnation (never reused, riak_kv 679).

    A node outside the configuration's members starts outside the cluster, holding nothing,
    until an admin `JoinCluster` makes it a joining member (SPEC section 12).
    """
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
    stored_modes = {mode_of(versions) for versions in durable.data.values()}
    for held in durable.hints.values():
        stored_modes |= {mode_of(versions) for versions in held.values()}
    if stored_modes - {config.mode}:
        found = ", ".join(sorted(mode.value for mode in stored_modes))
        raise ValueError(
            f"the store holds {found} versions but the cluster runs {config.mode.value}"
        )
    membership = initial_membership(config.nodes).merge(durable.membership)
    ring = current_ring(membership, config.ring)
    future = future_ring(membership, config.ring)
    state = NodeState(
        config=config,
        ring=ring,
        durable=durable,
        volatile=fresh_volatile(config, durable, now),
        membership=membership,
        future=None if future == ring else future,
    )
    trees = build_trees(state)
    return Step(attrs.evolve(state, volatile=attrs.evolve(state.volatile, trees=trees)), effects)


def step(state: NodeState, event: Event) -> Step:
    """Apply one event. Never raises: a defect in the input becomes a ProtocolError effect."""
    out: list[Effect] = []
    try:
        if isinstance(event, Restart):
            return recover(state.config, state.durable, event.now)
        node = Draft(state)
        _dispatch(node, event, out)
        ready = ready_of(out)
        if ready.errors:
            node.count("protocol_errors", len(ready.errors))
        return Step(node.freeze(), tuple(out), ready)
    except Exception as exc:  # the contract: nothing escapes step
        reason = f"internal error on {type(event).__name__}: {type(exc).__name__}: {exc}"
        failed = Draft(state)
        failed.count("protocol_errors")
        return Step(failed.freeze(), (ProtocolError(None, reason),))


def _dispatch(node: Draft, event: object, out: list[Effect]) -> None:
    if isinstance(event, Receive):
        _receive(node, event, out)
    elif isinstance(event, Request):
        coordinator.on_client_request(node, event.request, out)
    elif isinstance(event, Tick):
        on_tick(node, event.now, out)
    elif isinstance(event, Admin):
        gossip.on_admin(node, event.request, out)
    else:
        out.append(ProtocolError(None, f"unknown event {type(event).__name__}"))


ANSWERED_FROM_ANYONE = (Gossip, Probe, ProbeAck)
"""Messages taken from a peer this node does not count as a member (see `_receive`)."""


def _receive(node: Draft, event: Receive, out: list[Effect]) -> None:
    sender, message = event.sender, event.message
    if sender == node.node_id:
        out.append(ProtocolError(sender, f"message from itself {sender!r}"))
        return
    # Gossip may introduce its sender (a joining node announcing itself): on_gossip checks it.
    # Probes only say who is up, and are answered whoever asks: a node that every member forgot
    # with their disks (and that forgot itself) never gossips, and would believe them down for
    # good (REQ-FD-3). Any other message from a peer this node does not know comes from a member
    # it has not learnt of yet, or forgot with its disk: refused and counted, as a lagging
    # view's messages are (REQ-MEMBER-6); its gossip will introduce it.
    if not node.membership.is_member(sender) and not isinstance(message, ANSWERED_FROM_ANYONE):
        misplaced(node)
        return
    handler = HANDLERS.get(type(message))
    if handler is None:
        out.append(ProtocolError(sender, f"unknown message {type(message).__name__}"))
        return
    if _carries_other_mode(message, node.config.mode):
        out.append(ProtocolError(sender, "versions of another causality mode"))
        return
    beyond = peer_message_problem(node.config, message)
    if beyond is not None:
        out.append(ProtocolError(sender, f"{type(message).__name__} refused: {beyond}"))
        return
    liveness.mark_up(node, sender)
    if sender not in node.heard_from and node.membership.changed():
        node.heard_from = node.heard_from | {sender}
    handler(node, sender, message, out)


_CARRYING_VERSIONS = (Replicate, FetchReply, Handoff)  # each with one `versions` field


def _carries_other_mode(message: object, mode: Mode) -> bool:
    if isinstance(message, _CARRYING_VERSIONS):
        return mode_of(message.versions) is not mode
    if isinstance(message, SyncKeys | Transfer):
        return any(mode_of(versions) is not mode for _, versions in message.items)
    return False


def on_tick(node: Draft, now: int, out: list[Effect]) -> None:
    node.now = max(node.now, now)
    node.forward_memory = node.forward_memory.aged(node.now, forward_memory_window(node.config))
    # Nothing pending expires before the earliest deadline: most ticks skip the scan.
    if node.next_deadline is not None and node.next_deadline <= node.now:
        coordinator.on_deadlines(node, out)
    handoff.on_handoff_timer(node, out)
    liveness.on_probe_timer(node, out)
    antientropy.on_antientropy_timer(node, out)
    gossip.on_gossip_timer(node, out)
