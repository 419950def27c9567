"""INV-CONV-1 (black-box): once faults heal and the store settles, every replica of a key
returns the same values.

Judged on the final per-replica reads (the `replica_reads` capability): the successful ones
of each key must all return the same set of values. Replica reads that failed show nothing.
"""

from __future__ import annotations

from dynref.check.facts import Facts
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.violation import shown_by
from dynref.history import FinalRead

CONV_1 = "INV-CONV-1"
TITLE = "the final reads of every replica of a key return the same values"


def check_replicas_agree(facts: Facts) -> CheckResult:
    if not facts.caps.replica_reads:
        return skipped(CONV_1, TITLE, "the target offers no replica reads")
    by_key: dict[str, list[FinalRead]] = {}
    for final in facts.history.finals:
        if final.replica is not None and final.values is not None:
            by_key.setdefault(final.key, []).append(final)
    if not by_key:
        return skipped(CONV_1, TITLE, "no successful final per-replica reads")
    found = []
    for key, finals in sorted(by_key.items()):
        sets = {frozenset(f.values or ()) for f in finals}
        if len(sets) > 1:
            shown = "; ".join(f"{f.replica} [{', '.join(sorted(f.values or ()))}]" for f in finals)
            found.append(shown_by(CONV_1, f"the replicas of {key} differ: {shown}", finals))
    return judged(CONV_1, TITLE, found, len(by_key))


__all__ = ["CONV_1", "check_replicas_agree"]
