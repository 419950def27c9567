"""The black-box checkers over Histories (SPEC section 5.1): a correct model store's histories
never flag, each planted defect flags with the invariant that names it, and each check's rules,
skips and excerpts hold on small hand-written histories."""

from __future__ import annotations

import attrs
import pytest
from dynref.causality import Mode
from dynref.check import CheckStatus, Report, check_history
from dynref.history import (
    Capabilities,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.history_model import Defect, ModelSettings, generate

OK, FAIL, INFO = Outcome.OK, Outcome.FAIL, Outcome.INFO


def ids(report: Report) -> set[str]:
    return {v.invariant for v in report.violations}


# ---------------------------------------------------------------- histories from the model


@settings(max_examples=80)
@given(
    seed=st.integers(0, 2**32),
    mode=st.sampled_from((Mode.DVV, Mode.LWW)),
    quorum=st.sampled_from(((2, 2), (1, 3), (3, 1), (1, 1), (2, 1))),
    faults=st.booleans(),
    blind=st.sampled_from((0, 200, 800)),
)
def test_a_correct_store_never_flags(
    seed: int, mode: Mode, quorum: tuple[int, int], faults: bool, blind: int
) -> None:
    """INV-ACK-1, INV-READ-1, INV-READ-2, INV-ORDER-1, SIBLING-BOUND, INV-CONV-1: whatever the
    interleaving, the quorums, the drift of lww clocks, timeouts, refused writes and writes the
    network delivered twice, a store that keeps Dynamo's promises passes every check."""
    r, w = quorum
    rates = {"timeout_per_mille": 80, "refuse_per_mille": 40, "redeliver_per_mille": 80}
    model = ModelSettings(mode=mode, r=r, w=w, blind_per_mille=blind, **(rates if faults else {}))
    report = check_history(generate(model, seed))
    assert not report.violations, report.violations[0].describe()
    judged = {result.check for result in report.results if result.status is CheckStatus.PASS}
    assert {"INV-ACK-1", "INV-READ-1", "INV-CONV-1", "INV-ORDER-1"} <= judged
    assert ("INV-READ-2" in judged) == (r + w > 3)
    assert ("SIBLING-BOUND" in judged) == (mode is Mode.DVV)


DEFECTS = [
    (Defect.STALE_CONTEXT_OVERWRITES, Mode.DVV, {"INV-ACK-1", "INV-ORDER-1"}, {}),
    (Defect.DELETE_ONE_COPY, Mode.DVV, {"INV-READ-1", "INV-CONV-1"}, {}),
    (Defect.DELETE_ONE_COPY, Mode.DVV, {"INV-CONV-1"}, {"repair_at_end": False}),
    (Defect.DELETE_ONE_COPY, Mode.LWW, {"INV-ORDER-1"}, {}),
    (Defect.REPLICA_OVERWRITES, Mode.DVV, {"INV-ACK-1"}, {}),
    (Defect.LWW_STAMPS_BACKWARDS, Mode.LWW, {"INV-ORDER-1"}, {}),
    (Defect.MERGE_KEEPS_SEEN, Mode.DVV, {"SIBLING-BOUND"}, {}),
    (Defect.INVENTED_READ, Mode.DVV, {"INV-READ-1"}, {}),
    (Defect.INVENTED_READ, Mode.LWW, {"INV-READ-1"}, {}),
    (Defect.STALE_READ, Mode.DVV, {"INV-READ-2"}, {}),
]


@pytest.mark.parametrize(
    ("defect", "mode", "named", "changes"),
    DEFECTS,
    ids=[f"{d.name.lower()}-{m.value}" for d, m, _, c in DEFECTS if True],
)
def test_each_planted_defect_is_flagged_by_the_invariant_that_names_it(
    defect: Defect, mode: Mode, named: set[str], changes: dict[str, bool]
) -> None:
    """INV-ACK-1 (a stale context that overwrites siblings, a replica that overwrites instead
    of merging), INV-READ-1 or INV-CONV-1 (a delete that removes one copy), INV-ORDER-1 (lww
    stamps that go backwards), INV-READ-1 (an invented value), INV-READ-2 (a stale read under a
    claimed strict quorum), SIBLING-BOUND (a merge that keeps superseded siblings): within a
    few seeds, and the same seeds without the defect pass."""
    for seed in range(30):
        model = ModelSettings(mode=mode, defect=defect, **changes)  # type: ignore[arg-type]
        flagged = ids(check_history(generate(model, seed))) & named
        if flagged:
            clean = check_history(generate(attrs.evolve(model, defect=None), seed))
            assert not clean.violations
            return
    pytest.fail(f"{defect.value}: not flagged by {sorted(named)} within 30 seeds")


# ---------------------------------------------------------------- hand-written histories


class Story:
    """A history written op by op; times are given explicitly."""

    def __init__(self, mode: Mode = Mode.DVV, **caps: object) -> None:
        fields = {
            "causality": mode,
            "contexts": mode is not Mode.LWW,
            "siblings": mode is not Mode.LWW,
            "deletes": True,
            "per_request_rw": True,
            "strict_quorum": True,
            "replica_reads": True,
            "n": 3,
            "r": 2,
            "w": 2,
            **caps,
        }
        self.caps = Capabilities(**fields)  # type: ignore[arg-type]
        self.ops: list[Op] = []
        self.finals: list[FinalRead] = []
        self.faults: list[Fault] = []

    def op(self, kind: OpKind, client: str, at: int, done: int | None, **fields: object) -> Op:
        fields.setdefault("outcome", OK)
        fields.setdefault("coordinator", "n1")
        fields.setdefault("key", "k")
        if kind is not OpKind.GET:
            fields.setdefault("context_sent", b"")
        op = Op(len(self.ops) + 1, client, kind, invoked=at, completed=done, **fields)  # type: ignore[arg-type]
        self.ops.append(op)
        return op

    def put(self, client: str, value: str, at: int, done: int | None, **fields: object) -> Op:
        return self.op(OpKind.PUT, client, at, done, value=value, **fields)

    def delete(self, client: str, at: int, done: int | None, **fields: object) -> Op:
        return self.op(OpKind.DELETE, client, at, done, **fields)

    def get(self, client: str, values: tuple[str, ...], at: int, done: int, ctx: bytes) -> Op:
        return self.op(OpKind.GET, client, at, done, values=values, context_returned=ctx)

    def end(self, *values: str, key: str = "k", replicas: tuple[str, ...] = ()) -> None:
        for node in replicas:
            self.finals.append(FinalRead(key, 1000, OK, replica=node, values=values))
        self.finals.append(FinalRead(key, 1000, OK, r=3, values=values))

    def fault(self, kind: FaultKind, time: int, **fields: object) -> None:
        self.faults.append(Fault(kind, time, **fields))  # type: ignore[arg-type]

    def history(self) -> History:
        return History(Header(self.caps), tuple(self.ops), tuple(self.finals), tuple(self.faults))

    def check(self) -> Report:
        return check_history(self.history())


def test_an_overwrite_that_saw_the_put_excuses_it_only_if_its_chain_shows_at_the_end() -> None:
    """INV-ACK-1: a successor excuses a put when its chain ends in what the final reads show:
    a visible value (whatever the successor's outcome), or a delete that may have taken effect."""
    story = Story()
    story.put("c1", "a", 0, 2)
    story.get("c2", ("a",), 3, 4, b"A")
    story.put("c2", "b", 5, None, outcome=INFO, context_sent=b"A")  # unknown: nothing shows it
    story.end()
    (lost,) = story.check().result("INV-ACK-1").violations
    assert "'a'" not in lost.message and "op 1" in lost.message
    assert "writes that saw it (op 3 (info))" in lost.message
    assert [type(e).__name__ for e in lost.excerpt] == ["Op", "FinalRead"]
    shown = Story()
    shown.ops, shown.faults = story.ops, story.faults
    shown.end("b")  # the info put took effect after all: it is in the final reads
    assert not shown.check().violations
    deleted = Story()
    deleted.ops = [*story.ops[:2]]
    deleted.delete("c2", 5, None, outcome=INFO, context_sent=b"A")  # a tombstone is invisible
    deleted.end()
    assert not deleted.check().violations


def test_a_put_overwritten_by_a_write_that_did_not_see_it_is_lost() -> None:
    """INV-ACK-1, REQ-CHECK-1: the lost update of vclock's stale context, as a client sees it;
    the excerpt is the lost put, what survived it and the final read."""
    story = Story(Mode.VCLOCK)
    first = story.put("c1", "a", 0, 4)
    second = story.put("c2", "b", 1, 5)
    story.end("b")
    report = story.check()
    (lost,) = report.violations
    assert lost.invariant == "INV-ACK-1" and lost.excerpt[:2] == (first, second)
    assert lost.steps == (0, 1, 4, 5, 1000)
    assert report.status("SIBLING-BOUND") is CheckStatus.SKIP  # only dvv promises it


def test_lww_excuses_what_may_outrank_never_what_came_before_through_one_node() -> None:
    """INV-ACK-1, INV-ORDER-1 (lww): two puts through different nodes may end either way; through
    one node, the later must win. The issue's example: a put, then a delete through the same
    node, and the put still visible at the end."""
    story = Story(Mode.LWW)
    story.put("c1", "a", 0, 2, coordinator="n1")
    story.put("c2", "b", 3, 5, coordinator="n2")
    story.end("a")  # b lost to a clock that runs behind: lww's choice
    assert not story.check().violations
    story = Story(Mode.LWW)
    put = story.put("c1", "a", 0, 2)
    delete = story.delete("c1", 3, 5)
    story.end("a")
    report = story.check()
    (order,) = report.violations
    assert order.invariant == "INV-ORDER-1" and order.excerpt[:2] == (put, delete)
    assert "through the same coordinator" in order.message
    story = Story(Mode.LWW)
    story.put("c1", "a", 0, 2)
    second = story.put("c2", "b", 3, 5)
    story.end("a")
    assert ids(story.check()) == {"INV-ORDER-1", "INV-ACK-1"}
    assert story.check().result("INV-ACK-1").violations[0].excerpt[1] == second


def test_order_needs_a_later_write_that_certainly_took_effect_and_an_earlier_one_run_once() -> None:
    """INV-ORDER-1: no violation when the later write may not have happened (info), when the
    earlier one may have run again after it (redeliver), or when they overlap in time."""
    for change in ("info", "redeliver", "overlap"):
        story = Story(Mode.LWW)
        story.put("c1", "a", 0, 2)
        later = story.put("c2", "b", 1 if change == "overlap" else 3, 5)
        if change == "info":
            story.ops[-1] = attrs.evolve(later, outcome=INFO)
        if change == "redeliver":
            story.fault(FaultKind.REDELIVER, 6, op=1)
        story.end("a")
        assert "INV-ORDER-1" not in ids(story.check()), change


def test_a_value_that_a_write_certainly_superseded_must_not_come_back() -> None:
    """INV-READ-1, INV-ORDER-1: c2 read a and overwrote it; a visible at the end is resurrected
    (the overwrite, invoked after a's acknowledgement, also breaks the order); under strict
    quorum, a read that began after the overwrite's acknowledgement must not return a."""
    story = Story()
    story.put("c1", "a", 0, 2)
    story.get("c2", ("a",), 3, 4, b"A")
    story.put("c2", "b", 5, 6, context_sent=b"A")
    story.get("c3", ("a", "b"), 7, 8, b"AB")
    story.end("a", "b")
    report = story.check()
    assert ids(report) == {"INV-READ-1", "INV-ORDER-1", "SIBLING-BOUND"}
    resurrected = report.result("INV-READ-1").violations
    assert {v.message.split(" ")[0] for v in resurrected} >= {"'a'", "op"}
    assert any("returned 'a' after" in v.message for v in resurrected)
    loose = Story(strict_quorum=False)
    loose.ops, loose.finals = story.ops, story.finals
    assert not any("after" in v.message for v in loose.check().result("INV-READ-1").violations)


def test_a_value_written_more_than_once_is_never_called_resurrected() -> None:
    """INV-READ-1: a put redelivered (or of unknown outcome) may have left a version that no
    context covers, so seeing it again proves nothing."""
    for fault in (True, False):
        story = Story()
        story.put("c1", "a", 0, 2, outcome=OK if fault else INFO)
        story.get("c2", ("a",), 3, 4, b"A")
        story.put("c2", "b", 5, 6, context_sent=b"A")
        if fault:
            story.fault(FaultKind.REDELIVER, 7, op=1)
        story.end("a", "b")
        assert not story.check().violations


def test_invented_values() -> None:
    """INV-READ-1: a value nobody wrote, a value of another key, a value written after the
    read, a value whose put certainly failed."""
    story = Story()
    story.put("c1", "a", 0, 2)
    story.put("c1", "x", 3, 4, key="other")
    story.put("c1", "f", 5, 6, outcome=FAIL)
    story.get("c2", ("ghost", "x", "f", "late"), 7, 8, b"")
    story.put("c3", "late", 9, 10)
    story.end("a", "late")
    found = story.check().result("INV-READ-1").violations
    problems = [v.message.split(": ", 1)[1] for v in found if "returned" in v.message]
    assert problems == [
        "no put wrote it",
        "only a put of other wrote it",
        "its put certainly took no effect (outcome fail)",
        "its put was invoked only after the read completed",
    ]


def test_strict_read_your_writes() -> None:
    """INV-READ-2: a strict-quorum read invoked after an acknowledged put returns it, unless a
    write that saw it was invoked before the read completed; requests' own R and W count."""
    story = Story()
    story.put("c1", "a", 0, 2)
    story.get("c2", (), 3, 4, b"")
    (stale,) = story.check().violations
    assert stale.invariant == "INV-READ-2" and len(stale.excerpt) == 2
    story.ops[-1] = attrs.evolve(story.ops[-1], r=1)  # R=1 + W=2 does not exceed N=3
    assert not story.check().violations
    story = Story()
    story.put("c1", "a", 0, 2)
    story.get("c2", ("a",), 3, 4, b"A")
    story.delete("c2", 5, None, outcome=INFO, context_sent=b"A")
    story.get("c3", (), 6, 7, b"T")
    assert not story.check().violations
    story.fault(FaultKind.DISK_LOSS, 1, node="n2")
    assert story.check().status("INV-READ-2") is CheckStatus.PASS


def test_lww_strict_reads_return_nothing_older_than_an_acknowledged_write() -> None:
    """INV-READ-2 (lww): after b was acknowledged through the node that took a, a read must
    not return a; a read returning nothing needs a delete that may outrank the put."""
    story = Story(Mode.LWW)
    story.put("c1", "a", 0, 2)
    story.put("c1", "b", 3, 4)
    story.get("c2", ("a",), 5, 6, b"")
    story.get("c2", (), 7, 8, b"")
    found = story.check().result("INV-READ-2").violations
    assert ["'a' comes before it" in v.message for v in found] == [True, False]
    story.delete("c3", 1, None, outcome=INFO, coordinator="n2")
    assert len(story.check().result("INV-READ-2").violations) == 1


def test_a_sibling_beside_a_write_that_saw_it_transitively() -> None:
    """SIBLING-BOUND: c saw b, which saw a; a read returning a beside c returns more values
    than mutually unseen puts allow."""
    story = Story(strict_quorum=False)
    story.put("c1", "a", 0, 1)
    story.get("c2", ("a",), 2, 3, b"A")
    story.put("c2", "b", 4, 5, context_sent=b"A")
    story.get("c3", ("b",), 6, 7, b"B")
    story.put("c3", "c", 8, 9, context_sent=b"B")
    story.get("c1", ("a", "c"), 10, 11, b"AC")
    (found,) = story.check().violations
    assert found.invariant == "SIBLING-BOUND" and "'a' beside 'c'" in found.message
    assert [e.id for e in found.excerpt if isinstance(e, Op)] == [1, 2, 3, 4, 5, 6]


def test_replicas_must_agree_at_the_end() -> None:
    """INV-CONV-1: the final per-replica reads of a key return the same values."""
    story = Story()
    story.put("c1", "a", 0, 1)
    story.finals = [
        FinalRead("k", 9, OK, replica="n1", values=("a",)),
        FinalRead("k", 9, OK, replica="n2", values=()),
        FinalRead("k", 9, FAIL, replica="n3"),
    ]
    (found,) = story.check().violations
    assert found.invariant == "INV-CONV-1" and len(found.excerpt) == 2


def test_missing_capabilities_and_records_skip_checks_never_pass_them() -> None:
    """REQ-CHECK-1: a check that needs what the target or the history lacks is reported
    skipped, never passed."""
    story = Story(Mode.DVV, strict_quorum=False, replica_reads=False, contexts=False)
    story.put("c1", "a", 0, 1)
    report = story.check()
    skipped = {r.check: r.note for r in report.skipped}
    assert set(skipped) == {
        "INV-READ-1",
        "INV-ACK-1",
        "INV-ORDER-1",
        "INV-READ-2",
        "SIBLING-BOUND",
        "INV-CONV-1",
    }
    assert skipped["INV-READ-2"] == "the target does not declare strict quorum"
    assert skipped["INV-ACK-1"] == "no successful final reads"


def test_a_malformed_history_is_reported_and_judged_no_further() -> None:
    """REQ-CHECK-1 (MALFORMED): values must be unique per put, redeliveries must name writes;
    a malformed history is judged no further."""
    story = Story()
    story.put("c1", "a", 0, 1)
    story.put("c2", "a", 2, 3)
    story.get("c1", ("a",), 4, 5, b"")
    story.fault(FaultKind.REDELIVER, 6, op=3)
    story.end("a")
    report = story.check()
    assert [v.invariant for v in report.violations] == ["MALFORMED", "MALFORMED"]
    assert "values must be unique" in report.violations[0].message
    assert all(r.note == "the history is malformed" for r in report.skipped)
    assert len(report.skipped) == 6
