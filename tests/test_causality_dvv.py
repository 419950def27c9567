"""Dotted version vector sets against a naive model of causality (REQ-CAUS-4, INV-CAUS-2/3)."""

from __future__ import annotations

from dynref.causality import DvvSet, DvvSibling, Mode, VersionVector, empty_versions
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

REPLICAS = 3
ACTORS = tuple(f"n{index}#0" for index in range(REPLICAS))
replica_ids = st.integers(0, REPLICAS - 1)

WriteId = int
Seen = frozenset[WriteId]


class DvvAgainstModel(RuleBasedStateMachine):
    """INV-CAUS-2: the model keeps, per write, the set of writes its context saw, and per
    replica the writes whose data reached it. A read must return exactly the reached writes
    that no other reached write saw. Values are unique, so values identify writes."""

    contexts = Bundle("contexts")

    def __init__(self) -> None:
        super().__init__()
        self.replicas = [DvvSet()] * REPLICAS
        self.reached: list[Seen] = [frozenset()] * REPLICAS
        self.past: dict[WriteId, Seen] = {}
        self.value_of: dict[WriteId, bytes | None] = {}

    def seen_at(self, replica: int) -> Seen:
        """What a read's context at `replica` saw: what reached it and, transitively, what
        those writes' contexts saw (each past is already closed)."""
        seen = set(self.reached[replica])
        for write in self.reached[replica]:
            seen |= self.past[write]
        return frozenset(seen)

    def expected(self, replica: int) -> Seen:
        reached = self.reached[replica]
        superseded: set[WriteId] = set()
        for write in reached:
            superseded |= self.past[write]
        return reached - superseded

    @rule(target=contexts, replica=replica_ids)
    def read(self, replica: int) -> tuple[VersionVector, Seen]:
        return (self.replicas[replica].context(), self.seen_at(replica))

    @rule(
        replica=replica_ids,
        context=contexts | st.just((VersionVector(), frozenset())),
        delete=st.booleans(),
        timestamp=st.integers(0, 3),
    )
    def write(
        self, replica: int, context: tuple[VersionVector, Seen], delete: bool, timestamp: int
    ) -> None:
        vv, seen = context
        write_id = len(self.past)
        value = None if delete else f"w{write_id}".encode()
        self.past[write_id] = seen
        self.value_of[write_id] = value
        self.reached[replica] = self.reached[replica] | {write_id}
        self.replicas[replica] = self.replicas[replica].write(value, vv, ACTORS[replica], timestamp)

    @rule(source=replica_ids, destination=replica_ids)
    def merge(self, source: int, destination: int) -> None:
        self.replicas[destination] = self.replicas[destination].merge(self.replicas[source])
        self.reached[destination] = self.reached[destination] | self.reached[source]

    @invariant()
    def reads_return_exactly_the_unseen_writes(self) -> None:
        for replica in range(REPLICAS):
            expected = self.expected(replica)
            values = [self.value_of[write] for write in expected]
            visible = sorted(value for value in values if value is not None)
            assert list(self.replicas[replica].values()) == visible
            assert self.replicas[replica].sibling_count() == len(expected)

    @invariant()
    def every_sibling_dot_is_covered(self) -> None:
        for versions in self.replicas:
            dots = versions.dots()
            assert list(dots) == sorted(set(dots))
            assert all(versions.vv.covers(actor, counter) for actor, counter in dots)


TestInvCaus2DvvAgainstModel = DvvAgainstModel.TestCase


def test_inv_caus_3_same_context_same_coordinator_dvv_keeps_both_vclock_loses_one() -> None:
    """INV-CAUS-3: two clients read the empty key and both put through actor n0#0 with that
    context. dvv keeps both as siblings; vclock keeps only the second (the first, though
    acknowledged, is lost)."""
    for mode, survivors in ((Mode.DVV, (b"first", b"second")), (Mode.VCLOCK, (b"second",))):
        empty = empty_versions(mode)
        context = empty.context()
        after_first = empty.write(b"first", context, "n0#0", 1)
        after_second = after_first.write(b"second", context, "n0#0", 2)
        assert after_second.values() == survivors, mode


def test_inv_caus_3_same_stale_version_same_coordinator() -> None:
    """INV-CAUS-3: both clients read version v0, then both put through n0#0: dvv keeps both
    successors and drops v0; vclock keeps only the second successor."""
    for mode, survivors in ((Mode.DVV, (b"one", b"two")), (Mode.VCLOCK, (b"two",))):
        versions = empty_versions(mode).write(b"v0", VersionVector(), "n0#0", 1)
        stale = versions.context()
        versions = versions.write(b"one", stale, "n0#0", 2)
        versions = versions.write(b"two", stale, "n0#0", 3)
        assert versions.values() == survivors, mode


@st.composite
def dvv_histories(draw: st.DrawFn) -> list[DvvSet]:
    """The replicas' final sets after a few writes (fresh or stale contexts) and merges."""
    replicas = [DvvSet()] * REPLICAS
    contexts = [VersionVector()]
    for _ in range(draw(st.integers(0, 12))):
        here = draw(replica_ids)
        if draw(st.booleans()):
            replicas[here] = replicas[here].merge(replicas[draw(replica_ids)])
        else:
            context = draw(st.sampled_from(contexts))
            value = draw(st.sampled_from((b"x", b"y", None)))
            replicas[here] = replicas[here].write(value, context, ACTORS[here], 0)
        contexts.append(replicas[here].context())
    return replicas


dvv_sets = dvv_histories().flatmap(st.sampled_from)


contexts_over_actors = st.dictionaries(st.sampled_from(ACTORS), st.integers(0, 5)).map(
    VersionVector.of
)


@given(dvv_sets, contexts_over_actors, replica_ids)
def test_inv_caus_3_any_two_writes_with_one_context_both_survive(
    versions: DvvSet, context: VersionVector, replica: int
) -> None:
    """INV-CAUS-3: whatever the set and the shared context, both new values survive."""
    once = versions.write(b"first", context, ACTORS[replica], 1)
    twice = once.write(b"second", context, ACTORS[replica], 2)
    assert {b"first", b"second"} <= set(twice.values())


@given(dvv_sets, contexts_over_actors, replica_ids)
def test_req_caus_4_write_rule(versions: DvvSet, context: VersionVector, replica: int) -> None:
    """REQ-CAUS-4: the new dot is (A, max(VV[A], C[A]) + 1), exactly the siblings C covers
    go, and the VV becomes VV joined with C and the new dot."""
    actor = ACTORS[replica]
    written = versions.write(b"new", context, actor, 7)
    dot = (actor, max(versions.vv.get(actor), context.get(actor)) + 1)
    new_sibling = DvvSibling(dot[0], dot[1], b"new", 7)
    kept = [s for s in versions.siblings if not context.covers(s.actor, s.counter)]
    assert written.siblings == tuple(sorted([*kept, new_sibling], key=lambda s: s.dot))
    assert written.vv == versions.vv.join(context).with_entry(actor, dot[1])


def test_req_caus_4_the_dot_stays_fresh_when_the_context_knows_more_of_the_actor() -> None:
    """REQ-CAUS-4: a context ahead of the replica for this actor cannot make a reused dot."""
    ahead = VersionVector.of({"n0#0": 5})
    written = DvvSet().write(b"v", ahead, "n0#0", 1)
    assert written.dots() == (("n0#0", 6),)


@given(dvv_histories(), replica_ids, replica_ids)
def test_req_caus_4_merge_rule(replicas: list[DvvSet], one: int, other: int) -> None:
    """REQ-CAUS-4: a side's sibling survives iff the other side holds it too or has not seen
    its dot; the VV is the pointwise maximum."""
    left, right = replicas[one], replicas[other]
    merged = left.merge(right)
    assert merged.vv == left.vv.join(right.vv)
    expected = {s for s in left.siblings if s in right.siblings or not right.vv.covers(*s.dot)}
    expected |= {s for s in right.siblings if not left.vv.covers(*s.dot)}
    assert set(merged.siblings) == expected
    assert list(merged.dots()) == sorted(merged.dots())


def test_req_caus_4_merge_of_a_conflicting_dot_is_still_deterministic() -> None:
    """REQ-CAUS-4: two siblings sharing a dot (never made by writes) resolve the same way
    from either side, by the greater (timestamp, value)."""
    vv = VersionVector.of({"n0#0": 1})
    older = DvvSet(vv, (DvvSibling("n0#0", 1, b"z", 1),))
    newer = DvvSet(vv, (DvvSibling("n0#0", 1, b"a", 2),))
    assert older.merge(newer) == newer.merge(older) == newer
