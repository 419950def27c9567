"""Token strategies, join and leave locality, balance and validation of the ring (SPEC 2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dynref.ring import KEY_SPACE, NodeSpec, Ring, RingConfig, Strategy, build_ring
from hypothesis import given
from hypothesis import strategies as st

from tests.test_ring_support import (
    configs_for,
    efficiency,
    keys,
    memberships,
    node_ids,
    reference_token_table,
)

FIXED_KEYS = [f"user:{i}".encode() for i in range(2000)]


@given(memberships(), st.integers(1, 5))
def test_random_tokens_are_md5_of_node_and_index(
    members: list[NodeSpec], per_capacity: int
) -> None:
    """REQ-RING-5: a node of capacity c holds exactly the c*T tokens MD5(`node_id/i`)."""
    config = RingConfig(Strategy.RANDOM_TOKENS, tokens_per_capacity=per_capacity)
    ring = build_ring(members, config)
    assert dict(zip(ring.tokens, ring.owners, strict=True)) == reference_token_table(
        members, config
    )
    for spec in members:
        assert ring.owners.count(spec.node_id) == spec.capacity * per_capacity


@given(st.data())
def test_equal_partitions_follow_quotas_and_rendezvous_scores(data: st.DataObject) -> None:
    """REQ-RING-6: Q equal ranges, floor-or-ceil quotas, assigned greedily by rendezvous score
    (compared with a literal, quadratic reading of the rule)."""
    members = data.draw(memberships())
    config = data.draw(configs_for(members))
    config = RingConfig(Strategy.EQUAL_PARTITIONS, partitions=config.partitions)
    ring = build_ring(members, config)
    q = config.partitions
    assert ring.tokens == tuple((i + 1) * KEY_SPACE // q - 1 for i in range(q))
    assert dict(zip(ring.tokens, ring.owners, strict=True)) == reference_token_table(
        members, config
    )


@given(st.data())
def test_equal_partition_shares_are_within_one_range_of_due(
    data: st.DataObject,
) -> None:
    """INV-RING-4: under strategy 3 each node holds floor or ceil of Q*c/C ranges, and so owns
    its capacity's due of the key space to within one range."""
    members = data.draw(memberships())
    config = RingConfig(
        Strategy.EQUAL_PARTITIONS, partitions=data.draw(configs_for(members)).partitions
    )
    ring = build_ring(members, config)
    q, total_capacity = config.partitions, sum(spec.capacity for spec in members)
    owned = dict(ring.owned_key_space())
    largest_range = -(-KEY_SPACE // q)
    for spec in members:
        held = ring.owners.count(spec.node_id)
        assert (
            q * spec.capacity // total_capacity <= held <= -(-q * spec.capacity // total_capacity)
        )
        due = KEY_SPACE * spec.capacity / total_capacity
        assert abs(owned[spec.node_id] - due) <= largest_range


@pytest.mark.parametrize("size", [5, 10, 30])
def test_balance_improves_with_more_tokens_per_node(size: int) -> None:
    """INV-RING-4: strategy 1's efficiency (mean over max owned share) rises from T=2 to T=128."""
    members = [NodeSpec(f"node-{i}") for i in range(size)]
    few, many = (
        efficiency(build_ring(members, RingConfig(tokens_per_capacity=t))) for t in (2, 128)
    )
    assert few < many
    assert many > 0.8


@given(memberships(), node_ids, st.lists(keys, min_size=1, max_size=20), st.integers(1, 4))
def test_a_join_changes_only_lists_that_gain_the_newcomer(
    members: list[NodeSpec], newcomer: str, some_keys: list[bytes], n: int
) -> None:
    """INV-RING-3: with strategy 1, a join changes only preference lists that include the new
    node, and a key changes first owner only to the new node."""
    if newcomer in {spec.node_id for spec in members}:
        newcomer += "-new"
    before = build_ring(members, RingConfig(tokens_per_capacity=3))
    after = before.with_node(NodeSpec(newcomer, 2))
    for key in some_keys:
        if after.preference_list(key, n) != before.preference_list(key, n):
            assert newcomer in after.preference_list(key, n)
        if after.preference_list(key, 1) != before.preference_list(key, 1):
            assert after.preference_list(key, 1) == (newcomer,)


@given(memberships(min_size=2), st.data(), st.integers(1, 4))
def test_a_leave_changes_only_lists_that_held_the_departed(
    members: list[NodeSpec], data: st.DataObject, n: int
) -> None:
    """INV-RING-3: with strategy 1, a leave changes only preference lists that included the
    departed node."""
    departed = data.draw(st.sampled_from(members)).node_id
    before = build_ring(members, RingConfig(tokens_per_capacity=3))
    after = before.without_node(departed)
    for key in data.draw(st.lists(keys, min_size=1, max_size=20)):
        if after.preference_list(key, n) != before.preference_list(key, n):
            assert departed in before.preference_list(key, n)


@pytest.mark.parametrize("size", [4, 9, 19, 29])
def test_a_join_moves_about_one_in_s_plus_one_keys(size: int) -> None:
    """INV-RING-3: with strategy 1 (T=64), the share of 2,000 fixed keys whose first owner changes
    on a join is near 1/(S+1). Deterministic: fixed nodes and keys, tolerance of +-50%."""
    members = [NodeSpec(f"node-{i}") for i in range(size)]
    before = build_ring(members, RingConfig(tokens_per_capacity=64))
    after = before.with_node(NodeSpec("newcomer"))
    moved = [key for key in FIXED_KEYS if _first_owner(before, key) != _first_owner(after, key)]
    share = len(moved) / len(FIXED_KEYS)
    assert 0.5 / (size + 1) <= share <= 1.5 / (size + 1)
    assert all(after.preference_list(key, 1) == ("newcomer",) for key in moved)


@pytest.mark.parametrize("size", [5, 10, 20, 30])
def test_an_equal_partition_join_moves_a_bounded_share_of_ranges(size: int) -> None:
    """Strategy 3 promises no exact join locality. With Q fixed at 32 ranges per node after the
    join, a join moved at most 2.1/(S+1) of the ranges in our measurements (docs/benchmarks.md);
    the minimum possible is 1/(S+1). The bound asserted here is a generous 3/(S+1)."""
    members = [NodeSpec(f"node-{i}") for i in range(size)]
    config = RingConfig(Strategy.EQUAL_PARTITIONS, partitions=(size + 1) * 32)
    before = build_ring(members, config)
    after = before.with_node(NodeSpec("newcomer"))
    moved = sum(old != new for old, new in zip(before.owners, after.owners, strict=True))
    assert after.owners.count("newcomer") <= moved <= 3 * len(before.owners) / (size + 1)


def test_a_node_may_rejoin_with_another_capacity() -> None:
    ring = build_ring([NodeSpec("a"), NodeSpec("b")]).with_node(NodeSpec("a", 3))
    assert ring == build_ring([NodeSpec("a", 3), NodeSpec("b")])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: build_ring([NodeSpec("a"), NodeSpec("a", 2)]), "duplicate"),
        (lambda: NodeSpec("a", 0), "capacity"),
        (lambda: RingConfig(tokens_per_capacity=0), "tokens_per_capacity"),
        (lambda: RingConfig(partitions=0), "partitions"),
        (
            lambda: build_ring(
                [NodeSpec(i) for i in "abc"], RingConfig(Strategy.EQUAL_PARTITIONS, partitions=2)
            ),
            "cannot cover",
        ),
        (
            lambda: build_ring(
                [NodeSpec("a"), NodeSpec("b", 10)],
                RingConfig(Strategy.EQUAL_PARTITIONS, partitions=2),
            ),
            "without a range",
        ),
        (lambda: build_ring([NodeSpec("a")]).without_node("b"), "not a member"),
    ],
)
def test_invalid_rings_are_rejected(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def _first_owner(ring: Ring, key: bytes) -> tuple[str, ...]:
    return ring.preference_list(key, 1)
