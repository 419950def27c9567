"""INV-CONV-1: once faults heal and the network drains, the replicas converge within a bound.

Judged from every quiescence phase of the run (`Cluster.quiesce`; a run may calm down more than
once): each must have reached its fixed point (no message in flight, every node up, no hints,
no request in progress, no peer believed down, every key's preference-list replicas holding
equal sibling sets) within its bound of tick rounds. When the last quiesce was the last thing
that happened, the checker also re-reads the replica states itself.
"""

from __future__ import annotations

from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.sim.records import QuiescenceRecord


def check_convergence(view: HistoryView) -> list[Violation]:
    found = [
        violation(
            "INV-CONV-1",
            f"no fixed point after {record.rounds} tick rounds (bound {record.bound})",
            (record.began, record.step),
            [("unsettled", reason) for reason in record.unsettled],
        )
        for record in view.records
        if isinstance(record, QuiescenceRecord) and not record.converged
    ]
    cluster = view.cluster
    quiescence = cluster.quiescence
    if quiescence is not None and quiescence.converged and quiescence.ended == cluster.step - 1:
        reasons = cluster.settled()
        if reasons:
            found.append(
                violation(
                    "INV-CONV-1",
                    "replicas differ after quiescence",
                    (quiescence.began, quiescence.ended),
                    [("unsettled", reason) for reason in reasons],
                )
            )
    return found
