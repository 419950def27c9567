"""INV-ACK-1: no acknowledged put is lost (judged on the final reads).

A put acknowledged ok must be visible in the final reads of its key, unless it is excused:

- with contexts (dvv, vclock): by a successor chain that ends in something the final reads
  show. A successor is a write that saw the put (`Facts.saw`: through the contexts it sent);
  the chain may go on through successors of the successor, and must end in a put whose value
  a final read returned, or in a delete that may have taken effect (its tombstone is invisible
  by design). A successor that may never have taken effect and that nothing shows excuses
  nothing;
- in lww: by a write the final reads show that may outrank it: any one but a write known to
  come before it (`precedes`: acknowledged before it was invoked, through the same coordinator
  or seen by its context). When the final reads show nothing, by a delete that may outrank it.
  Never by what a coordinator decided internally.

Puts invoked before the last disk loss are not judged: a disk loss may legitimately take every
copy of them (INV-ACK-2, which needs to know who held what, is the simulator's extra check).
"""

from __future__ import annotations

from dynref.check.facts import Facts
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.violation import Violation, shown_by
from dynref.history import Op, OpKind

ACK_1 = "INV-ACK-1"
TITLE = "no acknowledged put is lost: it is visible at the end, or a successor that saw it is"


def check_lost_writes(facts: Facts) -> CheckResult:
    if not facts.final_values:
        return skipped(ACK_1, TITLE, "no successful final reads")
    acked = [op for op in facts.writes if op.kind is OpKind.PUT and op.ok]
    unread = [op for op in acked if op.key not in facts.final_values]
    before_loss = [op for op in acked if not facts.durable_after(op.invoked)]
    judged_puts = [
        op for op in acked if op.key in facts.final_values and facts.durable_after(op.invoked)
    ]
    found = _lww_losses(facts, judged_puts) if facts.lww else _losses(facts, judged_puts)
    notes = []
    if unread:
        notes.append(f"{len(unread)} acknowledged puts of keys without final reads not judged")
    if before_loss:
        notes.append(f"{len(before_loss)} acknowledged puts before the last disk loss not judged")
    return judged(ACK_1, TITLE, found, len(judged_puts), "; ".join(notes))


def excused_values(facts: Facts) -> dict[str, Op]:
    """Value -> the write (on a chain to something the final reads show) that saw it."""
    ends: list[Op] = [
        facts.writer[value]
        for values in facts.final_values.values()
        for value in values
        if value in facts.writer
    ]
    ends += [op for op in facts.writes if op.kind is OpKind.DELETE and facts.possible(op)]
    excused: dict[str, Op] = {}
    stack = ends
    visited = {op.id for op in ends}
    while stack:
        write = stack.pop()
        for value in facts.sight.get(write.id, ()):
            if value in excused:
                continue
            excused[value] = write
            earlier = facts.writer.get(value)
            if earlier is not None and earlier.id not in visited:
                visited.add(earlier.id)
                stack.append(earlier)
    return excused


def _losses(facts: Facts, puts: list[Op]) -> list[Violation]:
    excused = excused_values(facts)
    found = []
    for put in puts:
        assert put.value is not None
        if put.value in facts.final_values[put.key] or put.value in excused:
            continue
        seers = facts.seers.get(put.value, ())
        if seers:
            shown = ", ".join(f"op {s.id} ({s.outcome.value})" for s in seers[:3])
            problem = f"the writes that saw it ({shown}) end in nothing the final reads show"
        else:
            problem = "no write saw it"
        final = sorted(facts.final_values[put.key])
        survivors = [facts.writer[v] for v in final if v in facts.writer][:3]
        found.append(
            shown_by(
                ACK_1,
                f"acknowledged {put.describe()} is lost: not visible at the end, and {problem}",
                [put, *survivors, *facts.final_excerpt(put.key)],
            )
        )
    return found


def precedes(facts: Facts, first: Op, second: Op) -> bool:
    """lww: `first` certainly ranks below `second` (took effect once, was acknowledged before
    `second` was invoked, and went through the same coordinator or was seen by `second`)."""
    if not facts.single(first) or first.completed is None or first.completed >= second.invoked:
        return False
    if first.coordinator == second.coordinator:
        return True
    return (
        facts.caps.contexts
        and first.value is not None
        and facts.saw(second, first.value) is not None
    )


def _lww_losses(facts: Facts, puts: list[Op]) -> list[Violation]:
    deletes = _DeletesByKey(facts)
    found = []
    for put in puts:
        assert put.value is not None
        final = facts.final_values[put.key]
        if put.value in final:
            continue
        shown = [facts.writer[value] for value in sorted(final) if value in facts.writer]
        if final:
            if any(not precedes(facts, other, put) for other in shown) or len(shown) < len(final):
                continue
            problem = (
                f"the end shows {', '.join(repr(v) for v in sorted(final))}, written before it "
                "was invoked through the same coordinator or seen by it"
            )
            excerpt: list[Op] = [shown[0], put]
        else:
            if deletes.may_outrank(put):
                continue
            problem = "the end shows nothing, and no delete that may outrank it exists"
            excerpt = [put]
        found.append(
            shown_by(
                ACK_1,
                f"acknowledged {put.describe()} is lost: {problem}",
                [*excerpt, *facts.final_excerpt(put.key)],
            )
        )
    return found


class _DeletesByKey:
    """Per key, what decides whether some delete may outrank a put (lww), in O(1) per put."""

    def __init__(self, facts: Facts) -> None:
        self.repeatable: set[str] = set()
        self.last_done: dict[tuple[str, str], int] = {}  # (key, coordinator) -> latest ack
        self.coordinators: dict[str, set[str]] = {}
        for op in facts.writes:
            if op.kind is not OpKind.DELETE or not facts.possible(op):
                continue
            if not facts.single(op) or op.completed is None:
                self.repeatable.add(op.key)
                continue
            self.coordinators.setdefault(op.key, set()).add(op.coordinator)
            slot = (op.key, op.coordinator)
            self.last_done[slot] = max(self.last_done.get(slot, op.completed), op.completed)

    def may_outrank(self, put: Op) -> bool:
        if put.key in self.repeatable:
            return True
        coordinators = self.coordinators.get(put.key, set())
        if coordinators - {put.coordinator}:
            return True
        last = self.last_done.get((put.key, put.coordinator))
        return last is not None and last >= put.invoked


__all__ = ["ACK_1", "check_lost_writes", "excused_values", "precedes"]
