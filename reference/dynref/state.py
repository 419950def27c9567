"""A node's state: the durable part survives a crash, the volatile part is rebuilt at restart.

`NodeState` and its parts are immutable values. While a step runs, handlers work on a `Draft`
of the state instead, and the step freezes it once at its end: changing a field of a frozen
value means copying every level above it, and a step changes several fields.
"""

from __future__ import annotations

import itertools
import operator

import attrs
import immutables

from dynref.causality import AnyVersions
from dynref.config import ClusterConfig
from dynref.membership import Membership
from dynref.merkle_tree import MerkleTree
from dynref.ring import Ring, SloppyTarget

SEQUENCE_BITS = 32
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
LIFE_BITS = 31
"""Bits of a request id that tell the node's lives apart: with the sequence, ids fit in a
signed 64-bit int, as the wire format requires."""

Hints = immutables.Map[str, immutables.Map[bytes, AnyVersions]]
"""target node -> key -> versions held for it."""


def actor_name(node_id: str, incarnation: int) -> str:
    """The actor a node's versions name: one per incarnation, never reused (REQ-DUR-2)."""
    return f"{node_id}#{incarnation}"


@attrs.frozen
class DurableState:
    node_id: str
    incarnation: int
    boots: int
    data: immutables.Map[bytes, AnyVersions] = immutables.Map()
    hints: Hints = immutables.Map()
    # What this node learnt beyond the static configuration (empty while nothing changed); the
    # effective membership is the configuration's joined with it (`NodeState.membership`).
    membership: Membership = Membership()

    @property
    def actor(self) -> str:
        return actor_name(self.node_id, self.incarnation)


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
    written: bytes = b""
    """The context PutOk carries (REQ-CTX-4)."""

    def acknowledged(self, acked: frozenset[str], answered: bool) -> PendingPut:
        # Built field by field: attrs.evolve costs twice as much, on every acknowledgement.
        return PendingPut(
            self.reply_to,
            self.key,
            self.needed,
            self.targets,
            acked,
            self.deadline,
            answered,
            self.written,
        )


@attrs.frozen
class PendingGet:
    reply_to: ReplyTo
    key: bytes
    needed: int
    targets: tuple[str, ...]
    primaries: frozenset[str]
    replies: tuple[tuple[str, AnyVersions], ...]
    # The join of the replies, in order: kept as they come so that each is merged once.
    merged: AnyVersions
    deadline: int
    answered: bool = False

    # Built field by field: attrs.evolve costs twice as much, on every reply.
    def with_reply(self, sender: str, versions: AnyVersions, merged: AnyVersions) -> PendingGet:
        replies = (*self.replies, (sender, versions))
        return PendingGet(
            self.reply_to,
            self.key,
            self.needed,
            self.targets,
            self.primaries,
            replies,
            merged,
            self.deadline,
            self.answered,
        )

    def marked_answered(self) -> PendingGet:
        return PendingGet(
            self.reply_to,
            self.key,
            self.needed,
            self.targets,
            self.primaries,
            self.replies,
            self.merged,
            self.deadline,
            answered=True,
        )


@attrs.frozen
class PendingForward:
    """A put this node forwarded to a preference-list node (`current`), awaiting its answer."""

    client_request_id: int
    key: bytes
    value: bytes | None
    context: bytes
    w: int | None
    current: str
    deadline: int


ForwardKey = tuple[str, int]
"""(the forwarding node, its forward id)."""


@attrs.frozen
class ForwardMemory:
    """The forwarded puts this node started lately, so that a duplicate is not run twice.

    Two generations: a lookup checks both, and `aged` drops the older one and starts a new one
    once per window, so an entry is remembered for at least one window and at most two, at
    constant cost per tick. A duplicate arriving later than that (only a network that
    duplicates messages delivers one) runs again (SPEC REQ-COORD-6).
    """

    recent: immutables.Map[ForwardKey, bool] = immutables.Map()
    older: immutables.Map[ForwardKey, bool] = immutables.Map()
    renew_at: int = 0

    def __contains__(self, key: ForwardKey) -> bool:
        return key in self.recent or key in self.older

    def remember(self, key: ForwardKey) -> ForwardMemory:
        return ForwardMemory(self.recent.set(key, True), self.older, self.renew_at)

    def aged(self, now: int, window: int) -> ForwardMemory:
        """This memory at time `now`: unchanged within the window, else one generation on."""
        if now < self.renew_at:
            return self
        return ForwardMemory(immutables.Map(), self.recent, now + window)


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
    stale_messages: int = 0  # placement a lagging membership view chose: ignored, not an error
    keys_transferred: int = 0  # keys whose versions this node sent in transfer batches
    bytes_transferred: int = 0  # the values' bytes of those keys
    keys_offered: int = 0  # keys this node offered by digest only
    keys_dropped: int = 0  # keys this node stopped holding after every new owner acknowledged

    def plus(self, increments: dict[str, int]) -> Stats:
        """These counters with the given increments added."""
        values = list(_counters_of(self))
        for name, amount in increments.items():
            values[_COUNTER_INDEX[name]] += amount
        return Stats(*values)


_COUNTER_INDEX = {field.name: index for index, field in enumerate(attrs.fields(Stats))}
_counters_of = operator.attrgetter(*_COUNTER_INDEX)

Pending = PendingPut | PendingGet | PendingForward


def earliest_deadline(
    *pending: immutables.Map[int, Pending], floor: int | None = None
) -> int | None:
    """The earliest deadline of the pending requests, None when there are none.

    `floor`, when given, is known to be at most that deadline, so the scan stops on meeting it.
    """
    earliest: int | None = None
    for request in itertools.chain.from_iterable(requests.values() for requests in pending):
        if earliest is None or request.deadline < earliest:
            earliest = request.deadline
            if earliest == floor:
                break
    return earliest


def _earliest_of(volatile: VolatileState) -> int | None:
    return earliest_deadline(volatile.puts, volatile.gets, volatile.forwards)


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
    # Request ids are `request_id_base | sequence`: the base mixes incarnation and boot count, so
    # a reply meant for an earlier life of this node matches no request of this one.
    request_id_base: int = 0
    forward_memory: ForwardMemory = ForwardMemory()
    # The earliest deadline in puts, gets and forwards (None when nothing is pending), so that a
    # Tick before it skips the scan. Derived from those maps, and computed from them when not
    # given: whoever replaces one of them with attrs.evolve must pass it too.
    next_deadline: int | None = attrs.field(default=attrs.Factory(_earliest_of, takes_self=True))
    next_gossip: int = 0
    # peer -> key -> digest of versions of the key the peer acknowledged in a transfer batch.
    transfer_acks: immutables.Map[str, immutables.Map[bytes, bytes]] = immutables.Map()
    # peer -> key -> digest this node offered the peer in `TransferDigests`: the next round sends
    # the versions themselves unless the peer acknowledged that digest meanwhile.
    transfer_offers: immutables.Map[str, immutables.Map[bytes, bytes]] = immutables.Map()
    # old owner -> digest of the membership under which it offered every key this joining node
    # gains (see dynref.transfer).
    offers: immutables.Map[str, bytes] = immutables.Map()
    # Peers that sent this node a message in this life: they know it is a member. A node outside
    # the static configuration sends nothing unasked to others (`Draft.unaware`).
    heard_from: frozenset[str] = frozenset()
    # Whether this node may have issued a dot under its current actor: such dots live in its
    # store, and a key it drops takes them along (REQ-MEMBER-12). Unknown after a restart.
    dots_issued: bool = True
    # lww: the greatest timestamp of a write this node answered a client for as a forwarder;
    # its own writes are stamped above it (REQ-LWW-2), as a hybrid clock would.
    lww_floor: int = 0


@attrs.frozen
class NodeState:
    config: ClusterConfig
    ring: Ring
    """The current ring: valid and leaving members (see dynref.membership)."""
    durable: DurableState
    volatile: VolatileState
    membership: Membership = Membership()
    """The effective membership: the configuration's joined with what the node learnt."""
    future: Ring | None = None
    """The future ring (joining and valid members); None while it equals the current one."""

    @property
    def node_id(self) -> str:
        return self.durable.node_id

    @property
    def future_ring(self) -> Ring:
        return self.ring if self.future is None else self.future


class Draft:
    """A node's state while one step runs: handlers change these fields in place, and `freeze`
    builds the next `NodeState` once, sharing every part that did not change.

    A draft is made by `step` and never outlives it, so `step` stays a pure function. The
    fields are those of DurableState and VolatileState, under the same names; the pending maps
    change through the `set_`/`drop_` methods, which keep `next_deadline` the earliest deadline.
    """

    __slots__ = (
        "_counts",
        "_deadline_stale",
        "_range_index",
        "_range_key",
        "base",
        "config",
        "data",
        "dots_issued",
        "down",
        "forward_memory",
        "forwards",
        "future",
        "gets",
        "heard_from",
        "hints",
        "incarnation",
        "lww_floor",
        "membership",
        "next_antientropy",
        "next_deadline",
        "next_gossip",
        "next_handoff",
        "next_probe",
        "next_sequence",
        "node_id",
        "now",
        "offers",
        "puts",
        "ring",
        "rng",
        "stored_membership",
        "transfer_acks",
        "transfer_offers",
        "trees",
    )

    def __init__(self, state: NodeState) -> None:
        self.base = state
        self.config = state.config
        self.ring = state.ring
        self.future = state.future
        self.membership = state.membership
        durable, volatile = state.durable, state.volatile
        self.stored_membership = durable.membership
        self.node_id = durable.node_id
        self.data = durable.data
        self.hints = durable.hints
        self.now = volatile.now
        self.rng = volatile.rng
        self.next_sequence = volatile.next_sequence
        self.down = volatile.down
        self.puts = volatile.puts
        self.gets = volatile.gets
        self.forwards = volatile.forwards
        self.forward_memory = volatile.forward_memory
        self.trees = volatile.trees
        self.next_handoff = volatile.next_handoff
        self.next_antientropy = volatile.next_antientropy
        self.next_probe = volatile.next_probe
        self.next_deadline = volatile.next_deadline
        self.next_gossip = volatile.next_gossip
        self.transfer_acks = volatile.transfer_acks
        self.transfer_offers = volatile.transfer_offers
        self.offers = volatile.offers
        self.heard_from = volatile.heard_from
        self.dots_issued = volatile.dots_issued
        self.lww_floor = volatile.lww_floor
        self.incarnation = durable.incarnation
        # True once a request holding the earliest deadline left: then next_deadline is only a
        # lower bound until `freeze` recomputes it.
        self._deadline_stale = False
        self._counts: dict[str, int] = {}
        self._range_key: bytes | None = None
        self._range_index = 0

    @property
    def actor(self) -> str:
        return actor_name(self.node_id, self.incarnation)

    @property
    def boots(self) -> int:
        return self.base.durable.boots

    def range_of(self, key: bytes) -> int:
        """The index of the ring range holding `key`.

        A step asks it several times for the same key (is this node a replica, which Merkle
        tree), and each lookup costs an MD5: the last answer is kept.
        """
        if key != self._range_key:
            self._range_index = self.ring.range_index(key)
            self._range_key = key
        return self._range_index

    def preference_list(self, key: bytes) -> tuple[str, ...]:
        """The first N nodes of the key's walk round the ring."""
        return self.ring.range_preference_list(self.range_of(key), self.config.n)

    def future_preference_list(self, key: bytes) -> tuple[str, ...]:
        """The key's N owners in the future ring (its current ones outside a transition)."""
        if self.future is None:
            return self.preference_list(key)
        return self.future.preference_list(key, self.config.n)

    def set_rings(self, ring: Ring, future: Ring | None) -> None:
        """Adopt the rings of a changed membership (the range cache belongs to the old ring)."""
        self.ring = ring
        self.future = future
        self._range_key = None

    def sloppy_targets(self, key: bytes) -> tuple[SloppyTarget, ...]:
        """The key's N sloppy targets, given the peers this node believes down or that may not
        know it yet (never itself)."""
        down = self.unreachable()
        if self.node_id in down:
            down = down - {self.node_id}
        return self.ring.range_sloppy_targets(self.range_of(key), self.config.n, down)

    def unaware(self) -> frozenset[str]:
        """Members that may not know this node yet, so would take its messages for an
        intruder's: none for a node of the static configuration (every node knows those);
        for one that joined later, those it has not heard from in this life (REQ-MEMBER-11)."""
        if not self.membership.changed() or any(
            spec.node_id == self.node_id for spec in self.config.nodes
        ):
            return frozenset()
        return frozenset(
            entry.node_id
            for entry in self.membership.entries
            if entry.node_id != self.node_id and entry.node_id not in self.heard_from
        )

    def unreachable(self) -> frozenset[str]:
        """Peers this node sends nothing unasked: believed down, or unaware of it."""
        unaware = self.unaware()
        return self.down | unaware if unaware else self.down

    def count(self, counter: str, amount: int = 1) -> None:
        """Add to one of the `Stats` counters."""
        self._counts[counter] = self._counts.get(counter, 0) + amount

    def new_request_id(self) -> int:
        """A request id unique within this life of the node, and (see `request_id_base`) all
        but surely distinct from those of its other lives, disk losses included."""
        sequence = self.next_sequence
        self.next_sequence = (sequence + 1) & SEQUENCE_MASK
        return self.base.volatile.request_id_base | sequence

    def set_put(self, request_id: int, pending: PendingPut) -> None:
        self._replacing(self.puts.get(request_id), pending.deadline)
        self.puts = self.puts.set(request_id, pending)

    def drop_put(self, request_id: int) -> None:
        self._replacing(self.puts.get(request_id), None)
        self.puts = self.puts.delete(request_id)

    def set_get(self, request_id: int, pending: PendingGet) -> None:
        self._replacing(self.gets.get(request_id), pending.deadline)
        self.gets = self.gets.set(request_id, pending)

    def drop_get(self, request_id: int) -> None:
        self._replacing(self.gets.get(request_id), None)
        self.gets = self.gets.delete(request_id)

    def set_forward(self, forward_id: int, pending: PendingForward) -> None:
        self._replacing(self.forwards.get(forward_id), pending.deadline)
        self.forwards = self.forwards.set(forward_id, pending)

    def drop_forward(self, forward_id: int) -> None:
        self._replacing(self.forwards.get(forward_id), None)
        self.forwards = self.forwards.delete(forward_id)

    def _replacing(self, old: Pending | None, deadline: int | None) -> None:
        if old is not None and old.deadline == self.next_deadline and deadline != old.deadline:
            self._deadline_stale = True
        if deadline is not None and (self.next_deadline is None or deadline < self.next_deadline):
            self.next_deadline = deadline

    def freeze(self) -> NodeState:
        """The state this step leads to: the very base state when nothing changed."""
        base = self.base
        durable, volatile = base.durable, base.volatile
        if (
            self.data is not durable.data
            or self.hints is not durable.hints
            or self.stored_membership is not durable.membership
            or self.incarnation != durable.incarnation
        ):
            durable = DurableState(
                durable.node_id,
                self.incarnation,
                durable.boots,
                self.data,
                self.hints,
                self.stored_membership,
            )
        if self._deadline_stale:
            floor = self.next_deadline
            self.next_deadline = earliest_deadline(self.puts, self.gets, self.forwards, floor=floor)
        stats = volatile.stats.plus(self._counts) if self._counts else volatile.stats
        if (
            self.now != volatile.now
            or self.rng != volatile.rng
            or self.next_sequence != volatile.next_sequence
            or self.down is not volatile.down
            or self.puts is not volatile.puts
            or self.gets is not volatile.gets
            or self.forwards is not volatile.forwards
            or self.forward_memory is not volatile.forward_memory
            or self.trees is not volatile.trees
            or self.next_handoff != volatile.next_handoff
            or self.next_antientropy != volatile.next_antientropy
            or self.next_probe != volatile.next_probe
            or stats is not volatile.stats
            or self.next_gossip != volatile.next_gossip
            or self.transfer_acks is not volatile.transfer_acks
            or self.transfer_offers is not volatile.transfer_offers
            or self.offers is not volatile.offers
            or self.heard_from is not volatile.heard_from
            or self.dots_issued != volatile.dots_issued
            or self.lww_floor != volatile.lww_floor
        ):
            # Positional: keywords cost a third more, once per step.
            volatile = VolatileState(
                self.now,
                self.rng,
                self.next_sequence,
                self.down,
                self.puts,
                self.gets,
                self.forwards,
                self.trees,
                self.next_handoff,
                self.next_antientropy,
                self.next_probe,
                stats,
                volatile.request_id_base,
                self.forward_memory,
                self.next_deadline,
                self.next_gossip,
                self.transfer_acks,
                self.transfer_offers,
                self.offers,
                self.heard_from,
                self.dots_issued,
                self.lww_floor,
            )
        if (
            durable is base.durable
            and volatile is base.volatile
            and self.membership is base.membership
        ):
            return base
        return NodeState(base.config, self.ring, durable, volatile, self.membership, self.future)


__all__ = [
    "Draft",
    "DurableState",
    "ForwardKey",
    "ForwardMemory",
    "Hints",
    "NodeState",
    "Pending",
    "PendingForward",
    "PendingGet",
    "PendingPut",
    "ReplyTo",
    "Stats",
    "VolatileState",
    "earliest_deadline",
]
