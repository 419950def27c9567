"""The consistent-hashing ring: key positions, preference lists and sloppy targets (SPEC section 2).

A `Ring` is a value computed from its membership set and configuration by `build_ring`; two rings
with the same members and configuration are equal and hash alike, however they were built. The
per-range walks are precomputed so that a lookup is one MD5, one binary search and a tuple slice.

The small helpers at the top carry PEP 316 contracts that CrossHair checks; they work on plain
ints, strings and tuples so that the solver can reason about them.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import itertools
from collections.abc import Iterable, Sequence

import attrs
import immutables

KEY_SPACE = 2**128

# Walk prefixes longer than this are computed on demand: a preference list (N = 3 typically) plus
# a few sloppy substitutes fit, while the table stays small on rings with many nodes.
CACHED_WALK_LENGTH = 10


class Strategy(enum.Enum):
    RANDOM_TOKENS = "random-tokens"  # the paper's strategy 1
    EQUAL_PARTITIONS = "equal-partitions"  # the paper's strategy 3


def _at_least_one(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class NodeSpec:
    node_id: str
    capacity: int = attrs.field(default=1, validator=_at_least_one)


@attrs.frozen
class RingConfig:
    strategy: Strategy = Strategy.RANDOM_TOKENS
    tokens_per_capacity: int = attrs.field(default=8, validator=_at_least_one)  # T
    partitions: int = attrs.field(default=64, validator=_at_least_one)  # Q


@attrs.frozen
class SloppyTarget:
    node_id: str
    hint_for: str | None  # the down node this one stands in for, None for a healthy home node


def key_position(key: bytes) -> int:
    """REQ-RING-1: the key's MD5 digest read as a big-endian unsigned 128-bit integer.

    post: 0 <= __return__ < 2**128
    """
    return int.from_bytes(hashlib.md5(key).digest(), "big")


def first_index_at_or_after(tokens: tuple[int, ...], position: int) -> int:
    """REQ-RING-2: index of the first token at or after `position`, wrapping to the smallest.

    A binary search (REQ-RING-7); the contract states it as the linear scan it must agree with.

    pre: len(tokens) > 0 and _ascending(tokens)
    post: __return__ == next((i for i, token in enumerate(tokens) if token >= position), 0)
    """
    index = bisect.bisect_left(tokens, position)
    return 0 if index == len(tokens) else index


def distinct_in_order(owners: tuple[str, ...], start: int, limit: int) -> tuple[str, ...]:
    """REQ-RING-3: the first `limit` distinct owners met walking clockwise from `start`.

    pre: 0 <= start < len(owners) and limit >= 0
    post: __return__ == tuple(dict.fromkeys(owners[start:] + owners[:start]))[:limit]
    """
    found: list[str] = []
    seen: set[str] = set()
    count = len(owners)
    for step in range(count):
        if len(found) >= limit:
            break
        owner = owners[(start + step) % count]
        if owner not in seen:
            seen.add(owner)
            found.append(owner)
    return tuple(found)


def sloppy_positions(down: tuple[bool, ...], n: int) -> tuple[tuple[int, int | None], ...]:
    """REQ-RING-4 over walk positions: `down[i]` says whether the walk's i-th node is down.

    Returns (chosen position, position of the down node it stands in for, or None), in walk order:
    every healthy position among the first n, and for the k-th down one among them the k-th
    healthy position beyond n, while any remain.

    pre: n >= 0
    post: _ascending([p for p, _ in __return__]) and [p for p, h in __return__ if h is None] == [i for i in range(min(n, len(down))) if not down[i]]
    post: [(p, h) for p, h in __return__ if h is not None] == list(zip([i for i in range(n, len(down)) if not down[i]], [i for i in range(min(n, len(down))) if down[i]]))
    """  # noqa: E501
    home = min(n, len(down))
    chosen: list[tuple[int, int | None]] = [(i, None) for i in range(home) if not down[i]]
    replaced = [i for i in range(home) if down[i]]
    spares = [i for i in range(home, len(down)) if not down[i]]
    chosen.extend(zip(spares, replaced, strict=False))
    return tuple(chosen)


def largest_remainder_quotas(capacities: tuple[int, ...], total: int) -> tuple[int, ...]:
    """REQ-RING-6: split `total` ranges in proportion to capacities, each floor or ceil of its due.

    Leftover ranges go to the largest remainders, ties to the earlier entry (callers sort by id).

    pre: len(capacities) > 0 and all(c >= 1 for c in capacities) and total >= 0
    post: sum(__return__) == total and all(abs(q * sum(capacities) - total * c) < sum(capacities) for q, c in zip(__return__, capacities))
    """  # noqa: E501
    capacity_sum = sum(capacities)
    quotas = [total * c // capacity_sum for c in capacities]
    leftover = total - sum(quotas)
    by_remainder = sorted(
        range(len(capacities)), key=lambda i: (-((total * capacities[i]) % capacity_sum), i)
    )
    for i in by_remainder[:leftover]:
        quotas[i] += 1
    return tuple(quotas)


def equal_partition_tokens(partitions: int) -> tuple[int, ...]:
    """REQ-RING-6: the Q range tokens (i+1) * 2^128 // Q - 1, the last one 2^128 - 1.

    pre: 1 <= partitions <= 64
    post: len(__return__) == partitions and __return__[-1] == 2**128 - 1 and _ascending(__return__)
    """
    return tuple(((i + 1) * KEY_SPACE) // partitions - 1 for i in range(partitions))


def _ascending(values: Sequence[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def _random_token_table(members: Iterable[NodeSpec], per_capacity: int) -> list[tuple[int, str]]:
    table = [
        (key_position(f"{spec.node_id}/{i}".encode()), spec.node_id)
        for spec in members
        for i in range(spec.capacity * per_capacity)
    ]
    table.sort()
    for (token, owner), (next_token, next_owner) in itertools.pairwise(table):
        if token == next_token:
            raise ValueError(f"token collision between {owner!r} and {next_owner!r}")
    return table


def _equal_partition_table(members: list[NodeSpec], partitions: int) -> list[tuple[int, str]]:
    if partitions < len(members):
        raise ValueError(f"{partitions} partitions cannot cover {len(members)} nodes")
    quotas = largest_remainder_quotas(tuple(spec.capacity for spec in members), partitions)
    starved = [spec.node_id for spec, quota in zip(members, quotas, strict=True) if quota == 0]
    if starved:
        raise ValueError(f"{partitions} partitions leave {starved} without a range")
    room = dict(zip((spec.node_id for spec in members), quotas, strict=True))
    # Rendezvous scores make each range prefer the same node whatever else joins, so a join moves
    # few ranges; the quotas then keep the shares exact.
    candidates = sorted(
        (
            (key_position(f"{range_index}/{spec.node_id}".encode()), range_index, spec.node_id)
            for range_index in range(partitions)
            for spec in members
        ),
        reverse=True,
    )
    owner_of: dict[int, str] = {}
    for _score, range_index, node_id in candidates:
        if range_index not in owner_of and room[node_id] > 0:
            owner_of[range_index] = node_id
            room[node_id] -= 1
            if len(owner_of) == partitions:
                break
    tokens = equal_partition_tokens(partitions)
    return [(tokens[i], owner_of[i]) for i in range(partitions)]


def _walk_prefixes(owners: tuple[str, ...], length: int) -> tuple[tuple[str, ...], ...]:
    # The walk from range i is owners[i] followed by the walk from range i+1 without owners[i],
    # so going backwards round the ring each prefix costs O(length), not a fresh scan.
    if not owners:
        return ()
    prefixes: list[tuple[str, ...]] = [()] * len(owners)
    following = distinct_in_order(owners, 0, length)
    for index in range(len(owners) - 1, -1, -1):
        owner = owners[index]
        if following[0] != owner:
            rest = tuple(x for x in following if x != owner)
            following = (owner, *rest[: length - 1])
        prefixes[index] = following
    return tuple(prefixes)


def build_ring(nodes: Iterable[NodeSpec], config: RingConfig = RingConfig()) -> Ring:
    """Build the ring of a membership set; the result does not depend on the order of `nodes`.

    Raises ValueError on duplicate node ids, and under strategy 3 when the Q partitions cannot
    give every node at least one range.
    """
    members = sorted(nodes, key=lambda spec: spec.node_id)
    for spec, following in itertools.pairwise(members):
        if spec.node_id == following.node_id:
            raise ValueError(f"duplicate node id {spec.node_id!r}")
    if not members:
        table: list[tuple[int, str]] = []
    elif config.strategy is Strategy.RANDOM_TOKENS:
        table = _random_token_table(members, config.tokens_per_capacity)
    else:
        table = _equal_partition_table(members, config.partitions)
    owners = tuple(owner for _token, owner in table)
    return Ring(
        members=frozenset(members),
        config=config,
        tokens=tuple(token for token, _owner in table),
        owners=owners,
        walk_prefixes=_walk_prefixes(owners, min(len(members), CACHED_WALK_LENGTH)),
        home_targets=immutables.Map(
            {spec.node_id: SloppyTarget(spec.node_id, None) for spec in members}
        ),
        sorted_node_ids=tuple(spec.node_id for spec in members),
    )


@attrs.frozen(cache_hash=True)
class Ring:
    """A ring value; build it with `build_ring`. Equality and hashing go by members and config."""

    members: frozenset[NodeSpec]
    config: RingConfig
    tokens: tuple[int, ...] = attrs.field(eq=False, repr=False)  # sorted
    owners: tuple[str, ...] = attrs.field(eq=False, repr=False)  # owners[i] holds tokens[i]
    _walk_prefixes: tuple[tuple[str, ...], ...] = attrs.field(eq=False, repr=False)
    # Shared, so that the common case of sloppy_targets (no home node down) allocates no targets.
    _home_targets: immutables.Map[str, SloppyTarget] = attrs.field(eq=False, repr=False)
    _sorted_node_ids: tuple[str, ...] = attrs.field(eq=False, repr=False)

    def node_ids(self) -> tuple[str, ...]:
        return self._sorted_node_ids

    def range_index(self, key: bytes) -> int:
        """REQ-RING-2: the index of the token that ends the range holding `key`."""
        if not self.tokens:
            raise ValueError("the ring has no nodes")
        return first_index_at_or_after(self.tokens, key_position(key))

    def range_walk(self, range_index: int, limit: int | None = None) -> tuple[str, ...]:
        """REQ-RING-3: the first `limit` (default all) distinct nodes walking from a range."""
        wanted = len(self.members) if limit is None else min(limit, len(self.members))
        if wanted < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if not self.tokens:
            return ()
        prefix = self._walk_prefixes[range_index]
        if wanted <= len(prefix):
            return prefix[:wanted]
        return distinct_in_order(self.owners, range_index, wanted)

    def walk(self, key: bytes) -> tuple[str, ...]:
        """REQ-RING-3: every distinct node, in the order the walk from `key` first meets it."""
        if not self.tokens:
            return ()
        return self.range_walk(self.range_index(key))

    def preference_list(self, key: bytes, n: int) -> tuple[str, ...]:
        """REQ-RING-3: the first n nodes of the key's walk (all of them when fewer exist)."""
        if not self.tokens:
            return ()
        return self.range_walk(self.range_index(key), n)

    def range_preference_list(self, range_index: int, n: int) -> tuple[str, ...]:
        """The preference list that every key of the range shares."""
        return self.range_walk(range_index, n)

    def sloppy_targets(self, key: bytes, n: int, down: frozenset[str]) -> tuple[SloppyTarget, ...]:
        """REQ-RING-4: the healthy home nodes, and a hinted substitute for each down home node.

        Targets come in walk order; a down home node is left without a substitute when the walk
        holds no further healthy node.
        """
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        if not self.tokens:
            return ()
        return self.range_sloppy_targets(self.range_index(key), n, down)

    def range_sloppy_targets(
        self, range_index: int, n: int, down: frozenset[str]
    ) -> tuple[SloppyTarget, ...]:
        """`sloppy_targets` for every key of the range `range_index` (of a non-empty ring)."""
        walk = self._walk_prefixes[range_index]
        if n > len(walk):
            walk = self.range_walk(range_index)
        home = walk[:n]
        if down.isdisjoint(home):
            return tuple(self._home_targets[node_id] for node_id in home)
        if len(walk) < len(self.members):
            spares = sum(1 for node_id in walk[n:] if node_id not in down)
            if spares < sum(1 for node_id in home if node_id in down):
                walk = self.range_walk(range_index)
        chosen = sloppy_positions(tuple(node_id in down for node_id in walk), n)
        return tuple(
            SloppyTarget(walk[position], None if hint is None else walk[hint])
            for position, hint in chosen
        )

    def ranges_replicated_by(self, node_id: str, n: int) -> tuple[int, ...]:
        """Indexes of the ranges whose preference list of size n includes `node_id`."""
        return tuple(
            index for index in range(len(self.tokens)) if node_id in self.range_walk(index, n)
        )

    def owned_key_space(self) -> tuple[tuple[str, int], ...]:
        """(node id, number of key positions it owns as first owner), by node id; sums to 2^128."""
        owned = dict.fromkeys(self.node_ids(), 0)
        previous = self.tokens[-1] - KEY_SPACE if self.tokens else 0
        for token, owner in zip(self.tokens, self.owners, strict=True):
            owned[owner] += token - previous
            previous = token
        return tuple(owned.items())

    def with_node(self, spec: NodeSpec) -> Ring:
        """The ring after `spec` joins; a member of the same id is replaced (capacity change)."""
        if spec in self.members:
            return self
        others = (member for member in self.members if member.node_id != spec.node_id)
        return build_ring((*others, spec), self.config)

    def without_node(self, node_id: str) -> Ring:
        """The ring after `node_id` leaves; raises ValueError when it is not a member."""
        remaining = [member for member in self.members if member.node_id != node_id]
        if len(remaining) == len(self.members):
            raise ValueError(f"{node_id!r} is not a member")
        return build_ring(remaining, self.config)
