"""History checkers: did a simulated run keep Dynamo's promises? (SPEC section 5)

Each checker reads the client history, the audit records and (at quiescence) the replica states
of a `Cluster`, and returns a list of `Violation`s naming an invariant id:

- `check_acknowledged_writes`: INV-ACK-1, or INV-ACK-2 in a run with disk loss (quiescence);
- `check_acknowledged_copies`: an acknowledged put was durably held by W nodes when it was
  acknowledged (id ACK-QUORUM: REQ-COORD-3 with REQ-NODE-2, the premise of INV-ACK-2);
- `check_convergence`: INV-CONV-1 (quiescence);
- `check_no_invention`, `check_no_resurrection`: INV-READ-1;
- `check_read_your_writes`: INV-READ-2;
- `check_hints`: INV-HINT-1;
- `check_node_health`: no ProtocolError effect and no stray reply, ever (ids PROTOCOL-ERROR,
  STRAY-REPLY: a correct cluster under the fault model never produces either);
- `check_sibling_bound`: a dvv read never returns more distinct values than the largest set of
  truly concurrent writes of its key (id SIBLING-BOUND, from DESIGN.md).

`check_all` runs every one; `check_always` runs the cheap ones an explorer can afford after
every step. `sometimes(cluster)` gives the sometimes-property counts.
"""

from __future__ import annotations

from dynref.causality import Mode
from dynref.check.acked import check_acknowledged_writes
from dynref.check.convergence import check_convergence
from dynref.check.custody import check_acknowledged_copies
from dynref.check.hints import check_hints
from dynref.check.reads import (
    check_no_invention,
    check_no_resurrection,
    check_read_your_writes,
    strict_read_pairs,
)
from dynref.check.sometimes import (
    SOMETIMES_PROPERTIES,
    SometimesReport,
    concurrent_writes_by_key,
    largest_concurrent_writes,
    sometimes,
)
from dynref.check.view import HistoryView
from dynref.check.violation import Violation, format_violations, violation
from dynref.sim.cluster import Cluster
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


def check_always(cluster: Cluster) -> list[Violation]:
    """The checks cheap enough for every step: node health and no invention."""
    view = HistoryView(cluster)
    return check_node_health(view) + check_no_invention(view)


def check_all(cluster: Cluster) -> list[Violation]:
    """Every checker; the quiescence ones only judge a cluster that has quiesced."""
    view = HistoryView(cluster)
    return (
        check_node_health(view)
        + check_no_invention(view)
        + check_no_resurrection(view)
        + check_read_your_writes(view)
        + check_hints(view)
        + check_sibling_bound(view)
        + check_acknowledged_copies(view)
        + check_acknowledged_writes(view)
        + check_convergence(view)
    )


__all__ = [
    "SOMETIMES_PROPERTIES",
    "HistoryView",
    "SometimesReport",
    "Violation",
    "check_acknowledged_copies",
    "check_acknowledged_writes",
    "check_all",
    "check_always",
    "check_convergence",
    "check_hints",
    "check_no_invention",
    "check_no_resurrection",
    "check_node_health",
    "check_read_your_writes",
    "check_sibling_bound",
    "concurrent_writes_by_key",
    "format_violations",
    "largest_concurrent_writes",
    "sometimes",
    "strict_read_pairs",
    "violation",
]
