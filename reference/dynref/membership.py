"""Cluster membership as a join-semilattice, and the rings it determines (SPEC section 12).

A `Membership` maps each member id to a `MemberEntry`: capacity, an endpoint string the core
never reads (the adapters' address), a status and a version. Only the member itself changes its
own entry, each change with a greater version, so `merge` (per member, the entry with the greater
(version, status, capacity, endpoint)) never has to arbitrate between two writers: the tie-break
on the other fields only keeps `merge` a join for inputs no correct node produces.

The rings are pure functions of the membership: the *current* ring of the valid and leaving
members serves reads and counts W; the *future* ring of the joining and valid members is where
the keys move to. Equal memberships give equal rings on every node (INV-MEMBER-2).
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Iterable

import attrs

from dynref.causality import Mode
from dynref.ring import NodeSpec, Ring, RingConfig, build_ring


class Status(enum.IntEnum):
    """A member's lifecycle; a member only ever moves forward (joining -> ... -> exiting)."""

    JOINING = 0
    VALID = 1
    LEAVING = 2
    EXITING = 3


IN_CURRENT_RING = frozenset({Status.VALID, Status.LEAVING})
IN_FUTURE_RING = frozenset({Status.JOINING, Status.VALID})
TRANSITIONAL = frozenset({Status.JOINING, Status.LEAVING})


@attrs.frozen
class MemberEntry:
    node_id: str
    capacity: int
    endpoint: str
    status: Status
    version: int

    def rank(self) -> tuple[int, int, int, str]:
        return (self.version, int(self.status), self.capacity, self.endpoint)

    def spec(self) -> NodeSpec:
        return NodeSpec(self.node_id, self.capacity)


@attrs.frozen(cache_hash=True)
class Membership:
    """Entries sorted by node id, one per member (exiting members stay, as tombstones)."""

    entries: tuple[MemberEntry, ...] = ()

    @staticmethod
    def of(entries: Iterable[MemberEntry]) -> Membership:
        """The membership of these entries; of two entries for one member the greater wins."""
        best: dict[str, MemberEntry] = {}
        for entry in entries:
            held = best.get(entry.node_id)
            if held is None or entry.rank() > held.rank():
                best[entry.node_id] = entry
        return Membership(tuple(best[node_id] for node_id in sorted(best)))

    def merge(self, other: Membership) -> Membership:
        """The join: per member, the entry of greater rank. Commutative, associative, idempotent."""
        if other is self or other == self:
            return self
        merged = Membership.of((*self.entries, *other.entries))
        return self if merged == self else merged

    def get(self, node_id: str) -> MemberEntry | None:
        for entry in self.entries:
            if entry.node_id == node_id:
                return entry
        return None

    def with_entry(self, entry: MemberEntry) -> Membership:
        return Membership.of((*(e for e in self.entries if e.node_id != entry.node_id), entry))

    def ids_with(self, statuses: frozenset[Status]) -> tuple[str, ...]:
        return tuple(entry.node_id for entry in self.entries if entry.status in statuses)

    def specs_with(self, statuses: frozenset[Status]) -> tuple[NodeSpec, ...]:
        return tuple(entry.spec() for entry in self.entries if entry.status in statuses)

    def is_member(self, node_id: str) -> bool:
        """Known to the membership, exiting members included (their messages may still arrive)."""
        return self.get(node_id) is not None

    def in_transition(self) -> bool:
        """Some member is joining or leaving: the current and future rings differ."""
        return any(entry.status in TRANSITIONAL for entry in self.entries)

    def changed(self) -> bool:
        """Some entry moved past the static configuration's (all valid at version 0)."""
        return any(entry.version > 0 for entry in self.entries)

    def digest(self) -> bytes:
        """16 bytes naming this membership, equal on nodes that hold equal memberships."""
        text = ";".join(
            f"{e.node_id},{e.capacity},{e.endpoint},{int(e.status)},{e.version}"
            for e in self.entries
        )
        return hashlib.blake2b(text.encode(), digest_size=16).digest()


def initial_membership(nodes: Iterable[NodeSpec]) -> Membership:
    """The static configuration's members: all valid, at version 0."""
    return Membership.of(MemberEntry(s.node_id, s.capacity, "", Status.VALID, 0) for s in nodes)


def config_digest(n: int, mode: Mode, ring: RingConfig, merkle_depth: int) -> bytes:
    """16 bytes naming the parameters every node of a cluster must share."""
    text = (
        f"n={n};mode={mode.value};strategy={ring.strategy.value};"
        f"tokens={ring.tokens_per_capacity};partitions={ring.partitions};depth={merkle_depth}"
    )
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@functools.lru_cache(maxsize=256)
def _ring_of(specs: tuple[NodeSpec, ...], config: RingConfig) -> Ring:
    return build_ring(specs, config)


def current_ring(membership: Membership, config: RingConfig) -> Ring:
    """The ring of the valid and leaving members: it serves reads and counts W."""
    return _ring_of(membership.specs_with(IN_CURRENT_RING), config)


def future_ring(membership: Membership, config: RingConfig) -> Ring:
    """The ring of the joining and valid members: where keys move to."""
    return _ring_of(membership.specs_with(IN_FUTURE_RING), config)


def ring_error(membership: Membership, config: RingConfig) -> str | None:
    """Why the membership's rings cannot be built (strategy 3 out of ranges), None when fine."""
    for statuses in (IN_CURRENT_RING, IN_FUTURE_RING):
        try:
            _ring_of(membership.specs_with(statuses), config)
        except ValueError as error:
            return str(error)
    if not membership.ids_with(IN_CURRENT_RING):
        return "no valid member would be left"
    return None


__all__ = [
    "IN_CURRENT_RING",
    "IN_FUTURE_RING",
    "TRANSITIONAL",
    "MemberEntry",
    "Membership",
    "Status",
    "config_digest",
    "current_ring",
    "future_ring",
    "initial_membership",
    "ring_error",
]
