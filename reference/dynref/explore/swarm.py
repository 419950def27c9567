"""Seeded swarm runs: one seed, one fault profile, one workload, one schedule, one verdict.

`run_seed(seed, settings)` is a pure function of its inputs:

1. draw the seed's profile (`draw_profile`): message loss and duplication rates, partition
   frequency and shapes (symmetric splits, an isolated node, one-way links), crash and restart
   rates, each node's clock drift, optionally disk loss; and a workload: two or three clients on
   one or two keys, with their own get/put/delete mix (a put carries the context of its client's
   last read, so stale contexts arise by themselves);
2. the safety phase: `settings.schedule_steps` actions, each drawn from what is enabled
   (something happens to an in-flight message, a client issues a request, a node's clock ticks,
   a partition starts or heals, a node crashes, restarts or loses its disk, and with
   `settings.membership` a spare node joins through a seed or a member leaves, once each);
3. the liveness phase: `Cluster.quiesce`, which turns faults off and must reach the fixed point
   within `settings.quiesce_bound` tick rounds (else INV-CONV-1);
4. the degraded phase (`dynref.explore.degraded`, unless `settings.degraded_phase` is off): one
   replica down on an otherwise healthy network (INV-AVAIL-1), and with disk loss, a write left
   in the custody of the owner its hint was handed to (INV-ACK-2); then a second quiesce;
5. the black-box checks over the run's History and the white-box extras (`judge`), INV-AVAIL-1
   as the phase's monitor judged it among the extras, and the
   sometimes-property counts.

The outcome carries the trace (`dynref.sim.Trace`), which replays bit for bit.
"""

from __future__ import annotations

import attrs

from dynref.causality import Mode
from dynref.check import Report, SometimesReport, Violation
from dynref.config import ClusterConfig
from dynref.explore.degraded import DegradedReport, degraded_phase
from dynref.explore.draws import Dice
from dynref.explore.judge import Check, Midway, judge, judged_midway
from dynref.explore.profile import MESSAGE_WEIGHT, SwarmProfile, draw_profile
from dynref.explore.shrink import ShrinkResult, shrink
from dynref.membership import Status
from dynref.sim import (
    DEFAULT_QUIESCE_BOUND,
    Action,
    Cluster,
    Crash,
    Delete,
    Deliver,
    Drop,
    Duplicate,
    Get,
    Heal,
    Join,
    Leave,
    LoseDisk,
    Partition,
    PartitionDirected,
    Put,
    RestartNode,
    TickNode,
    Trace,
    explorer_config,
    trace_of,
)

DEFAULT_SCHEDULE_STEPS = 400
"""Actions in the safety phase: long enough for timeouts, hints, handoffs and anti-entropy to
happen under faults, short enough that 300 seeds per mode fit the CI budget (docs/benchmarks)."""


@attrs.frozen
class SwarmSettings:
    mode: Mode = Mode.DVV
    nodes: int = 5
    n: int = 3
    r: int = 2
    w: int = 2
    schedule_steps: int = DEFAULT_SCHEDULE_STEPS
    quiesce_bound: int = DEFAULT_QUIESCE_BOUND
    disk_loss: bool = False
    degraded_phase: bool = True
    checks: tuple[Check, ...] = ()
    """Extra checks beside `dynref.check`'s (module-level functions, so workers can import
    them)."""
    membership: bool = False
    """Draw `Join` (a spare node, `n<nodes+1>`) and `Leave` actions too, at most one of each."""

    def config(self) -> ClusterConfig:
        return explorer_config(self.mode, self.nodes, self.n, self.r, self.w)


@attrs.frozen
class SeedOutcome:
    seed: int
    mode: Mode
    profile: SwarmProfile
    violations: tuple[Violation, ...]
    """Every violation: the black-box checks' first, then the white-box extras'."""
    events: int
    """Actions executed, the liveness phase's included."""
    delivered: int
    """Messages delivered to a live node across an open link."""
    schedule_length: int
    """How many of the trace's actions belong to the safety phase (what a shrinker shrinks)."""
    sometimes: SometimesReport
    degraded: DegradedReport | None
    """What the degraded phase did; None when it was off or skipped."""
    trace: Trace | None
    """The run, replayable; None only when the caller asked not to keep passing runs."""
    report: Report | None = None
    """The black-box checks' report on the run's History."""

    @property
    def black_box_invariants(self) -> tuple[str, ...]:
        """The invariants the black-box checks found violated."""
        violations = self.report.violations if self.report is not None else ()
        return tuple(dict.fromkeys(v.invariant for v in violations))

    @property
    def largest_sibling_set(self) -> int:
        return self.sometimes.largest_sibling_set

    @property
    def largest_concurrent_writes(self) -> int:
        return self.sometimes.largest_concurrent_writes

    @property
    def invariants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.invariant for v in self.violations))


def run_seed(
    seed: int, settings: SwarmSettings = SwarmSettings(), *, keep_trace: bool = True
) -> SeedOutcome:
    """Run one seed through both phases and judge it (see the module docstring)."""
    cluster, profile = run_schedule(seed, settings)
    schedule_length = cluster.step
    cluster = cluster.quiesce(settings.quiesce_bound)
    midway = Midway()
    report = None
    if settings.degraded_phase:
        quiesced = cluster
        cluster, monitor, report = degraded_phase(cluster, seed, disk_loss=settings.disk_loss)
        if report is not None:
            cluster = cluster.quiesce(settings.quiesce_bound)
            judged = judged_midway(cluster.trace_actions(), quiesced.step - 1)
            midway = Midway(tuple(monitor.violations), (quiesced,) if judged else ())
    verdict = judge(cluster, settings.checks, midway=midway)
    keep = keep_trace or bool(verdict.violations)
    trace = trace_of(cluster, seed, verdict.invariants) if keep else None
    return SeedOutcome(
        seed=seed,
        mode=settings.mode,
        profile=profile,
        violations=verdict.violations,
        events=cluster.step,
        delivered=cluster.counters.delivered,
        schedule_length=schedule_length,
        sometimes=verdict.sometimes,
        degraded=report,
        trace=trace,
        report=verdict.report,
    )


def run_schedule(seed: int, settings: SwarmSettings) -> tuple[Cluster, SwarmProfile]:
    """The safety phase alone: the cluster after `settings.schedule_steps` drawn actions."""
    config = settings.config()
    node_ids = tuple(sorted(spec.node_id for spec in config.nodes))
    profile = draw_profile(seed, node_ids, disk_loss=settings.disk_loss)
    cluster = Cluster.start(config, profile.workload.clients)
    dice = Dice("swarm-schedule", seed)
    for _ in range(settings.schedule_steps):
        cluster = cluster.apply(next_action(cluster, profile, dice, membership=settings.membership))
    return cluster, profile


MEMBERSHIP_WEIGHT = 1
"""The weight of a join, and of a leave, among a step's choices while each is still possible."""


def next_action(
    cluster: Cluster, profile: SwarmProfile, dice: Dice, *, membership: bool = False
) -> Action:
    """Draw one enabled action; a tick is always enabled, so there always is one.

    Without `membership` the join and leave choices weigh nothing, so a seed draws the very
    schedule it drew before they existed.
    """
    faults, workload = profile.faults, profile.workload
    idle = [client for client in cluster.clients if not cluster.client_busy(client)]
    live = cluster.live_nodes()
    crashed = cluster.crashed_nodes()
    choices = [
        ("message", MESSAGE_WEIGHT if cluster.in_flight else 0),
        ("request", workload.request_weight if idle else 0),
        ("tick", faults.tick_weight),
        ("partition", faults.partition_weight if not cluster.blocked else 0),
        ("heal", faults.heal_weight if cluster.blocked else 0),
        ("crash", faults.crash_weight if len(crashed) < (len(live) + len(crashed) - 1) // 2 else 0),
        ("restart", faults.restart_weight if crashed else 0),
        ("disk loss", faults.disk_loss_weight),
        ("join", MEMBERSHIP_WEIGHT if membership and _spare(cluster) not in cluster.nodes else 0),
        ("leave", MEMBERSHIP_WEIGHT if membership and _leavers(cluster) else 0),
    ]
    kind = dice.weighted(choices)
    nodes = cluster.node_ids()
    if kind == "message":
        message_id = dice.pick(cluster.message_ids())
        if dice.chance(faults.loss_per_mille):
            return Drop(message_id)
        if dice.chance(faults.duplicate_per_mille):
            return Duplicate(message_id)
        return Deliver(message_id)
    if kind == "request":
        client, node, key = dice.pick(idle), dice.pick(nodes), dice.pick(workload.keys)
        mix: list[tuple[type[Get | Put | Delete], int]] = [
            (Get, workload.get_weight),
            (Put, workload.put_weight),
            (Delete, workload.delete_weight),
        ]
        operation = dice.weighted(mix)
        return operation(client, node, key)
    if kind == "partition":
        return _partition(dice, profile, nodes)
    if kind == "heal":
        return Heal()
    if kind == "crash":
        return Crash(dice.pick(live))
    if kind == "restart":
        return RestartNode(dice.pick(crashed))
    if kind == "disk loss":
        return LoseDisk(dice.pick(tuple(n for n in nodes if not decommissioned(cluster, n))))
    if kind == "join":
        return Join(_spare(cluster), dice.pick(cluster.config.seed_ids()))
    if kind == "leave":
        return Leave(dice.pick(_leavers(cluster)))
    node = dice.pick(nodes)
    return TickNode(node, faults.tick_of(node))


def decommissioned(cluster: Cluster, node: str) -> bool:
    """The node left the cluster (exiting in its own view): its process is stopped for good, so
    its disk is never lost and it never comes back without it (it would come back as a member
    of the static configuration that nobody gossips with)."""
    entry = cluster.durable_membership(node).get(node)
    return entry is not None and entry.status is Status.EXITING


def _spare(cluster: Cluster) -> str:
    return f"n{len(cluster.config.nodes) + 1}"


def _leavers(cluster: Cluster) -> tuple[str, ...]:
    """Live valid members that may leave: none once some node left or is leaving."""
    candidates = []
    for node in cluster.node_ids():
        entry = cluster.durable_membership(node).get(node)
        if entry is None:
            continue
        if entry.status in (Status.LEAVING, Status.EXITING):
            return ()
        if entry.status is Status.VALID and cluster.state(node) is not None:
            candidates.append(node)
    return tuple(candidates)


def _partition(dice: Dice, profile: SwarmProfile, nodes: tuple[str, ...]) -> Action:
    shape = dice.pick(profile.faults.partition_shapes)
    chosen = dice.pick(nodes)
    others = tuple(node for node in nodes if node != chosen)
    if shape == "isolate":
        return Partition(((chosen,),))
    if shape == "one-way":
        if dice.chance(500):
            return PartitionDirected(tuple((chosen, other) for other in others))
        return PartitionDirected(tuple((other, chosen) for other in others))
    side = (chosen, *dice.subset(others, 500))
    return Partition((tuple(sorted(side)),))


def shrink_outcome(
    outcome: SeedOutcome, invariant: str | None = None, settings: SwarmSettings | None = None
) -> ShrinkResult:
    """Shrink a failing seed's schedule for one of its violated invariants (the first one by
    default), keeping the liveness phase's bound of `settings`."""
    if outcome.trace is None or not outcome.violations:
        raise ValueError(f"seed {outcome.seed} has no failing trace to shrink")
    wanted = invariant or outcome.violations[0].invariant
    named = [v for v in outcome.violations if v.invariant == wanted]
    steps = [s for v in named for s in v.steps if s < outcome.schedule_length]
    trace = outcome.trace
    return shrink(
        trace.config,
        trace.clients,
        trace.actions[: outcome.schedule_length],
        wanted,
        last_step=max(steps) if steps else None,
        quiesce_bound=(settings or SwarmSettings()).quiesce_bound,
        checks=(settings or SwarmSettings()).checks,
    )
