"""Laws every causality mode keeps: merge is a join, digests, tombstones, contexts.

Sibling sets come from random histories: writes (values, tombstones, stale or fresh contexts)
and merges across a few replicas, each replica writing as its own actor.
"""

from __future__ import annotations

from typing import Any

import pytest
from dynref.causality import (
    AnyVersions,
    ClockedVersion,
    DvvSet,
    LwwContext,
    LwwRegister,
    LwwVersion,
    Mode,
    VclockSiblings,
    VersionVector,
    decode_context,
    empty_context,
    empty_versions,
    merge_versions,
    mode_of,
    read_context,
)
from hypothesis import given
from hypothesis import strategies as st

ACTORS = ("a#0", "b#0", "c#0")
MODES = tuple(Mode)


@st.composite
def histories(draw: st.DrawFn, mode: Mode, max_entries: int | None = None) -> list[Any]:
    """Every sibling set some replica held during one random history of `mode`."""
    replicas: list[Any] = [empty_versions(mode)] * len(ACTORS)
    contexts = [empty_context(mode)]
    held: list[Any] = list(replicas[:1])
    for _ in range(draw(st.integers(0, 14))):
        here = draw(st.integers(0, len(ACTORS) - 1))
        kind = draw(st.sampled_from(("write", "write", "merge", "read")))
        if kind == "read":
            contexts.append(replicas[here].context())
            continue
        if kind == "merge":
            there = draw(st.integers(0, len(ACTORS) - 1))
            replicas[here] = replicas[here].merge(replicas[there])
        else:
            value = draw(st.sampled_from((b"x", b"y", b"z", None)))
            context = draw(st.sampled_from([*contexts, replicas[here].context()]))
            timestamp = draw(st.integers(0, 6))
            extra = {} if max_entries is None else {"max_entries": max_entries}
            replicas[here] = replicas[here].write(value, context, ACTORS[here], timestamp, **extra)
        held.append(replicas[here])
    return held


@st.composite
def three_sets(draw: st.DrawFn, mode: Mode) -> tuple[Any, Any, Any]:
    held = draw(histories(mode))
    pick = st.sampled_from(held)
    return draw(pick), draw(pick), draw(pick)


def check_join_laws(a: Any, b: Any, c: Any) -> None:
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_req_caus_1_merge_is_a_join_in_every_mode(mode: Mode, data: st.DataObject) -> None:
    """REQ-CAUS-1: merge is commutative, associative and idempotent over reachable sets."""
    check_join_laws(*data.draw(three_sets(mode)))


@given(data=st.data())
def test_req_caus_1_vclock_merge_is_a_join_under_truncation(data: st.DataObject) -> None:
    """REQ-CAUS-1: truncated clocks (threshold 1) make odd sets; merge is still a join."""
    held = data.draw(histories(Mode.VCLOCK, max_entries=1))
    pick = st.sampled_from(held)
    check_join_laws(data.draw(pick), data.draw(pick), data.draw(pick))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_req_caus_2_digest_is_16_bytes_and_equal_for_equal_sets(
    mode: Mode, data: st.DataObject
) -> None:
    """REQ-CAUS-2: equal sibling sets (however reached) digest equally; distinct ones differ."""
    a, b, c = data.draw(three_sets(mode))
    assert len(a.digest()) == 16
    assert a.merge(b).digest() == b.merge(a).digest()
    assert a.merge(b).merge(c).digest() == a.merge(b.merge(c)).digest()
    for one, other in ((a, b), (b, c), (a, c)):
        assert (one.digest() == other.digest()) == (one == other)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_req_caus_2_digest_tells_apart_sets_differing_only_in_a_timestamp(mode: Mode) -> None:
    """REQ-CAUS-2: the digest covers every part of a set, timestamps too."""
    early = empty_versions(mode).write(b"v", empty_context(mode), "a#0", 1)
    late = empty_versions(mode).write(b"v", empty_context(mode), "a#0", 2)
    assert early != late and early.digest() != late.digest()
    tombstone = empty_versions(mode).write(None, empty_context(mode), "a#0", 1)
    empty_value = empty_versions(mode).write(b"", empty_context(mode), "a#0", 1)
    assert tombstone.digest() != empty_value.digest()


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_req_caus_3_a_read_hides_tombstones_but_its_context_supersedes_them(
    mode: Mode, data: st.DataObject
) -> None:
    """REQ-CAUS-3: delete with a read's context hides everything; a write with the next read's
    context supersedes the tombstone, in every mode."""
    held = data.draw(histories(mode))
    here = data.draw(st.integers(0, len(ACTORS) - 1))
    versions = data.draw(st.sampled_from(held))
    later = versions.latest_timestamp() + 1
    deleted = versions.write(None, versions.context(), ACTORS[here], later)
    assert deleted.values() == ()
    assert not deleted.is_empty() and deleted.sibling_count() >= 1
    rewritten = deleted.write(b"back", deleted.context(), ACTORS[here], later + 1)
    assert rewritten.values() == (b"back",)
    assert rewritten.sibling_count() == 1


@pytest.mark.parametrize("mode", (Mode.DVV, Mode.VCLOCK), ids=lambda m: m.value)
def test_req_caus_3_a_delete_does_not_resurrect_through_merge(mode: Mode) -> None:
    """REQ-CAUS-3: a replica still holding the value merges with the tombstone: it stays gone."""
    written = empty_versions(mode).write(b"v", empty_context(mode), "a#0", 1)
    deleted = written.write(None, written.context(), "b#0", 2)
    assert deleted.values() == ()
    assert written.merge(deleted).values() == deleted.merge(written).values() == ()
    assert written.merge(deleted).context().descends(written.context())


def test_req_caus_3_lww_delete_is_superseded_by_a_write_with_its_context() -> None:
    """REQ-CAUS-3, REQ-LWW-1 (lww): a write with the delete's context supersedes it whatever
    the writer's clock says; an older version merged in does not."""
    deleted = LwwRegister().write(b"v", LwwContext(), "a#0", 1).write(None, LwwContext(), "a#0", 5)
    assert deleted.values() == () and deleted.sibling_count() == 1
    assert deleted.merge(LwwRegister(LwwVersion(4, "b#0", b"old"))).values() == ()
    elsewhere = LwwRegister().write(b"new", deleted.context(), "b#0", 0)
    assert elsewhere.merge(deleted).values() == deleted.merge(elsewhere).values() == (b"new",)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_req_caus_7_the_context_of_a_read(mode: Mode, data: st.DataObject) -> None:
    """REQ-CAUS-7: dvv gives its VV, vclock the join of every held clock (tombstones
    included), lww the held version's stamp; the context survives its byte encoding."""
    versions = data.draw(st.sampled_from(data.draw(histories(mode))))
    context = versions.context()
    if isinstance(versions, DvvSet):
        assert context == versions.vv
    elif isinstance(versions, VclockSiblings):
        clocks = [VersionVector(v.counters()) for v in versions.versions]
        assert context == VersionVector.join_all(clocks)
        assert all(clock.leq(context) for clock in clocks)
    else:
        assert isinstance(versions, LwwRegister)
        assert context == LwwContext(versions.winner_stamp())
    assert decode_context(mode, read_context(versions)) == context


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_req_caus_7_a_key_never_written_has_the_empty_context(mode: Mode) -> None:
    """REQ-CAUS-7: the empty set's context is the empty one of its mode; it holds nothing."""
    empty = empty_versions(mode)
    assert empty.context() == empty_context(mode)
    assert empty.values() == () and empty.is_empty() and empty.sibling_count() == 0
    assert empty.latest_timestamp() == 0
    assert mode_of(empty) is mode


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_values_are_sorted_and_hide_tombstones(mode: Mode, data: st.DataObject) -> None:
    versions = data.draw(st.sampled_from(data.draw(histories(mode))))
    values = versions.values()
    assert list(values) == sorted(values)
    assert len(values) <= versions.sibling_count()
    assert versions.is_empty() == (versions.sibling_count() == 0)
    assert hash(versions) == hash(versions.merge(versions))


def test_merge_versions_dispatches_on_mode_and_refuses_mixed_modes() -> None:
    dvv = DvvSet().write(b"a", VersionVector(), "a#0", 1)
    other = DvvSet().write(b"b", VersionVector(), "b#0", 1)
    merged: AnyVersions = merge_versions(dvv, other)
    assert merged.values() == (b"a", b"b")
    vclock = VclockSiblings((ClockedVersion((("a#0", 1, 1),), b"a", 1),))
    assert merge_versions(vclock, vclock) == vclock
    with pytest.raises(TypeError):
        merge_versions(dvv, vclock)
    with pytest.raises(TypeError):
        merge_versions(LwwRegister(), dvv)
