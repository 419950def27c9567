"""SIBLING-BOUND (dvv): a read returns no more distinct values than the largest set of
mutually unseen puts of its key.

Checked through the local fact that implies it: no read returns two values of which one's put
saw the other (`Facts.saw`), when the seen one took effect once (`single`). If no read ever
does, the values of any read are puts none of which saw another, so their number is at most the
largest such set; a put that may have taken effect more than once counts apart, as each of its
versions may stand alone. The local form costs a short walk per read instead of a maximum
antichain per key, and names the two values that should not stand together.
"""

from __future__ import annotations

from dynref.causality import Mode
from dynref.check.facts import Facts
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.violation import Violation, shown_by
from dynref.history import Op

SIBLING_BOUND = "SIBLING-BOUND"
TITLE = "no read returns a value beside one whose put had seen it (dvv's sibling bound)"


def check_sibling_bound(facts: Facts) -> CheckResult:
    if facts.caps.causality is not Mode.DVV:
        return skipped(SIBLING_BOUND, TITLE, "only dvv promises the bound")
    if not facts.caps.contexts:
        return skipped(SIBLING_BOUND, TITLE, "the target's contexts carry no causality")
    found = []
    count = 0
    for read in facts.reads:
        values = set(read.values or ())
        if len(values) < 2:
            continue
        count += 1
        chain = _seen_sibling(facts, values)
        if chain is not None:
            found.append(_report(facts, read, chain))
    return judged(SIBLING_BOUND, TITLE, found, count)


def _seen_sibling(facts: Facts, values: set[str]) -> list[Op] | None:
    """[put of the seen value, ..., put of a value of the same read that saw it], or None."""
    writer, first_seer, single = facts.writer, facts.first_seer, facts.single_ids
    seen_ones: list[tuple[int, str]] = []  # (first time a write saw it, value): the suspects
    for value in values:
        put = writer.get(value)
        if put is not None and put.id in single:
            first = first_seer.get(value)
            if first is not None:
                seen_ones.append((first, value))
    if not seen_ones:
        return None
    earliest = min(first for first, _ in seen_ones)
    for value in values:
        put = writer.get(value)
        # Only a value some write saw by the time this put was invoked can be in its sight.
        if put is None or put.invoked < earliest:
            continue
        others = {v for first, v in seen_ones if v != value and first <= put.invoked}
        if others:
            chain = _walk_back(facts, put, others)
            if chain is not None:
                return chain
    return None


def _walk_back(facts: Facts, put: Op, others: set[str]) -> list[Op] | None:
    """A chain from one of `others` to `put` through what writes saw, if there is one."""
    floor = min(facts.writer[v].invoked for v in others)
    parent: dict[int, Op] = {}
    stack = [put]
    visited = {put.id}
    while stack:
        current = stack.pop()
        for seen in facts.sight.get(current.id, ()):
            if seen in others:
                chain = [current]
                while chain[-1].id != put.id:
                    chain.append(parent[chain[-1].id])
                return [facts.writer[seen], *chain]
            earlier = facts.writer.get(seen)
            if earlier is None or earlier.id in visited or earlier.invoked < floor:
                continue
            visited.add(earlier.id)
            parent[earlier.id] = current
            stack.append(earlier)
    return None


def _report(facts: Facts, read: Op, chain: list[Op]) -> Violation:
    seen, seer = chain[0], chain[-1]
    return shown_by(
        SIBLING_BOUND,
        f"{read.describe()} returned {seen.value!r} beside {seer.value!r}, whose put had seen it",
        [*facts.chain_excerpt(chain), read],
    )


__all__ = ["SIBLING_BOUND", "check_sibling_bound"]
