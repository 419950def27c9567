"""Server-side last-write-wins (REQ-CAUS-6): one version per key, the greatest
(timestamp, actor, value) wins, whatever order writes and merges arrive in.

A write is stamped above the version it replaces and above the client's context (REQ-LWW-1),
so that a delete or an overwrite through the same coordinator, or by a client passing the
context of what it read, always wins, even within one tick of the coordinator's clock.
"""

from __future__ import annotations

import functools

import attrs

from dynref.causality.context import (
    LwwContext,
    Stamp,
    append_signed,
    append_text,
    append_value,
    digest_of,
    value_rank,
)
from dynref.causality.vv import nul_free  # noqa: F401 (a contract names it)

Rank = tuple[int, str, bool, bytes]  # (timestamp, actor, holds a value, value)


def is_greatest_of(first: Rank | None, second: Rank | None, chosen: Rank | None) -> bool:
    """Whether `chosen` is one of the two and at least as great as each present one."""
    return (
        chosen in (first, second)
        and (first is None or (chosen is not None and chosen >= first))
        and (second is None or (chosen is not None and chosen >= second))
    )


def later_rank(first: Rank | None, second: Rank | None) -> Rank | None:
    """
    The greater of two ranks, absence counting as least.

    pre: all(rank is None or nul_free(rank[1]) for rank in (first, second))
    post: is_greatest_of(first, second, __return__)
    """
    if first is None:
        return second
    if second is None or second <= first:
        return first
    return second


def stamped_above(clock: int, *seen: Stamp | None) -> int:
    """
    `clock`, raised above every timestamp seen, so that a version stamped with it outranks
    every seen one whatever its actor (REQ-LWW-1).

    post: all(stamp is None or __return__ > stamp[0] for stamp in seen)
    post: __return__ >= clock
    """
    timestamp = clock
    for stamp in seen:
        if stamp is not None and stamp[0] >= timestamp:
            timestamp = stamp[0] + 1
    return timestamp


@attrs.frozen
class LwwVersion:
    timestamp: int
    actor: str
    value: bytes | None

    def rank(self) -> Rank:
        # A tombstone ranks below any value written at the same (timestamp, actor).
        return (self.timestamp, self.actor, *value_rank(self.value))


def _rank_of(version: LwwVersion | None) -> Rank | None:
    return None if version is None else version.rank()


@attrs.frozen
class LwwRegister:
    """A key's single surviving version, or None before any write."""

    winner: LwwVersion | None = None

    def values(self) -> tuple[bytes, ...]:
        if self.winner is None or self.winner.value is None:
            return ()
        return (self.winner.value,)

    def context(self) -> LwwContext:
        """REQ-CAUS-7: the stamp of the version held, a tombstone's too (REQ-CAUS-3)."""
        if self.winner is None:
            return LwwContext()
        return LwwContext((self.winner.timestamp, self.winner.actor))

    def stamp_for(self, clock: int, context: LwwContext) -> int:
        """REQ-LWW-1: the timestamp of a write at `clock`: above the held version and the
        context's stamp, so that the write outranks both whatever its actor and value."""
        return stamped_above(clock, self.winner_stamp(), context.stamp)

    def winner_stamp(self) -> Stamp | None:
        return None if self.winner is None else (self.winner.timestamp, self.winner.actor)

    def write(
        self, value: bytes | None, context: LwwContext, actor: str, timestamp: int
    ) -> LwwRegister:
        """A version stamped `stamp_for(timestamp, context)`, which always wins here."""
        stamped = LwwVersion(self.stamp_for(timestamp, context), actor, value)
        return self.merge(LwwRegister(stamped))

    def merge(self, other: LwwRegister) -> LwwRegister:
        mine = _rank_of(self.winner)
        return self if later_rank(mine, _rank_of(other.winner)) == mine else other

    def digest(self) -> bytes:
        return self._digest

    # Computed on first use and kept with the (immutable) value: a store, its Merkle tree, a
    # handoff acknowledgement and a state fingerprint all ask for the same set's digest.
    @functools.cached_property
    def _digest(self) -> bytes:
        out = bytearray(b"lww")
        if self.winner is not None:
            append_signed(out, self.winner.timestamp)
            append_text(out, self.winner.actor)
            append_value(out, self.winner.value)
        return digest_of(bytes(out))

    def is_empty(self) -> bool:
        return self.winner is None

    def sibling_count(self) -> int:
        return 0 if self.winner is None else 1

    def latest_timestamp(self) -> int:
        return 0 if self.winner is None else self.winner.timestamp
