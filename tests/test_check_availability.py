"""INV-AVAIL-1: with one node down and the network otherwise healthy, a coordinator that timed
out against it once routes its next writes around it (sloppy quorum), and they are
acknowledged. The monitor judges it from a run's transitions (`AvailabilityMonitor`) or by
replaying a finished run (`check_availability`); both must agree."""

from __future__ import annotations

import pytest
from dynref import coordinator
from dynref.causality import Mode
from dynref.check import format_violations
from dynref.check.availability import AvailabilityMonitor, check_availability
from dynref.messages import PutOk, QuorumNotReached, Replicate, StoreHint
from dynref.sim import (
    Action,
    Cluster,
    Crash,
    Deliver,
    DurableRecord,
    Partition,
    Put,
    TickNode,
    explorer_config,
)

from tests.scenario import matching

KEY = b"k0"  # preference list n2, n5, n4 in the explorer's 5-node ring
DOWN, COORDINATOR = "n4", "n2"


class Run:
    """A run fed to the monitor action by action, as the explorer's degraded phase does."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.monitor = AvailabilityMonitor()

    def apply(self, action: Action) -> Run:
        after = self.cluster.apply(action)
        self.monitor.observe(self.cluster, action, after)
        self.cluster = after
        return self

    def drain(self) -> Run:
        while self.cluster.in_flight:
            for mid in self.cluster.message_ids():
                self.apply(Deliver(mid))
        return self

    def finish(self) -> Run:
        self.monitor.finish(self.cluster)
        return self


def settled(w: int = 3) -> Cluster:
    cluster = Cluster.start(explorer_config(Mode.DVV, w=w), ("c1", "c2")).quiesce()
    assert cluster.quiescence is not None and cluster.quiescence.converged
    assert cluster.preference_list(KEY) == ("n2", "n5", "n4")
    return cluster


def one_replica_down(take_down: Action, w: int = 3) -> Run:
    """n4 goes down; c1 writes k0 through n2, n2's deadline passes, c1 writes k0 again."""
    run = Run(settled(w)).apply(take_down)
    run.apply(Put("c1", COORDINATOR, KEY)).drain()
    run.apply(TickNode(COORDINATOR, run.cluster.config.request_timeout)).drain()
    run.apply(Put("c1", COORDINATOR, KEY)).drain()
    return run.finish()


TAKE_DOWNS = [Crash(DOWN), Partition(((DOWN,),))]


@pytest.mark.parametrize("take_down", TAKE_DOWNS, ids=["crash", "isolate"])
def test_a_coordinator_routes_around_the_replica_it_timed_out_against(take_down: Action) -> None:
    """INV-AVAIL-1: with W = N = 3 the first write cannot reach W (n4 is silent); once n2 timed
    out against n4 the second write goes to a substitute with a hint and is acknowledged."""
    run = one_replica_down(take_down)
    first, second = run.cluster.history()
    assert isinstance(first.result, QuorumNotReached) and first.result.seen == 2
    assert isinstance(second.result, PutOk)
    hinted = [
        r.node
        for r in run.cluster.audit_records()
        if isinstance(r, DurableRecord) and isinstance(r.write, StoreHint)
    ]
    assert hinted and DOWN not in hinted
    assert run.monitor.windows_opened == 1 and run.monitor.writes_judged == 1
    assert run.monitor.violations == []
    assert check_availability(run.cluster) == []


@pytest.mark.parametrize("take_down", TAKE_DOWNS, ids=["crash", "isolate"])
def test_a_timeout_that_marks_nobody_down_violates_availability(
    take_down: Action, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INV-AVAIL-1: a coordinator whose deadlines never mark the silent replica down keeps
    sending it the write, and the write after the timeout fails: the monitor reports it, and
    so does the replay of the finished run."""
    monkeypatch.setattr(coordinator, "mark_down", lambda node, peers: None)
    run = one_replica_down(take_down)
    second = run.cluster.history()[1]
    assert not second.acknowledged
    assert [v.invariant for v in run.monitor.violations] == ["INV-AVAIL-1"]
    assert str(second.op_id) in run.monitor.violations[0].message
    replayed = check_availability(run.cluster)
    assert replayed == run.monitor.violations, format_violations(replayed)


def test_with_w_below_n_the_first_write_needs_no_substitute_either() -> None:
    """INV-AVAIL-1 is judged with W = 2 too, but there both writes reach W without n4."""
    run = one_replica_down(Crash(DOWN), w=2)
    assert all(op.acknowledged for op in run.cluster.history())
    assert run.monitor.writes_judged == 1 and run.monitor.violations == []


def test_a_late_network_ends_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-AVAIL-1 presumes a healthy network: a clock that moves while a message between live
    nodes is still in flight ends the window, and nothing after it is judged."""
    monkeypatch.setattr(coordinator, "mark_down", lambda node, peers: None)
    run = Run(settled()).apply(Crash(DOWN))
    run.apply(Put("c1", COORDINATOR, KEY)).drain()
    run.apply(TickNode(COORDINATOR, run.cluster.config.request_timeout)).drain()
    run.apply(Put("c1", COORDINATOR, KEY))
    assert matching(run.cluster, Replicate, receiver="n5")
    run.apply(TickNode(COORDINATOR, 1))  # the replicate to n5 is late
    run.drain().finish()
    assert run.monitor.window is None and run.monitor.writes_judged == 0
    assert run.monitor.violations == [] and check_availability(run.cluster) == []


def test_a_window_opens_only_on_a_settled_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-AVAIL-1 judges nothing unless the node went down right after a converged quiesce."""
    monkeypatch.setattr(coordinator, "mark_down", lambda node, peers: None)
    start = Cluster.start(explorer_config(Mode.DVV, w=3), ("c1", "c2"))
    run = Run(start).apply(Crash(DOWN))
    run.apply(Put("c1", COORDINATOR, KEY)).drain()
    run.apply(TickNode(COORDINATOR, run.cluster.config.request_timeout)).drain()
    run.apply(Put("c1", COORDINATOR, KEY)).drain().finish()
    assert not run.cluster.history()[1].acknowledged
    assert run.monitor.windows_opened == 0 and run.monitor.violations == []


def test_a_write_before_the_timeout_is_not_owed(monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-AVAIL-1 owes nothing before the coordinator's first timeout against the node down:
    until then it cannot know, and with W = N the write fails."""
    monkeypatch.setattr(coordinator, "mark_down", lambda node, peers: None)
    run = Run(settled()).apply(Crash(DOWN))
    run.apply(Put("c1", COORDINATOR, KEY)).drain()
    run.apply(Put("c2", COORDINATOR, KEY)).drain().finish()
    assert not any(op.acknowledged for op in run.cluster.history())
    assert run.monitor.writes_judged == 0 and run.monitor.violations == []
