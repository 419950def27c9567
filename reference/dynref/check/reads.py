"""White-box INV-READ-1 (no invention) and INV-READ-2 (strict-quorum read-your-writes) over
the simulator's records. The black-box checks (`dynref.check.values`, `dynref.check.quorum`)
judge histories; these stay for what only the records can tell: `check_no_invention` for the
demo's recorded runs, and read-your-writes in clean windows as a simulator extra (the cluster
declares no strict quorum, so the black-box INV-READ-2 skips it).

A *clean window* is a stretch of steps in which no fallback can have been used: no live node
believed any peer down (so every coordinator's targets were the preference list), no hint was
stored, and no disk was lost. Within one, with R + W > N, a read's R replies include a node
that durably stored an acknowledged write, which is what the strict rules rely on.

INV-READ-1, no invention: every value a read returned was written by a put of the same key
invoked before the read completed.

INV-READ-2 (R + W > N): a read invoked after a put was acknowledged, within a clean window from
the put's invocation to the read's completion, returns the put's value, or some write that had
seen the value was executed by a coordinator before the read completed (dvv, vclock); in lww,
or a version that outranks one of the put's executions up to its acknowledgement was applied
before the read completed (an execution that lost at its coordinator is outranked already).
"""

from __future__ import annotations

from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.sim.history import Operation
from dynref.sim.records import ExecutionRecord


def check_no_invention(view: HistoryView) -> list[Violation]:
    found = []
    for read in view.reads():
        for value in read.read_values or ():
            writer = view.writer.get(value)
            assert read.completed is not None
            if writer is None or writer.key != read.key or writer.invoked > read.completed:
                found.append(
                    violation(
                        "INV-READ-1",
                        f"{read.describe()} returned {value!r}, which no earlier put of the "
                        "key wrote",
                        [read.invoked, read.completed],
                        [("values", repr(read.read_values))],
                    )
                )
    return found


def strict_read_pairs(view: HistoryView) -> list[tuple[Operation, Operation]]:
    """(acknowledged put, later read of its key) pairs inside a clean window, if R + W > N."""
    if not view.quorums_overlap:
        return []
    pairs = []
    reads = view.reads()
    for put in view.acknowledged():
        if put.value is None:
            continue
        for read in reads:
            assert put.completed is not None and read.completed is not None
            if (
                read.key == put.key
                and read.invoked > put.completed
                and view.clean_window(put.invoked, read.completed)
            ):
                pairs.append((put, read))
    return pairs


def check_read_your_writes_in_clean_windows(view: HistoryView) -> list[Violation]:
    found = []
    lww = view.mode.value == "lww"
    for put, read in strict_read_pairs(view):
        assert put.value is not None and read.completed is not None
        if put.value in (read.read_values or ()):
            continue
        if lww:
            if _outranked_before(view, put, read.completed):
                continue
        elif view.superseded_by(put.value, read.completed):
            continue
        found.append(
            violation(
                "INV-READ-2",
                f"{read.describe()} returned {read.read_values!r}: neither the acknowledged "
                f"{put.describe()} nor a successor (strict quorum, no fallback)",
                [put.invoked, put.completed, read.invoked, read.completed],
                view.last_seen(put.key, put.value),
            )
        )
    return found


def _outranked_before(view: HistoryView, put: Operation, step: int) -> bool:
    """Whether, by `step`, a version was applied that outranks an execution of `put` that
    could have produced its acknowledgement.

    Only executions up to the acknowledgement count: a duplicated forward may run the put
    again later, with a later clock, and the read owes nothing to that execution. An execution
    that lost at its coordinator is outranked by the version stored there, which some applied
    execution created earlier, so it needs no case of its own.
    """
    floor = view.lww_floor(put, until=put.completed)
    if floor is None:
        return True  # acknowledged with no execution: the acknowledgement checks report it
    return any(
        isinstance(record, ExecutionRecord)
        and record.key == put.key
        and record.applied
        and record.step <= step
        and record.lww_rank() > floor
        for record in view.records
    )
