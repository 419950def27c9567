"""The checkers on simulated runs: they pass correct runs and catch planted defects.

A planted defect is a cluster value edited the way a buggy node or a lying network would have
left it (a replica that forgot a write, a read that returned a value nobody wrote, a hint deleted
without an ack); each checker must name the right invariant and the steps involved. The black-box
checks judge `history_of(cluster)` (what clients saw); the white-box extras read the records.
"""

from __future__ import annotations

import attrs
from _pytest.monkeypatch import MonkeyPatch
from dynref.causality import LwwRegister, LwwVersion, Mode, empty_versions
from dynref.check import (
    HistoryView,
    SometimesReport,
    check_acknowledged_copies,
    check_acknowledged_writes,
    check_all,
    check_always,
    check_cluster,
    check_hints,
    check_node_health,
    check_read_your_writes_in_clean_windows,
    check_sibling_bound,
    largest_concurrent_writes,
    sometimes,
)
from dynref.history import FinalRead, Op
from dynref.messages import DeleteHint, GetOk, ProtocolError
from dynref.sim import (
    Cluster,
    DurableRecord,
    Log,
    Operation,
    ProtocolErrorRecord,
    Record,
    explorer_config,
)
from dynref.state import NodeState

KEY = b"k0"


def start(mode: Mode = Mode.DVV, nodes: int = 5) -> Cluster:
    return Cluster.start(explorer_config(mode, nodes=nodes))


def drain(cluster: Cluster) -> Cluster:
    while cluster.in_flight:
        for message_id in cluster.message_ids():
            cluster = cluster.deliver(message_id)
    return cluster


def op(cluster: Cluster, op_id: int) -> Operation:
    return cluster.operations[op_id]


def with_read_values(cluster: Cluster, op_id: int, values: tuple[bytes, ...]) -> Cluster:
    read = op(cluster, op_id)
    assert isinstance(read.result, GetOk)
    edited = attrs.evolve(read, result=GetOk(values, read.result.context))
    return attrs.evolve(cluster, operations=cluster.operations.set(op_id, edited))


def with_forgotten_key(cluster: Cluster, key: bytes) -> Cluster:
    """Every replica forgets the key, as if the write had never reached a disk."""
    nodes = cluster.nodes
    for node in cluster.node_ids():
        state = cluster.nodes[node]
        assert isinstance(state, NodeState)
        if key in state.durable.data:
            durable = attrs.evolve(state.durable, data=state.durable.data.delete(key))
            nodes = nodes.set(node, attrs.evolve(state, durable=durable))
    return attrs.evolve(cluster, nodes=nodes)


def put_read_cycle(mode: Mode = Mode.DVV) -> Cluster:
    """c1 puts, c2 reads it and overwrites with that context, c3 reads: all strict quorum."""
    cluster = start(mode)
    a, b, _ = cluster.preference_list(KEY)
    cluster = drain(cluster.client_put("c1", a, KEY))
    cluster = drain(cluster.client_get("c2", b, KEY))
    cluster = drain(cluster.client_put("c2", b, KEY))
    return drain(cluster.client_get("c3", a, KEY))


# ---------------------------------------------------------------- a correct run passes


def test_a_correct_run_passes_every_checker() -> None:
    """INV-ACK-1, INV-CONV-1, INV-READ-1, INV-READ-2, INV-HINT-1 on a plain run."""
    cluster = put_read_cycle().quiesce()
    assert check_all(cluster) == []
    view = HistoryView(cluster)
    assert view.seen[3] == frozenset({b"c1:1"})  # c2's put had read c1:1
    assert [w.op_id for w in view.superseders[b"c1:1"]] == [3]
    assert sometimes(cluster).strict_quorum_reads_checked == 3


# ---------------------------------------------------------------- INV-ACK-1 and INV-ACK-2


def test_a_lost_acknowledged_put_is_reported_with_the_final_reads_that_miss_it() -> None:
    """INV-ACK-1 (black-box): the violation quotes the put and the final read without it."""
    cluster = drain(start().client_put("c1", "n2", KEY)).quiesce()
    broken = with_forgotten_key(cluster, KEY)
    report, _ = check_cluster(broken)
    (found,) = report.result("INV-ACK-1").violations
    assert "c1:1" in found.message and "no write saw it" in found.message
    put, final = found.excerpt
    assert isinstance(put, Op) and put.value == "c1:1"
    assert isinstance(final, FinalRead) and final.replica is None and final.values == ()
    assert found.steps == (0, op(cluster, 1).completed, cluster.step - 1)


def test_the_white_box_lost_write_report_says_where_it_was_last_seen() -> None:
    """INV-ACK-1 (the white-box form the demo still uses): the final state and last holders."""
    cluster = drain(start().client_put("c1", "n2", KEY)).quiesce()
    broken = with_forgotten_key(cluster, KEY)
    (found,) = check_acknowledged_writes(HistoryView(broken))
    assert found.invariant == "INV-ACK-1" and "c1:1" in found.message
    details = dict(found.details)
    assert details["final versions"] == "[]"
    assert "held it at step" in details["last seen"]
    assert found.steps[0] == 0


def test_a_put_superseded_by_a_write_that_saw_it_is_not_lost() -> None:
    """INV-ACK-1: c1:1 is gone, but c2's put had read it, so nothing was lost."""
    cluster = put_read_cycle().quiesce()
    final = HistoryView(cluster).final_versions(KEY).values()
    assert final == (b"c2:1",)
    report, _ = check_cluster(cluster)
    assert report.result("INV-ACK-1").judged == 2 and not report.failed


def test_lww_keeps_the_latest_timestamp_and_drift_decides_it() -> None:
    """INV-ACK-1 (lww): a write with an older clock, at a coordinator that had not seen the
    newer one, loses, and that is no violation."""
    cluster = start(Mode.LWW)
    a, b, _ = cluster.preference_list(KEY)
    cluster = cluster.tick(a, 1_000)  # a's clock runs ahead
    cluster = cluster.client_put("c1", a, KEY)
    to_b = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == b)
    cluster = drain(cluster.drop(to_b))  # b never held c1:1, so its clock alone stamps c2:1
    cluster = drain(cluster.client_put("c2", b, KEY)).quiesce()
    assert HistoryView(cluster).final_versions(KEY).values() == (b"c1:1",)
    assert all(o.acknowledged for o in cluster.history())
    assert check_all(cluster) == []
    # Plant an older winner on every replica: only the records know it is older (the white-box
    # form reports it; to a client, c2:1 winning is as legal as c1:1).
    older = LwwRegister(LwwVersion(0, "n9#0", b"c2:1"))
    nodes = cluster.nodes
    for node in cluster.node_ids():
        state = cluster.nodes[node]
        assert isinstance(state, NodeState)
        if KEY in state.durable.data:
            durable = attrs.evolve(state.durable, data=state.durable.data.set(KEY, older))
            nodes = nodes.set(node, attrs.evolve(state, durable=durable))
    planted = attrs.evolve(cluster, nodes=nodes)
    (found,) = check_acknowledged_writes(HistoryView(planted))
    assert found.invariant == "INV-ACK-1" and "c1:1" in found.message
    report, _ = check_cluster(planted)
    assert not report.failed


def test_lww_through_one_coordinator_a_later_write_must_win() -> None:
    """INV-ORDER-1, INV-ACK-1 (lww): c2 writes after c1's put was acknowledged, through the same
    node; if the final reads show c1:1, c2's acknowledged write was lost."""
    cluster = start(Mode.LWW)
    a = cluster.preference_list(KEY)[0]
    cluster = drain(cluster.client_put("c1", a, KEY))
    cluster = drain(cluster.tick(a, 10).client_put("c2", a, KEY)).quiesce()
    assert HistoryView(cluster).final_versions(KEY).values() == (b"c2:1",)
    assert check_all(cluster) == []
    older = LwwRegister(LwwVersion(0, f"{a}#0", b"c1:1"))
    nodes = cluster.nodes
    for node in cluster.node_ids():
        state = cluster.nodes[node]
        assert isinstance(state, NodeState)
        if KEY in state.durable.data:
            durable = attrs.evolve(state.durable, data=state.durable.data.set(KEY, older))
            nodes = nodes.set(node, attrs.evolve(state, durable=durable))
    report, _ = check_cluster(attrs.evolve(cluster, nodes=nodes))
    assert {v.invariant for v in report.violations} == {"INV-ORDER-1", "INV-ACK-1"}
    (order,) = report.result("INV-ORDER-1").violations
    assert "through the same coordinator" in order.message


def test_an_lww_write_lost_at_its_own_coordinator_is_reported(monkeypatch: MonkeyPatch) -> None:
    """INV-ACK-1, REQ-LWW-1: a coordinator that stamps a write with its clock alone (the defect
    planted here) lets a delete right after a put through it lose there; the checker reports
    the acknowledged delete, which it used to excuse as "never applied"."""
    monkeypatch.setattr(LwwRegister, "stamp_for", lambda _self, clock, _context: clock)
    cluster = start(Mode.LWW)
    coordinator = cluster.preference_list(KEY)[0]
    cluster = drain(cluster.client_put("c1", coordinator, KEY))
    cluster = drain(cluster.client_delete("c1", coordinator, KEY)).quiesce()
    assert HistoryView(cluster).final_versions(KEY).values() == (b"c1:1",)
    (found,) = check_acknowledged_writes(HistoryView(cluster))
    assert found.invariant == "INV-ACK-1" and "lost at its own coordinator" in found.message
    report, _ = check_cluster(cluster)  # and what the client saw says so too (INV-ORDER-1)
    (order,) = report.violations
    assert order.invariant == "INV-ORDER-1" and "through the same coordinator" in order.message
    put, delete, final = order.excerpt
    assert isinstance(put, Op) and isinstance(delete, Op) and delete.kind.value == "delete"
    assert isinstance(final, FinalRead) and final.values == ("c1:1",)
    monkeypatch.undo()
    fixed = start(Mode.LWW)
    fixed = drain(fixed.client_put("c1", coordinator, KEY))
    fixed = drain(fixed.client_delete("c1", coordinator, KEY)).quiesce()
    assert HistoryView(fixed).final_versions(KEY).values() == ()
    assert check_all(fixed) == []


def test_disk_loss_excuses_a_write_only_when_every_custodian_lost_its_disk() -> None:
    """INV-ACK-2: one surviving disk keeps the write; losing every holder's disk excuses it."""
    cluster = start(nodes=3)
    a, b, c = cluster.preference_list(KEY)
    cluster = cluster.client_put("c1", a, KEY)
    to_c = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == c)
    cluster = drain(cluster.drop(to_c))  # held by a and b only
    assert cluster.history()[0].acknowledged
    one_loss = cluster.lose_disk(a).quiesce()
    assert HistoryView(one_loss).final_versions(KEY).values() == (b"c1:1",)
    assert check_all(one_loss) == []
    both_lost = cluster.lose_disk(a).lose_disk(b).quiesce()
    assert HistoryView(both_lost).final_versions(KEY).values() == ()
    assert check_acknowledged_writes(HistoryView(both_lost)) == []
    (found,) = check_acknowledged_writes(HistoryView(with_forgotten_key(one_loss, KEY)))
    assert found.invariant == "INV-ACK-2"


def test_an_ack_counted_without_a_durable_copy_is_reported() -> None:
    """ACK-QUORUM: W=2 acknowledged with one durable copy, as if a replica had acknowledged a
    Replicate it never wrote (planted: its durable write is struck from the records)."""
    cluster = start(nodes=3)
    a, b, c = cluster.preference_list(KEY)
    cluster = cluster.client_put("c1", a, KEY)
    to_b = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == b)
    to_c = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == c)
    cluster = cluster.drop(to_c).deliver(to_b)
    cluster = cluster.deliver(cluster.message_ids()[-1])
    assert op(cluster, 1).acknowledged
    assert check_acknowledged_copies(HistoryView(cluster)) == []
    kept = tuple(
        record
        for record in cluster.audit_records()
        if not (isinstance(record, DurableRecord) and record.node == b)
    )
    records: Log[Record] = Log.of(kept)
    (found,) = check_acknowledged_copies(HistoryView(attrs.evolve(cluster, records=records)))
    assert found.invariant == "ACK-QUORUM" and "c1:1" in found.message
    assert dict(found.details)["held by"].startswith(a)


# ---------------------------------------------------------------- INV-READ-1 and INV-READ-2


def test_a_read_of_a_value_nobody_wrote_is_an_invention() -> None:
    """INV-READ-1: values come only from puts of the same key invoked before the read ended;
    cheap enough to run after every step (`check_always`)."""
    cluster = put_read_cycle()
    assert check_always(cluster) == []
    for planted in (b"ghost", b"c2:1"):  # never written / written only after the read
        broken = with_read_values(cluster, 2, (planted,))
        (found,) = check_always(broken)
        assert found.invariant == "INV-READ-1" and repr(planted.decode()) in found.message


def test_a_value_returned_beside_a_write_that_saw_it_breaks_the_sibling_bound() -> None:
    """SIBLING-BOUND: c2:1's put had read c1:1, so no read may return both (dvv)."""
    cluster = put_read_cycle()
    assert check_all(cluster) == []
    broken = with_read_values(cluster, 4, (b"c1:1", b"c2:1"))
    report, _ = check_cluster(broken)
    (found,) = report.violations
    assert found.invariant == "SIBLING-BOUND" and "'c1:1' beside 'c2:1'" in found.message
    assert found.steps[-1] == op(cluster, 4).completed
    assert [e.id for e in found.excerpt if isinstance(e, Op)] == [1, 2, 3, 4]


def test_a_superseded_value_visible_at_quiescence_is_a_resurrection() -> None:
    """INV-READ-1, INV-ORDER-1, INV-CONV-1 at the end: a replica shows c1:1 again although c2's
    acknowledged put had seen it; the replicas no longer agree."""
    cluster = put_read_cycle().quiesce()
    stale = empty_versions(Mode.DVV).write(b"c1:1", empty_versions(Mode.DVV).context(), "n9#0", 0)
    state = cluster.nodes[cluster.preference_list(KEY)[0]]
    assert isinstance(state, NodeState)
    durable = attrs.evolve(state.durable, data=state.durable.data.set(KEY, stale))
    node = state.durable.node_id
    broken = attrs.evolve(
        cluster, nodes=cluster.nodes.set(node, attrs.evolve(state, durable=durable))
    )
    report, _ = check_cluster(broken)
    assert {v.invariant for v in report.violations} == {"INV-READ-1", "INV-ORDER-1", "INV-CONV-1"}
    (resurrected,) = report.result("INV-READ-1").violations
    assert "'c1:1' is visible at the end" in resurrected.message
    final = resurrected.excerpt[-1]
    assert isinstance(final, FinalRead) and final.replica == node


def test_strict_read_your_writes_is_an_extra_in_clean_windows() -> None:
    """INV-READ-2: the simulated cluster declares no strict quorum (its sloppy quorum may use
    fallbacks), so the black-box check skips; the white-box extra judges the clean windows."""
    cluster = put_read_cycle()
    report, _ = check_cluster(cluster)
    assert report.status("INV-READ-2").value == "skip"
    assert check_read_your_writes_in_clean_windows(HistoryView(cluster)) == []
    broken = with_read_values(cluster, 2, ())
    found = check_read_your_writes_in_clean_windows(HistoryView(broken))
    # c2's read missed c1:1, and so c2's put no longer counts as having seen it: c3's read
    # (which returned only c2:1) misses it too.
    assert [v.invariant for v in found] == ["INV-READ-2", "INV-READ-2"]
    assert all("c1:1" in v.message for v in found)
    assert found[0].steps == (0, op(cluster, 1).completed, 5, op(cluster, 2).completed)


def test_an_lww_strict_quorum_read_must_see_the_put_or_a_version_that_outranks_it() -> None:
    """INV-READ-2 (lww, clean windows): a read that returns nothing after an acknowledged put is
    reported, and so is one that returns only a version the put outranks."""
    cluster = put_read_cycle(Mode.LWW)
    view = HistoryView(cluster)
    assert check_read_your_writes_in_clean_windows(view) == []
    assert op(cluster, 2).read_values == (b"c1:1",)
    empty = check_read_your_writes_in_clean_windows(HistoryView(with_read_values(cluster, 2, ())))
    assert [v.invariant for v in empty] == ["INV-READ-2"]
    assert "c1:1" in empty[0].message
    # c3's read comes after c2's put of c2:1, which outranks c1:1: returning c1:1 alone is stale.
    stale = check_read_your_writes_in_clean_windows(
        HistoryView(with_read_values(cluster, 4, (b"c1:1",)))
    )
    assert [v.invariant for v in stale] == ["INV-READ-2"]
    assert "c2:1" in stale[0].message


def test_read_your_writes_is_not_promised_once_fallbacks_may_be_used() -> None:
    """INV-READ-2 applies only in clean windows: after a timeout marks a node down it is silent."""
    cluster = start()
    a, b, c = cluster.preference_list(KEY)
    cluster = drain(cluster.crash(c).client_put("c1", a, KEY))
    cluster = cluster.tick_all(250)  # a's put deadline passes: a believes c down
    assert cluster.degraded
    cluster = drain(cluster.client_get("c2", b, KEY))
    broken = with_read_values(cluster, 2, ())
    assert check_read_your_writes_in_clean_windows(HistoryView(broken)) == []
    assert sometimes(broken).strict_quorum_reads_checked == 0


# ---------------------------------------------------------------- INV-HINT-1


def sloppy_then_handoff() -> Cluster:
    cluster = start()
    a, _, c = cluster.preference_list(KEY)
    cluster = drain(cluster.crash(c).client_put("c1", a, KEY)).tick_all(250)
    cluster = drain(cluster.client_put("c2", a, KEY))  # c is believed down: a fallback is hinted
    return cluster.quiesce()


def test_a_hint_handed_off_and_acknowledged_passes() -> None:
    """INV-HINT-1 and the sometimes-properties of a sloppy write followed by a handoff."""
    cluster = sloppy_then_handoff()
    assert cluster.counters.sloppy_writes >= 1 and cluster.counters.handoffs >= 1
    assert check_all(cluster) == []
    report = sometimes(cluster)
    assert {"sloppy_writes", "handoffs"} <= report.fired()


def test_a_hint_deleted_without_the_targets_ack_is_reported() -> None:
    """INV-HINT-1: drop the HandoffAck record and the DeleteHint stands unexplained."""
    cluster = sloppy_then_handoff()
    records = cluster.audit_records()
    deletion = next(
        r for r in records if isinstance(r, DurableRecord) and isinstance(r.write, DeleteHint)
    )
    without_ack = tuple(r for r in records if type(r).__name__ != "HandoffAckRecord")
    (found,) = check_hints(HistoryView(attrs.evolve(cluster, records=Log.of(without_ack))))
    assert found.invariant == "INV-HINT-1" and found.steps[-1] == deletion.step
    never_held = (r for r in records if r is deletion or type(r).__name__ == "HandoffAckRecord")
    (phantom,) = check_hints(HistoryView(attrs.evolve(cluster, records=Log.of(tuple(never_held)))))
    assert "did not hold" in phantom.message


# ---------------------------------------------------------------- node health, sometimes


def test_protocol_errors_are_violations() -> None:
    cluster = start()
    record = ProtocolErrorRecord(0, "n1", ProtocolError("n2", "versions of another mode"))
    broken = attrs.evolve(cluster, records=cluster.records.append(record))
    (found,) = check_node_health(HistoryView(broken))
    assert found.invariant == "PROTOCOL-ERROR" and "n1" in found.message


def test_concurrent_writes_are_counted_as_a_maximum_antichain() -> None:
    """Three blind puts are concurrent; a put that read them all is not concurrent with them."""
    cluster = start()
    a = cluster.preference_list(KEY)[0]
    for client in ("c1", "c2", "c3"):
        cluster = drain(cluster.client_put(client, a, KEY))
    cluster = drain(cluster.client_get("c1", a, KEY))
    assert op(cluster, 4).read_values == (b"c1:1", b"c2:1", b"c3:1")
    assert largest_concurrent_writes(HistoryView(cluster)) == 3
    cluster = drain(cluster.client_put("c1", a, KEY))
    assert largest_concurrent_writes(HistoryView(cluster)) == 3
    report = sometimes(cluster)
    assert report.largest_sibling_set == 3 and report.siblings_created == 1
    assert check_all(cluster.quiesce()) == []


def test_more_siblings_than_concurrent_writes_is_reported_by_the_white_box_form() -> None:
    """SIBLING-BOUND (the maximum-antichain form the demo still uses)."""
    cluster = put_read_cycle()
    assert check_sibling_bound(HistoryView(cluster)) == []
    broken = with_read_values(cluster, 4, (b"c1:1", b"c2:1"))
    (found,) = check_sibling_bound(HistoryView(broken))
    assert found.invariant == "SIBLING-BOUND" and "2 siblings" in found.message


def test_sometimes_reports_combine_and_name_what_never_fired() -> None:
    first = SometimesReport(siblings_created=1, largest_sibling_set=2)
    second = SometimesReport(handoffs=2, largest_sibling_set=3, largest_concurrent_writes=4)
    both = first.combine(second)
    assert both.siblings_created == 1 and both.handoffs == 2
    assert both.largest_sibling_set == 3 and both.largest_concurrent_writes == 4
    assert both.fired() == {"siblings_created", "handoffs"}
    assert "sloppy_writes" in both.never_fired()
