"""The History a simulated run's clients saw (spec/history.md), for the black-box checkers.

`history_of(cluster)` turns a cluster value into a `dynref.history.History` holding only what
a client, or the harness driving the clients and the faults, could observe:

- the header: the cluster's capabilities (`capabilities_of`): its causality mode; contexts
  that carry causality (in lww a context names the stamp of the version read or written, and a
  write is stamped above it: REQ-LWW-1); siblings (not in lww); deletes; per-request R/W; no
  strict quorum (sloppy quorum may use fallbacks); replica reads; N/R/W;
- one `Op` per client operation. Times are trace step indexes: an operation is invoked at the
  step of its client action and completes at the step that delivered its reply. The outcome:
  `ok` for GetOk and PutOk; `fail` for a failed get and for a write that never left the client
  (its node was down) or was refused before anything was stored (InvalidContext, TooLarge,
  InvalidRequest); `info` for any other write that was not acknowledged (QuorumNotReached:
  stored by its coordinator; Unavailable, or a crash of its node: perhaps forwarded) and for
  an operation still pending;
- the faults the run injected, at their steps: crashes (`kill`), restarts, partitions, heals
  and disk losses; and `redeliver` each time the network delivered a forwarded write (a
  ForwardPut) for the second time or later, whether a duplicated message or a retry to the
  next coordinator: each may run the write again;
- when the run ended with a quiescence (its last action was `QuiesceEnd`), final reads at that
  step: for each key any operation touched, a read of each preference-list node's own replica
  (what the node would answer a Fetch: its store merged with hints it holds for the key) and a
  read through the store (the merge of those replicas, what a read with R = N returns there).

Keys and values are decoded as UTF-8 (bytes that are not valid UTF-8 keep their value through
`surrogateescape`, so distinct bytes stay distinct strings).
"""

from __future__ import annotations

from dynref.causality import AnyVersions, Mode, empty_versions, merge_versions, read_context
from dynref.config import ClusterConfig
from dynref.history import (
    Capabilities,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
)
from dynref.messages import GetOk, InvalidContext, InvalidRequest, PutOk, TooLarge
from dynref.sim.actions import Crash, Heal, LoseDisk, Partition, PartitionDirected, RestartNode
from dynref.sim.cluster import Cluster
from dynref.sim.history import NODE_DOWN, NoReply, Operation, OperationKind, result_name
from dynref.sim.records import ForwardDeliveryRecord

_REFUSED = (InvalidContext, TooLarge, InvalidRequest)


def capabilities_of(config: ClusterConfig) -> Capabilities:
    return Capabilities(
        causality=config.mode,
        contexts=True,
        siblings=config.mode is not Mode.LWW,
        deletes=True,
        per_request_rw=True,
        strict_quorum=False,
        replica_reads=True,
        n=config.n,
        r=config.r,
        w=config.w,
    )


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def history_of(cluster: Cluster, seed: int | None = None) -> History:
    config = cluster.config
    header = Header(
        capabilities_of(config),
        target=f"dynref simulator ({config.mode.value})",
        nodes=cluster.node_ids(),
        seed=seed,
    )
    ops = tuple(op_of(operation) for operation in cluster.history())
    return History(header, ops, final_reads(cluster), faults_of(cluster))


def op_of(operation: Operation) -> Op:
    result = operation.result
    kind = OpKind(operation.kind.value)
    values = None
    returned = None
    if isinstance(result, GetOk):
        values = tuple(text(value) for value in result.values)
        returned = result.context
    elif isinstance(result, PutOk):
        returned = result.context or None  # lww names the version written; others return none
    return Op(
        id=operation.op_id,
        client=operation.client,
        kind=kind,
        key=text(operation.key),
        coordinator=operation.node,
        invoked=operation.invoked,
        outcome=outcome_of(operation),
        completed=operation.completed,
        value=None if operation.value is None else text(operation.value),
        context_sent=operation.context if operation.is_write else None,
        context_returned=returned,
        values=values,
        error=None if isinstance(result, GetOk | PutOk) else _error(operation),
    )


def outcome_of(operation: Operation) -> Outcome:
    result = operation.result
    if result is None:
        return Outcome.INFO
    if isinstance(result, GetOk | PutOk):
        return Outcome.OK
    if operation.kind is OperationKind.GET or isinstance(result, _REFUSED):
        return Outcome.FAIL
    if isinstance(result, NoReply) and result.reason == NODE_DOWN:
        return Outcome.FAIL
    return Outcome.INFO


def _error(operation: Operation) -> str:
    result = operation.result
    if isinstance(result, NoReply):
        return result.reason
    return result_name(result) if result is None else repr(result)


def faults_of(cluster: Cluster) -> tuple[Fault, ...]:
    faults: list[Fault] = []
    for step, action in enumerate(cluster.trace_actions()):
        if isinstance(action, Crash):
            faults.append(Fault(FaultKind.KILL, step, action.node))
        elif isinstance(action, RestartNode):
            faults.append(Fault(FaultKind.RESTART, step, action.node))
        elif isinstance(action, LoseDisk):
            faults.append(Fault(FaultKind.DISK_LOSS, step, action.node))
        elif isinstance(action, Partition):
            faults.append(Fault(FaultKind.PARTITION, step, groups=action.groups))
        elif isinstance(action, PartitionDirected):
            faults.append(Fault(FaultKind.PARTITION, step, pairs=action.pairs))
        elif isinstance(action, Heal):
            faults.append(Fault(FaultKind.HEAL, step))
    delivered: set[int] = set()
    for record in cluster.audit_records():
        if isinstance(record, ForwardDeliveryRecord):
            if record.operation in delivered:
                faults.append(
                    Fault(FaultKind.REDELIVER, record.step, record.node, op=record.operation)
                )
            delivered.add(record.operation)
    faults.sort(key=lambda fault: fault.time)
    return tuple(faults)


def ended_quiescent(cluster: Cluster) -> bool:
    """Whether the run's last action ended a quiescence (so final reads can be taken)."""
    quiescence = cluster.quiescence
    return quiescence is not None and quiescence.ended == cluster.step - 1


def replica_versions(cluster: Cluster, node: str, key: bytes) -> AnyVersions:
    """What `node` answers for `key`: its store merged with the hints it holds for the key."""
    durable = cluster.durable(node)
    held = durable.data.get(key) or empty_versions(cluster.config.mode)
    for hints in durable.hints.values():
        hinted = hints.get(key)
        if hinted is not None:
            held = merge_versions(held, hinted)
    return held


def final_reads(cluster: Cluster) -> tuple[FinalRead, ...]:
    if not ended_quiescent(cluster):
        return ()
    time = cluster.step - 1
    keys = sorted({operation.key for operation in cluster.history()})
    finals: list[FinalRead] = []
    for key in keys:
        merged = empty_versions(cluster.config.mode)
        for node in cluster.preference_list(key):
            held = replica_versions(cluster, node, key)
            merged = merge_versions(merged, held)
            values = tuple(text(value) for value in held.values())
            finals.append(FinalRead(text(key), time, Outcome.OK, replica=node, values=values))
        finals.append(
            FinalRead(
                text(key),
                time,
                Outcome.OK,
                r=cluster.config.n,
                values=tuple(text(value) for value in merged.values()),
                context=read_context(merged),
            )
        )
    return tuple(finals)


__all__ = [
    "capabilities_of",
    "ended_quiescent",
    "faults_of",
    "final_reads",
    "history_of",
    "op_of",
    "outcome_of",
    "replica_versions",
]
