"""Shared Hypothesis strategies and brute-force reference models for the ring tests."""

from __future__ import annotations

import hashlib

from dynref.ring import NodeSpec, Ring, RingConfig, Strategy, build_ring
from hypothesis import strategies as st

KEY_SPACE = 2**128

node_ids = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
keys = st.binary(max_size=12)


def md5_int(text: str | bytes) -> int:
    data = text.encode() if isinstance(text, str) else text
    return int.from_bytes(hashlib.md5(data).digest(), "big")


@st.composite
def memberships(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> list[NodeSpec]:
    ids = draw(st.lists(node_ids, min_size=min_size, max_size=max_size, unique=True))
    return [NodeSpec(node_id, draw(st.integers(1, 3))) for node_id in ids]


@st.composite
def configs_for(draw: st.DrawFn, members: list[NodeSpec]) -> RingConfig:
    """A config valid for `members`: under strategy 3, Q >= total capacity gives every node a
    range, and an extra below the total makes quotas uneven."""
    strategy = draw(st.sampled_from(Strategy))
    total_capacity = sum(spec.capacity for spec in members) or 1
    partitions = total_capacity * draw(st.integers(1, 3)) + draw(st.integers(0, total_capacity - 1))
    return RingConfig(strategy, tokens_per_capacity=draw(st.integers(1, 4)), partitions=partitions)


@st.composite
def rings(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> Ring:
    members = draw(memberships(min_size, max_size))
    return build_ring(members, draw(configs_for(members)))


def reference_token_table(members: list[NodeSpec], config: RingConfig) -> dict[int, str]:
    """Token -> owner, straight from REQ-RING-5 and REQ-RING-6 (a slow, literal reading)."""
    if config.strategy is Strategy.RANDOM_TOKENS:
        return {
            md5_int(f"{spec.node_id}/{i}"): spec.node_id
            for spec in members
            for i in range(spec.capacity * config.tokens_per_capacity)
        }
    partitions = config.partitions
    total_capacity = sum(spec.capacity for spec in members)
    room = {spec.node_id: spec.capacity * partitions // total_capacity for spec in members}
    leftover = partitions - sum(room.values())
    by_remainder = sorted(
        members, key=lambda s: (-(s.capacity * partitions % total_capacity), s.node_id)
    )
    for spec in by_remainder[:leftover]:
        room[spec.node_id] += 1
    owner: dict[int, str] = {}
    # Repeatedly take the best-scoring (range, node) pair still open, as REQ-RING-6 reads.
    while len(owner) < partitions:
        _, range_index, node_id = max(
            (md5_int(f"{r}/{spec.node_id}"), r, spec.node_id)
            for r in range(partitions)
            if r not in owner
            for spec in members
            if room[spec.node_id] > 0
        )
        owner[range_index] = node_id
        room[node_id] -= 1
    return {(r + 1) * KEY_SPACE // partitions - 1: owner[r] for r in range(partitions)}


def reference_walk(table: dict[int, str], key: bytes) -> tuple[str, ...]:
    """REQ-RING-2/3 by linear scan: tokens by clockwise distance from the key, owners deduped."""
    position = md5_int(key)
    clockwise = sorted(table, key=lambda token: (token - position) % KEY_SPACE)
    return tuple(dict.fromkeys(table[token] for token in clockwise))


def efficiency(ring: Ring) -> float:
    """Mean over max owned share of the key space (1.0 is perfect balance)."""
    owned = [size for _node, size in ring.owned_key_space()]
    return sum(owned) / len(owned) / max(owned)
