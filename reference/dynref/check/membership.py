"""Membership invariants (SPEC section 12), judged from the audit records and final states.

- INV-MEMBER-4, from the records: every `DropRecord` names at least one other node whose
  versions covered the dropped ones when the key was dropped, or, failing that, nodes that had
  stored covering versions and lost their disk since: the acknowledgement the drop trusted was
  true when sent, and the copy went with a disk (INV-ACK-2's business, as for a handed-off
  hint whose owner lost its disk).
- INV-MEMBER-2 and INV-MEMBER-3, when the last quiesce converged and was the last thing that
  happened: the active members agree on the membership (nobody joining or leaving), and no node
  holds a key outside its preference lists in the final ring. (A quiesce that did not converge
  is INV-CONV-1's; these re-read the final states, as `check_convergence` does.)

INV-MEMBER-1 is INV-ACK-1 over runs with `Join` and `Leave` actions: `check_acknowledged_writes`
judges it.
"""

from __future__ import annotations

from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.sim.records import DropRecord
from dynref.sim.settle import member_ring, membership_disagreements, misplaced_keys


def check_membership(view: HistoryView) -> list[Violation]:
    found = [
        violation(
            "INV-MEMBER-4",
            f"{record.node} dropped {record.key!r} while no other node held its versions",
            [record.step],
        )
        for record in view.records
        if isinstance(record, DropRecord) and not record.covered_by and not record.lost_with
    ]
    cluster = view.cluster
    quiescence = cluster.quiescence
    if not (quiescence and quiescence.converged and quiescence.ended == cluster.step - 1):
        return found
    states = {node: state for node in cluster.node_ids() if (state := cluster.state(node))}
    if not states or not any(s.membership.changed() for s in states.values()):
        return found
    span = (quiescence.began, quiescence.ended)
    found.extend(
        violation("INV-MEMBER-2", reason, span) for reason in membership_disagreements(states)
    )
    ring = member_ring(states)
    found.extend(
        violation("INV-MEMBER-3", reason, span)
        for reason in misplaced_keys(cluster.config, ring, states)
    )
    return found


__all__ = ["check_membership"]
