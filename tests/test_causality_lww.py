"""Server-side last-write-wins (REQ-CAUS-6, REQ-LWW-1)."""

from __future__ import annotations

from random import Random

from dynref.causality import LwwContext, LwwRegister, LwwVersion
from dynref.causality.lww import stamped_above
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
    """REQ-CAUS-6: versions spread over replicas in any order, merged in any order, leave the
    one with the greatest (timestamp, actor, value), a tombstone below any value."""
    replicas = [LwwRegister()] * replica_count
    order = list(applied)
    random.shuffle(order)
    for version in order:
        here = random.randrange(replica_count)
        replicas[here] = replicas[here].merge(LwwRegister(version))
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
    register = LwwRegister(LwwVersion(3, "a#0", b"z"))

    def merged(version: LwwVersion) -> tuple[bytes, ...]:
        return register.merge(LwwRegister(version)).values()

    assert merged(LwwVersion(3, "b#0", b"a")) == (b"a",)
    assert merged(LwwVersion(3, "a#0", b"y")) == (b"z",)
    assert merged(LwwVersion(3, "a#0", None)) == (b"z",)
    assert merged(LwwVersion(2, "z#0", b"old")) == (b"z",)


held = st.builds(LwwRegister, st.none() | writes.map(lambda versions: versions[0]))
contexts = st.builds(
    LwwContext, st.none() | st.tuples(st.integers(-5, 9), st.sampled_from(("a#0", "z#9")))
)


@given(held, contexts, st.sampled_from((b"x", b"", None)), st.sampled_from(("a#0", "b#0")))
def test_req_lww_1_a_write_outranks_the_held_version_and_the_context(
    register: LwwRegister, context: LwwContext, value: bytes | None, actor: str
) -> None:
    """REQ-LWW-1: whatever it holds and whatever the context names, a write is stamped
    max(clock, s + 1), s the greatest timestamp seen, and so wins: a delete deletes, a smaller
    value overwrites."""
    written = register.write(value, context, actor, 2)
    assert written.winner is not None
    assert written.winner.actor == actor and written.winner.value == value
    seen = [stamp[0] for stamp in (register.winner_stamp(), context.stamp) if stamp]
    assert written.winner.timestamp == max([2, *(timestamp + 1 for timestamp in seen)])
    assert written.context() == LwwContext((written.winner.timestamp, actor))


def test_req_lww_1_the_clock_alone_stamps_a_write_above_older_versions() -> None:
    """REQ-LWW-1: when the clock is already ahead, the write takes the clock's time."""
    assert stamped_above(10, (3, "z#0"), None) == 10
    assert stamped_above(10, (10, "a#0"), (4, "b#0")) == 11
    assert stamped_above(10, None, (12, "b#0")) == 13


def test_req_caus_7_the_lww_context_is_the_held_stamp() -> None:
    """REQ-CAUS-7: an lww read's context names the held version's stamp, a tombstone's too."""
    assert LwwRegister().context() == LwwContext()
    tombstone = LwwRegister(LwwVersion(5, "a#0", None))
    assert tombstone.values() == () and tombstone.context() == LwwContext((5, "a#0"))
