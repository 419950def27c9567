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


class _ByInvocation:
    """Operations in invocation order, with the least completion from each position on: the
    first one acknowledged before a time, among those invoked after another, in O(log n)."""

    def __init__(self, ops: list[Op]) -> None:
        self.ops = ops
        self.invoked = [op.invoked for op in ops]
        self.least: list[int] = [0] * len(ops)  # least completion at or after each position
        self.which: list[int] = [0] * len(ops)
        best, at = None, 0
        for index in range(len(ops) - 1, -1, -1):
            done = _done(ops[index])
            if best is None or done < best:
                best, at = done, index
            self.least[index], self.which[index] = best, at

    def acked_before(self, after: int, before: int) -> Op | None:
        """An operation invoked after `after` and acknowledged before `before`, if any."""
        start = bisect.bisect_right(self.invoked, after)
        if start < len(self.ops) and self.least[start] < before:
            return self.ops[self.which[start]]
        return None


class _LwwIndex:
    """Acknowledged writes by (key, coordinator) and possible deletes by key, for lww's rules,
    each question answered in O(log n)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        writes: dict[tuple[str, str], list[Op]] = {}
        puts: dict[tuple[str, str], list[Op]] = {}
        deletes: dict[str, list[Op]] = {}
        for op in facts.writes:  # in invocation order
            if op.ok:
                writes.setdefault((op.key, op.coordinator), []).append(op)
                if op.kind is OpKind.PUT:
                    puts.setdefault((op.key, op.coordinator), []).append(op)
                    puts.setdefault((op.key, ""), []).append(op)  # every coordinator
            if op.kind is OpKind.DELETE and facts.possible(op):
                deletes.setdefault(op.key, []).append(op)
        self.writes = {slot: _ByInvocation(ops) for slot, ops in writes.items()}
        self.puts = {slot: _ByInvocation(ops) for slot, ops in puts.items()}
        self.deletes = {key: _DeletesSoFar(facts, ops) for key, ops in deletes.items()}

    def acked_after(self, earlier: Op, read: Op) -> Op | None:
        """An acknowledged write `earlier` certainly ranks below (through its coordinator
        after its acknowledgement, or one that saw it), acknowledged before `read` was invoked,
        whose quorum meets the read's."""
        if not self.facts.single(earlier) or earlier.completed is None:
            return None
        index = self.writes.get((earlier.key, earlier.coordinator))
        later = index.acked_before(earlier.completed, read.invoked) if index else None
        if later is not None and _overlap(self.facts, later, read):
            return later
        if self.facts.caps.contexts and earlier.value is not None:
            successors = self.facts.successors
            acked = successors.earliest_ack.get(earlier.value)
            seer = successors.earliest_via.get(earlier.value)
            if acked is not None and seer is not None and acked < read.invoked:
                return seer if _overlap(self.facts, seer, read) else None
        return None

    def unexcused_put(self, read: Op) -> Op | None:
        """A put acknowledged before `read` was invoked that no delete invoked before the
        read completed may outrank, if there is one: with no such delete, any put; with
        deletes that all precede some put (each acknowledged before it was invoked, through
        its coordinator, having run once), that put."""
        assert read.completed is not None
        deletes = self.deletes.get(read.key)
        state = deletes.up_to(read.completed) if deletes is not None else None
        if state is None:
            index = self.puts.get((read.key, ""))
            put = index.acked_before(-1, read.invoked) if index else None
        else:
            coordinator, last_done = state
            if coordinator is None:
                return None  # some delete may outrank any put
            index = self.puts.get((read.key, coordinator))
            put = index.acked_before(last_done, read.invoked) if index else None
        return put if put is not None and _overlap(self.facts, put, read) else None


class _DeletesSoFar:
    """A key's possible deletes by invocation, summed up as prefixes: what the deletes
    invoked by some time have in common."""

    def __init__(self, facts: Facts, deletes: list[Op]) -> None:
        self.invoked = [d.invoked for d in deletes]
        self.summary: list[tuple[str | None, int]] = []
        coordinator: str | None = ""
        last = -1
        for delete in deletes:
            if not facts.single(delete) or delete.completed is None:
                coordinator = None
            elif coordinator == "":
                coordinator = delete.coordinator
            elif coordinator != delete.coordinator:
                coordinator = None
            if delete.completed is not None:
                last = max(last, delete.completed)
            self.summary.append((coordinator, last))

    def up_to(self, time: int) -> tuple[str | None, int] | None:
        """For the deletes invoked at or before `time`: (their one coordinator, or None when
        some delete may outrank any put; the last acknowledgement among them), or None when
        there is no such delete."""
        count = bisect.bisect_right(self.invoked, time)
        return self.summary[count - 1] if count else None


__all__ = ["READ_2", "check_read_your_writes"]
