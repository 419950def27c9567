"""Checker false alarms the swarm found, pinned as regression tests.

A checker that cries wolf is as harmful as one that stays silent: CI suites stop trusting it.
Each scenario below is a swarm counterexample (5 nodes, N=3 R=2 W=2) that was reported as a
violation although the node had done nothing wrong; each failed before its fix.

The scenarios are stated by their meaning, not by the seed's message ids: the client
operations, the faults, the clock moves, and the messages that matter, picked by type and
endpoints (`tests.scenario`); the rest of the traffic is whatever the protocol sends, delivered
by the closing quiesce. A new message field or an extra message in the protocol leaves them
valid. Each test first asserts that the situation which raised the alarm arose (the put ran
twice, the ack came from a disk since lost, ...), then that no checker reports anything.

The three lww scenarios were found before REQ-LWW-1, when a write could lose at its own
coordinator; a coordinator now stamps a write above what it holds, so that part of their story
cannot happen any more, and a forwarder no longer retries at a second node (REQ-COORD-2). Their
tests say what happens now.
"""

from __future__ import annotations

from dynref.causality import Mode
from dynref.check import HistoryView, check_all, format_violations
from dynref.messages import (
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    Handoff,
    Replicate,
    ReplicateAck,
)
from dynref.sim import Cluster, HandoffAckRecord, explorer_config
from dynref.sim.history import NoReply, OperationKind, Unavailable

from tests.scenario import deliver, deliver_all, drain, drop_all, duplicate, matching

K0, K1 = b"k0", b"k1"  # preference lists: k0 n2, n5, n4; k1 n4, n3, n5


def start(mode: Mode, clients: tuple[str, ...] = ("c1", "c2", "c3")) -> Cluster:
    cluster = Cluster.start(explorer_config(mode), clients)
    assert cluster.preference_list(K0) == ("n2", "n5", "n4")
    assert cluster.preference_list(K1) == ("n4", "n3", "n5")
    return cluster


def no_violations(cluster: Cluster) -> None:
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)


# dvv seed 1627 of `dynref explore --disk-loss`. c3's put of c3:1 through n1 is forwarded to n2
# and acknowledged; c3 reads it back through n4 and deletes with that read's context through
# n3, which forwards the delete to n2 and then loses its disk before any answer. The forward
# still lands: n2 applies the tombstone, which had seen c3:1. The simulator used to forget which
# client operation a node's in-flight forwards carried when that node lost its disk, so the
# delete's execution was credited to no operation, and INV-ACK-2 reported c3:1 as lost although
# a write that had seen it replaced it.
def test_a_forward_in_flight_keeps_its_operation_through_its_senders_disk_loss() -> None:
    """INV-ACK-2: the write that had seen c3:1 superseded it; nothing was lost."""
    cluster = drain(start(Mode.DVV).client_put("c3", "n1", K0))
    put = cluster.history()[0]
    assert put.value == b"c3:1" and put.acknowledged
    cluster = drain(cluster.client_get("c3", "n4", K0))
    assert cluster.history()[1].read_values == (b"c3:1",)
    cluster = cluster.client_delete("c3", "n3", K0)
    cluster = cluster.lose_disk("n3").quiesce()  # the forward to n2 was still in flight
    view = HistoryView(cluster)
    delete = next(op for op in cluster.history() if op.kind is OperationKind.DELETE)
    assert isinstance(delete.result, NoReply)  # its node lost its disk
    (execution,) = view.executions_of(delete)  # credited to the delete, though n3 forgot it
    assert execution.node == "n2" and execution.applied
    assert view.superseded_by(b"c3:1", execution.step)
    assert b"c3:1" not in view.final_versions(K0).values()
    no_violations(cluster)


# lww seed 4505. c3's first put (c3:1) goes through n2, which forwards it to n4 and crashes: n4
# stores c3:1 and replicates it to n3 and n5, but those copies are still on their way. c3's
# second put (c3:2) goes through n1, which forwards it to n4 too: n4 stores c3:2, but its
# Replicates are lost to the crashes of n3 and n5, so n4 cannot answer. n1's forward times out.
# n1 used to retry with n3, which ran c3:2 again under an actor of its own (and, before
# REQ-LWW-1, outranked it by c3:1 at once, so ACK-QUORUM reported an acknowledgement held by one
# node). A second run is a second version no context that saw the first covers: the real
# cluster's demo showed a superseded value coming back that way. Now n1 answers `Unavailable`
# (outcome unknown) and never forwards the put elsewhere (REQ-COORD-2).
def test_a_forward_that_times_out_is_answered_unavailable_and_never_run_at_a_second_node() -> None:
    """REQ-COORD-2, INV-ACK-1: the forwarder gives up on the silent node without a second run;
    the put ran once, at n4, and no checker reports anything."""
    cluster = start(Mode.LWW).client_put("c3", "n2", K1)
    cluster = deliver(cluster, ForwardPut, sender="n2", receiver="n4").crash("n2")
    cluster = cluster.client_put("c3", "n1", K1).crash("n3").crash("n5")
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n4")
    cluster = deliver_all(cluster, Replicate, sender="n4", carrying=b"c3:2")  # lost
    cluster = cluster.tick("n1", cluster.config.forward_timeout)
    assert not matching(cluster, ForwardPut, sender="n1")  # no second coordinator
    second = cluster.history()[1]
    assert second.value == b"c3:2" and isinstance(second.result, Unavailable)
    cluster = cluster.restart("n2").restart("n3").restart("n5").quiesce()
    view = HistoryView(cluster)
    assert [e.node for e in view.executions_of(second)] == ["n4"]
    no_violations(cluster)


# dvv seed 4777 of `dynref explore --disk-loss` (clients c1 and c2). c2's put of c2:1 through n2
# times out (its Replicates are lost), so n2 believes n4 and n5 down. c2's put of c2:2 through
# n1 is forwarded to n2, which stores it and replicates it as hints to n1 (for n4) and n3 (for
# n5); n3 acknowledges, so n2 acknowledges the put. Then n3 and n2 lose their disks, n1 hands
# its hint to n4, and n4 stores it, sends its HandoffAck and loses its disk before the ack
# arrives. n1 then deletes its hint, as it must: the ack was true when sent, and nothing tells
# n1 that its sender's disk is gone. Every copy has been lost to a disk loss, which INV-ACK-2
# allows; the checker used to hand n1's custody to n4 regardless, and reported the write lost.
def test_custody_does_not_pass_to_an_owner_that_lost_the_disk_it_acknowledged_from() -> None:
    """INV-ACK-2, INV-HINT-1: the hint is deleted after the owner's ack, and the write is gone
    with the owner's disk: no violation, because no custodian kept its disk."""
    cluster = start(Mode.DVV, ("c1", "c2")).client_put("c2", "n2", K0)
    cluster = drop_all(cluster, Replicate, sender="n2")
    cluster = cluster.tick("n2", cluster.config.request_timeout)  # n4 and n5 believed down
    cluster = cluster.client_put("c2", "n1", K0)
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n2")
    cluster = deliver(cluster, Replicate, sender="n2", receiver="n1")  # hint for n4
    cluster = deliver(cluster, Replicate, sender="n2", receiver="n3")  # hint for n5
    cluster = deliver(cluster, ReplicateAck, sender="n3", receiver="n2")  # W reached
    cluster = cluster.lose_disk("n3").lose_disk("n2")
    cluster = cluster.tick("n1", cluster.config.handoff_interval)
    cluster = deliver(cluster, Handoff, sender="n1", receiver="n4", key=K0)
    cluster = cluster.lose_disk("n4").quiesce()  # n4's HandoffAck was on its way
    put = cluster.history()[1]
    assert put.value == b"c2:2" and put.acknowledged
    assert cluster.durable("n1").hints.get("n4", {}).get(K0) is None  # deleted on the ack
    ack = next(r for r in cluster.audit_records() if isinstance(r, HandoffAckRecord))
    assert (ack.node, ack.sender) == ("n1", "n4")
    assert any(
        loss.node == "n4" and loss.step < ack.step for loss in HistoryView(cluster).disk_losses
    )
    for node in cluster.node_ids():
        held = cluster.durable(node).data.get(K0)
        assert held is None or b"c2:2" not in held.values()
    assert not any(cluster.durable(node).hints for node in cluster.node_ids())
    no_violations(cluster)


def _put_run_twice_then_read(cluster: Cluster, put_value: bytes, other_value: bytes) -> None:
    """The story both schedules below tell since REQ-LWW-1: the put runs twice at n2 (the
    duplicate after n2 restarted), before the read completes, and the read after the ack returns
    it. Before, the first execution lost at once to `other_value`, which the read returned."""
    view = HistoryView(cluster)
    put = next(op for op in cluster.history() if op.value == put_value)
    read = next(op for op in cluster.history() if op.kind is OperationKind.GET)
    assert put.acknowledged and put.completed is not None
    assert read.invoked > put.completed and read.read_values == (put_value,)
    assert other_value != put_value
    first, second = view.executions_of(put)
    assert first.node == second.node == "n2"
    assert first.applied and first.step < put.completed
    assert second.applied and second.timestamp > first.timestamp
    assert read.completed is not None and second.step < read.completed


# lww seed 26359 (clients c1 to c3). c1's put of c1:1 through n3 is forwarded to n2, and the
# forward is duplicated; c2's put of c2:1 through n2 is stored there (its Replicates are lost).
# n2 runs the first copy of c1's forward, replicates to n5 and acknowledges c1's put. c1 then
# reads through n5, and n2 answers. n2's clock moves on, it crashes and restarts (so it forgets
# the forward), and the duplicate runs again at time 20. Before REQ-LWW-1 the first copy ran at
# time 0 and lost at once to c2:1 (a lower rank), the read returned c2:1, correctly, and
# INV-READ-2 measured it against the put's lowest *applied* execution, the duplicate's, which
# came after the read had started: a false alarm. Now n2 stamps c1:1 above c2:1 and the read
# returns c1:1.
def test_an_lww_put_outranked_at_once_is_answered_by_the_version_that_outranked_it() -> None:
    """INV-READ-2 (lww): a read after the ack, while a duplicate of the put is applied again,
    is judged against the executions up to the acknowledgement."""
    cluster = start(Mode.LWW).client_put("c1", "n3", K0).client_put("c2", "n2", K0)
    cluster = drop_all(cluster, Replicate, sender="n2")
    cluster = duplicate(cluster, ForwardPut, sender="n3", receiver="n2")
    cluster = deliver(cluster, ForwardPut, sender="n3", receiver="n2")  # runs at n2
    cluster = deliver(cluster, Replicate, sender="n2", receiver="n5")
    cluster = deliver(cluster, ReplicateAck, sender="n5", receiver="n2")
    cluster = deliver(cluster, ForwardReply, sender="n2", receiver="n3")  # c1's put acked
    cluster = cluster.client_get("c1", "n5", K0).tick("n2", 20)
    cluster = deliver(cluster, Fetch, sender="n5", receiver="n2")
    cluster = cluster.crash("n2").restart("n2")
    cluster = deliver(cluster, ForwardPut, sender="n3", receiver="n2")  # the duplicate, at 20
    cluster = deliver(cluster, FetchReply, sender="n2", receiver="n5").quiesce()
    _put_run_twice_then_read(cluster, b"c1:1", b"c2:1")
    no_violations(cluster)


# lww seed 34900 (clients c1 and c2): the same story through other nodes. c2:1 is stored by n4
# and n2; c2's next put, c2:2, is forwarded by n1 to n2 (duplicated on the way), runs there and
# is acknowledged. n2's clock moves on and it crashes; c2 reads through n4 (n2's answer is lost
# to the crash); n2 restarts, the duplicate runs there again at time 35, and n5 answers the
# read. Before REQ-LWW-1 c2:2 lost at n2 to c2:1 (equal times, actor n4#0 above n2#0), the read
# returned c2:1, and INV-READ-2 raised the same false alarm.
def test_an_lww_put_outranked_by_an_earlier_actor_is_answered_by_that_version() -> None:
    """INV-READ-2 (lww): the same through other nodes, the old tie broken by actor."""
    cluster = start(Mode.LWW, ("c1", "c2")).client_put("c2", "n4", K0)
    cluster = deliver(cluster, Replicate, sender="n4", receiver="n2")
    cluster = deliver(cluster, ReplicateAck, sender="n2", receiver="n4")  # c2:1 acked
    cluster = cluster.client_put("c2", "n1", K0)
    cluster = duplicate(cluster, ForwardPut, sender="n1", receiver="n2")
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n2")  # runs at n2
    cluster = deliver(cluster, Replicate, sender="n2", receiver="n5")
    cluster = deliver(cluster, ReplicateAck, sender="n5", receiver="n2")
    cluster = deliver(cluster, ForwardReply, sender="n2", receiver="n1")  # c2:2 acked
    cluster = cluster.tick("n2", 35).crash("n2").client_get("c2", "n4", K0)
    cluster = deliver(cluster, Fetch, sender="n4", receiver="n2").restart("n2")  # lost
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n2")  # the duplicate, at 35
    cluster = deliver(cluster, Fetch, sender="n4", receiver="n5")
    cluster = deliver(cluster, FetchReply, sender="n5", receiver="n4").quiesce()
    _put_run_twice_then_read(cluster, b"c2:2", b"c2:1")
    no_violations(cluster)
