"""How each action changes a cluster: the network, time, node faults and client requests.

Everything here works on a `Draft`; node steps and the routing of their effects live in
`dynref.sim.steps`. Nothing is random: the same draft and action always give the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from dynref.messages import (
    Admin,
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ForwardPut,
    GetOk,
    JoinCluster,
    LeaveCluster,
    Receive,
    Request,
    Restart,
    Tick,
)
from dynref.node import boot
from dynref.sim.actions import (
    Action,
    Crash,
    Delete,
    Deliver,
    Drop,
    Duplicate,
    Get,
    Heal,
    Join,
    Leave,
    LoseDisk,
    Partition,
    PartitionDirected,
    Put,
    QuiesceBegin,
    QuiesceEnd,
    RestartNode,
    TickAll,
    TickNode,
)
from dynref.sim.history import NODE_CRASHED, NODE_DOWN, NoReply, Operation, OperationKind
from dynref.sim.model import Crashed, Draft, InFlight, Quiescence
from dynref.sim.records import DiskLossRecord, ForwardDeliveryRecord, QuiescenceRecord
from dynref.sim.settle import unsettled
from dynref.sim.steps import complete, route, run_step, set_degraded
from dynref.state import NodeState, VolatileState


class InvalidActionError(ValueError):
    """An action that does not apply to this cluster (unknown id, busy client, live restart)."""


def apply(draft: Draft, action: Action) -> None:
    handler = _HANDLERS.get(type(action))
    if handler is None:
        raise InvalidActionError(f"unknown action {action!r}")
    handler(draft, action)
    draft.actions = draft.actions.append(action)
    draft.step += 1


# ---------------------------------------------------------------- the network


def _envelope(draft: Draft, message_id: int) -> InFlight:
    envelope = draft.in_flight.get(message_id)
    if envelope is None:
        raise InvalidActionError(f"no message #{message_id} in flight")
    return envelope


def _deliver(draft: Draft, action: Deliver) -> None:
    envelope = _envelope(draft, action.message_id)
    draft.in_flight = draft.in_flight.delete(action.message_id)
    receiver = draft.live(envelope.receiver)
    if receiver is None or (envelope.sender, envelope.receiver) in draft.blocked:
        draft.bump("lost_to_faults")
        return
    if envelope.operation is not None and isinstance(envelope.message, ForwardPut):
        draft.record(ForwardDeliveryRecord(draft.step, envelope.receiver, envelope.operation))
    event = Receive(envelope.sender, envelope.message)
    run_step(draft, envelope.receiver, receiver, event, envelope.operation)
    draft.bump("delivered")


def _drop(draft: Draft, action: Drop) -> None:
    _envelope(draft, action.message_id)
    draft.in_flight = draft.in_flight.delete(action.message_id)
    draft.bump("dropped")


def _duplicate(draft: Draft, action: Duplicate) -> None:
    envelope = _envelope(draft, action.message_id)
    draft.in_flight = draft.in_flight.set(draft.next_message_id, envelope)
    draft.next_message_id += 1
    draft.bump("duplicated")


def _partition(draft: Draft, action: Partition) -> None:
    group_of: dict[str, int] = {}
    for index, group in enumerate(action.groups):
        for node in group:
            _known(draft, node)
            group_of[node] = index
    rest = len(action.groups)
    nodes = sorted(draft.nodes.keys())
    draft.blocked = frozenset(
        (a, b)
        for a in nodes
        for b in nodes
        if a != b and group_of.get(a, rest) != group_of.get(b, rest)
    )


def _partition_directed(draft: Draft, action: PartitionDirected) -> None:
    for sender, receiver in action.pairs:
        _known(draft, sender)
        _known(draft, receiver)
    draft.blocked = frozenset(action.pairs)


def _heal(draft: Draft, _action: Heal) -> None:
    draft.blocked = frozenset()


# ---------------------------------------------------------------- time and node faults


def _known(draft: Draft, node: str) -> None:
    if node not in draft.nodes:
        raise InvalidActionError(f"no node {node!r}")


def _advance(draft: Draft, node: str, dt: int) -> None:
    if dt < 0:
        raise InvalidActionError(f"time never goes backwards (dt={dt})")
    now = draft.clocks[node] + dt
    draft.clocks = draft.clocks.set(node, now)
    state = draft.live(node)
    if state is not None:
        run_step(draft, node, state, Tick(now))


def _tick_node(draft: Draft, action: TickNode) -> None:
    _known(draft, action.node)
    _advance(draft, action.node, action.dt)


def _tick_all(draft: Draft, action: TickAll) -> None:
    for node in sorted(draft.nodes.keys()):
        _advance(draft, node, action.dt)
    if draft.quiescence is not None and draft.quiescence.ended is None:
        draft.quiescence = attrs.evolve(draft.quiescence, rounds=draft.quiescence.rounds + 1)


def _take_down(draft: Draft, node: str, state: NodeState) -> None:
    """Stop a live node: its pending work and its clients' requests to it are lost."""
    volatile = state.volatile
    if volatile.puts or volatile.gets or volatile.forwards:
        draft.bump("crashes_losing_requests")
    for client in draft.clients:
        pending = draft.client_states[client].pending
        if pending is not None and draft.operations[pending].node == node:
            complete(draft, draft.operations[pending], NoReply(NODE_CRASHED))
    blank = VolatileState(now=0, rng=0)
    draft.nodes = draft.nodes.set(node, Crashed(attrs.evolve(state, volatile=blank)))
    set_degraded(draft, node, False)


def _crash(draft: Draft, action: Crash) -> None:
    _known(draft, action.node)
    state = draft.live(action.node)
    if state is None:
        raise InvalidActionError(f"{action.node} is already crashed")
    _take_down(draft, action.node, state)


def _restart(draft: Draft, action: RestartNode) -> None:
    _known(draft, action.node)
    slot = draft.nodes[action.node]
    if not isinstance(slot, Crashed):
        raise InvalidActionError(f"{action.node} is not crashed")
    run_step(draft, action.node, slot.state, Restart(draft.clocks[action.node]))


def _lose_disk(draft: Draft, action: LoseDisk) -> None:
    _known(draft, action.node)
    live = draft.live(action.node)
    if live is not None:
        _take_down(draft, action.node, live)
    slot = draft.nodes[action.node]
    assert isinstance(slot, Crashed)
    incarnation = slot.state.durable.incarnation + 1
    booted = boot(draft.config, action.node, incarnation, draft.clocks[action.node])
    draft.nodes = draft.nodes.set(action.node, booted.state)
    draft.record(DiskLossRecord(draft.step, action.node, incarnation))
    route(draft, action.node, booted.state, booted.ready)


# ---------------------------------------------------------------- clients


def _client_request(draft: Draft, client: str, node: str, kind: OperationKind, key: bytes) -> None:
    _known(draft, node)
    state = draft.client_states.get(client)
    if state is None:
        raise InvalidActionError(f"no client {client!r}")
    if state.pending is not None:
        raise InvalidActionError(f"{client} already waits for operation {state.pending}")
    op_id = draft.next_operation
    draft.next_operation += 1
    read_from = state.last_reads.get(key) if kind is not OperationKind.GET else None
    context = b""
    if read_from is not None:
        last = draft.operations[read_from].result
        assert isinstance(last, GetOk)
        context = last.context
    puts_issued = state.puts_issued + (kind is OperationKind.PUT)
    value = f"{client}:{puts_issued}".encode() if kind is OperationKind.PUT else None
    op = Operation(op_id, client, kind, node, key, draft.step, value, context, read_from)
    draft.operations = draft.operations.set(op_id, op)
    draft.client_states = draft.client_states.set(
        client, attrs.evolve(state, pending=op_id, puts_issued=puts_issued)
    )
    live = draft.live(node)
    if live is None:
        complete(draft, op, NoReply(NODE_DOWN))
        return
    request: ClientRequest
    if kind is OperationKind.GET:
        request = ClientGet(op_id, key)
    elif kind is OperationKind.PUT:
        assert value is not None
        request = ClientPut(op_id, key, value, context)
    else:
        request = ClientDelete(op_id, key, context)
    run_step(draft, node, live, Request(request))


def _get(draft: Draft, action: Get) -> None:
    _client_request(draft, action.client, action.node, OperationKind.GET, action.key)


def _put(draft: Draft, action: Put) -> None:
    _client_request(draft, action.client, action.node, OperationKind.PUT, action.key)


def _delete(draft: Draft, action: Delete) -> None:
    _client_request(draft, action.client, action.node, OperationKind.DELETE, action.key)


# ---------------------------------------------------------------- membership


def _join(draft: Draft, action: Join) -> None:
    if action.node not in draft.nodes:
        # The seed's clock, or the slowest one when the seed is unknown (the node refuses that).
        now = draft.clocks.get(action.seed, min(draft.clocks.values()))
        booted = boot(draft.config, action.node, 0, now)
        draft.nodes = draft.nodes.set(action.node, booted.state)
        draft.clocks = draft.clocks.set(action.node, now)
        route(draft, action.node, booted.state, booted.ready)
    _admin(draft, action.node, JoinCluster(draft.step, action.seed, 1, ""))


def _leave(draft: Draft, action: Leave) -> None:
    _known(draft, action.node)
    _admin(draft, action.node, LeaveCluster(draft.step))


def _admin(draft: Draft, node: str, request: JoinCluster | LeaveCluster) -> None:
    state = draft.live(node)
    if state is None:
        raise InvalidActionError(f"{node} is crashed")
    run_step(draft, node, state, Admin(request))


# ---------------------------------------------------------------- quiescence


def _quiesce_begin(draft: Draft, action: QuiesceBegin) -> None:
    draft.quiescence = Quiescence(draft.step, action.bound, action.step_ms)


def _quiesce_end(draft: Draft, _action: QuiesceEnd) -> None:
    if draft.quiescence is None:
        raise InvalidActionError("QuiesceEnd without QuiesceBegin")
    reasons = unsettled(draft.config, draft.nodes, len(draft.in_flight))
    quiescence = draft.quiescence
    converged = not reasons and quiescence.rounds <= quiescence.bound
    draft.quiescence = attrs.evolve(
        quiescence, ended=draft.step, converged=converged, unsettled=reasons
    )
    draft.record(
        QuiescenceRecord(
            draft.step, quiescence.began, quiescence.rounds, quiescence.bound, converged, reasons
        )
    )


_HANDLERS: dict[type, Callable[[Draft, Any], None]] = {
    Deliver: _deliver,
    Drop: _drop,
    Duplicate: _duplicate,
    TickNode: _tick_node,
    TickAll: _tick_all,
    Crash: _crash,
    RestartNode: _restart,
    LoseDisk: _lose_disk,
    Partition: _partition,
    PartitionDirected: _partition_directed,
    Heal: _heal,
    Get: _get,
    Put: _put,
    Delete: _delete,
    Join: _join,
    Leave: _leave,
    QuiesceBegin: _quiesce_begin,
    QuiesceEnd: _quiesce_end,
}

__all__ = ["InvalidActionError", "apply", "complete", "run_step"]
