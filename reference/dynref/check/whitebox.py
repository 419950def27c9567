"""The simulator's white-box extras: checks that need a cluster's internals.

They read a `HistoryView` (the simulator's audit records: durable writes, executions at
coordinators, hand-offs, failure-detector changes, disk losses) and report beside the black-box
verdicts of `check_history`; no black-box verdict depends on them, and they never excuse
anything a black-box check reports.

- PROTOCOL-ERROR, STRAY-REPLY (`check_node_health`): a correct cluster under the fault model
  never produces a ProtocolError effect or a reply to no pending request;
- ACK-QUORUM (`custody.check_acknowledged_copies`): an acknowledgement was backed by W durable
  copies;
- INV-HINT-1 (`hints.check_hints`): a hint is deleted only after its target acknowledged it;
- INV-ACK-2 (`acked.check_acknowledged_writes`, runs with a disk loss only): an acknowledged
  write survives while a node that durably held it keeps its disk (custody);
- INV-CONV-1 (`convergence.check_convergence`): every quiescence reached its fixed point (no
  hint left, nobody believed down, equal replicas) within its bound;
- INV-READ-2 (`reads.check_read_your_writes_in_clean_windows`): read-your-writes inside the
  stretches where no fallback node can have been used (the cluster's sloppy quorum makes the
  black-box INV-READ-2 skip: the target declares no strict quorum);
- INV-MEMBER-2, INV-MEMBER-3, INV-MEMBER-4 (`membership.check_membership`): members agree and
  keys sit with their owners at quiescence; a dropped key was held elsewhere.

`check_sibling_bound` is the white-box form of SIBLING-BOUND (a maximum antichain over the
client history): the demo's recorded runs still use it.
"""

from __future__ import annotations

from dynref.causality import Mode
from dynref.check.acked import check_acknowledged_writes
from dynref.check.convergence import check_convergence
from dynref.check.custody import check_acknowledged_copies
from dynref.check.hints import check_hints
from dynref.check.membership import check_membership
from dynref.check.reads import check_read_your_writes_in_clean_windows
from dynref.check.sometimes import concurrent_writes_by_key
from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.sim.records import ProtocolErrorRecord


def check_node_health(view: HistoryView) -> list[Violation]:
    found = [
        violation(
            "PROTOCOL-ERROR",
            f"{record.node} reported a protocol error: {record.error.reason}",
            [record.step],
            [("peer", str(record.error.peer))],
        )
        for record in view.records
        if isinstance(record, ProtocolErrorRecord)
    ]
    stray = view.cluster.counters.stray_replies
    if stray:
        found.append(violation("STRAY-REPLY", f"{stray} replies answered no pending request", []))
    return found


def check_sibling_bound(view: HistoryView) -> list[Violation]:
    if view.mode is not Mode.DVV:
        return []
    bounds = concurrent_writes_by_key(view)
    found = []
    for read in view.reads():
        values = set(read.read_values or ())
        bound = bounds.get(read.key, 0)
        if len(values) > bound:
            found.append(
                violation(
                    "SIBLING-BOUND",
                    f"{read.describe()} returned {len(values)} siblings, more than the "
                    f"{bound} truly concurrent writes of its key",
                    [read.invoked, read.completed],
                    [("values", repr(read.read_values))],
                )
            )
    return found


def check_extras(view: HistoryView) -> list[Violation]:
    """Every white-box extra (see the module docstring)."""
    found = (
        check_node_health(view)
        + check_hints(view)
        + check_acknowledged_copies(view)
        + check_convergence(view)
        + check_read_your_writes_in_clean_windows(view)
        + check_membership(view)
    )
    if view.disk_losses:
        found += check_acknowledged_writes(view)
    return found


__all__ = ["check_extras", "check_node_health", "check_sibling_bound"]
