"""One node step inside a cluster: run `step`, then act on its `Ready` as a node would.

The step's durable writes become audit records first (a simulated disk is durable at once),
then its sends enter the in-flight bag under fresh ids and its replies complete client
operations; its protocol errors become audit records last. The counters follow along: whether
some live node believes a peer down (`DegradedRecord`), hints stored and handed off, repairs,
and the executions of client writes at their coordinators.
"""

from __future__ import annotations

import attrs

from dynref.causality import AnyVersions, LwwRegister, merge_versions
from dynref.messages import (
    Admin,
    AdminOk,
    ClientGet,
    ClientPut,
    DeleteHint,
    DropVersions,
    DurableWrite,
    Event,
    ForwardPut,
    GetOk,
    HandoffAck,
    Receive,
    Reply,
    Request,
    StoreHint,
    StoreVersions,
)
from dynref.node import step
from dynref.ready import Ready
from dynref.sim.history import ClientState, Operation, OperationResult
from dynref.sim.model import Draft, InFlight
from dynref.sim.records import (
    AdminRecord,
    DegradedRecord,
    DiskLossRecord,
    DropRecord,
    DurableRecord,
    ExecutionRecord,
    HandoffAckRecord,
    ProtocolErrorRecord,
    holds_write,
)
from dynref.state import NodeState


def run_step(
    draft: Draft, node: str, pre: NodeState, event: Event, operation: int | None = None
) -> None:
    """Step `node` and route the effects; `operation` is the client operation a received
    ForwardPut carries (see `InFlight.operation`)."""
    result = step(pre, event)
    post = result.state
    draft.nodes = draft.nodes.set(node, post)
    if isinstance(event, Receive) and isinstance(event.message, HandoffAck):
        # Recorded before the step's effects, so that a DeleteHint follows its ack.
        ack = event.message
        draft.record(HandoffAckRecord(draft.step, node, event.sender, ack.key, ack.digest))
    ready = result.ready
    if isinstance(event, Admin):
        # An admin request's answer is an audit record: no client operation waits for it.
        for reply in ready.replies:
            draft.record(AdminRecord(draft.step, node, event.request, reply.result))
        ready = attrs.evolve(ready, replies=())
    route(draft, node, post, ready)
    for durable in ready.writes:
        if isinstance(durable, DropVersions):
            _record_drop(draft, node, pre, ready.writes, durable.key)
    if post.membership.changed():
        # While the membership moves, reads may miss writes that W counted at old owners, as
        # with fallbacks: the window is degraded for the strict read checks (SPEC section 12).
        if (
            post.volatile.down is not pre.volatile.down
            or post.membership is not pre.membership
            or post.durable.data is not pre.durable.data
        ):
            set_degraded(draft, node, bool(post.volatile.down) or moving(post))
    elif post.volatile.down is not pre.volatile.down:
        set_degraded(draft, node, bool(post.volatile.down))
    if post.volatile.stats is not pre.volatile.stats:
        before, after = pre.volatile.stats, post.volatile.stats
        repairs = max(0, after.read_repairs - before.read_repairs)
        synced = max(0, after.antientropy_keys_repaired - before.antientropy_keys_repaired)
        if repairs or synced:
            draft.bump("read_repairs", repairs)
            draft.bump("antientropy_repairs", synced)
    if isinstance(event, Receive):
        message = event.message
        if isinstance(message, ForwardPut):
            write = (operation, message.key, message.value)
            _note_execution(draft, node, pre, post, result.ready.writes, write)
    elif isinstance(event, Request) and not isinstance(event.request, ClientGet):
        request = event.request
        value = request.value if isinstance(request, ClientPut) else None
        write = (request.request_id, request.key, value)
        _note_execution(draft, node, pre, post, result.ready.writes, write)


def route(draft: Draft, node: str, post: NodeState, ready: Ready) -> None:
    """Persist (record), then send and reply, then note the protocol errors."""
    for write in ready.writes:
        draft.record(DurableRecord(draft.step, node, write))
        if isinstance(write, StoreHint):
            draft.bump("sloppy_writes")
        elif isinstance(write, DeleteHint):
            draft.bump("handoffs")
    for send in ready.sends:
        message = send.message
        operation = None
        if isinstance(message, ForwardPut):
            pending = post.volatile.forwards.get(message.forward_id)
            operation = None if pending is None else pending.client_request_id
        message_id = draft.next_message_id
        draft.in_flight = draft.in_flight.set(
            message_id, InFlight(node, send.to, message, operation)
        )
        draft.next_message_id = message_id + 1
    for reply in ready.replies:
        _on_reply(draft, node, reply)
    for error in ready.errors:
        record = ProtocolErrorRecord(draft.step, node, error)
        draft.record(record)
        draft.bump("protocol_errors")
        draft.bump("internal_errors", int(record.internal))


def _note_execution(
    draft: Draft,
    node: str,
    pre: NodeState,
    post: NodeState,
    writes: tuple[DurableWrite, ...],
    write: tuple[int | None, bytes, bytes | None],
) -> None:
    """Record that the coordinator applied a put or delete (operation, key, value), if it did."""
    operation, key, value = write
    stored = next(
        (w for w in writes if isinstance(w, StoreVersions) and w.key == key),
        None,
    )
    if stored is None:
        return
    actor, timestamp = post.durable.actor, pre.volatile.now
    versions = stored.versions
    if isinstance(versions, LwwRegister):
        # In lww the coordinator may stamp a write later than its clock (REQ-LWW-1): the new
        # version is the stored one if it is new, by this actor, with this value; else the
        # write lost at its coordinator, at the clock's time.
        winner = versions.winner
        before = pre.durable.data.get(key)
        if (
            winner is not None
            and winner.actor == actor
            and winner.value == value
            and (before is None or before != versions)
        ):
            timestamp = winner.timestamp
    applied = holds_write(versions, actor, timestamp, value)
    draft.record(
        ExecutionRecord(draft.step, node, operation, key, value, actor, timestamp, applied)
    )


def moving(state: NodeState) -> bool:
    """A member is joining or leaving in this node's view, or it holds keys it must hand on."""
    if state.membership.in_transition():
        return True
    ring, n, node_id = state.ring, state.config.n, state.durable.node_id
    return any(node_id not in ring.preference_list(key, n) for key in state.durable.data)


def _record_drop(
    draft: Draft, node: str, pre: NodeState, writes: tuple[DurableWrite, ...], key: bytes
) -> None:
    """Which other nodes hold versions covering the ones `node` just dropped (INV-MEMBER-4)."""
    dropped: AnyVersions | None = pre.durable.data.get(key)
    for write in writes:  # a version stored earlier in the same step was dropped too
        if isinstance(write, StoreVersions) and write.key == key:
            dropped = write.versions
    covered_by: list[str] = []
    for other in sorted(draft.nodes.keys()):
        if other == node or dropped is None:
            continue
        slot = draft.nodes[other]
        durable = slot.durable if isinstance(slot, NodeState) else slot.state.durable
        held = durable.data.get(key)
        if held is not None and merge_versions(held, dropped) == held:
            covered_by.append(other)
    lost_with: list[str] = []
    if not covered_by and dropped is not None:
        lost_with = _lost_custodians(draft, node, key, dropped)
    draft.record(DropRecord(draft.step, node, key, tuple(covered_by), tuple(lost_with)))


def _lost_custodians(draft: Draft, node: str, key: bytes, dropped: AnyVersions) -> list[str]:
    """Other nodes that durably stored versions covering `dropped` and lost their disk since:
    the drop trusted their acknowledgement, true when they sent it (a disk loss, which
    INV-ACK-2 judges). Only asked when no node covers the drop, which is rare."""
    stored: set[str] = set()
    lost: set[str] = set()
    for record in draft.records.items():
        if isinstance(record, DurableRecord) and record.node != node:
            write = record.write
            if (
                isinstance(write, StoreVersions)
                and write.key == key
                and merge_versions(write.versions, dropped) == write.versions
            ):
                stored.add(record.node)
        elif isinstance(record, DiskLossRecord) and record.node in stored:
            lost.add(record.node)
    return sorted(lost)


def set_degraded(draft: Draft, node: str, believes_some_down: bool) -> None:
    before = bool(draft.degraded)
    degraded = draft.degraded | {node} if believes_some_down else draft.degraded - {node}
    if degraded == draft.degraded:
        return
    draft.degraded = degraded
    if bool(degraded) != before:
        draft.record(DegradedRecord(draft.step, bool(degraded), tuple(sorted(degraded))))


def _on_reply(draft: Draft, node: str, reply: Reply) -> None:
    if isinstance(reply.result, AdminOk):
        return  # an admin request's answer: no client operation waits for it
    op = draft.operations.get(reply.request_id)
    if op is None or op.completed is not None or op.node != node:
        draft.bump("stray_replies")
        return
    complete(draft, op, reply.result)


def complete(draft: Draft, op: Operation, result: OperationResult) -> None:
    draft.operations = draft.operations.set(op.op_id, op.completed_with(draft.step, result))
    client = draft.client_states[op.client]
    last_reads = client.last_reads
    if isinstance(result, GetOk):
        last_reads = last_reads.set(op.key, op.op_id)
        siblings = len(result.values)
        if siblings >= 2:
            draft.bump("reads_with_siblings")
        largest = draft.counter("largest_sibling_set")
        if siblings > largest:
            draft.bump("largest_sibling_set", siblings - largest)
    draft.client_states = draft.client_states.set(
        op.client, ClientState(None, client.puts_issued, last_reads)
    )
