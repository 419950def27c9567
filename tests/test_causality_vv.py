"""Version vectors: the partial order and its least upper bound (INV-CAUS-1)."""

from __future__ import annotations

from random import Random

import pytest
from dynref.causality import VersionVector
from hypothesis import given
from hypothesis import strategies as st

ACTORS = ("a#0", "b#0", "b#1", "c#0")

vectors = st.dictionaries(st.sampled_from(ACTORS), st.integers(0, 4)).map(VersionVector.of)


def pointwise_leq(left: VersionVector, right: VersionVector) -> bool:
    return all(left.get(actor) <= right.get(actor) for actor in ACTORS)


@given(vectors)
def test_inv_caus_1_leq_is_reflexive(vv: VersionVector) -> None:
    """INV-CAUS-1: every vector is <= itself."""
    assert vv.leq(vv)
    assert vv.descends(vv)
    assert not vv.concurrent_with(vv)


@given(vectors, vectors)
def test_inv_caus_1_leq_is_antisymmetric(left: VersionVector, right: VersionVector) -> None:
    """INV-CAUS-1: left <= right and right <= left only when they are equal."""
    if left.leq(right) and right.leq(left):
        assert left == right
    for one, other in ((left, left.join(right)), (right, left.join(right))):
        if one.leq(other) and other.leq(one):
            assert one == other


@given(vectors, vectors, vectors)
def test_inv_caus_1_leq_is_transitive(
    base: VersionVector, more: VersionVector, most: VersionVector
) -> None:
    """INV-CAUS-1: a <= b <= c implies a <= c (the chain is built so the premise holds)."""
    middle = base.join(more)
    top = middle.join(most)
    assert base.leq(middle) and middle.leq(top)
    assert base.leq(top)
    if base.leq(more) and more.leq(most):
        assert base.leq(most)


@given(vectors, vectors)
def test_inv_caus_1_leq_is_pointwise(left: VersionVector, right: VersionVector) -> None:
    """INV-CAUS-1: the order is the pointwise order of counters (absent counts as 0)."""
    assert left.leq(right) == pointwise_leq(left, right)
    assert left.descends(right) == right.leq(left)
    assert left.concurrent_with(right) == (
        not pointwise_leq(left, right) and not pointwise_leq(right, left)
    )


@given(vectors, vectors, vectors)
def test_inv_caus_1_join_is_the_least_upper_bound(
    left: VersionVector, right: VersionVector, extra: VersionVector
) -> None:
    """INV-CAUS-1: join is an upper bound of both and below every other upper bound."""
    joined = left.join(right)
    assert left.leq(joined) and right.leq(joined)
    for actor in ACTORS:
        assert joined.get(actor) == max(left.get(actor), right.get(actor))
    upper = joined.join(extra)
    assert joined.leq(upper)
    if left.leq(extra) and right.leq(extra):
        assert joined.leq(extra)


@given(vectors, vectors, vectors)
def test_inv_caus_1_join_is_commutative_associative_idempotent(
    a: VersionVector, b: VersionVector, c: VersionVector
) -> None:
    """INV-CAUS-1: join is a semilattice join."""
    assert a.join(b) == b.join(a)
    assert a.join(b).join(c) == a.join(b.join(c))
    assert a.join(a) == a


@given(st.dictionaries(st.sampled_from(ACTORS), st.integers(0, 4)), st.randoms())
def test_vectors_are_canonical_whatever_the_insertion_order(
    mapping: dict[str, int], random: Random
) -> None:
    """Equal vectors compare and hash equal: entries sorted, zero counters dropped."""
    items = list(mapping.items())
    random.shuffle(items)
    shuffled = VersionVector.of(dict(items))
    original = VersionVector.of(mapping)
    assert shuffled == original and hash(shuffled) == hash(original)
    actors = [actor for actor, _ in original.entries]
    assert actors == sorted(set(actors))
    assert all(counter >= 1 for _, counter in original.entries)


@given(vectors, st.sampled_from(ACTORS), st.integers(0, 6))
def test_with_entry_raises_to_at_least_the_counter(
    vv: VersionVector, actor: str, counter: int
) -> None:
    raised = vv.with_entry(actor, counter)
    assert raised.get(actor) == max(vv.get(actor), counter)
    assert vv.leq(raised)
    assert all(raised.get(other) == vv.get(other) for other in ACTORS if other != actor)


@given(vectors, st.sampled_from(ACTORS), st.integers(-1, 6))
def test_covers_reads_the_vector_as_a_set_of_dots(
    vv: VersionVector, actor: str, counter: int
) -> None:
    assert vv.covers(actor, counter) == (1 <= counter <= vv.get(actor))


def test_of_refuses_negative_counters_and_drops_zero_ones() -> None:
    assert VersionVector.of({"a#0": 0}) == VersionVector()
    assert VersionVector().is_empty() and not VersionVector.of({"a#0": 1}).is_empty()
    with pytest.raises(ValueError, match="negative"):
        VersionVector.of({"a#0": -1})


def test_join_all_of_nothing_is_empty() -> None:
    assert VersionVector.join_all([]) == VersionVector()
    a, b = VersionVector.of({"a#0": 2}), VersionVector.of({"b#0": 1, "a#0": 1})
    assert VersionVector.join_all([a, b]) == VersionVector.of({"a#0": 2, "b#0": 1})
