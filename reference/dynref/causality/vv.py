"""Version vectors: maps actor -> counter, read as the sets of dots (actor, 1..counter).

The contract-carrying functions work on plain canonical entry tuples, which CrossHair reasons
about well; `VersionVector` wraps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

Actor = str
Entries = tuple[tuple[str, int], ...]


def is_canonical(entries: Entries) -> bool:
    """Whether actors strictly ascend (no duplicates) and every counter is at least 1."""
    previous: str | None = None
    for actor, counter in entries:
        if counter < 1 or (previous is not None and actor <= previous):
            return False
        previous = actor
    return True


def nul_free(actor: str) -> bool:
    return all(ord(character) > 0 for character in actor)


def contract_domain(entries: Entries) -> bool:
    """Canonical entries whose actors hold no NUL code point: the inputs contracts range over.

    CrossHair 0.0.113 compares symbolic strings holding U+0000 inconsistently (`a < b` twice
    can disagree), which yields false counterexamples; actors are `node#incarnation` names, so
    excluding NUL loses nothing real.
    """
    return is_canonical(entries) and all(nul_free(actor) for actor, _ in entries)


def entries_get(entries: Entries, actor: str) -> int:
    """The counter of `actor`, 0 when absent."""
    for entry_actor, counter in entries:
        if entry_actor == actor:
            return counter
    return 0


def entries_leq(left: Entries, right: Entries) -> bool:
    """
    Pointwise `left <= right`, walking both sorted tuples once.

    pre: contract_domain(left) and contract_domain(right)
    post: __return__ == all(counter <= entries_get(right, actor) for actor, counter in left)
    """
    position = 0
    for actor, counter in left:
        while position < len(right) and right[position][0] < actor:
            position += 1
        if position == len(right) or right[position][0] != actor or right[position][1] < counter:
            return False
    return True


def is_least_upper_bound(left: Entries, right: Entries, joined: Entries) -> bool:
    """Whether `joined` is canonical, covers both sides and holds nothing beyond their maximum."""
    return (
        is_canonical(joined)
        and entries_leq(left, joined)
        and entries_leq(right, joined)
        and all(c == max(entries_get(left, a), entries_get(right, a)) for a, c in joined)
    )


def entries_join(left: Entries, right: Entries) -> Entries:
    """
    Pointwise maximum: the least upper bound of `left` and `right` (INV-CAUS-1).

    pre: contract_domain(left) and contract_domain(right)
    post: is_least_upper_bound(left, right, __return__)
    """
    joined: list[tuple[str, int]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        left_actor, left_counter = left[i]
        right_actor, right_counter = right[j]
        if left_actor == right_actor:
            joined.append((left_actor, max(left_counter, right_counter)))
            i += 1
            j += 1
        elif left_actor < right_actor:
            joined.append(left[i])
            i += 1
        else:
            joined.append(right[j])
            j += 1
    joined.extend(left[i:])
    joined.extend(right[j:])
    return tuple(joined)


def entries_with(entries: Entries, actor: str, counter: int) -> Entries:
    """
    `entries` with `actor` raised to at least `counter`.

    pre: contract_domain(entries) and nul_free(actor) and counter >= 0
    post: is_least_upper_bound(entries, ((actor, counter),) if counter else (), __return__)
    """
    if counter < 1:
        return entries
    return entries_join(entries, ((actor, counter),))


@attrs.frozen
class VersionVector:
    """A canonical version vector: entries sorted by actor, counters >= 1, no duplicates."""

    entries: Entries = ()

    @staticmethod
    def of(mapping: Mapping[str, int]) -> VersionVector:
        """Build from a mapping; zero counters mean absent, negative ones are a bug."""
        if any(counter < 0 for counter in mapping.values()):
            raise ValueError(f"negative counter in {dict(mapping)!r}")
        return VersionVector(tuple(sorted((a, c) for a, c in mapping.items() if c > 0)))

    @staticmethod
    def join_all(vectors: Iterable[VersionVector]) -> VersionVector:
        joined: Entries = ()
        for vector in vectors:
            joined = entries_join(joined, vector.entries)
        return VersionVector(joined)

    def get(self, actor: str) -> int:
        return entries_get(self.entries, actor)

    def covers(self, actor: str, counter: int) -> bool:
        """Whether the dot (actor, counter) is in the vector."""
        return 1 <= counter <= entries_get(self.entries, actor)

    def leq(self, other: VersionVector) -> bool:
        return entries_leq(self.entries, other.entries)

    def descends(self, other: VersionVector) -> bool:
        """Whether this vector has seen everything `other` has (`other <= self`)."""
        return entries_leq(other.entries, self.entries)

    def concurrent_with(self, other: VersionVector) -> bool:
        return not self.leq(other) and not other.leq(self)

    def join(self, other: VersionVector) -> VersionVector:
        return VersionVector(entries_join(self.entries, other.entries))

    def with_entry(self, actor: str, counter: int) -> VersionVector:
        return VersionVector(entries_with(self.entries, actor, counter))

    def as_dict(self) -> dict[str, int]:
        return dict(self.entries)

    def is_empty(self) -> bool:
        return not self.entries
