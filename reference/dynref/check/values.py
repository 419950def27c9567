"""INV-READ-1: no read returns a value nobody wrote, nor one a write that had seen it superseded.

From the History alone (`Facts` defines the terms):

- invention, any mode: every value a read (during the run or final) returned was written by a
  put of the same key, invoked before the read completed, whose outcome was not `fail`;
- resurrection at the end (contexts): no final read shows a value v whose put took effect once
  (`single`) when a write that saw v (transitively) certainly took effect (`effective`) and no
  disk was lost from its invocation on. Such a write covered v's only version, so once the
  store settled v is gone wherever that write's version reached: everywhere;
- resurrection during the run (contexts and strict quorum): a read invoked after such a write
  was acknowledged does not return v (R + W > N: the read's quorum meets the write's), unless a
  disk was lost in between.

A put that may have taken effect more than once (info, or named by a `redeliver` fault) is never
judged as resurrected: a later execution is a new version that no earlier context covers.

In vclock this is exact for clocks of at most 10 actors (no truncation), which the default
explorer runs stay within. Past that (a long run whose disk losses mint new actors) truncation
(REQ-CAUS-5) drops the entries by which a clock dominated older versions, they look concurrent
again, and reads return them: this check reports them, a real anomaly of truncation, not a
false alarm.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from dynref.check.facts import Facts
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.violation import Violation, shown_by
from dynref.history import FinalRead, Op, Outcome

READ_1 = "INV-READ-1"
TITLE = "no read returns a value nobody wrote, or one a write that had seen it superseded"


def check_values(facts: Facts) -> CheckResult:
    if not facts.reads and not facts.history.finals:
        return skipped(READ_1, TITLE, "the history holds no successful read")
    found = _inventions(facts)
    notes = []
    if not facts.caps.contexts:
        notes.append("resurrection not judged: the target's contexts carry no causality")
    else:
        if facts.final_values:
            found += _final_resurrections(facts)
        else:
            notes.append("resurrection at the end not judged: no final reads")
        if facts.caps.strict_quorum:
            found += _strict_resurrections(facts)
        else:
            notes.append("resurrection during the run not judged: no strict quorum")
    count = len(facts.reads) + len(facts.history.finals)
    return judged(READ_1, TITLE, found, count, "; ".join(notes))


def _inventions(facts: Facts) -> list[Violation]:
    found: list[Violation] = []
    writers, fail = facts.writer, Outcome.FAIL
    reads: list[tuple[Op | FinalRead, int]] = [(r, r.completed or 0) for r in facts.reads]
    reads += [(f, f.time) for f in facts.history.finals]
    for read, done in reads:
        key = read.key
        for value in read.values or ():
            writer = writers.get(value)
            if writer is not None and writer.key == key and writer.invoked <= done:
                if writer.outcome is not fail:
                    continue
                problem = "its put certainly took no effect (outcome fail)"
            elif writer is None:
                problem = "no put wrote it"
            elif writer.key != key:
                problem = f"only a put of {writer.key} wrote it"
            else:
                problem = "its put was invoked only after the read completed"
            found.append(
                shown_by(READ_1, f"{read.describe()} returned {value!r}: {problem}", [writer, read])
            )
    return found


def chain_from(
    facts: Facts, value: str, via: Mapping[str, Op], end: Callable[[Op], bool]
) -> list[Op]:
    """[writer(value), seer, seer of the seer, ...] following `via` until `end(write)` holds."""
    chain: list[Op] = []
    writer = facts.writer.get(value)
    if writer is not None:
        chain.append(writer)
    current: str | None = value
    while current is not None and current in via:
        seer = via[current]
        chain.append(seer)
        if end(seer):
            break
        current = seer.value
    return chain


def _final_resurrections(facts: Facts) -> list[Violation]:
    via = facts.successors.covered_by
    found = []
    for key, values in sorted(facts.final_values.items()):
        for value in sorted(values):
            writer = facts.writer.get(value)
            if writer is None or not facts.single(writer) or value not in via:
                continue
            chain = chain_from(
                facts,
                value,
                via,
                lambda w: facts.effective(w) and facts.durable_after(w.invoked),
            )
            successor = chain[-1]
            found.append(
                shown_by(
                    READ_1,
                    f"{value!r} is visible at the end though {successor.describe()}, which "
                    f"certainly took effect, had seen it",
                    [*facts.chain_excerpt(chain), *facts.shown_by(key, value)[:1]],
                )
            )
    return found


def _strict_resurrections(facts: Facts) -> list[Violation]:
    earliest, via = facts.successors.earliest_ack, facts.successors.earliest_via
    n = facts.caps.n
    found = []
    for read in facts.reads:
        assert read.completed is not None
        for value in read.values or ():
            writer = facts.writer.get(value)
            acked_at = earliest.get(value)
            if writer is None or acked_at is None or not facts.single(writer):
                continue
            if acked_at >= read.invoked:
                continue
            chain = chain_from(facts, value, via, functools.partial(_acked_at, acked_at))
            successor = chain[-1]
            r = read.r or facts.caps.r
            w = successor.w or facts.caps.w
            if r + w <= n or facts.disk_loss_between(successor.invoked, read.completed):
                continue
            found.append(
                shown_by(
                    READ_1,
                    f"{read.describe()} returned {value!r} after {successor.describe()}, which "
                    "had seen it, was acknowledged (strict quorum)",
                    [*facts.chain_excerpt(chain), read],
                )
            )
    return found


def _acked_at(time: int, write: Op) -> bool:
    return write.ok and write.completed == time


__all__ = ["READ_1", "chain_from", "check_values"]
