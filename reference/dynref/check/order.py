"""INV-ORDER-1: per-client and per-coordinator order (judged on the final reads).

A put P acknowledged before a later write L of its key was invoked must not outlive L in the
final reads (be visible there) when L certainly took effect (acknowledged, and no disk lost
from its invocation on), P took effect once (`Facts.single`), and either

- L saw P (contexts: L's context, or one handed on through later writes, covered P's value):
  a client that read P and wrote on top of it, or sent the context P's own put returned; or
- in lww, L went through the same coordinator as P: a coordinator stamps its writes in the
  order it acknowledges them, so the later write outranks the earlier one.

Between different coordinators lww promises nothing (clocks drift), so neither does this check.
"""

from __future__ import annotations

import bisect
import functools

from dynref.check.facts import Facts
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.values import chain_from
from dynref.check.violation import Violation, shown_by
from dynref.history import Entry, Op

ORDER_1 = "INV-ORDER-1"
TITLE = (
    "a write acknowledged before a later write that saw it (lww: same coordinator) "
    "does not outlive it"
)


def check_order(facts: Facts) -> CheckResult:
    if not facts.final_values:
        return skipped(ORDER_1, TITLE, "no successful final reads")
    if not facts.caps.contexts and not facts.lww:
        return skipped(ORDER_1, TITLE, "the target's contexts carry no causality")
    latest = facts.successors.latest_durable if facts.caps.contexts else {}
    via = facts.successors.latest_via if facts.caps.contexts else {}
    same_coordinator = _SameCoordinator(facts) if facts.lww else None
    found: list[Violation] = []
    count = 0
    for key, values in sorted(facts.final_values.items()):
        for value in sorted(values):
            put = facts.writer.get(value)
            if put is None or not facts.single(put) or put.completed is None:
                continue
            count += 1
            shown = facts.shown_by(key, value)[:1]
            best = latest.get(value)
            if best is not None and best > put.completed:
                end = functools.partial(_acked_write_invoked_at, best)
                chain = chain_from(facts, value, via, end)
                excerpt: list[Entry] = [*facts.chain_excerpt(chain), *shown]
                found.append(_report(put, chain[-1], "which saw it", excerpt))
                continue
            later = same_coordinator.first_after(put) if same_coordinator else None
            if later is not None:
                excerpt = [put, later, *shown]
                found.append(_report(put, later, "through the same coordinator", excerpt))
    return judged(ORDER_1, TITLE, found, count)


def _acked_write_invoked_at(time: int, write: Op) -> bool:
    return write.ok and write.invoked == time


def _report(put: Op, later: Op, how: str, excerpt: list[Entry]) -> Violation:
    return shown_by(
        ORDER_1,
        f"{put.describe()} outlives {later.describe()}, invoked after its acknowledgement {how}",
        excerpt,
    )


class _SameCoordinator:
    """Acknowledged durable writes per (key, coordinator), by invocation."""

    def __init__(self, facts: Facts) -> None:
        self.invoked: dict[tuple[str, str], list[int]] = {}
        self.ops: dict[tuple[str, str], list[Op]] = {}
        for op in facts.writes:  # in invocation order
            if op.ok and facts.durable_after(op.invoked):
                slot = (op.key, op.coordinator)
                self.invoked.setdefault(slot, []).append(op.invoked)
                self.ops.setdefault(slot, []).append(op)

    def first_after(self, put: Op) -> Op | None:
        slot = (put.key, put.coordinator)
        times = self.invoked.get(slot)
        if not times or put.completed is None:
            return None
        index = bisect.bisect_right(times, put.completed)
        return self.ops[slot][index] if index < len(times) else None


__all__ = ["ORDER_1", "check_order"]
