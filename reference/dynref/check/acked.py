"""INV-ACK-1 and INV-ACK-2: no acknowledged write is lost (checked at quiescence).

The final state of a key is the merge of every node's primary versions and hints for it (after a
converged quiesce, what every replica holds). The rules:

- dvv and vclock: every acknowledged put's value is visible in the final state of its key,
  unless some write (put or delete, acknowledged or not) had seen it (`HistoryView.seen`). Exact
  in dvv. In vclock a put can be replaced by a write that had not seen it (same stale context
  through the same coordinator): the known anomaly, reported as INV-ACK-1.
- lww: an acknowledged put or delete that won at its coordinator ("applied": its version was
  the coordinator's stored winner) has rank (timestamp, actor, value) at most the final winner's.
  A coordinator stamps every write above what it holds (REQ-LWW-1), so an acknowledged write
  none of whose executions won at its coordinator was lost there: that is reported too.
- INV-ACK-2 (runs with a disk loss): the same rule, but a write must survive only while one of
  its custodians kept its disk (`custody.kept_by_a_surviving_disk`): the nodes that durably
  stored it (in their store or as a hint) by the acknowledgement, with a hint's custody passing
  to its owner when the holder deletes it after the handoff. In lww the final winner must then
  reach the lowest rank among the put's executions (`HistoryView.lww_floor`), not the greatest:
  a retried put's other executions may have lived only on a disk that was lost.
"""

from __future__ import annotations

from dynref.causality import LwwRegister
from dynref.check.custody import kept_by_a_surviving_disk
from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.sim.history import Operation, OperationKind
from dynref.sim.settle import describe_versions


def check_acknowledged_writes(view: HistoryView) -> list[Violation]:
    if view.cluster.quiescence is None:
        return []
    disk_loss = bool(view.disk_losses)
    invariant = "INV-ACK-2" if disk_loss else "INV-ACK-1"
    found: list[Violation] = []
    for op in view.acknowledged():
        if disk_loss and not kept_by_a_surviving_disk(view, op):
            continue
        final = view.final_versions(op.key)
        if isinstance(final, LwwRegister):
            problem = _lww_loss(view, op, final, disk_loss)
        else:
            problem = _lost_value(view, op, final.values())
        if problem is not None:
            found.append(_report(view, invariant, op, problem))
    return found


def _lost_value(view: HistoryView, op: Operation, final: tuple[bytes, ...]) -> str | None:
    if op.kind is not OperationKind.PUT or op.value is None:
        return None
    if op.value in final:
        return None
    if view.superseders.get(op.value):
        return None
    return "not visible at quiescence, and no write had seen it"


def _lww_loss(view: HistoryView, op: Operation, final: LwwRegister, disk_loss: bool) -> str | None:
    rank = view.lww_rank(op)
    if rank is None:
        if view.executions_of(op):
            return "it lost at its own coordinator (REQ-LWW-1: a write is stamped above it all)"
        return None  # never executed: the acknowledgement checks report it
    if disk_loss:
        # An applied execution held only by a disk since lost may vanish; what the surviving
        # custodians hold (see `custody`) is a version of at least the floor.
        rank = view.lww_floor(op) or rank
    if final.winner is not None and final.winner.rank() >= rank:
        return None
    return f"its version (timestamp {rank[0]}, actor {rank[1]}) outranks the surviving one"


def _report(view: HistoryView, invariant: str, op: Operation, problem: str) -> Violation:
    final = view.final_versions(op.key)
    details = [
        ("key", repr(op.key)),
        ("final versions", describe_versions(final)),
        ("acknowledged write", f"{op.describe()}, invoked step {op.invoked}"),
    ]
    executions = view.executions_of(op)
    details.extend(
        ("executed", f"at {e.node} (actor {e.actor}, time {e.timestamp}), step {e.step}")
        for e in executions
    )
    steps = [op.invoked, op.completed, *(e.step for e in executions)]
    if op.value is not None:
        details.extend(view.last_seen(op.key, op.value))
        for sighting in view.sightings(op.key, op.value):
            steps.extend((sighting.held_until, sighting.replaced_at))
    return violation(invariant, f"acknowledged {op.describe()} is lost: {problem}", steps, details)
