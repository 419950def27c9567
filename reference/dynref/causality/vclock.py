"""Per-version vector clocks, the Dynamo paper taken literally (REQ-CAUS-5).

A write's clock is the client's context with the coordinator's counter incremented from the
context's own value, as Dynamo and Riak did. Two clients that write with the same stale context
through the same coordinator therefore get equal clocks, and the second silently replaces the
first (the known anomaly, INV-CAUS-3). Clocks longer than a threshold lose their oldest entries.
"""

from __future__ import annotations

import functools

import attrs

from dynref.causality.context import (
    append_signed,
    append_text,
    append_value,
    append_varint,
    digest_of,
    value_rank,
)
from dynref.causality.vv import (
    Entries,
    VersionVector,
    contract_domain,  # noqa: F401 (the contracts name it)
    entries_get,
    entries_leq,
    entries_with,
    is_canonical,
    nul_free,  # noqa: F401 (the contracts name it)
)

# The paper's truncation threshold.
VCLOCK_MAX_ENTRIES = 10

Clock = tuple[tuple[str, int, int], ...]  # (actor, counter, last-update timestamp) by actor


def clock_canonical(clock: Clock) -> bool:
    return is_canonical(clock_counters(clock))


def clock_counters(clock: Clock) -> Entries:
    """The clock as a version vector, forgetting the timestamps."""
    return tuple((actor, counter) for actor, counter, _ in clock)


def is_increment_of(context: Entries, actor: str, timestamp: int, clock: Clock) -> bool:
    """Whether `clock` is `context` with only `actor` counted up by one, stamped `timestamp`."""
    return (
        clock_canonical(clock)
        and (actor, entries_get(context, actor) + 1, timestamp) in clock
        and all(c == entries_get(context, a) for a, c, _ in clock if a != actor)
        and len(clock) == len(context) + (0 if entries_get(context, actor) else 1)
    )


def incremented_clock(
    context: Entries, stored: tuple[Clock, ...], actor: str, timestamp: int
) -> Clock:
    """
    The context with `actor`'s counter raised to the context's own value plus one.

    Entries copied from the context keep the last-update time a stored clock records for the
    same actor and counter (0 when none does: the context alone does not say).

    pre: contract_domain(context) and nul_free(actor)
    post: is_increment_of(context, actor, timestamp, __return__)
    """
    known: dict[tuple[str, int], int] = {}
    for clock in stored:
        for entry_actor, counter, entry_time in clock:
            if known.get((entry_actor, counter), entry_time) <= entry_time:
                known[(entry_actor, counter)] = entry_time
    counters = entries_with(context, actor, entries_get(context, actor) + 1)
    return tuple((a, c, timestamp if a == actor else known.get((a, c), 0)) for a, c in counters)


def truncation_is_exact(clock: Clock, max_entries: int, keep_actor: str, kept: Clock) -> bool:
    """Whether `kept` is `clock` less its oldest droppable entries, down to `max_entries`."""
    dropped = [entry for entry in clock if entry not in kept]
    droppable = [entry for entry in kept if entry[0] != keep_actor]
    return (
        clock_canonical(kept)
        and all(entry in clock for entry in kept)
        and len(kept) == min(len(clock), max_entries)
        and all(entry in kept for entry in clock if entry[0] == keep_actor)
        and all((d[2], d[0]) < (k[2], k[0]) for d in dropped for k in droppable)
    )


def truncate_clock(clock: Clock, max_entries: int, keep_actor: str) -> Clock:
    """
    Drop the entries with the oldest (timestamp, actor) until `max_entries` remain.

    The writer's own entry is never dropped: without it the new version would not name its
    own write and could look dominated by the version it was meant to follow.

    pre: contract_domain(clock_counters(clock)) and max_entries >= 1
    post: truncation_is_exact(clock, max_entries, keep_actor, __return__)
    """
    excess = len(clock) - max_entries
    if excess <= 0:
        return clock
    candidates = sorted(
        (entry for entry in clock if entry[0] != keep_actor),
        key=lambda entry: (entry[2], entry[0]),
    )
    dropped = set(candidates[:excess])
    return tuple(entry for entry in clock if entry not in dropped)


def strictly_below(lower: Entries, upper: Entries) -> bool:
    return lower != upper and entries_leq(lower, upper)


def are_first_maximal(counters: tuple[Entries, ...], kept: tuple[int, ...]) -> bool:
    """Whether `kept` indexes, in order, the first clock of each class no clock dominates."""
    return (
        all(kept[i] < kept[i + 1] for i in range(len(kept) - 1))
        and all(0 <= k < len(counters) for k in kept)
        and all(any(entries_leq(clock, counters[k]) for k in kept) for clock in counters)
        and not any(strictly_below(counters[k], clock) for k in kept for clock in counters)
        and all(counters[i] != counters[k] for k in kept for i in range(k))
    )


def dominance_survivors(counters: tuple[Entries, ...]) -> tuple[int, ...]:
    """
    Indices of the clocks no other clock strictly dominates, the first of each equal group.

    pre: all(contract_domain(clock) for clock in counters)
    post: are_first_maximal(counters, __return__)
    """
    kept: list[int] = []
    for index, clock in enumerate(counters):
        if any(counters[earlier] == clock for earlier in range(index)):
            continue
        if any(strictly_below(clock, other) for other in counters):
            continue
        kept.append(index)
    return tuple(kept)


@attrs.frozen
class ClockedVersion:
    """One version with its own clock; `value` None is a tombstone."""

    clock: Clock
    value: bytes | None
    timestamp: int

    def counters(self) -> Entries:
        return clock_counters(self.clock)

    def preference(self) -> tuple[int, tuple[bool, bytes], Clock]:
        """Of two versions with equal counters merge keeps the greater; a total order."""
        return (self.timestamp, value_rank(self.value), self.clock)


@attrs.frozen
class VclockSiblings:
    """A key's vclock sibling set: pairwise concurrent versions, sorted by clock."""

    versions: tuple[ClockedVersion, ...] = ()

    def values(self) -> tuple[bytes, ...]:
        return tuple(sorted(v.value for v in self.versions if v.value is not None))

    def context(self) -> VersionVector:
        """REQ-CAUS-7: the join of every held clock, tombstones included (REQ-CAUS-3)."""
        return VersionVector.join_all(VersionVector(v.counters()) for v in self.versions)

    def write(
        self,
        value: bytes | None,
        context: VersionVector,
        actor: str,
        timestamp: int,
        *,
        max_entries: int = VCLOCK_MAX_ENTRIES,
    ) -> VclockSiblings:
        """Store a version whose clock is the context incremented at `actor` (REQ-CAUS-5).

        Versions the new clock descends are removed, even one with an equal clock: that is the
        anomaly. A version whose clock strictly dominates the new one wins, and the write is
        dropped (Riak's coordinating put did the same).
        """
        stored = tuple(version.clock for version in self.versions)
        clock = incremented_clock(context.entries, stored, actor, timestamp)
        clock = truncate_clock(clock, max_entries, actor)
        new = ClockedVersion(clock, value, timestamp)
        new_counters = new.counters()
        remaining = [v for v in self.versions if not entries_leq(v.counters(), new_counters)]
        if any(entries_leq(new_counters, v.counters()) for v in remaining):
            return self
        remaining.append(new)
        remaining.sort(key=lambda version: version.clock)
        return VclockSiblings(tuple(remaining))

    def merge(self, other: VclockSiblings) -> VclockSiblings:
        if self == other:
            return self
        candidates = sorted(
            self.versions + other.versions, key=ClockedVersion.preference, reverse=True
        )
        kept = dominance_survivors(tuple(v.counters() for v in candidates))
        merged = VclockSiblings(
            tuple(sorted((candidates[index] for index in kept), key=lambda v: v.clock))
        )
        # An operand equal to the join is handed back itself, with the digest it may carry.
        return other if merged == other else merged

    def digest(self) -> bytes:
        return self._digest

    # Computed on first use and kept with the (immutable) value: a store, its Merkle tree, a
    # handoff acknowledgement and a state fingerprint all ask for the same set's digest.
    @functools.cached_property
    def _digest(self) -> bytes:
        out = bytearray(b"vclock")
        append_varint(out, len(self.versions))
        for version in self.versions:
            append_varint(out, len(version.clock))
            for actor, counter, entry_time in version.clock:
                append_text(out, actor)
                append_varint(out, counter)
                append_signed(out, entry_time)
            append_value(out, version.value)
            append_signed(out, version.timestamp)
        return digest_of(bytes(out))

    def is_empty(self) -> bool:
        return not self.versions

    def sibling_count(self) -> int:
        return len(self.versions)

    def latest_timestamp(self) -> int:
        return max((version.timestamp for version in self.versions), default=0)
