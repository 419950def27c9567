"""Dotted version vector sets (Almeida et al. 2014), the default mode (REQ-CAUS-4).

A sibling set is a version vector plus siblings named by dots the vector covers. A write with
context C supersedes exactly the siblings C covers, so concurrent writes survive as siblings even
through the same coordinator (INV-CAUS-3).
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
    entries_join,
    entries_leq,
    is_canonical,
    nul_free,
)

Dot = tuple[str, int]
Dots = tuple[Dot, ...]


def dots_canonical(dots: Dots) -> bool:
    """Whether the dots strictly ascend by (actor, counter) and every counter is at least 1."""
    return all(counter >= 1 for _, counter in dots) and all(
        dots[index] < dots[index + 1] for index in range(len(dots) - 1)
    )


def covered(vv: Entries, dot: Dot) -> bool:
    """Whether the version vector `vv` holds the dot."""
    return 1 <= dot[1] <= entries_get(vv, dot[0])


def dots_domain(dots: Dots) -> bool:
    """Canonical dots with NUL-free actors (see `contract_domain` for why NUL is excluded)."""
    return dots_canonical(dots) and all(nul_free(actor) for actor, _ in dots)


def merge_keeps_exactly(
    vv_a: Entries, dots_a: Dots, vv_b: Entries, dots_b: Dots, kept: Dots
) -> bool:
    """REQ-CAUS-4's merge rule: a side's dot survives iff the other holds it or has not seen it."""
    return (
        dots_canonical(kept)
        and all(dot in dots_a or dot in dots_b for dot in kept)
        and all((d in kept) == (d in dots_b or not covered(vv_b, d)) for d in dots_a)
        and all((d in kept) == (d in dots_a or not covered(vv_a, d)) for d in dots_b)
    )


def write_is_exact(
    vv: Entries, dots: Dots, context: Entries, actor: str, result: tuple[Entries, Dot, Dots]
) -> bool:
    """REQ-CAUS-4's write rule: a fresh dot, exactly the unseen dots kept, the vector joined."""
    new_vv, dot, survivors = result
    return (
        dot == (actor, max(entries_get(vv, actor), entries_get(context, actor)) + 1)
        and not covered(vv, dot)
        and not covered(context, dot)
        and survivors == tuple(old for old in dots if not covered(context, old))
        and is_canonical(new_vv)
        and covered(new_vv, dot)
        and entries_leq(vv, new_vv)
        and entries_leq(context, new_vv)
        and all(
            c == max(entries_get(vv, a), entries_get(context, a)) for a, c in new_vv if a != actor
        )
    )


def surviving_dots(vv_a: Entries, dots_a: Dots, vv_b: Entries, dots_b: Dots) -> Dots:
    """
    The dots a merge keeps: those both sides hold, and those the other side has not seen.

    pre: dots_domain(dots_a) and dots_domain(dots_b)
    post: merge_keeps_exactly(vv_a, dots_a, vv_b, dots_b, __return__)
    """
    kept = [dot for dot in dots_a if dot in dots_b or not covered(vv_b, dot)]
    kept += [dot for dot in dots_b if dot not in dots_a and not covered(vv_a, dot)]
    return tuple(sorted(kept))


def write_dots(vv: Entries, dots: Dots, context: Entries, actor: str) -> tuple[Entries, Dot, Dots]:
    """
    A write's new vector, new dot and surviving old dots.

    The new dot counts past both the stored vector and the context, so it is fresh even if the
    context knows more of this actor than the replica does.

    pre: contract_domain(vv) and contract_domain(context) and nul_free(actor)
    post: write_is_exact(vv, dots, context, actor, __return__)
    """
    seen = entries_join(vv, context)
    dot = (actor, entries_get(seen, actor) + 1)
    survivors = tuple(old for old in dots if not covered(context, old))
    return entries_join(seen, (dot,)), dot, survivors


@attrs.frozen
class DvvSibling:
    """One version: the write event's dot, its value (None for a tombstone) and its time."""

    actor: str
    counter: int
    value: bytes | None
    timestamp: int

    @property
    def dot(self) -> Dot:
        return (self.actor, self.counter)

    def preference(self) -> tuple[int, tuple[bool, bytes]]:
        """Picks between two siblings that wrongly share a dot, so merge stays a join even then."""
        return (self.timestamp, value_rank(self.value))


@attrs.frozen
class DvvSet:
    """A key's dvv sibling set; siblings sorted by dot, every dot covered by `vv`."""

    vv: VersionVector = attrs.field(factory=VersionVector)
    siblings: tuple[DvvSibling, ...] = ()

    def dots(self) -> Dots:
        return tuple(sibling.dot for sibling in self.siblings)

    def values(self) -> tuple[bytes, ...]:
        """The visible values, tombstones hidden, sorted (one per sibling)."""
        return tuple(sorted(s.value for s in self.siblings if s.value is not None))

    def context(self) -> VersionVector:
        """REQ-CAUS-7: the vector covers every sibling, tombstones included (REQ-CAUS-3)."""
        return self.vv

    def write(
        self, value: bytes | None, context: VersionVector, actor: str, timestamp: int
    ) -> DvvSet:
        vv, dot, survivors = write_dots(self.vv.entries, self.dots(), context.entries, actor)
        by_dot = {sibling.dot: sibling for sibling in self.siblings}
        kept = [by_dot[old] for old in survivors]
        kept.append(DvvSibling(dot[0], dot[1], value, timestamp))
        kept.sort(key=lambda sibling: sibling.dot)
        return DvvSet(VersionVector(vv), tuple(kept))

    def merge(self, other: DvvSet) -> DvvSet:
        if self == other:
            return self
        kept = surviving_dots(self.vv.entries, self.dots(), other.vv.entries, other.dots())
        by_dot = {sibling.dot: sibling for sibling in self.siblings}
        for sibling in other.siblings:
            mine = by_dot.get(sibling.dot)
            if mine is None or mine.preference() < sibling.preference():
                by_dot[sibling.dot] = sibling
        merged = DvvSet(self.vv.join(other.vv), tuple(by_dot[dot] for dot in kept))
        # An operand equal to the join is handed back itself, with the digest it may carry.
        return other if merged == other else merged

    def digest(self) -> bytes:
        return self._digest

    # Computed on first use and kept with the (immutable) value: a store, its Merkle tree, a
    # handoff acknowledgement and a state fingerprint all ask for the same set's digest.
    @functools.cached_property
    def _digest(self) -> bytes:
        out = bytearray(b"dvv")
        append_varint(out, len(self.vv.entries))
        for actor, counter in self.vv.entries:
            append_text(out, actor)
            append_varint(out, counter)
        append_varint(out, len(self.siblings))
        for sibling in self.siblings:
            append_text(out, sibling.actor)
            append_varint(out, sibling.counter)
            append_value(out, sibling.value)
            append_signed(out, sibling.timestamp)
        return digest_of(bytes(out))

    def is_empty(self) -> bool:
        return not self.siblings

    def sibling_count(self) -> int:
        return len(self.siblings)

    def latest_timestamp(self) -> int:
        return max((sibling.timestamp for sibling in self.siblings), default=0)
