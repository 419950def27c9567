"""The cluster simulator: actions as values, the bag, faults, clients, quiesce, fingerprints."""

from __future__ import annotations

import pytest
from dynref.causality import Mode
from dynref.check import HistoryView, check_convergence
from dynref.messages import (
    ForwardPut,
    GetOk,
    PutOk,
    Replicate,
    ReplicateAck,
)
from dynref.sim import (
    Cluster,
    Crash,
    Deliver,
    DiskLossRecord,
    Get,
    InvalidActionError,
    NoReply,
    Put,
    TickAll,
    explorer_config,
    fingerprint,
)
from hypothesis import given
from hypothesis import strategies as st

KEY = b"k0"


def start(mode: Mode = Mode.DVV, nodes: int = 5) -> Cluster:
    return Cluster.start(explorer_config(mode, nodes=nodes))


def drain(cluster: Cluster) -> Cluster:
    while cluster.in_flight:
        for message_id in cluster.message_ids():
            cluster = cluster.deliver(message_id)
    return cluster


def test_an_action_returns_a_new_cluster_and_leaves_the_old_one_intact() -> None:
    before = start()
    after = before.client_put("c1", before.preference_list(KEY)[0], KEY)
    assert before.step == 0 and not before.in_flight and not before.operations
    assert after.step == 1 and len(after.in_flight) == 2
    assert after.trace_actions() == (Put("c1", before.preference_list(KEY)[0], KEY),)
    assert before.trace_actions() == ()


def test_a_put_through_a_preference_node_is_replicated_and_acknowledged() -> None:
    """REQ-COORD-3 through the simulator: W=2 acks answer the client with PutOk."""
    cluster = start()
    coordinator = cluster.preference_list(KEY)[0]
    cluster = cluster.client_put("c1", coordinator, KEY)
    kinds = {type(envelope.message) for envelope in cluster.in_flight.values()}
    assert kinds == {Replicate}
    cluster = drain(cluster)
    (op,) = cluster.history()
    assert op.value == b"c1:1" and op.result == PutOk()
    assert op.invoked == 0 and op.completed is not None and op.completed > 0
    assert not cluster.client_busy("c1")
    assert all(
        cluster.durable(node).data[KEY].values() == (b"c1:1",)
        for node in cluster.preference_list(KEY)
    )


def test_every_put_value_is_unique_and_writes_carry_the_clients_own_last_read() -> None:
    cluster = start()
    node = cluster.preference_list(KEY)[0]
    cluster = drain(cluster.client_put("c1", node, KEY))
    cluster = drain(cluster.client_get("c2", node, KEY))
    cluster = drain(cluster.client_put("c2", node, KEY))
    cluster = drain(cluster.client_put("c1", node, KEY))  # c1 never read: empty context
    put1, read, put2, put3 = cluster.history()
    assert [put1.value, put2.value, put3.value] == [b"c1:1", b"c2:1", b"c1:2"]
    assert isinstance(read.result, GetOk) and read.result.values == (b"c1:1",)
    assert put2.read_from == read.op_id and put2.context == read.result.context
    assert put3.read_from is None and put3.context == b""


def test_a_client_has_at_most_one_outstanding_operation() -> None:
    cluster = start()
    cluster = cluster.client_put("c1", cluster.preference_list(KEY)[0], KEY)
    assert cluster.client_busy("c1")
    with pytest.raises(InvalidActionError, match="already waits"):
        cluster.client_get("c1", "n1", KEY)


def test_actions_that_do_not_apply_are_refused() -> None:
    cluster = start()
    with pytest.raises(InvalidActionError):
        cluster.deliver(99)
    with pytest.raises(InvalidActionError):
        cluster.restart("n1")  # not crashed
    with pytest.raises(InvalidActionError):
        cluster.crash("n9")
    with pytest.raises(InvalidActionError):
        cluster.tick("n1", -1)
    with pytest.raises(InvalidActionError):
        cluster.client_get("nobody", "n1", KEY)


def test_drop_and_duplicate_change_only_the_bag() -> None:
    cluster = start().client_put("c1", "n1", KEY)
    first = cluster.message_ids()[0]
    doubled = cluster.duplicate(first)
    assert len(doubled.in_flight) == len(cluster.in_flight) + 1
    assert doubled.in_flight[doubled.message_ids()[-1]] == cluster.in_flight[first]
    dropped = cluster.drop(first)
    assert first not in dropped.in_flight
    assert dropped.counters.dropped == 1 and doubled.counters.duplicated == 1


def test_a_partition_drops_messages_on_delivery_both_ways_and_heals() -> None:
    cluster = start(nodes=3)
    a, b, c = cluster.preference_list(KEY)
    cluster = cluster.partition([[a], [b, c]])
    assert (a, b) in cluster.blocked and (b, a) in cluster.blocked and (b, c) not in cluster.blocked
    cluster = cluster.client_put("c1", a, KEY)
    cluster = drain(cluster)
    assert cluster.counters.lost_to_faults == 2 and cluster.counters.delivered == 0
    assert cluster.history()[0].result is None  # still waiting for acks
    assert not cluster.heal().blocked


def test_an_asymmetric_partition_blocks_one_direction_only() -> None:
    cluster = start(nodes=3)
    a, b, _ = cluster.preference_list(KEY)
    cluster = cluster.partition_directed([(b, a)])  # b's messages never reach a
    cluster = drain(cluster.client_put("c1", a, KEY))
    assert KEY in cluster.durable(b).data  # a reached b
    assert cluster.counters.lost_to_faults == 1  # b's ack did not come back
    third = cluster.preference_list(KEY)[2]
    assert cluster.history()[0].result == PutOk()  # the third node acked instead
    assert KEY in cluster.durable(third).data


def test_a_crash_loses_volatile_state_and_pending_requests_but_not_the_disk() -> None:
    cluster = start()
    coordinator = cluster.preference_list(KEY)[0]
    cluster = drain(cluster.client_put("c1", coordinator, KEY))
    cluster = cluster.client_put("c2", coordinator, KEY)  # in progress at the crash
    crashed = cluster.crash(coordinator)
    assert crashed.state(coordinator) is None and crashed.crashed_nodes() == (coordinator,)
    assert crashed.history()[-1].result == NoReply("the node crashed")
    assert crashed.counters.crashes_losing_requests == 1
    assert crashed.durable(coordinator).data == cluster.durable(coordinator).data
    delivered = drain(crashed)  # acks to the crashed coordinator are dropped on delivery
    assert delivered.counters.lost_to_faults >= 1
    restarted = delivered.restart(coordinator)
    state = restarted.state(coordinator)
    assert state is not None and state.durable.boots == 1 and not state.volatile.puts
    asked_down = crashed.client_get("c3", coordinator, KEY)
    assert asked_down.history()[-1].result == NoReply("the node is down")


def test_disk_loss_boots_a_fresh_incarnation_that_is_never_reused() -> None:
    """REQ-DUR-2 in the simulator: each disk loss moves the node to a new incarnation."""
    cluster = start()
    node = cluster.preference_list(KEY)[0]
    cluster = drain(cluster.client_put("c1", node, KEY))
    once = cluster.lose_disk(node)
    assert once.durable(node).incarnation == 1 and not once.durable(node).data
    twice = once.crash(node).lose_disk(node)
    assert twice.durable(node).incarnation == 2 and twice.state(node) is not None
    losses = [r for r in twice.audit_records() if isinstance(r, DiskLossRecord)]
    assert [r.incarnation for r in losses] == [1, 2]


def test_each_node_keeps_its_own_clock() -> None:
    cluster = start().tick("n1", 250).tick("n2", 50)
    assert cluster.clocks["n1"] == 250 and cluster.clocks["n2"] == 50 and cluster.clocks["n3"] == 0
    state = cluster.state("n1")
    assert state is not None and state.volatile.now == 250
    crashed = cluster.crash("n3").tick("n3", 100)
    assert crashed.clocks["n3"] == 100
    restarted = crashed.restart("n3").state("n3")
    assert restarted is not None and restarted.volatile.now == 100
    assert cluster.tick_all(10).clocks["n1"] == 260


def test_a_put_through_a_non_replica_is_forwarded_and_its_executions_recorded() -> None:
    cluster = start()
    outsider = next(n for n in cluster.node_ids() if n not in cluster.preference_list(KEY))
    cluster = cluster.client_put("c1", outsider, KEY)
    (envelope,) = cluster.in_flight.values()
    assert isinstance(envelope.message, ForwardPut)
    assert envelope.operation == 1
    cluster = drain(cluster)
    view = HistoryView(cluster)
    (execution,) = view.executions_of(cluster.history()[0])
    assert execution.node == cluster.preference_list(KEY)[0] and execution.applied
    assert cluster.history()[0].result == PutOk()


def test_quiesce_heals_restarts_and_reaches_the_fixed_point() -> None:
    """INV-CONV-1: after faults, quiesce converges every replica and leaves no hint."""
    cluster = start()
    a, b, c = cluster.preference_list(KEY)
    cluster = cluster.crash(c).partition([[b]])
    cluster = cluster.client_put("c1", a, KEY)
    for _ in range(4):
        cluster = drain(cluster).tick_all(100)
    final = cluster.quiesce()
    assert final.quiescence is not None and final.quiescence.converged
    assert final.settled() == () and not final.blocked and not final.crashed_nodes()
    assert all(final.durable(n).data[KEY].values() == (b"c1:1",) for n in (a, b, c))
    assert all(not final.durable(n).hints for n in final.node_ids())
    assert check_convergence(HistoryView(final)) == []


def test_quiesce_that_runs_out_of_rounds_is_a_liveness_violation() -> None:
    """INV-CONV-1: a replica that only anti-entropy can repair needs tick rounds; bound 0 fails."""
    cluster = start(nodes=3)
    a, _, c = cluster.preference_list(KEY)
    cluster = cluster.client_put("c1", a, KEY)
    to_c = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == c)
    cluster = drain(cluster.drop(to_c))
    stuck = cluster.quiesce(bound=0)
    assert stuck.quiescence is not None and not stuck.quiescence.converged
    violations = check_convergence(HistoryView(stuck))
    assert [v.invariant for v in violations] == ["INV-CONV-1"]
    assert any("differ" in value for _, value in violations[0].details)
    assert cluster.quiesce().quiescence.converged  # type: ignore[union-attr]


def test_the_same_actions_give_the_same_cluster() -> None:
    actions = [
        Put("c1", "n1", KEY),
        Deliver(0),
        Crash("n2"),
        TickAll(250),
        Get("c2", "n3", KEY),
    ]
    first = start().apply_all(actions).quiesce()
    second = start().apply_all(actions).quiesce()
    assert fingerprint(first) == fingerprint(second)
    assert first.history() == second.history()
    assert first.audit_records() == second.audit_records()
    assert first == second


def test_the_fingerprint_sees_the_bag_as_a_multiset() -> None:
    cluster = start().client_put("c1", "n1", KEY)
    first = cluster.message_ids()[0]
    renamed = cluster.duplicate(first).drop(first)  # the same message under a new id
    assert renamed.message_ids() != cluster.message_ids()
    assert fingerprint(renamed) == fingerprint(cluster)
    assert fingerprint(cluster.deliver(first)) != fingerprint(cluster)
    assert fingerprint(cluster.duplicate(first)) != fingerprint(cluster)
    assert fingerprint(cluster.partition([["n1"]])) != fingerprint(cluster)
    assert fingerprint(cluster.tick("n2", 1)) != fingerprint(cluster)


def test_stale_acks_from_before_a_restart_are_routed_but_change_nothing() -> None:
    """REQ-COORD-6 through the simulator: the bag keeps messages across crashes."""
    cluster = start()
    a = cluster.preference_list(KEY)[0]
    cluster = cluster.client_put("c1", a, KEY)
    for message_id in cluster.message_ids():
        cluster = cluster.deliver(message_id)
    acks = [
        i for i in cluster.message_ids() if isinstance(cluster.in_flight[i].message, ReplicateAck)
    ]
    cluster = cluster.crash(a).restart(a)
    for message_id in acks:
        cluster = cluster.deliver(message_id)
    assert cluster.counters.stray_replies == 0 and cluster.counters.protocol_errors == 0


OPERATIONS = st.sampled_from(("get", "put", "delete", "deliver", "drop", "tick", "crash", "heal"))


@given(st.lists(st.tuples(OPERATIONS, st.integers(0, 4)), max_size=25))
def test_replaying_any_program_gives_the_same_state(program: list[tuple[str, int]]) -> None:
    """REQ-NODE-4 for the whole cluster: no hidden randomness anywhere in the simulator."""
    cluster = start()
    for name, index in program:
        node = cluster.node_ids()[index]
        client = ("c1", "c2", "c3")[index % 3]
        if name in {"get", "put", "delete"} and not cluster.client_busy(client):
            cluster = getattr(cluster, f"client_{name}")(client, node, (b"k0", b"k1")[index % 2])
        elif name in {"deliver", "drop"} and cluster.in_flight:
            ids = cluster.message_ids()
            cluster = getattr(cluster, name)(ids[index % len(ids)])
        elif name == "tick":
            cluster = cluster.tick(node, 60 * index)
        elif name == "crash" and node in cluster.live_nodes():
            cluster = cluster.crash(node)
        elif name == "heal":
            cluster = cluster.partition([[node]]) if index % 2 else cluster.heal()
    again = start().apply_all(cluster.trace_actions())
    assert fingerprint(again) == fingerprint(cluster)
    assert again.history() == cluster.history()
