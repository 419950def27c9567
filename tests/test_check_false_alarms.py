"""Checker false alarms the swarm found, pinned as regression tests.

A checker that cries wolf is as harmful as one that stays silent: CI suites stop trusting it.
Each schedule below is a swarm counterexample (5 nodes, N=3 R=2 W=2, clients c1 to c3) that was
reported as a violation although the node had done nothing wrong; each failed before its fix.
"""

from __future__ import annotations

from dynref.causality import Mode
from dynref.check import HistoryView, check_all, format_violations
from dynref.sim import (
    Action,
    Cluster,
    Crash,
    Delete,
    Deliver,
    Duplicate,
    Get,
    LoseDisk,
    Put,
    RestartNode,
    TickNode,
    explorer_config,
)
from dynref.sim.history import OperationKind

CLIENTS = ("c1", "c2", "c3")


def run(mode: Mode, schedule: tuple[Action, ...]) -> Cluster:
    return Cluster.start(explorer_config(mode), CLIENTS).apply_all(schedule).quiesce()


# dvv seed 1627 of `dynref explore --disk-loss`. c3 puts c3:1 through n1, which forwards it to
# n2; it is acknowledged. c3 reads it back through n4 and deletes with that read's context
# through n3, which forwards the delete to n2 and then loses its disk before any answer. The
# forward still lands: n2 applies the tombstone, which had seen c3:1. The simulator used to
# forget which client operation a node's in-flight forwards carried when that node lost its
# disk, so the delete's execution was credited to no operation, and INV-ACK-2 reported c3:1 as
# lost although a write that had seen it replaced it.
DELETE_FORWARDED_BEFORE_A_DISK_LOSS: tuple[Action, ...] = (
    Put("c3", "n1", b"k0"),
    Deliver(0),
    Deliver(2),
    Deliver(3),
    Deliver(4),
    Get("c3", "n4", b"k0"),
    Deliver(5),
    Deliver(7),
    Delete("c3", "n3", b"k0"),
    LoseDisk("n3"),
)


def test_a_forward_in_flight_keeps_its_operation_through_its_senders_disk_loss() -> None:
    """INV-ACK-2: the write that had seen c3:1 superseded it; nothing was lost."""
    cluster = run(Mode.DVV, DELETE_FORWARDED_BEFORE_A_DISK_LOSS)
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
    view = HistoryView(cluster)
    delete = next(op for op in cluster.history() if op.kind is OperationKind.DELETE)
    assert delete.completed is None or not delete.acknowledged  # its node lost its disk
    (execution,) = view.executions_of(delete)
    assert execution.node == "n2" and execution.applied
    assert view.superseded_by(b"c3:1", execution.step)


# Found before REQ-LWW-1, when a write could lose at its own coordinator; kept as a
# regression input (the tests say what happens now).
# lww seed 4505. c3's first put (c3:1) goes through n2, which forwards it to n4 and crashes. The
# second (c3:2) goes through n1, which forwards it to n4 too: n4 stores c3:2 (its clock is ahead
# of c3:1's timestamp) but its Replicates are lost to crashes, so n4 cannot answer. n1 retries
# with n3, whose clock is behind: n3's version of c3:2 loses at once to the c3:1 it now holds,
# it replicates c3:1 to W nodes and acknowledges. An lww write outranked at its coordinator is
# legitimately overwritten, and n3 and n5 hold a version that outranks it. ACK-QUORUM used to
# measure holders against the put's applied executions only (n4's, the highest), and so reported
# an acknowledgement held by one node.
RETRIED_LWW_PUT_OUTRANKED_AT_ITS_SECOND_COORDINATOR: tuple[Action, ...] = (
    Put("c3", "n2", b"k1"),
    Deliver(0),
    Crash("n2"),
    Put("c3", "n1", b"k1"),
    TickNode("n1", 81),
    Crash("n3"),
    Crash("n5"),
    Deliver(3),
    Deliver(5),
    Deliver(4),
    TickNode("n1", 81),
    TickNode("n1", 81),
    TickNode("n1", 81),
    TickNode("n1", 81),
    RestartNode("n2"),
    RestartNode("n3"),
    RestartNode("n5"),
)


def test_an_lww_put_outranked_at_its_acknowledging_coordinator_is_held_by_its_successors() -> None:
    """ACK-QUORUM, INV-ACK-1: holders of a version that outranks an execution hold the write."""
    cluster = run(Mode.LWW, RETRIED_LWW_PUT_OUTRANKED_AT_ITS_SECOND_COORDINATOR)
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
    view = HistoryView(cluster)
    second = cluster.history()[1]
    assert second.value == b"c3:2" and second.acknowledged
    applied = {e.node: e.applied for e in view.executions_of(second)}
    # Since REQ-LWW-1, n3 stamps c3:2 above the c3:1 it holds: no execution loses any more.
    assert applied == {"n4": True, "n3": True}


# dvv seed 4777 of `dynref explore --disk-loss` (clients c1 and c2). c2's put of c2:2 through n1
# is forwarded to n2, which stores it and replicates it as hints to n1 (for n4) and n3 (for n5).
# n3 acknowledges, so n2 acknowledges the put. Then n3 and n2 lose their disks, n1 hands its
# hint to n4, and n4 stores it, sends its HandoffAck and loses its disk before the ack arrives.
# n1 then deletes its hint, as it must: the ack was true when sent, and nothing tells n1 that its
# sender's disk is gone. Every copy has been lost to a disk loss, which INV-ACK-2 allows; the
# checker used to hand n1's custody to n4 regardless, and reported the write lost.
HANDOFF_ACK_FROM_A_LOST_DISK: tuple[Action, ...] = (
    TickNode("n1", 86),
    TickNode("n1", 86),
    Put("c2", "n2", b"k0"),
    TickNode("n1", 86),
    TickNode("n2", 77),
    TickNode("n1", 86),
    TickNode("n2", 77),
    TickNode("n1", 86),
    TickNode("n1", 86),
    TickNode("n2", 77),
    Put("c2", "n1", b"k0"),
    Deliver(6),
    Deliver(8),
    Deliver(7),
    Deliver(10),
    LoseDisk("n3"),
    TickNode("n1", 86),
    LoseDisk("n2"),
    TickNode("n1", 86),
    Deliver(12),
    LoseDisk("n4"),
)


def test_custody_does_not_pass_to_an_owner_that_lost_the_disk_it_acknowledged_from() -> None:
    """INV-ACK-2, INV-HINT-1: the hint is deleted after the owner's ack, and the write is gone
    with the owner's disk: no violation, because no custodian kept its disk."""
    cluster = Cluster.start(explorer_config(Mode.DVV), ("c1", "c2"))
    cluster = cluster.apply_all(HANDOFF_ACK_FROM_A_LOST_DISK).quiesce()
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
    put = cluster.history()[1]
    assert put.value == b"c2:2" and put.acknowledged
    for node in cluster.node_ids():
        held = cluster.durable(node).data.get(b"k0")
        assert held is None or b"c2:2" not in held.values()
    assert not any(cluster.durable(node).hints for node in cluster.node_ids())


# Found before REQ-LWW-1, when a write could lose at its own coordinator; kept as a
# regression input (the tests say what happens now).
# lww seed 26359 (clients c1 to c3; k0's preference list is n2, n5, n4). c2 puts c2:1 through
# n2, which stores it at time 0. c1's put of c1:1 through n3 is forwarded to n2, and the forward
# is duplicated. n2 runs the first copy at time 0 too: the rank (time, actor, value) of c1:1 is
# below c2:1's, so c1:1 loses at once, as last-write-wins wants; n2 replicates c2:1 to n5 and
# acknowledges c1's put on those copies. c1 then reads c2:1, which outranks its put: correct.
# After a crash and restart, n2 runs the duplicate at time 20, where c1:1 wins. INV-READ-2 used
# to measure the read against the put's lowest *applied* execution, the one after the read had
# started, and so reported a read that could not have seen it.
LWW_PUT_OUTRANKED_THEN_REAPPLIED_BY_A_DUPLICATE: tuple[Action, ...] = (
    Put("c1", "n3", b"k0"),
    Put("c2", "n2", b"k0"),
    Duplicate(0),
    Deliver(0),
    Deliver(4),
    Deliver(6),
    Deliver(7),
    Get("c1", "n5", b"k0"),
    TickNode("n2", 20),
    Deliver(8),
    Crash("n2"),
    RestartNode("n2"),
)

# Found before REQ-LWW-1, when a write could lose at its own coordinator; kept as a
# regression input (the tests say what happens now).
# lww seed 34900 (clients c1 and c2): the same story through other nodes. c2:1 is stored by n4
# and n2 at time 0; c2's next put, c2:2, is forwarded by n1 to n2 (duplicated on the way), loses
# there to c2:1 (equal times, actor n4#0 above n2#0) and is acknowledged on c2:1's copies; c2's
# read returns c2:1; the duplicate later runs at n2 at time 35 and wins.
LWW_PUT_OUTRANKED_BY_AN_EARLIER_ACTOR_THEN_REAPPLIED: tuple[Action, ...] = (
    Put("c2", "n4", b"k0"),
    Deliver(0),
    Deliver(2),
    Put("c2", "n1", b"k0"),
    Duplicate(3),
    Deliver(3),
    Deliver(5),
    Deliver(7),
    Deliver(8),
    TickNode("n2", 35),
    Crash("n2"),
    Get("c2", "n4", b"k0"),
    Deliver(9),
    RestartNode("n2"),
)


def _outranked_put_then_read(cluster: Cluster, put_value: bytes, read_value: bytes) -> None:
    """Check the story both schedules tell since REQ-LWW-1: the put, run twice at n2, wins both
    times (n2 stamps it above the version it holds), and the read after the ack returns it.
    Before, the first execution lost at once and the read returned `read_value`."""
    view = HistoryView(cluster)
    put = next(op for op in cluster.history() if op.value == put_value)
    read = next(op for op in cluster.history() if op.kind is OperationKind.GET)
    assert put.acknowledged and put.completed is not None
    assert read.invoked > put.completed and read.read_values == (put_value,)
    assert read_value != put_value
    first, second = view.executions_of(put)
    assert first.node == second.node == "n2"
    assert first.applied and first.step < put.completed
    assert second.applied and second.timestamp > first.timestamp


def test_an_lww_put_outranked_at_once_is_answered_by_the_version_that_outranked_it() -> None:
    """INV-READ-2 (lww): a read after the ack may return the version that outranked the put,
    even when a duplicate of the put is applied later."""
    cluster = Cluster.start(explorer_config(Mode.LWW), CLIENTS)
    cluster = cluster.apply_all(LWW_PUT_OUTRANKED_THEN_REAPPLIED_BY_A_DUPLICATE).quiesce()
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
    _outranked_put_then_read(cluster, b"c1:1", b"c2:1")


def test_an_lww_put_outranked_by_an_earlier_actor_is_answered_by_that_version() -> None:
    """INV-READ-2 (lww): the same with the tie broken by actor rather than value."""
    cluster = Cluster.start(explorer_config(Mode.LWW), ("c1", "c2"))
    cluster = cluster.apply_all(LWW_PUT_OUTRANKED_BY_AN_EARLIER_ACTOR_THEN_REAPPLIED).quiesce()
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
    _outranked_put_then_read(cluster, b"c2:2", b"c2:1")
