"""The demo's judgement: its client history and the shared checkers, and the final state.

The checkers of `dynref.check` judge a simulator run: a `HistoryView` over a `Cluster` that
offers the client history, audit records and every node's durable state. A real cluster has no
simulator, so `RecordedRun` stands in for one, offering only what the checkers used here read:

- the history: one `dynref.sim.Operation` per request the demo's clients made, with `invoked`
  and `completed` as positions on one logical clock (the demo's clients run in one event loop,
  so the order of these events is their real-time order);
- no audit records: a real node's disk writes are not traced, so the checkers that need them
  (hints, strict-quorum windows, lww ranks) are not run;
- each node's durable state, as its SQLite file holds it after the cluster stopped;
- a quiescence verdict, from the demo's own convergence check.

Checks run: INV-ACK-1 (`check_acknowledged_writes`: every acknowledged put's value is in the
final merge of the replicas unless a write that had seen it, through its context's read and
transitively, superseded it), INV-READ-1's no invention (`check_no_invention`: every value a
read returned was written by a put of that key invoked before the read completed), and dvv's
sibling bound (`check_sibling_bound`). They judge the history without the writes that certainly
took no effect (`only_writes_that_may_have_taken_effect`): the shared INV-ACK-1 lets any write
that had seen a value excuse its absence, so a write that never ran would hide a loss.

Beside them, checks of the final state that need no history: `unsettled_statuses` (what the
nodes' status says is not yet settled), `replica_disagreements` (the stored versions of every
key's preference-list replicas differ, or a hint is left) and `final_read_mismatches` (a final
R=N read did not show what the replicas hold).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import attrs
from dynref.causality import AnyVersions, empty_versions, merge_versions
from dynref.check import (
    HistoryView,
    Violation,
    check_acknowledged_writes,
    check_no_invention,
    check_sibling_bound,
)
from dynref.config import ClusterConfig
from dynref.messages import GetOk, PutOk, QuorumNotReached
from dynref.ring import Ring
from dynref.sim import Cluster, Counters, NoReply, Operation, OperationKind, Quiescence
from dynref.sim.history import OperationResult
from dynref.sim.records import Record
from dynref.sim.settle import describe_versions
from dynref.state import DurableState

from dynref_io.node.local_cluster import LOG_FILE, LocalCluster
from dynref_io.node.server import STORAGE_FILE
from dynref_io.storage.stores import SqliteStorage

LOST_WRITE = "INV-ACK-1"
SIBLING_BOUND_MAX_PUTS = 500
"""The shared sibling-bound checker matches puts recursively (one Python frame per put on the
path) in time that grows with the square of a key's puts: beyond this many on one key it would
exceed Python's recursion limit, so it is not run."""
NOT_SENT = "not sent: "
"""How the reason of a request that never reached a node starts."""


class HistoryRecorder:
    """Every request the demo's clients make, numbered in invocation order."""

    def __init__(self) -> None:
        self._clock = itertools.count()
        self._next_op_id = itertools.count(1)
        self._operations: dict[int, Operation] = {}

    def now(self) -> int:
        """The next position on the logical clock (each call moves it on)."""
        return next(self._clock)

    def invoke(
        self,
        client: str,
        kind: OperationKind,
        node: str,
        key: bytes,
        value: bytes | None = None,
        context: bytes = b"",
        read_from: int | None = None,
    ) -> int:
        """Record a request about to be sent; returns its operation id."""
        op_id = next(self._next_op_id)
        self._operations[op_id] = Operation(
            op_id=op_id,
            client=client,
            kind=kind,
            node=node,
            key=key,
            invoked=self.now(),
            value=value,
            context=context,
            read_from=read_from,
        )
        return op_id

    def complete(self, op_id: int, result: OperationResult) -> None:
        operation = self._operations[op_id]
        self._operations[op_id] = attrs.evolve(operation, completed=self.now(), result=result)

    def read_ok(self, op_id: int, values: tuple[bytes, ...], context: bytes) -> None:
        self.complete(op_id, GetOk(values, context))

    def write_ok(self, op_id: int) -> None:
        self.complete(op_id, PutOk())

    def failed(self, op_id: int, reason: str) -> None:
        """No acknowledgement: an error answer, a timeout or a lost connection."""
        self.complete(op_id, NoReply(reason))

    def quorum_not_reached(self, op_id: int, needed: int, seen: int) -> None:
        """Fewer than W or R replicas answered in time; a write was stored by its coordinator."""
        self.complete(op_id, QuorumNotReached(needed, seen))

    def not_sent(self, op_id: int, reason: str) -> None:
        """No connection to the node: the request never left the client."""
        self.complete(op_id, NoReply(f"{NOT_SENT}{reason}"))

    def operations(self) -> tuple[Operation, ...]:
        return tuple(self._operations[op_id] for op_id in sorted(self._operations))


@attrs.frozen
class RecordedRun:
    """A real cluster's run, shaped as the part of `dynref.sim.Cluster` the checkers read."""

    config: ClusterConfig
    operations: tuple[Operation, ...]
    durable_states: Mapping[str, DurableState]
    quiescence: Quiescence | None
    counters: Counters = Counters()

    @property
    def step(self) -> int:
        return 1 + max((op.completed or op.invoked for op in self.operations), default=0)

    def history(self) -> tuple[Operation, ...]:
        return self.operations

    def audit_records(self) -> tuple[Record, ...]:
        return ()

    def node_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.durable_states))

    def durable(self, node: str) -> DurableState:
        return self.durable_states[node]


def settled_quiescence(operations: Iterable[Operation], converged: bool) -> Quiescence:
    """The verdict of the demo's convergence wait, placed after every recorded operation."""
    last = max((op.completed or op.invoked for op in operations), default=0)
    return Quiescence(
        began=last + 1, bound=1, step_ms=1, rounds=1, ended=last + 1, converged=converged
    )


@attrs.frozen
class HistoryVerdict:
    violations: tuple[Violation, ...]
    operations: int
    acknowledged_writes: int
    reads_with_siblings: int
    largest_sibling_set: int
    writes_without_effect: int
    """Unacknowledged writes that certainly changed no replica (never sent, or puts whose
    value was never seen anywhere)."""
    excused_by_unacknowledged_deletes: int
    """Acknowledged puts gone from the final state that only deletes of unknown outcome had
    seen (sent, but answered neither PutOk nor QuorumNotReached, which both mean stored):
    no loss if one of them took effect, which no client can tell."""
    sibling_bound_checked: bool
    """False when some key has more puts than `SIBLING_BOUND_MAX_PUTS`."""

    @property
    def lost_writes(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.invariant == LOST_WRITE)


def describe_violation(found: Violation) -> str:
    """A violation as the demo reports it. Its steps are positions in the demo's history;
    details drawn from audit records (a real run has none) are left out."""
    lines = [f"{found.invariant}: {found.message}"]
    if found.steps:
        lines.append("  history positions: " + ", ".join(str(step) for step in found.steps))
    lines += [f"  {name}: {value}" for name, value in found.details if name != "last seen"]
    return "\n".join(lines)


def stored_values(states: Mapping[str, DurableState]) -> set[bytes]:
    """Every value any node stores, as a primary or in a hint, superseded or not."""
    found: set[bytes] = set()
    for state in states.values():
        every_held = [*state.data.values()]
        every_held += [versions for held in state.hints.values() for versions in held.values()]
        for versions in every_held:
            found.update(versions.values())
    return found


def never_took_effect(op: Operation, observed: set[bytes]) -> bool:
    """Whether a write certainly changed no replica (`only_writes_that_may_have_taken_effect`)."""
    if op.acknowledged or op.kind is OperationKind.GET:
        return False
    if isinstance(op.result, NoReply) and op.result.reason.startswith(NOT_SENT):
        return True
    return op.kind is OperationKind.PUT and op.value not in observed


def only_writes_that_may_have_taken_effect(run: RecordedRun) -> RecordedRun:
    """The run without the unacknowledged writes that certainly changed no replica.

    The shared INV-ACK-1 lets any write that had seen a value excuse that value's absence,
    acknowledged or not; but an unacknowledged write may never have been applied (a forward
    to an unreachable node answers Unavailable), and such a write supersedes nothing. Two
    kinds are certain: a request that never left the client (no connection), and a put whose
    value appears in no read and in no node's store. In dvv a put that was applied stays
    observable: its version stays in some replica until a write whose context covers its dot
    replaces it, and a context covers a dot only if the read it came from returned that
    version's value. Dropping them changes no other write's "seen" set: no read returned
    their values. Unacknowledged deletes that were sent stay: a tombstone cannot be told apart.
    """
    observed = stored_values(run.durable_states)
    for read in run.operations:
        observed.update(read.read_values or ())
    kept = tuple(op for op in run.operations if not never_took_effect(op, observed))
    return attrs.evolve(run, operations=kept)


def check_history(run: RecordedRun) -> HistoryVerdict:
    """Run the shared checkers on a real run (see the module's docstring for which)."""
    effective = only_writes_that_may_have_taken_effect(run)
    view = HistoryView(cast(Cluster, effective))  # RecordedRun offers what the checkers read
    violations = [*check_acknowledged_writes(view), *check_no_invention(view)]
    puts_per_key = collections.Counter(op.key for op in view.writer.values())
    sibling_bound_checked = max(puts_per_key.values(), default=0) <= SIBLING_BOUND_MAX_PUTS
    if sibling_bound_checked:
        violations += check_sibling_bound(view)
    sibling_counts = [len(set(read.read_values or ())) for read in view.reads()]
    return HistoryVerdict(
        violations=tuple(violations),
        operations=len(run.operations),
        acknowledged_writes=len(view.acknowledged()),
        reads_with_siblings=sum(1 for count in sibling_counts if count >= 2),
        largest_sibling_set=max(sibling_counts, default=0),
        writes_without_effect=len(run.operations) - len(effective.operations),
        excused_by_unacknowledged_deletes=_excused_by_unacknowledged_deletes(view),
        sibling_bound_checked=sibling_bound_checked,
    )


def _maybe_without_effect(write: Operation) -> bool:
    """A delete of unknown outcome (QuorumNotReached means its coordinator stored it)."""
    return (
        write.kind is OperationKind.DELETE
        and not write.acknowledged
        and not isinstance(write.result, QuorumNotReached)
    )


def _excused_by_unacknowledged_deletes(view: HistoryView) -> int:
    count = 0
    for op in view.acknowledged():
        if op.value is None or op.value in view.final_versions(op.key).values():
            continue
        superseders = view.superseders.get(op.value, ())
        if superseders and all(_maybe_without_effect(w) for w in superseders):
            count += 1
    return count


# ---------------------------------------------------------------- the final state


def unsettled_statuses(statuses: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    """What the nodes' status shows is not settled yet, or None."""
    for node, status in sorted(statuses.items()):
        if status is None:
            return f"{node} does not answer"
        if status["hints"]:
            return f"{node} holds {status['hints']} hints"
        if status["down"]:
            return f"{node} believes {', '.join(status['down'])} down"
        if status["isolated"]:
            return f"{node} is cut off from {', '.join(status['isolated'])}"
    return None


def replica_disagreements(
    config: ClusterConfig,
    ring: Ring,
    states: Mapping[str, DurableState],
    keys: Iterable[bytes],
) -> list[str]:
    """Hints left anywhere, and keys whose preference-list replicas store different versions
    (a replica missing the key counts as holding nothing)."""
    problems = [
        f"{node} still holds hints for {target}"
        for node, state in sorted(states.items())
        for target in sorted(state.hints)
    ]
    missing = [node for node in (spec.node_id for spec in config.nodes) if node not in states]
    problems += [f"{node} has no stored state" for node in missing]
    every_key = set(keys).union(*(state.data.keys() for state in states.values()))
    for key in sorted(every_key):
        replicas = [node for node in ring.preference_list(key, config.n) if node in states]
        held = [states[node].data.get(key) for node in replicas]
        if any(versions != held[0] for versions in held[1:]):
            shown = "; ".join(
                f"{node} {'-' if v is None else describe_versions(v)}"
                for node, v in zip(replicas, held, strict=True)
            )
            problems.append(f"replicas of {key!r} store different versions: {shown}")
    return problems


def final_read_mismatches(
    final_reads: Sequence[Operation], stored: Callable[[bytes], AnyVersions]
) -> list[str]:
    """Final reads that failed, or whose siblings are not the values the replicas store."""
    problems = []
    for read in final_reads:
        values = read.read_values
        if values is None:
            problems.append(f"the final read {read.describe()} failed: {read.result}")
        elif sorted(values) != sorted(stored(read.key).values()):
            held = describe_versions(stored(read.key))
            problems.append(f"the final read {read.describe()} returned {values!r}; stored {held}")
    return problems


# ---------------------------------------------------------------- reading a stopped cluster


def load_durable_states(cluster: LocalCluster) -> dict[str, DurableState]:
    """Every node's durable state from its SQLite file (the cluster must be stopped)."""
    states = {}
    for node in cluster.node_ids:
        storage = SqliteStorage(cluster.data_dir(node) / STORAGE_FILE)
        try:
            state = storage.load()
        finally:
            storage.close()
        if state is not None:
            states[node] = state
    return states


def logged_protocol_errors(cluster: LocalCluster) -> int:
    """Protocol errors the nodes logged, over every lifetime (logs outlive the processes)."""
    count = 0
    for node in cluster.node_ids:
        log = cluster.data_dir(node) / LOG_FILE
        text = log.read_text(errors="replace") if log.exists() else ""
        count += sum(1 for line in text.splitlines() if "protocol error" in line)
    return count


def final_versions(
    states: dict[str, DurableState], key: bytes, config: ClusterConfig
) -> AnyVersions:
    merged = empty_versions(config.mode)
    for state in states.values():
        held = state.data.get(key)
        if held is not None:
            merged = merge_versions(merged, held)
    return merged
