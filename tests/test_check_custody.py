"""INV-ACK-2's custody through hinted handoff: the owner's HandoffAck is a promise the checker
holds it to, whatever its store records show.

The story (5 nodes, N=3 R=2 W=2; k0's preference list is n2, n5, n4): n4 is down; c1 writes
c1:1 through n2, whose deadline marks n4 down, then c1:2, which n2 replicates to n5 and, as a
hint for n4, to a substitute. n4 comes back, the substitute hands it the hint, n4 acknowledges
and the substitute deletes its hint. Then n2 and n5 lose their disks: n4's acknowledgement left
it the only node that durably acknowledged c1:2 and kept its disk, so c1:2 must survive there.
"""

from __future__ import annotations

import pytest
from dynref import handoff
from dynref.causality import Mode
from dynref.check import HistoryView, check_all, format_violations
from dynref.check.custody import kept_by_a_surviving_disk
from dynref.explore.judge import Midway, judge, midway_of
from dynref.messages import Handoff, HandoffAck
from dynref.sim import Cluster, Crash, LoseDisk, Put, RestartNode, TickNode, explorer_config

from tests.scenario import deliver, drain

KEY = b"k0"
OWNER = "n4"


def handed_off_then_other_disks_lost(mode: Mode) -> Cluster:
    cluster = Cluster.start(explorer_config(mode), ("c1",)).quiesce()
    assert cluster.preference_list(KEY) == ("n2", "n5", "n4")
    config = cluster.config
    cluster = cluster.apply_all([Crash(OWNER), Put("c1", "n2", KEY)])
    cluster = drain(cluster).apply(TickNode("n2", config.request_timeout))
    cluster = drain(cluster).apply(Put("c1", "n2", KEY))
    cluster = drain(cluster).apply(RestartNode(OWNER))
    (holder,) = (n for n in cluster.node_ids() if KEY in cluster.durable(n).hints.get(OWNER, {}))
    cluster = cluster.apply(TickNode(holder, config.handoff_interval))
    cluster = deliver(cluster, Handoff, sender=holder, receiver=OWNER, key=KEY)
    cluster = deliver(cluster, HandoffAck, sender=OWNER, receiver=holder, key=KEY)
    assert KEY not in cluster.durable(holder).hints.get(OWNER, {})  # deleted on the ack
    return cluster.apply_all([LoseDisk("n2"), LoseDisk("n5")]).quiesce()


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_the_owner_that_acknowledged_a_handoff_keeps_the_write(mode: Mode) -> None:
    """INV-ACK-2: the owner stored what it acknowledged, and the write survives there alone."""
    cluster = handed_off_then_other_disks_lost(mode)
    second = cluster.history()[1]
    assert second.value == b"c1:2" and second.acknowledged
    assert b"c1:2" in cluster.durable(OWNER).data[KEY].values()
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_an_owner_that_acknowledges_a_handoff_without_storing_it_loses_the_write(
    mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INV-ACK-2: the owner's acknowledgement made it the write's custodian; it kept its disk,
    so the loss is a violation, although no store record of the owner ever held the write."""
    monkeypatch.setattr(handoff, "merge_into_store", lambda node, key, versions, out: False)
    cluster = handed_off_then_other_disks_lost(mode)
    second = cluster.history()[1]
    assert second.acknowledged
    view = HistoryView(cluster)
    assert kept_by_a_surviving_disk(view, second)
    invariants = [v.invariant for v in check_all(cluster)]
    assert "INV-ACK-2" in invariants, invariants


def test_a_loss_shown_at_a_quiescence_stays_a_violation_after_later_disk_losses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """INV-ACK-2 asks for survival *while* a custodian keeps its disk: the lying owner's loss
    was there at a quiescence, and the owner losing its disk afterwards does not excuse it.
    The final state alone no longer shows it, so `judge` also judges lost writes at each
    converged quiescence a disk loss followed (replaying the run to it when needed)."""
    monkeypatch.setattr(handoff, "merge_into_store", lambda node, key, versions, out: False)
    shown = handed_off_then_other_disks_lost(Mode.DVV)
    cluster = shown.apply(LoseDisk(OWNER)).quiesce()
    assert "INV-ACK-2" not in [v.invariant for v in check_all(cluster)]  # excused at the end
    midway = midway_of(cluster)
    assert shown.step in [c.step for c in midway.quiesced]  # and the empty start's
    assert "INV-ACK-2" in judge(cluster).invariants
    assert judge(cluster, midway=Midway()).invariants == ()
