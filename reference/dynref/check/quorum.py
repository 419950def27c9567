"""INV-READ-2: strict-quorum read-your-writes, where the target declares strict quorum.

With R + W > N and no sloppy fallback every read's quorum meets every acknowledged write's, so
a read invoked after put P was acknowledged must return P, unless:

- with contexts: some write that saw P was invoked before the read completed and may have taken
  effect (it may have superseded P before the read's view; a read returning that write's value
  or a later one is then right too);
- in lww, where the order of concurrent writes is the store's to choose: a read invoked after
  an acknowledged write L must not return a value whose put is known to come before L
  (`lost.precedes`: acknowledged before L was invoked, through the same coordinator or seen by
  L); and a read returning nothing after put P was acknowledged needs a delete, invoked before
  the read completed, that may outrank P.

Pairs whose own R and W do not overlap (per-request R/W), and pairs with a disk loss between the
put's invocation and the read's completion, are not judged.
"""

from __future__ import annotations

import bisect
import heapq

from dynref.check.facts import NEVER, Facts
from dynref.check.lost import precedes
from dynref.check.report import CheckResult, judged, skipped
from dynref.check.violation import Violation, shown_by
from dynref.history import Op, OpKind

READ_2 = "INV-READ-2"
TITLE = "a strict-quorum read returns every put acknowledged before it began, or a successor"


def check_read_your_writes(facts: Facts) -> CheckResult:
    if not facts.caps.strict_quorum:
        return skipped(READ_2, TITLE, "the target does not declare strict quorum")
    if not facts.caps.contexts and not facts.lww:
        return skipped(READ_2, TITLE, "the target's contexts carry no causality")
    found = _lww_stale_reads(facts) if facts.lww else _stale_reads(facts)
    return judged(READ_2, TITLE, found, len(facts.reads))


def _overlap(facts: Facts, put: Op, read: Op) -> bool:
    r = read.r or facts.caps.r
    w = put.w or facts.caps.w
    assert read.completed is not None
    return r + w > facts.caps.n and not facts.disk_loss_between(put.invoked, read.completed)


def _stale(put: Op, read: Op, why: str, extra: list[Op]) -> Violation:
    return shown_by(
        READ_2,
        f"{read.describe()} began after acknowledged {put.describe()} and returned neither it "
        f"nor a successor{why} (strict quorum)",
        [put, *extra, read],
    )


def _stale_reads(facts: Facts) -> list[Violation]:
    """Sweep each key's reads by invocation, keeping the acknowledged puts that nothing could
    yet have superseded; a put leaves for good once a write that saw it was invoked before the
    read began (later reads complete later still)."""
    superseded_from: dict[str, float] = {}  # value -> first invocation of a write that saw it
    for write in facts.writes:
        if facts.possible(write):
            for value in facts.sight.get(write.id, ()):
                superseded_from.setdefault(value, write.invoked)
    by_key: dict[str, tuple[list[Op], list[Op]]] = {}
    for op in facts.ops:
        puts, reads = by_key.setdefault(op.key, ([], []))
        if op.kind is OpKind.PUT and op.ok:
            puts.append(op)
        elif op.values is not None:
            reads.append(op)
    found = []
    for puts, reads in by_key.values():
        puts.sort(key=_completion)
        done = [_done(put) for put in puts]
        index, count = 0, len(puts)
        live: list[tuple[float, int, Op]] = []  # (superseded from, id, put): a min-heap
        for read in reads:
            invoked, completed = read.invoked, read.completed
            assert completed is not None
            while index < count and done[index] < invoked:
                put = puts[index]
                assert put.value is not None
                heapq.heappush(live, (superseded_from.get(put.value, NEVER), put.id, put))
                index += 1
            while live and live[0][0] <= invoked:
                heapq.heappop(live)
            returned = read.values or ()
            for since, _, put in live:
                if since > completed and put.value not in returned and _overlap(facts, put, read):
                    found.append(_stale(put, read, "", []))
                    break
    return found


def _completion(op: Op) -> tuple[int, int]:
    return (_done(op), op.id)


def _done(op: Op) -> int:
    assert op.completed is not None
    return op.completed


def _lww_stale_reads(facts: Facts) -> list[Violation]:
    index = _LwwIndex(facts)
    found = []
    for read in facts.reads:
        assert read.completed is not None
        values = read.values or ()
        if values:
            for value in values:
                earlier = facts.writer.get(value)
                later = index.acked_after(earlier, read) if earlier is not None else None
                if earlier is not None and later is not None:
                    found.append(_stale(later, read, f": {value!r} comes before it", [earlier]))
                    break
        else:
            put = index.unexcused_put(read)
            if put is not None:
                found.append(_stale(put, read, ": no delete that may outrank it", []))
    return found


class _LwwIndex:
    """Acknowledged writes by (key, coordinator), and deletes by key, for lww's rules."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.writes: dict[tuple[str, str], list[Op]] = {}
        self.puts: dict[str, list[Op]] = {}
        self.deletes: dict[str, list[Op]] = {}
        for op in facts.writes:
            if op.ok:
                self.writes.setdefault((op.key, op.coordinator), []).append(op)
                if op.kind is OpKind.PUT:
                    self.puts.setdefault(op.key, []).append(op)
            if op.kind is OpKind.DELETE and facts.possible(op):
                self.deletes.setdefault(op.key, []).append(op)
        self.invoked = {slot: [op.invoked for op in ops] for slot, ops in self.writes.items()}

    def acked_after(self, earlier: Op, read: Op) -> Op | None:
        """An acknowledged write `earlier` certainly ranks below, acknowledged before `read`
        was invoked, whose quorum meets the read's."""
        if not self.facts.single(earlier) or earlier.completed is None:
            return None
        slot = (earlier.key, earlier.coordinator)
        ops = self.writes.get(slot, [])
        start = bisect.bisect_right(self.invoked.get(slot, []), earlier.completed)
        for later in ops[start:]:
            if later.invoked >= read.invoked:
                break
            if _done(later) < read.invoked and _overlap(self.facts, later, read):
                return later
        if self.facts.caps.contexts and earlier.value is not None:
            for seer in self.facts.seers.get(earlier.value, ()):
                if seer.ok and _done(seer) < read.invoked and _overlap(self.facts, seer, read):
                    return seer
        return None

    def unexcused_put(self, read: Op) -> Op | None:
        """A put acknowledged before `read` was invoked that no delete invoked before the
        read completed may outrank, if there is one."""
        assert read.completed is not None
        deletes = [d for d in self.deletes.get(read.key, []) if d.invoked <= read.completed]
        for put in self.puts.get(read.key, []):
            if put.invoked >= read.invoked:
                break
            if _done(put) >= read.invoked or not _overlap(self.facts, put, read):
                continue
            if all(precedes(self.facts, delete, put) for delete in deletes):
                return put
        return None


__all__ = ["READ_2", "check_read_your_writes"]
