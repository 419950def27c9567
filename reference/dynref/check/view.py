"""What the checkers derive from a run: who wrote what, what each write had seen, and when the
cluster might have used fallback nodes.

"Seen" is computed from the client history alone. A put or delete carries the context of its
client's last successful read of the key (`Operation.read_from`); that read returned some
values; each value names the put that wrote it (values are unique), and that put had in turn
seen what its own context's read returned. So `seen(w)` is the transitive closure over those
reads. In dvv this is exact for values: a write's context covers a put's dot only if some write
on the chain read that put's value directly (a dot first becomes covered through a context that
came from a read in which the value was still visible).
"""

from __future__ import annotations

import bisect
from functools import cached_property

import attrs

from dynref.causality import AnyVersions, empty_versions, merge_versions
from dynref.history import History
from dynref.messages import StoreHint, StoreVersions
from dynref.sim.cluster import Cluster
from dynref.sim.history import Operation, OperationKind
from dynref.sim.observed import history_of
from dynref.sim.records import (
    DegradedRecord,
    DiskLossRecord,
    DurableRecord,
    ExecutionRecord,
    Record,
)
from dynref.sim.settle import describe_versions


class HistoryView:
    """Indexes over one cluster's history and audit records, built lazily and cached; and
    `history`, the black-box History of the run."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.config = cluster.config
        self.mode = cluster.config.mode
        self.operations: tuple[Operation, ...] = cluster.history()
        self.records: tuple[Record, ...] = cluster.audit_records()
        self.by_id = {op.op_id: op for op in self.operations}
        self.writer: dict[bytes, Operation] = {
            op.value: op
            for op in self.operations
            if op.kind is OperationKind.PUT and op.value is not None
        }

    @cached_property
    def history(self) -> History:
        """What the run's clients saw, as the black-box checkers read it."""
        return history_of(self.cluster)

    # ------------------------------------------------------------ the history

    def reads(self) -> list[Operation]:
        """Gets that returned values (GetOk), in invocation order."""
        return [op for op in self.operations if op.read_values is not None]

    def acknowledged(self) -> list[Operation]:
        return [op for op in self.operations if op.acknowledged]

    @cached_property
    def seen(self) -> dict[int, frozenset[bytes]]:
        """Write op id -> every value it had seen, transitively through its contexts' reads."""
        seen: dict[int, frozenset[bytes]] = {}
        for op in self.operations:  # a write's read and that read's writers all come earlier
            if not op.is_write:
                continue
            values: set[bytes] = set()
            read = None if op.read_from is None else self.by_id.get(op.read_from)
            for value in (read.read_values if read is not None else None) or ():
                values.add(value)
                earlier = self.writer.get(value)
                if earlier is not None and earlier.op_id < op.op_id:
                    values |= seen.get(earlier.op_id, frozenset())
            seen[op.op_id] = frozenset(values)
        return seen

    @cached_property
    def superseders(self) -> dict[bytes, tuple[Operation, ...]]:
        """Value -> the writes (puts and deletes) that had seen it and reached a coordinator.

        A write that no coordinator ever applied (its node was down, its forward was lost)
        superseded nothing, whatever it had seen. A history without execution records (one
        recorded from a real cluster) cannot tell, so there every write that had seen a value
        counts.
        """
        found: dict[bytes, list[Operation]] = {}
        for op_id, values in self.seen.items():
            if self.executions and op_id not in self.executions:
                continue
            for value in values:
                found.setdefault(value, []).append(self.by_id[op_id])
        return {value: tuple(ops) for value, ops in found.items()}

    def superseded_by(self, value: bytes, step: int) -> bool:
        """Whether a write that had seen `value` took effect at or before `step` (without
        execution records: was invoked by then)."""
        for write in self.superseders.get(value, ()):
            runs = self.executions.get(write.op_id)
            if (runs[0].step if runs else write.invoked) <= step:
                return True
        return False

    # ------------------------------------------------------------ executions

    @cached_property
    def executions(self) -> dict[int, tuple[ExecutionRecord, ...]]:
        """Op id -> every time a coordinator applied it (more than once after a retry)."""
        found: dict[int, list[ExecutionRecord]] = {}
        for record in self.records:
            if not isinstance(record, ExecutionRecord):
                continue
            op_id = record.operation
            if op_id is None and record.value is not None and record.value in self.writer:
                op_id = self.writer[record.value].op_id
            if op_id is not None:
                found.setdefault(op_id, []).append(record)
        return {op_id: tuple(records) for op_id, records in found.items()}

    def executions_of(self, op: Operation) -> tuple[ExecutionRecord, ...]:
        return self.executions.get(op.op_id, ())

    def executed_once(self, op: Operation) -> bool:
        return len(self.executions_of(op)) == 1

    def lww_rank(self, op: Operation) -> tuple[int, str, bool, bytes] | None:
        """The greatest rank among the op's executions that won at their coordinator.

        A retried or duplicated request executes more than once, each time with its
        coordinator's clock: every applied execution persists unless outranked, so the final
        state must reach the greatest, while holding any one of them holds the write.
        """
        ranks = [record.lww_rank() for record in self.executions_of(op) if record.applied]
        if not ranks:
            return None
        return max(ranks)

    def lww_floor(
        self, op: Operation, until: int | None = None
    ) -> tuple[int, str, bool, bytes] | None:
        """The lowest rank among the op's executions (up to step `until`), applied or not.

        A version of at least this rank holds the write: it is the write, or one that outranks
        an execution of it and so absorbed it, as last-write-wins absorbs. An execution that
        lost at its coordinator still counts: the coordinator stored and replicated the version
        that outranked it, and acknowledged the put on those copies.
        """
        ranks = [
            record.lww_rank()
            for record in self.executions_of(op)
            if until is None or record.step <= until
        ]
        return min(ranks) if ranks else None

    # ------------------------------------------------------------ faults

    @cached_property
    def disk_losses(self) -> tuple[DiskLossRecord, ...]:
        return tuple(r for r in self.records if isinstance(r, DiskLossRecord))

    @property
    def quorums_overlap(self) -> bool:
        return self.config.r + self.config.w > self.config.n

    @cached_property
    def _fallback_intervals(self) -> tuple[list[int], list[int]]:
        """Disjoint, sorted step intervals [start, end] during which fallbacks may have been used.

        After-states of steps while some live node believed a peer down, steps that stored a
        hint, and steps that lost a disk.
        """
        intervals: list[tuple[int, int]] = []
        degraded_since: int | None = None
        for record in self.records:
            if isinstance(record, DegradedRecord):
                if record.degraded and degraded_since is None:
                    degraded_since = record.step
                elif not record.degraded and degraded_since is not None:
                    intervals.append((degraded_since, record.step - 1))
                    degraded_since = None
            elif isinstance(record, DiskLossRecord) or (
                isinstance(record, DurableRecord) and isinstance(record.write, StoreHint)
            ):
                intervals.append((record.step, record.step))
        if degraded_since is not None:
            intervals.append((degraded_since, self.cluster.step))
        intervals.sort()
        starts: list[int] = []
        ends: list[int] = []
        for start, end in intervals:
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        return starts, ends

    def clean_window(self, first: int, last: int) -> bool:
        """No fallback possible from just before step `first` through step `last`."""
        starts, ends = self._fallback_intervals
        index = bisect.bisect_right(starts, last) - 1
        return index < 0 or ends[index] < first - 1

    # ------------------------------------------------------------ replica states

    def final_versions(self, key: bytes) -> AnyVersions:
        """The merge of every node's primary versions and hints for `key` (crashed nodes too)."""
        merged = empty_versions(self.mode)
        for node in self.cluster.node_ids():
            durable = self.cluster.durable(node)
            held = durable.data.get(key)
            if held is not None:
                merged = merge_versions(merged, held)
            for hints in durable.hints.values():
                hinted = hints.get(key)
                if hinted is not None:
                    merged = merge_versions(merged, hinted)
        return merged

    def sightings(self, key: bytes, value: bytes) -> list[Sighting]:
        """Where a value was last durably held, node by node, and what replaced it there."""
        held_at: dict[tuple[str, str], int] = {}
        replaced: dict[tuple[str, str], tuple[int, str]] = {}
        for record in self.records:
            if not isinstance(record, DurableRecord):
                continue
            write = record.write
            if not isinstance(write, StoreVersions | StoreHint) or write.key != key:
                continue
            where = (
                (record.node, "store")
                if isinstance(write, StoreVersions)
                else (record.node, f"hint for {write.target}")
            )
            if value in write.versions.values():
                held_at[where] = record.step
                replaced.pop(where, None)
            elif where in held_at and where not in replaced:
                replaced[where] = (record.step, describe_versions(write.versions))
        found = []
        for (node, place), step in sorted(held_at.items(), key=lambda item: item[1]):
            at, by = replaced.get((node, place), (None, None))
            found.append(Sighting(node, place, step, at, by))
        return found

    def last_seen(self, key: bytes, value: bytes) -> list[tuple[str, str]]:
        """`sightings` as report details."""
        return [("last seen", s.describe()) for s in self.sightings(key, value)] or [
            ("last seen", "never stored")
        ]


@attrs.frozen
class Sighting:
    """A node held a value (in its store or a hint) until `held_until`, then maybe lost it."""

    node: str
    place: str
    held_until: int
    replaced_at: int | None
    replaced_by: str | None

    def describe(self) -> str:
        text = f"{self.node} {self.place} held it at step {self.held_until}"
        if self.replaced_at is not None:
            text += f", replaced at step {self.replaced_at} by {self.replaced_by}"
        return text
