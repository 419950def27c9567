"""Ring lookups, walks, preference lists and sloppy targets against brute-force models (SPEC 2)."""

from __future__ import annotations

import math
from typing import SupportsIndex

import attrs
import pytest
from dynref.ring import (
    CACHED_WALK_LENGTH,
    NodeSpec,
    Ring,
    RingConfig,
    SloppyTarget,
    Strategy,
    build_ring,
    key_position,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.test_ring_support import (
    configs_for,
    keys,
    md5_int,
    memberships,
    reference_token_table,
    reference_walk,
    rings,
)


def test_key_position_known_vector() -> None:
    """REQ-RING-1: MD5 test vectors read big-endian."""
    assert key_position(b"") == 0xD41D8CD98F00B204E9800998ECF8427E
    assert key_position(b"abc") == 0x900150983CD24FB0D6963F7D28E17F72


@given(keys)
def test_key_position_is_md5_big_endian(key: bytes) -> None:
    """REQ-RING-1: the position is hashlib's MD5 digest as a big-endian integer."""
    assert key_position(key) == md5_int(key)


@given(rings(), keys)
def test_range_index_is_first_token_at_or_after(ring: Ring, key: bytes) -> None:
    """REQ-RING-2: one owner per token, and the key's range ends at the first token clockwise."""
    assert len(ring.owners) == len(ring.tokens)
    assert list(ring.tokens) == sorted(set(ring.tokens))
    position = md5_int(key)
    at_or_after = [i for i, token in enumerate(ring.tokens) if token >= position]
    assert ring.range_index(key) == (at_or_after[0] if at_or_after else 0)


@given(st.data())
def test_walk_and_preference_list_match_linear_scan(data: st.DataObject) -> None:
    """REQ-RING-3: the walk, and every preference list, agree with a scan over the spec's tokens.

    Up to 14 nodes, so that walks longer than the precomputed prefix are covered too."""
    members = data.draw(memberships(max_size=14))
    config = RingConfig(
        data.draw(st.sampled_from(Strategy)),
        tokens_per_capacity=data.draw(st.integers(1, 3)),
        partitions=sum(spec.capacity for spec in members) * 2,
    )
    ring = build_ring(members, config)
    table = reference_token_table(members, config)
    for key in data.draw(st.lists(keys, min_size=1, max_size=5)):
        expected = reference_walk(table, key)
        assert ring.walk(key) == expected
        for n in range(len(members) + 2):
            assert ring.preference_list(key, n) == expected[:n]
            assert ring.range_preference_list(ring.range_index(key), n) == expected[:n]


@given(rings(), st.integers(0, 8), st.lists(keys, max_size=8))
def test_preference_list_holds_min_n_s_distinct_nodes(
    ring: Ring, n: int, some_keys: list[bytes]
) -> None:
    """INV-RING-1: min(N, S) distinct physical nodes, all of them members."""
    for key in some_keys:
        preference = ring.preference_list(key, n)
        assert len(set(preference)) == len(preference) == min(n, len(ring.members))
        assert set(preference) <= set(ring.node_ids())


@given(st.data())
def test_ring_is_a_function_of_the_membership_set(data: st.DataObject) -> None:
    """INV-RING-2: any order of listing or of joining gives the same ring and preference lists."""
    members = data.draw(memberships())
    config = data.draw(configs_for(members))
    reference = build_ring(members, config)
    shuffled = build_ring(data.draw(st.permutations(members)), config)
    joined = build_ring([], config)
    for spec in data.draw(st.permutations(members)):
        joined = joined.with_node(spec)
    for ring in (shuffled, joined):
        assert ring == reference
        assert hash(ring) == hash(reference)
        assert (ring.tokens, ring.owners) == (reference.tokens, reference.owners)
    for key in data.draw(st.lists(keys, max_size=5)):
        assert joined.preference_list(key, 3) == reference.preference_list(key, 3)


@given(st.data())
def test_leaving_gives_the_ring_of_the_remaining_members(data: st.DataObject) -> None:
    """INV-RING-2: without_node lands on the ring built from the remaining members."""
    members = data.draw(memberships(min_size=2))
    config = data.draw(configs_for(members))
    departed = data.draw(st.sampled_from(members))
    remaining = [spec for spec in members if spec != departed]
    after = build_ring(members, config).without_node(departed.node_id)
    assert after == build_ring(remaining, config)
    assert after.owners == build_ring(remaining, config).owners


def test_equal_rings_are_interchangeable_values() -> None:
    """INV-RING-2: rings are hashable values; derived tables do not take part in equality."""
    members = [NodeSpec("a"), NodeSpec("b", 2)]
    rings_seen = {build_ring(members), build_ring(reversed(members)), build_ring(members[:1])}
    assert len(rings_seen) == 2
    assert build_ring(members) != build_ring(members, RingConfig(tokens_per_capacity=9))


def reference_sloppy(walk: tuple[str, ...], n: int, down: frozenset[str]) -> list[SloppyTarget]:
    spares = iter(node for node in walk[n:] if node not in down)
    chosen: dict[str, str | None] = {}
    for home in walk[:n]:
        if home not in down:
            chosen[home] = None
        elif (spare := next(spares, None)) is not None:
            chosen[spare] = home
    return [SloppyTarget(node, chosen[node]) for node in walk if node in chosen]


@given(st.data())
def test_sloppy_targets_replace_down_home_nodes_in_walk_order(
    data: st.DataObject,
) -> None:
    """REQ-RING-4: one target per top-N node while the walk lasts, none down, none repeated,
    each substitute the next healthy node beyond and hinted with the node it stands in for."""
    members = data.draw(memberships(max_size=14))
    ring = build_ring(members, RingConfig(tokens_per_capacity=2))
    n = data.draw(st.integers(0, 6))
    down = frozenset(data.draw(st.lists(st.sampled_from(ring.node_ids()), max_size=14)))
    key = data.draw(keys)
    walk = ring.walk(key)
    targets = ring.sloppy_targets(key, n, down)
    homes = walk[:n]
    chosen = [target.node_id for target in targets]
    assert len(set(chosen)) == len(chosen)
    assert not set(chosen) & down
    assert [t.node_id for t in targets if t.hint_for is None] == [h for h in homes if h not in down]
    hinted = [t.hint_for for t in targets if t.hint_for is not None]
    spares = [node for node in walk[n:] if node not in down]
    assert hinted == [h for h in homes if h in down][: len(spares)]
    assert len(targets) == len(homes) - len([h for h in homes if h in down]) + len(hinted)
    assert chosen == sorted(chosen, key=walk.index)
    assert list(targets) == reference_sloppy(walk, n, down)


def test_sloppy_targets_example() -> None:
    """REQ-RING-4: the worked example, including a down node left without a substitute."""
    ring = build_ring([NodeSpec(node_id) for node_id in "abcde"], RingConfig(tokens_per_capacity=1))
    key = b"example"
    walk = ring.walk(key)
    first, second, third, fourth, fifth = walk
    assert ring.sloppy_targets(key, 3, frozenset()) == tuple(
        SloppyTarget(node, None) for node in walk[:3]
    )
    assert ring.sloppy_targets(key, 3, frozenset({second})) == (
        SloppyTarget(first, None),
        SloppyTarget(third, None),
        SloppyTarget(fourth, second),
    )
    assert ring.sloppy_targets(key, 3, frozenset({first, second, fourth})) == (
        SloppyTarget(third, None),
        SloppyTarget(fifth, first),
    )


def test_sloppy_targets_look_beyond_the_cached_walk() -> None:
    """REQ-RING-4: substitutes are found past the precomputed walk prefix when needed."""
    members = [NodeSpec(f"node-{i}") for i in range(CACHED_WALK_LENGTH + 5)]
    ring = build_ring(members, RingConfig(tokens_per_capacity=2))
    key = b"many down"
    walk = ring.walk(key)
    down = frozenset(walk[1 : CACHED_WALK_LENGTH + 1])
    targets = ring.sloppy_targets(key, 3, down)
    assert targets == (
        SloppyTarget(walk[0], None),
        SloppyTarget(walk[CACHED_WALK_LENGTH + 1], walk[1]),
        SloppyTarget(walk[CACHED_WALK_LENGTH + 2], walk[2]),
    )
    assert ring.sloppy_targets(key, CACHED_WALK_LENGTH + 3, frozenset()) == tuple(
        SloppyTarget(node_id, None) for node_id in walk[: CACHED_WALK_LENGTH + 3]
    )


class CountingTokens(tuple[int, ...]):
    """Tokens that count how often a lookup reads one of them."""

    reads = 0

    def __getitem__(self, index: SupportsIndex | slice) -> object:  # type: ignore[override]
        CountingTokens.reads += 1
        return super().__getitem__(index)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_lookup_reads_log_t_tokens(strategy: Strategy) -> None:
    """REQ-RING-7: a lookup reads O(log T) tokens (the binary search), checked on a ring of 8,000
    tokens against the linear scan; lookups per second are measured in benchmarks/bench_ring.py."""
    members = [NodeSpec(f"node-{i}") for i in range(20)]
    ring = build_ring(members, RingConfig(strategy, tokens_per_capacity=400, partitions=8000))
    counting = attrs.evolve(ring, tokens=CountingTokens(ring.tokens))
    bound = math.ceil(math.log2(len(ring.tokens) + 1)) + 1
    for i in range(300):
        key = f"key-{i}".encode()
        CountingTokens.reads = 0
        found = counting.range_index(key)
        assert 1 <= CountingTokens.reads <= bound
        position = key_position(key)
        assert found == next((j for j, t in enumerate(ring.tokens) if t >= position), 0)
        assert counting.preference_list(key, 3) == ring.preference_list(key, 3)


@given(rings(), st.integers(0, 4))
def test_ranges_replicated_by_matches_range_preference_lists(ring: Ring, n: int) -> None:
    for node_id in ring.node_ids():
        expected = [
            index
            for index in range(len(ring.tokens))
            if node_id in ring.range_preference_list(index, n)
        ]
        assert list(ring.ranges_replicated_by(node_id, n)) == expected
    total = sum(len(ring.ranges_replicated_by(node_id, n)) for node_id in ring.node_ids())
    assert total == len(ring.tokens) * min(n, len(ring.members))


@given(rings())
def test_owned_key_space_covers_the_ring_once(ring: Ring) -> None:
    owned = dict(ring.owned_key_space())
    assert sorted(owned) == list(ring.node_ids())
    assert sum(owned.values()) == 2**128
    assert all(size > 0 for size in owned.values())


def test_precomputed_walks_stop_at_the_cached_length() -> None:
    members = [NodeSpec(f"node-{i}") for i in range(CACHED_WALK_LENGTH + 5)]
    ring = build_ring(members, RingConfig(tokens_per_capacity=3))
    key = b"long walk"
    assert len(ring.walk(key)) == len(members)
    assert (
        ring.preference_list(key, CACHED_WALK_LENGTH + 2)
        == ring.walk(key)[: CACHED_WALK_LENGTH + 2]
    )


def test_an_empty_ring_has_no_preference_lists() -> None:
    ring = build_ring([])
    assert ring.preference_list(b"k", 3) == ()
    assert ring.walk(b"k") == ()
    assert ring.sloppy_targets(b"k", 3, frozenset()) == ()
    with pytest.raises(ValueError, match="no nodes"):
        ring.range_index(b"k")


def test_negative_n_is_rejected() -> None:
    ring = build_ring([NodeSpec("a")])
    with pytest.raises(ValueError, match="negative"):
        ring.preference_list(b"k", -1)
    with pytest.raises(ValueError, match="negative"):
        ring.sloppy_targets(b"k", -1, frozenset())
