"""The degraded phase: after a swarm run has settled, one replica goes down and comes back.

Random schedules seldom produce the two situations this phase stages, so a seed stages them
once it has quiesced (the cluster settled, nobody believed down):

1. availability (INV-AVAIL-1): node X goes down (a crash, or a partition cutting it off); a
   client writes twice through A, another node of a key whose preference list holds X, on a
   healthy network: every message delivered before any clock moves. Between the writes A's
   clock passes the first write's deadline, so A has timed out against X once, and the second
   write must be acknowledged (sloppy quorum: a substitute stores a hint for X). The phase feeds
   every transition to an `AvailabilityMonitor`, which judges it. With W below N the first
   write needs no substitute either; the property bites with W = N.
2. custody through handoff (INV-ACK-2, runs with disk loss only): X comes back, the substitute
   hands its hint to X and deletes it on X's acknowledgement, and then every other node holding
   the key loses its disk. X's acknowledgement made it the write's one remaining custodian: the
   write must survive on X alone. (In a random schedule anti-entropy soon repairs an owner that
   acknowledged a handoff, so a write whose only custodian is that owner is rare.)

The key is a fresh one (`DEGRADED_KEYS`), so the staged writes carry empty contexts and touch
none of the workload's keys; the disk losses of part 2 do reach the workload's keys. They could
take the last custodian of a write the liveness phase had already found lost, and so excuse
it: the verdict therefore also judges that quiescence as the end of its own History, and
lost writes there by INV-ACK-2's custody (`judge.Midway`). Every
choice comes from the seed; the phase's actions join the trace, so a replay repeats them.
"""

from __future__ import annotations

import attrs

from dynref.check.availability import AvailabilityMonitor
from dynref.explore.draws import Dice
from dynref.membership import IN_CURRENT_RING
from dynref.sim import (
    Action,
    Cluster,
    Crash,
    Deliver,
    Heal,
    LoseDisk,
    Partition,
    Put,
    RestartNode,
    TickNode,
)

DEGRADED_KEYS = tuple(f"d{index}".encode() for index in range(16))
"""Keys only this phase writes; among 16, every node is in some key's preference list."""
MAX_DRAIN_ROUNDS = 100


@attrs.frozen
class DegradedReport:
    """What the phase did, for the tests and the summary (None fields: not reached)."""

    down: str
    how: str
    """"crash" or "isolate"."""
    coordinator: str
    key: bytes
    first_write: str
    """The result type of the write before the timeout (QuorumNotReached with W = N)."""
    second_write: str
    writes_judged: int
    """Owed writes the monitor judged (INV-AVAIL-1)."""
    handed_off_by: str | None = None
    disks_lost: tuple[str, ...] = ()


def degraded_phase(
    cluster: Cluster, seed: int, *, disk_loss: bool
) -> tuple[Cluster, AvailabilityMonitor, DegradedReport | None]:
    """Run the phase on a cluster that just quiesced; skipped (the cluster returned as it is)
    unless it converged, a substitute exists (N below the node count) and a client is idle."""
    monitor = AvailabilityMonitor()
    quiescence = cluster.quiescence
    idle = [client for client in cluster.clients if not cluster.client_busy(client)]
    # After joins and leaves, only the current ring's members (exited nodes hold no key), and
    # only those that count themselves in it: after disk losses the others may have forgotten a
    # change that the node itself remembers (it left, say), and it would forward, not coordinate.
    members = set(cluster.ring.node_ids())
    candidates = [
        node for node in cluster.node_ids() if node in members and _in_own_ring(cluster, node)
    ]
    if (
        quiescence is None
        or not quiescence.converged
        or len(candidates) <= cluster.config.n
        or not idle
    ):
        return cluster, monitor, None
    dice = Dice("swarm-degraded", seed)
    run = _Run(cluster, monitor)
    down = dice.pick(candidates)
    key = dice.pick([k for k in DEGRADED_KEYS if down in cluster.preference_list(k)])
    coordinators = [n for n in cluster.preference_list(key) if n != down and n in candidates]
    if not coordinators:
        return cluster, monitor, None
    coordinator = dice.pick(coordinators)
    client = dice.pick(idle)
    how = dice.pick(("crash", "isolate"))
    run.apply(Crash(down) if how == "crash" else Partition(((down,),)))
    run.apply(Put(client, coordinator, key))
    first = run.cluster.history()[-1].op_id
    run.drain()
    run.apply(TickNode(coordinator, cluster.config.request_timeout))
    run.drain()
    if run.cluster.client_busy(client):
        # The coordinator did not answer by its request timeout: it forwarded the put, so its
        # view of the ring is not the one the phase assumed. The phase's premise does not hold.
        monitor.finish(run.cluster)
        return run.cluster, monitor, None
    run.apply(Put(client, coordinator, key))
    second = run.cluster.history()[-1].op_id
    run.drain()
    report = DegradedReport(
        down,
        how,
        coordinator,
        key,
        _result(run.cluster, first),
        _result(run.cluster, second),
        0,
    )
    if disk_loss:
        report = _custody(run, report)
    monitor.finish(run.cluster)
    return run.cluster, monitor, attrs.evolve(report, writes_judged=monitor.writes_judged)


def _in_own_ring(cluster: Cluster, node: str) -> bool:
    state = cluster.state(node)
    entry = None if state is None else state.membership.get(node)
    return entry is not None and entry.status in IN_CURRENT_RING


def _custody(run: _Run, report: DegradedReport) -> DegradedReport:
    """Part 2: X back, the hint handed to it, then every other holder of the key loses its disk."""
    down, key = report.down, report.key
    run.apply(RestartNode(down) if report.how == "crash" else Heal())
    holder = next(
        (
            node
            for node in run.cluster.node_ids()
            if key in run.cluster.durable(node).hints.get(down, {})
        ),
        None,
    )
    if holder is None:
        return report
    run.apply(TickNode(holder, run.cluster.config.handoff_interval))
    run.drain()
    if key in run.cluster.durable(holder).hints.get(down, {}):
        return attrs.evolve(report, handed_off_by=None)
    victims = tuple(
        node
        for node in run.cluster.node_ids()
        if node != down and _holds_key(run.cluster, node, key)
    )
    for node in victims:
        run.apply(LoseDisk(node))
    run.drain()
    return attrs.evolve(report, handed_off_by=holder, disks_lost=victims)


def _holds_key(cluster: Cluster, node: str, key: bytes) -> bool:
    durable = cluster.durable(node)
    return key in durable.data or any(key in held for held in durable.hints.values())


def _result(cluster: Cluster, op_id: int) -> str:
    result = cluster.operations[op_id].result
    return "pending" if result is None else type(result).__name__


class _Run:
    """The phase's cluster, each action also shown to the monitor."""

    def __init__(self, cluster: Cluster, monitor: AvailabilityMonitor) -> None:
        self.cluster = cluster
        self.monitor = monitor

    def apply(self, action: Action) -> None:
        after = self.cluster.apply(action)
        self.monitor.observe(self.cluster, action, after)
        self.cluster = after

    def drain(self) -> None:
        """Deliver every message in flight, oldest first, and what that sends, until none is
        (a message to a node down or cut off is lost on delivery)."""
        for _ in range(MAX_DRAIN_ROUNDS):
            if not self.cluster.in_flight:
                return
            for message_id in self.cluster.message_ids():
                self.apply(Deliver(message_id))
