"""Joins and leaves in the simulator, the swarm and the checkers (SPEC section 12)."""

from __future__ import annotations

import attrs
import pytest
from dynref.causality import Mode
from dynref.check import check_all
from dynref.check.membership import check_membership
from dynref.check.view import HistoryView
from dynref.explore.diagram import text_diagram
from dynref.explore.swarm import SwarmSettings, run_seed
from dynref.liveness import forget_exited, mark_down
from dynref.membership import Status
from dynref.messages import (
    AdminOk,
    InvalidRequest,
    JoinCluster,
    LeaveCluster,
    Probe,
    ProbeAck,
    Receive,
    Send,
)
from dynref.node import step
from dynref.sim import (
    AdminRecord,
    Cluster,
    DropRecord,
    Join,
    Leave,
    explorer_config,
    from_jsonl,
    replay,
    to_jsonl,
    trace_of,
)
from dynref.state import Draft


def _loaded(mode: Mode = Mode.DVV) -> Cluster:
    cluster = Cluster.start(explorer_config(mode))
    for index in range(6):
        cluster = cluster.client_put("c1", f"n{index % 5 + 1}", b"k%d" % (index % 2))
        cluster = cluster.quiesce()
    return cluster


def _admin_results(cluster: Cluster) -> list[tuple[str, object]]:
    return [(r.node, r.result) for r in cluster.audit_records() if isinstance(r, AdminRecord)]


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_a_join_and_a_leave_under_load_keep_every_invariant(mode: Mode) -> None:
    """INV-MEMBER-1, INV-MEMBER-2, INV-MEMBER-3, INV-MEMBER-4: a spare node joins and a member
    leaves while clients write; at quiescence every checker passes, the members agree, and each
    key sits with exactly its owners."""
    cluster = _loaded(mode)
    cluster = cluster.join("n6", "n1").client_put("c2", "n2", b"k0").leave("n3")
    for message_id in cluster.message_ids()[:5]:
        cluster = cluster.deliver(message_id)
    cluster = cluster.client_put("c3", "n4", b"k1").quiesce()
    assert cluster.quiescence is not None and cluster.quiescence.converged
    assert check_all(cluster) == []
    assert _admin_results(cluster) == [("n6", AdminOk("joining")), ("n3", AdminOk("leaving"))]
    assert cluster.state("n6").membership.get("n6").status is Status.VALID  # type: ignore[union-attr]
    assert cluster.state("n3").membership.get("n3").status is Status.EXITING  # type: ignore[union-attr]
    assert "n6" in cluster.ring.node_ids() and "n3" not in cluster.ring.node_ids()
    assert any(isinstance(r, DropRecord) and r.covered_by for r in cluster.audit_records())


def test_refused_admin_requests_are_recorded_and_change_nothing() -> None:
    """REQ-MEMBER-9: a member asked to join, a join through an unknown seed, a leave that would
    leave fewer than N valid nodes: each answered InvalidRequest, the membership untouched."""
    cluster = Cluster.start(explorer_config(nodes=3))
    before = {node: cluster.state(node).membership for node in cluster.node_ids()}  # type: ignore[union-attr]
    cluster = cluster.join("n1", "n2").leave("n2").join("n9", "n9")
    results = _admin_results(cluster)
    assert [node for node, _ in results] == ["n1", "n2", "n9"]
    assert all(isinstance(result, InvalidRequest) for _, result in results)
    after = {node: cluster.state(node).membership for node in before}  # type: ignore[union-attr]
    assert after == before
    assert cluster.quiesce().quiescence.converged  # type: ignore[union-attr]


def test_a_trace_with_joins_and_leaves_replays_bit_for_bit() -> None:
    """REQ-MEMBER-3: Join and Leave are actions like the others: a trace with them round-trips
    through JSON lines, replays to the same cluster, and draws as a diagram."""
    cluster = _loaded().join("n6", "n2").leave("n1").quiesce()
    trace = trace_of(cluster, seed=None)
    again = from_jsonl(to_jsonl(trace))
    assert again.actions == trace.actions
    assert replay(again).nodes == cluster.nodes
    assert any(isinstance(action, Join) for action in again.actions)
    assert any(isinstance(action, Leave) for action in again.actions)
    drawn = text_diagram(trace)
    assert "join n6 via n2: AdminOk" in drawn and "leave n1: AdminOk" in drawn


def test_the_membership_checks_catch_disagreement_and_misplaced_keys() -> None:
    """INV-MEMBER-2, INV-MEMBER-3: a member holding an older membership, or a key held by a
    node outside its preference list, at quiescence, is reported."""
    cluster = _loaded().join("n6", "n1").quiesce()
    assert check_membership(HistoryView(cluster)) == []
    states = {node: cluster.state(node) for node in cluster.node_ids()}
    joined = states["n6"]
    assert joined is not None
    entry = joined.membership.get("n6")
    assert entry is not None
    older = joined.membership.with_entry(attrs.evolve(entry, status=Status.JOINING, version=1))
    key, versions = next(
        (key, versions)
        for state in states.values()
        if state is not None
        for key, versions in state.durable.data.items()
    )
    outsider = next(n for n in cluster.node_ids() if n not in cluster.ring.preference_list(key, 3))
    lagging, stray = states["n2"], states[outsider]
    assert lagging is not None and stray is not None
    lagging = attrs.evolve(lagging, membership=older)
    data = stray.durable.data.set(key, versions)
    stray = attrs.evolve(stray, durable=attrs.evolve(stray.durable, data=data))
    broken = attrs.evolve(cluster, nodes=cluster.nodes.set("n2", lagging).set(outsider, stray))
    found = {v.invariant for v in check_membership(HistoryView(broken))}
    assert found == {"INV-MEMBER-2", "INV-MEMBER-3"}


def test_a_drop_no_other_node_covers_is_reported() -> None:
    """INV-MEMBER-4: a DropRecord without a covering node is a violation."""
    cluster = _loaded()
    record = DropRecord(cluster.step, "n1", b"k0", ())
    broken = attrs.evolve(cluster, records=cluster.records.append(record))
    assert [v.invariant for v in check_membership(HistoryView(broken))] == ["INV-MEMBER-4"]


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_swarm_seeds_with_joins_and_leaves_pass(mode: Mode) -> None:
    """INV-MEMBER-1..4: seeded swarm runs drawing a join and a leave among faults pass every
    checker; without the option a seed draws the schedule it always drew."""
    settings = SwarmSettings(mode=mode, membership=True, schedule_steps=250)
    joined = left = 0
    for seed in range(12):
        outcome = run_seed(seed, settings)
        assert not outcome.violations, (seed, outcome.violations[:2])
        assert outcome.trace is not None
        joined += any(isinstance(a, Join) for a in outcome.trace.actions)
        left += any(isinstance(a, Leave) for a in outcome.trace.actions)
    assert joined >= 6 and left >= 6
    plain = run_seed(0, SwarmSettings(mode=mode, schedule_steps=250))
    assert plain.trace is not None
    assert not any(isinstance(a, Join | Leave) for a in plain.trace.actions)


def test_admin_requests_are_not_client_operations() -> None:
    """REQ-MEMBER-3: an admin answer completes no client operation and is no stray reply."""
    cluster = Cluster.start(explorer_config()).join("n6", "n1")
    assert cluster.counters.stray_replies == 0 and not cluster.history()
    assert isinstance(
        next(r.request for r in cluster.audit_records() if isinstance(r, AdminRecord)),
        JoinCluster,
    )
    assert not isinstance(LeaveCluster(0), JoinCluster)


def test_a_seed_that_lost_its_disk_relearns_a_joined_member_without_protocol_errors() -> None:
    """REQ-MEMBER-6: the Hypothesis machine's program (a join through n1, then n1 loses its
    disk): n1 forgot n6 with its store, so n6's messages come from a peer it does not know;
    they are refused and counted, not protocol errors, until n6's gossip reintroduces it, and
    every checker passes at quiescence."""
    cluster = Cluster.start(explorer_config(Mode.DVV)).join("n6", "n1").quiesce()
    cluster = cluster.lose_disk("n1").quiesce()
    assert cluster.quiescence is not None and cluster.quiescence.converged
    assert check_all(cluster) == []
    n1 = cluster.state("n1")
    assert n1 is not None and n1.membership.get("n6") is not None


def test_custody_passes_to_the_owners_a_dropped_key_was_handed_to() -> None:
    """INV-ACK-2 with a join (the Hypothesis machine's program): a delete acknowledged by three
    owners, then n4 joins and n2 drops the key once the new owners acknowledged it; n1, n3 and
    n4 lose their disks. n2 kept its disk but had handed custody on with the key: the write is
    gone with the last custodians, and the checkers must not blame the cluster for it."""
    config = explorer_config(Mode.LWW, nodes=3)
    cluster = Cluster.start(config, ("c1",)).join("n4", "n1")
    cluster = cluster.client_delete("c1", "n1", b"k1").quiesce()
    assert any(
        isinstance(r, DropRecord) and r.key == b"k1" and r.covered_by
        for r in cluster.audit_records()
    )
    for node in ("n1", "n3", "n4"):
        cluster = cluster.lose_disk(node)
    assert check_all(cluster.quiesce()) == []


def test_a_member_that_exited_is_never_believed_down() -> None:
    """REQ-FD-2: once a node knows a member exited, a timeout never marks it down, and a belief
    held from before is forgotten: the exited node's process stops, and the belief would stay
    (and keep the node probing it) for good."""
    cluster = _loaded().leave("n3").quiesce()
    state = cluster.state("n1")
    assert state is not None and state.membership.get("n3").status is Status.EXITING  # type: ignore[union-attr]
    draft = Draft(state)
    mark_down(draft, ["n3", "n2"])
    assert draft.down == frozenset({"n2"})
    draft.down = frozenset({"n3", "n4"})
    forget_exited(draft)
    assert draft.down == frozenset({"n4"})


def test_a_leave_ends_when_anti_entropy_is_as_frequent_as_the_handoff() -> None:
    """REQ-AE-4, INV-MEMBER-2: a leaving node hands on and drops more keys than one transfer
    round holds while its fellow owners run anti-entropy with it every handoff interval. It used
    to take each dropped key straight back from their repairs and never exit."""
    config = explorer_config(
        nodes=4, handoff_interval=200, antientropy_interval=200, probe_interval=200,
        gossip_interval=200, transfer_batch=16,
    )  # fmt: skip
    cluster = Cluster.start(config, ("c1",))
    for index in range(200):
        cluster = cluster.client_put("c1", f"n{index % 4 + 1}", b"key%d" % index).quiesce()
    cluster = cluster.leave("n1").quiesce()
    assert cluster.quiescence is not None and cluster.quiescence.converged, cluster.quiescence
    leaver = cluster.state("n1")
    assert leaver is not None and leaver.membership.get("n1").status is Status.EXITING  # type: ignore[union-attr]
    assert not leaver.durable.data
    assert check_all(cluster) == []


def test_a_probe_from_a_node_no_member_knows_is_answered() -> None:
    """REQ-FD-3: liveness moves no data, so a probe is answered whoever sends it; a node every
    member forgot with their disks would otherwise believe them down for good."""
    state = Cluster.start(explorer_config()).state("n1")
    assert state is not None and not state.membership.is_member("n9")
    answered = step(state, Receive("n9", Probe(7)))
    assert answered.effects == (Send("n9", ProbeAck(7)),)


def test_a_drop_trusting_an_acknowledgement_from_a_disk_since_lost_is_no_violation() -> None:
    """INV-MEMBER-4 (dvv seed 1548, joins, leaves, disk losses): leaving n4 dropped a key once
    the future owners acknowledged it; they lost their disks after acknowledging, so no node
    covered the drop. The acknowledgement was true when sent: the drop names the custodians
    that lost their disks, and the checker leaves the loss to INV-ACK-2."""
    outcome = run_seed(1548, SwarmSettings(mode=Mode.DVV, disk_loss=True, membership=True))
    assert "INV-MEMBER-4" not in {v.invariant for v in outcome.violations}
    assert outcome.trace is not None
    cluster = replay(outcome.trace)
    drops = [r for r in cluster.audit_records() if isinstance(r, DropRecord)]
    assert any(not r.covered_by and r.lost_with for r in drops)
