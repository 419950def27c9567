"""Sometimes-properties: things a useful run must make happen at least once.

A property about siblings means nothing if no run ever made one, so each engine sums these over
its runs and fails when one never fired:

- `siblings_created`: a read returned two or more values;
- `sloppy_writes`: a node stored a hint (StoreHint);
- `handoffs`: a hint was handed off and deleted (DeleteHint);
- `read_repairs`: a get repaired a stale primary;
- `antientropy_repairs`: a Merkle exchange changed a replica (SyncKeys carried a missing version);
- `crash_lost_volatile_state`: a node crashed while requests were in progress.

Two measures go beside them: the largest sibling set any read returned (distinct values), and
the largest number of truly concurrent writes to one key: the largest set of puts of one key
none of which had seen another (a maximum antichain of the "had seen" order, each put that ran
more than once counted apart). In dvv the first never exceeds the second (DESIGN.md); clocks
per server are known to.

A vclock-only count goes with them: `vclock_truncations`, the executions of writes whose clock
the coordinator truncated. A write's clock is its context with the coordinator's actor counted
up (REQ-CAUS-5), so it is truncated exactly when the context's actors and the coordinator's
number more than `VCLOCK_MAX_ENTRIES`; the count reads that from the history (the context the
client sent, the actor each execution used), not from the node.
"""

from __future__ import annotations

import attrs

from dynref.causality import VCLOCK_MAX_ENTRIES, Mode, VersionVector, decode_context
from dynref.check.reads import strict_read_pairs
from dynref.check.view import HistoryView
from dynref.sim.cluster import Cluster
from dynref.sim.history import Operation

SOMETIMES_PROPERTIES = (
    "siblings_created",
    "sloppy_writes",
    "handoffs",
    "read_repairs",
    "antientropy_repairs",
    "crash_lost_volatile_state",
)


@attrs.frozen
class SometimesReport:
    siblings_created: int = 0
    sloppy_writes: int = 0
    handoffs: int = 0
    read_repairs: int = 0
    antientropy_repairs: int = 0
    crash_lost_volatile_state: int = 0
    largest_sibling_set: int = 0
    largest_concurrent_writes: int = 0
    strict_quorum_reads_checked: int = 0
    """(Acknowledged put, later read) pairs INV-READ-2 judged: a guard against vacuity too."""
    vclock_truncations: int = 0
    """Write executions whose vector clock was truncated (vclock only)."""

    def fired(self) -> frozenset[str]:
        return frozenset(name for name in SOMETIMES_PROPERTIES if getattr(self, name) > 0)

    def never_fired(self, wanted: tuple[str, ...] = SOMETIMES_PROPERTIES) -> tuple[str, ...]:
        return tuple(name for name in wanted if getattr(self, name) == 0)

    def combine(self, other: SometimesReport) -> SometimesReport:
        """Counts add up; the two `largest_` measures take the maximum."""
        values = {}
        for field in attrs.fields(SometimesReport):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            largest = field.name.startswith("largest_")
            values[field.name] = max(mine, theirs) if largest else mine + theirs
        return SometimesReport(**values)


def sometimes(cluster: Cluster, view: HistoryView | None = None) -> SometimesReport:
    view = view or HistoryView(cluster)
    counters = cluster.counters
    largest_read = max((len(set(op.read_values or ())) for op in view.reads()), default=0)
    return SometimesReport(
        siblings_created=counters.reads_with_siblings,
        sloppy_writes=counters.sloppy_writes,
        handoffs=counters.handoffs,
        read_repairs=counters.read_repairs,
        antientropy_repairs=counters.antientropy_repairs,
        crash_lost_volatile_state=counters.crashes_losing_requests,
        largest_sibling_set=largest_read,
        largest_concurrent_writes=largest_concurrent_writes(view),
        strict_quorum_reads_checked=len(strict_read_pairs(view)),
        vclock_truncations=vclock_truncations(view),
    )


def vclock_truncations(view: HistoryView) -> int:
    """How many write executions got a clock of more than `VCLOCK_MAX_ENTRIES` actors before
    truncation: the context's actors and the executing coordinator's."""
    if view.mode is not Mode.VCLOCK:
        return 0
    count = 0
    for op in view.operations:
        runs = view.executions_of(op)
        if not runs:
            continue
        context = decode_context(view.mode, op.context)
        if not isinstance(context, VersionVector):
            continue  # refused by the coordinator (ContextError): it wrote nothing
        actors = {actor for actor, _ in context.entries}
        count += sum(len(actors | {run.actor}) > VCLOCK_MAX_ENTRIES for run in runs)
    return count


def concurrent_writes_by_key(view: HistoryView) -> dict[bytes, int]:
    """Key -> the size of the largest set of its puts none of which had seen another.

    A put that ran more than once (a duplicated or retried forward) made several dots, and a
    write that had seen the value may have covered only one of them: such a put is counted on
    its own, beside the largest antichain of the puts that ran once. Without execution records
    (a history from a real cluster) every put counts as run once.
    """
    once: dict[bytes, list[Operation]] = {}
    repeated: dict[bytes, int] = {}
    for op in view.writer.values():
        if view.executions and not view.executed_once(op):
            if view.executions_of(op):
                repeated[op.key] = repeated.get(op.key, 0) + 1
            continue
        once.setdefault(op.key, []).append(op)
    keys = once.keys() | repeated.keys()
    return {key: _maximum_antichain(view, once.get(key, [])) + repeated.get(key, 0) for key in keys}


def largest_concurrent_writes(view: HistoryView) -> int:
    return max(concurrent_writes_by_key(view).values(), default=0)


def _maximum_antichain(view: HistoryView, puts: list[Operation]) -> int:
    """Dilworth: the largest antichain of a partial order is its size minus a maximum
    matching in the bipartite graph of its strict comparabilities ("had seen" is transitive)."""
    index = {op.value: i for i, op in enumerate(puts)}
    later: list[list[int]] = [[] for _ in puts]  # i -> puts that had seen puts[i]
    for j, op in enumerate(puts):
        for value in view.seen.get(op.op_id, ()):
            i = index.get(value)
            if i is not None and i != j:
                later[i].append(j)
    match_of: dict[int, int] = {}  # right vertex j -> the left vertex i matched to it
    matching = sum(_augment(start, later, match_of) for start in range(len(puts)))
    return len(puts) - matching


def _augment(start: int, later: list[list[int]], match_of: dict[int, int]) -> bool:
    """Kuhn's augmenting-path search from left vertex `start`, with an explicit stack (a key
    written thousands of times would exceed Python's recursion limit)."""
    visited: set[int] = set()
    path: list[tuple[int, int]] = []  # (left vertex, right vertex tried from it)
    stack = [(start, iter(later[start]))]
    while stack:
        left, candidates = stack[-1]
        for right in candidates:
            if right in visited:
                continue
            visited.add(right)
            path.append((left, right))
            owner = match_of.get(right)
            if owner is None:
                for matched_left, matched_right in path:
                    match_of[matched_right] = matched_left
                return True
            stack.append((owner, iter(later[owner])))
            break
        else:
            stack.pop()
            if path:
                path.pop()
    return False
