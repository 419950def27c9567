"""Per-version vector clocks as in the Dynamo paper (REQ-CAUS-5), anomaly included."""

from __future__ import annotations

from dynref.causality import (
    VCLOCK_MAX_ENTRIES,
    ClockedVersion,
    VclockSiblings,
    VersionVector,
)
from dynref.causality.vclock import truncate_clock
from hypothesis import given
from hypothesis import strategies as st

ACTORS = tuple(f"n{index}#0" for index in range(12))


def chain(stamps: list[tuple[str, int]], max_entries: int = 100) -> VclockSiblings:
    """Each actor in turn writes over the previous version, at its own timestamp."""
    versions = VclockSiblings()
    for actor, timestamp in stamps:
        versions = versions.write(
            actor.encode(), versions.context(), actor, timestamp, max_entries=max_entries
        )
    return versions


@given(
    st.lists(st.sampled_from(ACTORS[:8]), min_size=1, max_size=8, unique=True),
    st.data(),
    st.integers(1, 6),
)
def test_req_caus_5_truncation_keeps_the_writer_and_the_newest_entries(
    actors: list[str], data: st.DataObject, max_entries: int
) -> None:
    """REQ-CAUS-5: past the threshold, the entries with the oldest (timestamp, actor) go,
    never the writer's own; at most `max_entries` remain."""
    stamps = [(actor, data.draw(st.integers(0, 5))) for actor in actors]
    before = chain(stamps)
    writer = data.draw(st.sampled_from(ACTORS))
    after = before.write(b"new", before.context(), writer, 9, max_entries=max_entries)
    (version,) = [v for v in after.versions if v.value == b"new"]
    full = {actor: (timestamp, actor) for actor, timestamp in stamps}
    full[writer] = (9, writer)
    others = sorted((rank for actor, rank in full.items() if actor != writer), reverse=True)
    expected = {writer} | {actor for _, actor in others[: max_entries - 1]}
    assert {actor for actor, _, _ in version.clock} == expected
    assert len(version.clock) == min(len(full), max_entries)
    assert (writer, before.context().get(writer) + 1, 9) in version.clock


def test_req_caus_5_the_paper_threshold_is_ten_entries() -> None:
    """REQ-CAUS-5: by default a clock keeps at most 10 entries (the oldest two of 12 go).
    The pruned clock no longer descends its predecessor, which lingers as a sibling: the
    pruning artefact Riak users met."""
    assert VCLOCK_MAX_ENTRIES == 10
    versions = chain([(actor, index) for index, actor in enumerate(ACTORS)], max_entries=10)
    newest = max(versions.versions, key=lambda version: version.timestamp)
    assert newest.value == ACTORS[-1].encode()
    assert len(newest.clock) == 10
    assert {actor for actor, _, _ in newest.clock} == set(ACTORS[2:])
    assert all(len(version.clock) <= 10 for version in versions.versions)
    assert versions.sibling_count() > 1


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(1, 3), st.integers(0, 4)),
        unique_by=lambda entry: entry[0],
    ).map(lambda entries: tuple(sorted(entries))),
    st.integers(1, 7),
    st.sampled_from("abcdefg"),
)
def test_req_caus_5_truncate_clock_drops_the_oldest_first(
    clock: tuple[tuple[str, int, int], ...], max_entries: int, keep: str
) -> None:
    """REQ-CAUS-5: truncation is a subset of the clock, of the right size, every dropped
    entry older than every kept droppable one."""
    kept = truncate_clock(clock, max_entries, keep)
    assert set(kept) <= set(clock) and list(kept) == sorted(kept)
    assert len(kept) == min(len(clock), max_entries)
    assert all(entry in kept for entry in clock if entry[0] == keep)
    dropped = [entry for entry in clock if entry not in kept]
    droppable = [entry for entry in kept if entry[0] != keep]
    assert all((d[2], d[0]) < (k[2], k[0]) for d in dropped for k in droppable)


def test_req_caus_5_a_write_takes_the_context_counter_plus_one_and_copied_timestamps() -> None:
    """REQ-CAUS-5: C with A's counter from C plus one; copied entries keep stored stamps."""
    versions = VclockSiblings().write(b"a", VersionVector(), "a#0", 3)
    versions = versions.write(b"b", versions.context(), "b#0", 5)
    (version,) = versions.versions
    assert version.clock == (("a#0", 1, 3), ("b#0", 1, 5))
    foreign = VersionVector.of({"a#0": 1, "b#0": 1, "z#0": 4})
    (written,) = versions.write(b"c", foreign, "a#0", 8).versions
    assert written.clock == (("a#0", 2, 8), ("b#0", 1, 5), ("z#0", 4, 0))


def test_req_caus_5_equal_clocks_are_replaced_and_concurrent_ones_kept() -> None:
    """REQ-CAUS-5: a write removes the versions its clock descends, equal ones included, and
    keeps the concurrent ones as siblings."""
    versions = VclockSiblings().write(b"a", VersionVector(), "a#0", 1)
    versions = versions.write(b"b", VersionVector(), "b#0", 1)
    assert versions.values() == (b"a", b"b")
    replaced = versions.write(b"a2", VersionVector(), "a#0", 2)
    assert replaced.values() == (b"a2", b"b")
    merged = versions.write(b"ab", versions.context(), "a#0", 3)
    assert merged.values() == (b"ab",)


def test_req_caus_5_a_write_dominated_by_a_stored_version_is_dropped() -> None:
    """REQ-CAUS-5: a stale context can give a clock below a stored one; that write is lost."""
    versions = VclockSiblings().write(b"v1", VersionVector(), "a#0", 1)
    versions = versions.write(b"v2", versions.context(), "a#0", 2)
    assert versions.write(b"stale", VersionVector(), "a#0", 3) == versions


def test_req_caus_5_merge_keeps_the_undominated_and_one_of_each_equal_clock() -> None:
    """REQ-CAUS-5: merge drops dominated versions; of equal clocks the greatest
    (timestamp, value) remains, from either side."""
    old = ClockedVersion((("a#0", 1, 1),), b"old", 1)
    new = ClockedVersion((("a#0", 2, 2),), b"new", 2)
    other = ClockedVersion((("b#0", 1, 1),), b"other", 1)
    left = VclockSiblings((old, other))
    right = VclockSiblings((new,))
    assert left.merge(right) == right.merge(left) == VclockSiblings((new, other))
    twin_early = ClockedVersion((("a#0", 1, 1),), b"zzz", 1)
    twin_late = ClockedVersion((("a#0", 1, 4),), b"aaa", 4)
    early, late = VclockSiblings((twin_early,)), VclockSiblings((twin_late,))
    assert early.merge(late) == late.merge(early) == late
    stamped_0 = VclockSiblings((ClockedVersion((("a#0", 1, 0), ("b#0", 1, 3)), b"v", 3),))
    stamped_2 = VclockSiblings((ClockedVersion((("a#0", 1, 2), ("b#0", 1, 3)), b"v", 3),))
    assert stamped_0.merge(stamped_2) == stamped_2.merge(stamped_0) == stamped_2


def test_req_caus_5_concurrent_replicas_of_the_anomaly_converge_on_one_value() -> None:
    """REQ-CAUS-5 / INV-CAUS-3: after the anomaly, replicas holding either equal-clock version
    converge on one of them through merge, the same from either side."""
    first = VclockSiblings().write(b"first", VersionVector(), "n0#0", 1)
    second = first.write(b"second", VersionVector(), "n0#0", 2)
    assert first.merge(second) == second.merge(first) == second
    assert second.values() == (b"second",)
