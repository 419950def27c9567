"""`check_history`: every black-box check over one History, as one Report.

The checks read only what clients saw (spec/history.md); each returns a `CheckResult` naming
its invariant id: pass, fail with violations (each with the smallest excerpt of the history
that shows it), or skip with the reason (a capability the target lacks, records the history
lacks). A malformed history (MALFORMED) skips every other check.

| id | check | needs |
| --- | --- | --- |
| INV-READ-1 | no invented or resurrected value (`values`) | resurrection: contexts, finals |
| INV-ACK-1 | no lost acknowledged put (`lost`) | final reads |
| INV-ORDER-1 | per-client and per-coordinator order (`order`) | final reads; contexts or lww |
| INV-READ-2 | strict-quorum read-your-writes (`quorum`) | strict quorum; contexts or lww |
| SIBLING-BOUND | dvv's sibling bound (`siblings`) | dvv with contexts |
| INV-CONV-1 | replicas agree at the end (`replicas`) | replica reads |
"""

from __future__ import annotations

from collections.abc import Callable

from dynref.check import lost, order, quorum, replicas, siblings, values
from dynref.check.facts import Facts
from dynref.check.report import CheckResult, CheckStatus, Report, skipped
from dynref.check.wellformed import MALFORMED, check_well_formed
from dynref.history import History

BLACK_BOX_CHECKS: tuple[tuple[str, str, Callable[[Facts], CheckResult]], ...] = (
    (values.READ_1, values.TITLE, values.check_values),
    (lost.ACK_1, lost.TITLE, lost.check_lost_writes),
    (order.ORDER_1, order.TITLE, order.check_order),
    (quorum.READ_2, quorum.TITLE, quorum.check_read_your_writes),
    (siblings.SIBLING_BOUND, siblings.TITLE, siblings.check_sibling_bound),
    (replicas.CONV_1, replicas.TITLE, replicas.check_replicas_agree),
)
"""(invariant id, title, check), in the order a Report lists them after MALFORMED."""

CHECK_IDS = (MALFORMED, *(check_id for check_id, _, _ in BLACK_BOX_CHECKS))


def check_history(history: History, only: tuple[str, ...] | None = None) -> Report:
    """Judge `history` with every black-box check (or those named in `only`)."""
    form = check_well_formed(history)
    results = [form]
    facts = Facts(history)
    for check_id, title, check in BLACK_BOX_CHECKS:
        if only is not None and check_id not in only:
            continue
        if form.status is CheckStatus.FAIL:
            results.append(skipped(check_id, title, "the history is malformed"))
        else:
            results.append(check(facts))
    return Report(tuple(results))


__all__ = ["BLACK_BOX_CHECKS", "CHECK_IDS", "check_history"]
