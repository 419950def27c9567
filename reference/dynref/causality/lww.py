"""Server-side last-write-wins (REQ-CAUS-6): one version per key, the greatest
(timestamp, actor, value) wins, whatever order writes and merges arrive in."""

from __future__ import annotations

import functools

import attrs

from dynref.causality.context import (
    append_signed,
    append_text,
    append_value,
    digest_of,
    value_rank,
)
from dynref.causality.vv import VersionVector, nul_free  # noqa: F401 (a contract names it)

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

    def context(self) -> VersionVector:
        """REQ-CAUS-7: lww ignores contexts; a later timestamp is what supersedes a delete."""
        return VersionVector()

    def write(
        self, value: bytes | None, context: VersionVector, actor: str, timestamp: int
    ) -> LwwRegister:
        return self.merge(LwwRegister(LwwVersion(timestamp, actor, value)))

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
