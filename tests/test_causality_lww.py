"""Server-side last-write-wins (REQ-CAUS-6)."""

from __future__ import annotations

from random import Random

from dynref.causality import LwwRegister, LwwVersion, VersionVector
from hypothesis import given
from hypothesis import strategies as st

writes = st.lists(
    st.builds(
        LwwVersion,
        timestamp=st.integers(0, 4),
        actor=st.sampled_from(("a#0", "b#0", "b#1")),
        value=st.sampled_from((b"x", b"y", b"", None)),
    ),
    min_size=1,
    max_size=8,
)


def rank(version: LwwVersion) -> tuple[int, str, bool, bytes]:
    return (version.timestamp, version.actor, version.value is not None, version.value or b"")


@given(writes, st.randoms(use_true_random=False), st.integers(1, 3))
def test_req_caus_6_the_greatest_timestamp_actor_value_wins_in_any_order(
    applied: list[LwwVersion], random: Random, replica_count: int
) -> None:
    """REQ-CAUS-6: writes spread over replicas in any order, merged in any order, leave the
    write with the greatest (timestamp, actor, value), a tombstone below any value."""
    replicas = [LwwRegister()] * replica_count
    order = list(applied)
    random.shuffle(order)
    for version in order:
        here = random.randrange(replica_count)
        replicas[here] = replicas[here].write(
            version.value, VersionVector(), version.actor, version.timestamp
        )
        if random.random() < 0.3:
            there = random.randrange(replica_count)
            replicas[there] = replicas[there].merge(replicas[here])
    random.shuffle(replicas)
    merged = LwwRegister()
    for replica in replicas:
        merged = replica.merge(merged)
    winner = max(applied, key=rank)
    assert merged == LwwRegister(winner)
    assert merged.values() == (() if winner.value is None else (winner.value,))
    assert merged.latest_timestamp() == winner.timestamp


def test_req_caus_6_ties_break_by_actor_then_value() -> None:
    """REQ-CAUS-6: at one timestamp the greater actor wins; then the greater value; a
    tombstone loses to a value."""
    register = LwwRegister().write(b"z", VersionVector(), "a#0", 3)
    assert register.write(b"a", VersionVector(), "b#0", 3).values() == (b"a",)
    assert register.write(b"y", VersionVector(), "a#0", 3).values() == (b"z",)
    assert register.write(None, VersionVector(), "a#0", 3).values() == (b"z",)
    assert register.write(b"old", VersionVector(), "z#0", 2).values() == (b"z",)


def test_req_caus_6_the_context_is_ignored() -> None:
    """REQ-CAUS-6: whatever context a write carries, only the rank decides."""
    seen_everything = VersionVector.of({"a#0": 99})
    register = LwwRegister().write(b"late", VersionVector(), "a#0", 5)
    assert register.write(b"early", seen_everything, "a#0", 4) == register
    assert register.context() == VersionVector()
