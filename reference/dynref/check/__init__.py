"""History checkers: did a run keep Dynamo's promises? (SPEC section 5)

Black-box, for any store: `check_history(history) -> Report` judges a `dynref.history.History`
(what clients saw: operations, final reads, faults) with one check per invariant, each result
`pass`, `fail` (violations naming the invariant id, each with the smallest excerpt of the
history that shows it) or `skip` (a capability or record the check needs is missing):

- MALFORMED (`wellformed`): the history is consistent, its put values unique;
- INV-READ-1 (`values`): no invented value, no resurrected one;
- INV-ACK-1 (`lost`): no lost acknowledged put;
- INV-ORDER-1 (`order`): per-client and per-coordinator order;
- INV-READ-2 (`quorum`): strict-quorum read-your-writes;
- SIBLING-BOUND (`siblings`): dvv's sibling bound;
- INV-CONV-1 (`replicas`): the replicas agree at the end.

`Facts` (`facts`) holds what they derive from a history (writers, what each write saw, which
writes took effect). The simulator's runs are judged the same way: `check_all(cluster)` judges
`dynref.sim.history_of(cluster)` and adds the white-box extras of `whitebox.check_extras`
(PROTOCOL-ERROR, STRAY-REPLY, ACK-QUORUM, INV-HINT-1, INV-ACK-2 under disk loss, the fixed
point of every quiescence, read-your-writes in clean windows, INV-MEMBER-2..4 across joins and
leaves), which read the cluster's audit
records through a `HistoryView`. `check_always` runs the cheap checks an explorer can afford
after every step; `sometimes(cluster)` counts the sometimes-properties. INV-AVAIL-1 is not
among them: it needs the states between actions, so `dynref.check.availability` judges it as a
monitor of a run's transitions, or by replaying a finished run (`dynref.explore.judge` does,
as an extra).

`check_acknowledged_writes`, `check_no_invention` and `check_sibling_bound` are the white-box
forms over a `HistoryView`, kept for the demo's recorded runs.
"""

from __future__ import annotations

from dynref.check.acked import check_acknowledged_writes
from dynref.check.blackbox import BLACK_BOX_CHECKS, CHECK_IDS, check_history
from dynref.check.convergence import check_convergence
from dynref.check.custody import check_acknowledged_copies
from dynref.check.facts import Facts
from dynref.check.hints import check_hints
from dynref.check.membership import check_membership
from dynref.check.reads import (
    check_no_invention,
    check_read_your_writes_in_clean_windows,
    strict_read_pairs,
)
from dynref.check.report import CheckResult, CheckStatus, Report
from dynref.check.sometimes import (
    SOMETIMES_PROPERTIES,
    SometimesReport,
    concurrent_writes_by_key,
    largest_concurrent_writes,
    sometimes,
)
from dynref.check.view import HistoryView
from dynref.check.violation import (
    Violation,
    describe_entry,
    format_violations,
    shown_by,
    violation,
)
from dynref.check.whitebox import check_extras, check_node_health, check_sibling_bound
from dynref.sim.cluster import Cluster
from dynref.sim.observed import history_of


def check_always(cluster: Cluster) -> list[Violation]:
    """The checks cheap enough for every step: node health and no invented value."""
    report = check_history(history_of(cluster), only=("INV-READ-1",))
    return check_node_health(HistoryView(cluster)) + list(report.violations)


def check_cluster(cluster: Cluster) -> tuple[Report, list[Violation]]:
    """The black-box report on the cluster's history, and the white-box extras beside it."""
    return check_history(history_of(cluster)), check_extras(HistoryView(cluster))


def check_all(cluster: Cluster) -> list[Violation]:
    """Every black-box violation of the cluster's history, then every white-box extra."""
    report, extras = check_cluster(cluster)
    return list(report.violations) + extras


__all__ = [
    "BLACK_BOX_CHECKS",
    "CHECK_IDS",
    "SOMETIMES_PROPERTIES",
    "CheckResult",
    "CheckStatus",
    "Facts",
    "HistoryView",
    "Report",
    "SometimesReport",
    "Violation",
    "check_acknowledged_copies",
    "check_acknowledged_writes",
    "check_all",
    "check_always",
    "check_cluster",
    "check_convergence",
    "check_extras",
    "check_hints",
    "check_history",
    "check_membership",
    "check_no_invention",
    "check_node_health",
    "check_read_your_writes_in_clean_windows",
    "check_sibling_bound",
    "concurrent_writes_by_key",
    "describe_entry",
    "format_violations",
    "largest_concurrent_writes",
    "shown_by",
    "sometimes",
    "strict_read_pairs",
    "violation",
]
