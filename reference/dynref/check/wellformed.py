"""MALFORMED: a History the checkers cannot trust.

Each record must be consistent in itself (the rules `decode_history` enforces, checked again
here for histories built in code), operation ids unique, every put's value unique (a value
names the put that wrote it: the workload must guarantee it), and a `redeliver` fault must name
a write of the history. Any defect makes every other check skip.
"""

from __future__ import annotations

from dynref.check.report import CheckResult, judged
from dynref.check.violation import Violation, shown_by
from dynref.history import (
    FaultKind,
    History,
    Op,
    OpKind,
    fault_problem,
    final_problem,
    op_problem,
)

MALFORMED = "MALFORMED"
TITLE = "the history is well formed: consistent records, unique ids and put values"


def check_well_formed(history: History) -> CheckResult:
    found: list[Violation] = []
    by_id: dict[int, Op] = {}
    writer: dict[str, Op] = {}
    for op in history.ops:
        problem = op_problem(op)
        if problem is not None:
            found.append(shown_by(MALFORMED, f"{op.describe()}: {problem[0]}: {problem[1]}", [op]))
        first = by_id.setdefault(op.id, op)
        if first is not op:
            found.append(shown_by(MALFORMED, f"two operations share id {op.id}", [first, op]))
        if op.kind is OpKind.PUT and op.value is not None:
            earlier = writer.setdefault(op.value, op)
            if earlier is not op:
                found.append(
                    shown_by(
                        MALFORMED,
                        f"two puts write the value {op.value!r}: values must be unique per put",
                        [earlier, op],
                    )
                )
    for final in history.finals:
        problem = final_problem(final)
        if problem is not None:
            found.append(shown_by(MALFORMED, f"{final.describe()}: {problem[1]}", [final]))
    for fault in history.faults:
        problem = fault_problem(fault)
        if problem is not None:
            found.append(shown_by(MALFORMED, f"{fault.describe()}: {problem[1]}", [fault]))
        elif fault.kind is FaultKind.REDELIVER:
            named = by_id.get(fault.op) if fault.op is not None else None
            if named is None or not named.is_write:
                problem_text = f"{fault.describe()} names no write of the history"
                found.append(shown_by(MALFORMED, problem_text, [fault]))
    count = len(history.ops) + len(history.finals) + len(history.faults)
    return judged(MALFORMED, TITLE, found, count)


__all__ = ["MALFORMED", "check_well_formed"]
