"""A node's state: the durable part survives a crash, the volatile part is rebuilt at restart."""

from __future__ import annotations

import attrs
import immutables

from dynref.causality import AnyVersions
from dynref.config import ClusterConfig
from dynref.merkle import MerkleTree
from dynref.ring import Ring

Hints = immutables.Map[str, immutables.Map[bytes, AnyVersions]]
"""target node -> key -> versions held for it."""


@attrs.frozen
class DurableState:
    node_id: str
    incarnation: int
    boots: int
    data: immutables.Map[bytes, AnyVersions] = immutables.Map()
    hints: Hints = immutables.Map()

    @property
    def actor(self) -> str:
        return f"{self.node_id}#{self.incarnation}"


@attrs.frozen
class ReplyTo:
    """Where a coordinated request's result goes: a client, or the node that forwarded it."""

    request_id: int
    forwarded_by: str | None = None


@attrs.frozen
class PendingPut:
    reply_to: ReplyTo
    key: bytes
    needed: int
    targets: tuple[str, ...]
    acked: frozenset[str]
    deadline: int
    answered: bool = False


@attrs.frozen
class PendingGet:
    reply_to: ReplyTo
    key: bytes
    needed: int
    targets: tuple[str, ...]
    primaries: frozenset[str]
    replies: tuple[tuple[str, AnyVersions], ...]
    deadline: int
    answered: bool = False


@attrs.frozen
class PendingForward:
    """A put this node forwarded to a preference-list node, with the ones left to try."""

    client_request_id: int
    key: bytes
    value: bytes | None
    context: bytes
    w: int | None
    current: str
    remaining: tuple[str, ...]
    deadline: int


@attrs.frozen
class Stats:
    """Counters of what this node did since it booted (volatile, for status and the demo)."""

    coordinated_puts: int = 0
    coordinated_gets: int = 0
    forwarded_puts: int = 0
    hinted_writes: int = 0
    hints_handed_off: int = 0
    read_repairs: int = 0
    antientropy_exchanges: int = 0
    antientropy_keys_repaired: int = 0
    protocol_errors: int = 0


@attrs.frozen
class VolatileState:
    now: int
    rng: int
    next_sequence: int = 0
    down: frozenset[str] = frozenset()
    puts: immutables.Map[int, PendingPut] = immutables.Map()
    gets: immutables.Map[int, PendingGet] = immutables.Map()
    forwards: immutables.Map[int, PendingForward] = immutables.Map()
    trees: immutables.Map[int, MerkleTree] = immutables.Map()
    next_handoff: int = 0
    next_antientropy: int = 0
    next_probe: int = 0
    stats: Stats = Stats()


@attrs.frozen
class NodeState:
    config: ClusterConfig
    ring: Ring
    durable: DurableState
    volatile: VolatileState

    @property
    def node_id(self) -> str:
        return self.durable.node_id


__all__ = [
    "DurableState",
    "Hints",
    "NodeState",
    "PendingForward",
    "PendingGet",
    "PendingPut",
    "ReplyTo",
    "Stats",
    "VolatileState",
]
