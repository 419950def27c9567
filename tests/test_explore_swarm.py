"""The seeded swarm engine (issue 4, part 3): per-seed fault profiles, a liveness phase, every
checker, and the shrinker.

The CI budget: 300 seeds per mode for dvv and lww, which must keep every invariant (the
black-box INV-ACK-1, INV-READ-1, INV-ORDER-1, SIBLING-BOUND, INV-CONV-1 over each run's
History, and the white-box extras INV-CONV-1, INV-READ-2, INV-HINT-1, ACK-QUORUM, no
ProtocolError). Across those seeds every sometimes-property must fire at least once.
vclock must lose an acknowledged write (INV-ACK-1) within 2,000 seeds; the failure is shrunk and
the shrunk schedule pinned below.
"""

from __future__ import annotations

import functools

import pytest
from dynref.causality import VCLOCK_MAX_ENTRIES, Mode, VclockSiblings
from dynref.check import SOMETIMES_PROPERTIES, SometimesReport, check_all, format_violations
from dynref.check.availability import check_availability
from dynref.explore.draws import Dice
from dynref.explore.judge import judge
from dynref.explore.profile import draw_profile
from dynref.explore.shrink import (
    ddmin,
    message_names,
    remove_one_at_a_time,
    replay_schedule,
    shrink,
)
from dynref.explore.swarm import SeedOutcome, SwarmSettings, run_seed, shrink_outcome
from dynref.messages import StoreVersions
from dynref.sim import (
    Action,
    Cluster,
    Crash,
    Deliver,
    DurableRecord,
    LoseDisk,
    Partition,
    Put,
    QuiesceEnd,
    explorer_config,
    fingerprint,
    from_jsonl,
    replay,
    to_jsonl,
)

CI_SEEDS = range(300)
VCLOCK_SEED_BUDGET = 2000


@functools.cache
def ci_outcomes(mode: Mode) -> tuple[SeedOutcome, ...]:
    settings = SwarmSettings(mode=mode)
    return tuple(run_seed(seed, settings, keep_trace=False) for seed in CI_SEEDS)


def failures(outcomes: tuple[SeedOutcome, ...]) -> str:
    lines = []
    for outcome in outcomes:
        if outcome.violations:
            lines.append(f"seed {outcome.seed}: {outcome.profile.describe()}")
            lines.append(format_violations(outcome.violations))
    return "\n".join(lines)


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_ci_seeds_keep_every_invariant(mode: Mode) -> None:
    """INV-ACK-1, INV-CONV-1, INV-READ-1, INV-READ-2, INV-HINT-1, INV-ORDER-1: 300 seeds, zero
    violations."""
    outcomes = ci_outcomes(mode)
    assert len(outcomes) == 300
    assert not any(outcome.violations for outcome in outcomes), failures(outcomes)
    assert sum(outcome.delivered for outcome in outcomes) > 300 * 50
    for outcome in outcomes:  # judged, not skipped: every run ends with its final reads
        assert outcome.report is not None
        skipped = {result.check for result in outcome.report.skipped}
        assert skipped == {"INV-READ-2"} | ({"SIBLING-BOUND"} if mode is Mode.LWW else set())


def test_every_sometimes_property_fired_across_the_ci_seeds() -> None:
    """Siblings, sloppy writes, handoffs, read repair, anti-entropy repair and a crash losing
    volatile state each happened at least once: the runs above were not vacuous."""
    total = SometimesReport()
    for mode in (Mode.DVV, Mode.LWW):
        for outcome in ci_outcomes(mode):
            total = total.combine(outcome.sometimes)
    assert total.never_fired(SOMETIMES_PROPERTIES) == (), total
    assert total.strict_quorum_reads_checked > 0


def test_dvv_siblings_never_outnumber_truly_concurrent_writes() -> None:
    """DESIGN.md: in dvv a read returns at most as many siblings as there were truly concurrent
    writes to the key (SIBLING-BOUND); the swarm makes sibling sets of two or more."""
    outcomes = ci_outcomes(Mode.DVV)
    assert max(o.largest_sibling_set for o in outcomes) >= 2
    for outcome in outcomes:
        largest, bound = outcome.largest_sibling_set, outcome.largest_concurrent_writes
        assert largest <= bound, f"seed {outcome.seed}: {largest} siblings, {bound} concurrent"


def first_vclock_lost_update() -> SeedOutcome:
    settings = SwarmSettings(mode=Mode.VCLOCK)
    for seed in range(VCLOCK_SEED_BUDGET):
        outcome = run_seed(seed, settings, keep_trace=False)
        if "INV-ACK-1" in outcome.invariants:
            return run_seed(seed, settings)
    raise AssertionError(f"no INV-ACK-1 within {VCLOCK_SEED_BUDGET} vclock seeds")


def test_vclock_lost_update_is_found_and_shrunk() -> None:
    """INV-ACK-1: the swarm finds vclock's lost acknowledged write and shrinks it to a few
    actions that still lose it on replay."""
    outcome = first_vclock_lost_update()
    assert outcome.seed < VCLOCK_SEED_BUDGET
    result = shrink_outcome(outcome, "INV-ACK-1")
    assert len(result.schedule) <= 6, result.schedule
    assert len(result.schedule) < outcome.schedule_length
    invariants = [v.invariant for v in check_all(result.cluster)]
    assert "INV-ACK-1" in invariants
    puts = [action for action in result.schedule if isinstance(action, Put)]
    assert len(puts) >= 2


# The swarm's shrunk counterexample (seed 0 of the vclock CI seeds, 400 actions shrunk to 2; the
# liveness phase does the rest). 5 nodes; k1's preference list is n4, n3, n5. c3 puts c3:1
# through n4 and c2 puts c2:1 through n2, which is no replica and forwards it to n4; both carry
# the empty context of clients that never read. The liveness phase delivers in id order: n4
# replicates c3:1 to n3 and n5, then writes c2:1 with the same clock {n4#0: 1}, which replaces
# c3:1 at n4. n3 and n5 merge c2:1 into c3:1: equal counters, and the tie-break keeps c3:1, yet
# they acknowledge, so c2's put is acknowledged (W=2) while only n4 holds it. Anti-entropy then
# carries c3:1 back to n4: the acknowledged c2:1 is gone, and no write had seen it.
SWARM_LOST_UPDATE: tuple[Action, ...] = (
    Put("c3", "n4", b"k1"),
    Put("c2", "n2", b"k1"),
)
SWARM_CLIENTS = ("c1", "c2", "c3")


def run_pinned(mode: Mode) -> Cluster:
    cluster = Cluster.start(explorer_config(mode), SWARM_CLIENTS)
    return cluster.apply_all(SWARM_LOST_UPDATE).quiesce()


def test_pinned_swarm_lost_update_loses_an_acknowledged_write() -> None:
    """INV-ACK-1, INV-CAUS-3: the shrunk schedule, replayed as plain actions."""
    cluster = run_pinned(Mode.VCLOCK)
    lost = cluster.history()[1]
    assert lost.value == b"c2:1" and lost.acknowledged
    violations = check_all(cluster)
    assert "INV-ACK-1" in [v.invariant for v in violations], format_violations(violations)
    assert cluster.durable("n4").data[b"k1"].values() == (b"c3:1",)


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_pinned_swarm_schedule_is_harmless_in_dvv_and_lww(mode: Mode) -> None:
    """INV-ACK-1, REQ-LWW-1: dvv keeps both writes as siblings; lww keeps the one their shared
    coordinator n4 wrote last, c2:1, stamped above c3:1 although n4's clock did not move."""
    cluster = run_pinned(mode)
    assert check_all(cluster) == [], format_violations(check_all(cluster))
    held = cluster.durable("n4").data[b"k1"].values()
    assert held == ((b"c2:1", b"c3:1") if mode is Mode.DVV else (b"c2:1",))


def test_a_seed_is_a_pure_function_and_its_trace_replays_bit_for_bit() -> None:
    settings = SwarmSettings(mode=Mode.DVV, schedule_steps=150)
    first, again = run_seed(7, settings), run_seed(7, settings)
    assert first.trace is not None and again.trace is not None
    assert first.trace == again.trace
    replayed = replay(from_jsonl(to_jsonl(first.trace)))
    assert fingerprint(replayed) == first.trace.observations.fingerprint
    assert replayed.history() == first.trace.observations.operations
    assert first.events == len(first.trace.actions)
    assert first.schedule_length == 150


def test_seeds_draw_different_fault_profiles() -> None:
    nodes = ("n1", "n2", "n3", "n4", "n5")
    profiles = [draw_profile(seed, nodes, disk_loss=False) for seed in range(60)]
    assert len({p.faults.loss_per_mille for p in profiles}) >= 3
    assert len({p.faults.partition_shapes for p in profiles}) >= 3
    assert len({p.faults.tick_ms for p in profiles}) >= 10  # clocks drift differently
    assert any(p.faults.crash_weight == 0 for p in profiles)
    assert any(p.faults.crash_weight > 0 for p in profiles)
    assert {len(p.workload.keys) for p in profiles} == {1, 2}
    assert all(p.faults.disk_loss_weight == 0 for p in profiles)
    assert draw_profile(3, nodes, disk_loss=False) == profiles[3]


def test_disk_loss_is_opt_in_and_judged_by_the_weaker_invariant() -> None:
    """INV-ACK-2: with disk loss an acknowledged write survives while a node that durably
    acknowledged it keeps its disk; without the flag no disk is ever lost."""
    settings = SwarmSettings(mode=Mode.DVV, schedule_steps=200, disk_loss=True)
    lost_a_disk = 0
    for seed in range(12):
        outcome = run_seed(seed, settings)
        assert outcome.trace is not None
        lost_a_disk += any(isinstance(a, LoseDisk) for a in outcome.trace.actions)
        assert "INV-ACK-2" not in outcome.invariants, format_violations(outcome.violations)
        assert "INV-ACK-1" not in outcome.invariants
    assert lost_a_disk >= 3
    plain = run_seed(0, SwarmSettings(mode=Mode.DVV, schedule_steps=200))
    assert plain.trace is not None
    assert not any(isinstance(a, LoseDisk) for a in plain.trace.actions)


AVAILABILITY_SEEDS = range(40)


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_the_degraded_phase_judges_availability_in_every_seed(mode: Mode) -> None:
    """INV-AVAIL-1: with W = N = 3 every seed's degraded phase takes a replica down, writes
    through a coordinator once before its timeout against it (which cannot reach W) and once
    after (which must, through a substitute); the monitor judged that write in every seed, and
    nothing was violated."""
    settings = SwarmSettings(mode=mode, w=3)
    hows = set()
    for seed in AVAILABILITY_SEEDS:
        outcome = run_seed(seed, settings, keep_trace=False)
        assert not outcome.violations, format_violations(outcome.violations)
        report = outcome.degraded
        assert report is not None, f"seed {seed}: the phase was skipped"
        assert report.first_write == "QuorumNotReached", (seed, report)
        assert report.second_write == "PutOk", (seed, report)
        assert report.writes_judged == 1, (seed, report)
        hows.add(report.how)
    assert hows == {"crash", "isolate"}


def test_a_replay_judges_availability_as_the_run_did() -> None:
    """INV-AVAIL-1: `judge` replays a finished run through its window when no monitor verdict
    is given; on a seed's trace it agrees with the run, and the window is really there."""
    outcome = run_seed(3, SwarmSettings(mode=Mode.DVV, w=3, schedule_steps=100))
    assert outcome.trace is not None and outcome.degraded is not None
    cluster = replay(outcome.trace)
    assert check_availability(cluster) == []
    assert judge(cluster).invariants == outcome.invariants == ()
    openings = [
        i
        for i, action in enumerate(outcome.trace.actions)
        if isinstance(action, Crash | Partition)
        and isinstance(outcome.trace.actions[i - 1], QuiesceEnd)
    ]
    assert len(openings) == 1


def test_disk_loss_runs_leave_a_write_in_the_custody_of_the_owner_it_was_handed_to() -> None:
    """INV-ACK-2: in runs with disk loss the degraded phase brings the replica back, lets the
    substitute hand it its hint, then loses every other disk that held the key: the write's
    one remaining custodian is the owner, and the write survives there."""
    settings = SwarmSettings(mode=Mode.DVV, schedule_steps=200, disk_loss=True)
    for seed in range(12):
        outcome = run_seed(seed, settings, keep_trace=False)
        assert not outcome.violations, format_violations(outcome.violations)
        report = outcome.degraded
        assert report is not None and report.handed_off_by is not None, (seed, report)
        assert report.disks_lost and report.down not in report.disks_lost


TRUNCATING = SwarmSettings(mode=Mode.VCLOCK, disk_loss=True, schedule_steps=1000)
"""More than 10 actors per clock: every disk loss mints a new incarnation (a new actor) of a
node, and a thousand steps leave time for the contexts to gather them."""
TRUNCATION_SEED_BUDGET = 40


def test_vclock_truncation_is_reached_and_the_checkers_report_what_it_resurrects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REQ-CAUS-5, INV-READ-1: in a long vclock run with disk loss, writes name more than 10
    actors and their clocks are truncated (the sometimes-count is non-zero, and no stored clock
    exceeds the limit while some reach it). Truncation drops the entries that let a clock
    dominate older versions, so those look concurrent again and reads return values a write
    had superseded: the checkers report INV-READ-1, and the same seed without truncation does
    not. A real anomaly of truncation, not a checker's false alarm."""
    for seed in range(TRUNCATION_SEED_BUDGET):
        outcome = run_seed(seed, TRUNCATING, keep_trace=False)
        if "INV-READ-1" in outcome.invariants:
            break
    else:
        raise AssertionError(f"no INV-READ-1 within {TRUNCATION_SEED_BUDGET} seeds")
    assert outcome.sometimes.vclock_truncations > 0
    traced = run_seed(seed, TRUNCATING)
    assert traced.trace is not None
    lengths = {
        len(version.clock)
        for record in replay(traced.trace).audit_records()
        if isinstance(record, DurableRecord)
        and isinstance(record.write, StoreVersions)
        and isinstance(record.write.versions, VclockSiblings)
        for version in record.write.versions.versions
    }
    assert max(lengths) == VCLOCK_MAX_ENTRIES
    monkeypatch.setitem(VclockSiblings.write.__kwdefaults__, "max_entries", 10**6)
    untruncated = run_seed(seed, TRUNCATING, keep_trace=False)
    assert "INV-READ-1" not in untruncated.invariants, format_violations(untruncated.violations)


def test_dice_are_deterministic_and_respect_weights() -> None:
    first, second = Dice("x", 1), Dice("x", 1)
    assert [first.below(10) for _ in range(20)] == [second.below(10) for _ in range(20)]
    dice = Dice("weights", 0)
    drawn = [dice.weighted([("never", 0), ("always", 5)]) for _ in range(50)]
    assert set(drawn) == {"always"}
    with pytest.raises(ValueError, match="positive weight"):
        dice.weighted([("a", 0)])
    assert not any(dice.chance(0) for _ in range(50))
    assert all(dice.chance(1000) for _ in range(50))


def test_ddmin_finds_a_one_minimal_failing_subset() -> None:
    def fails(items: object) -> bool:
        chosen = set(items)  # type: ignore[call-overload]
        return {3, 17} <= chosen

    kept = remove_one_at_a_time(ddmin(list(range(40)), fails), fails)
    assert kept == [3, 17]


def test_replay_translates_message_ids_and_skips_what_no_longer_applies() -> None:
    config = explorer_config(Mode.DVV, nodes=3, n=2, r=1, w=2)
    clients = ("c1", "c2")
    cluster = Cluster.start(config, clients).client_put("c1", "n1", b"k0")
    cluster = cluster.client_put("c2", "n1", b"k0")
    schedule = cluster.trace_actions()
    schedule += tuple(Deliver(i) for i in cluster.message_ids())
    names = message_names(config, clients, schedule)
    # Without the first put, its messages are gone: delivering them is skipped, and the second
    # put's messages get the ids they have in the shorter run.
    kept = [index for index in range(len(schedule)) if index != 0]
    _, applied = replay_schedule(config, clients, schedule, kept, names)
    assert applied[0] == schedule[1]
    delivered = [a for a in applied if isinstance(a, Deliver)]
    assert len(delivered) == len([i for i, n in names.items() if n[0] == 1])
    assert [a.message_id for a in delivered] == list(range(len(delivered)))


def test_shrinking_a_passing_schedule_is_refused() -> None:
    config = explorer_config(Mode.DVV, nodes=3, n=2, r=1, w=2)
    with pytest.raises(ValueError, match="does not violate"):
        shrink(config, ("c1",), (Put("c1", "n1", b"k0"),), "INV-ACK-1")


def test_the_degraded_phase_coordinates_through_a_node_that_counts_itself_an_owner() -> None:
    """INV-AVAIL-1's phase after joins, leaves and disk losses (lww seed 225): every node but n1
    lost its disk and forgot that n1 left, so the first member's ring still lists n1, which
    counts itself out and forwards. The phase picked n1 as its coordinator, the client was still
    waiting when the phase sent its second put, and `dynref explore` stopped with a traceback.
    It now coordinates through a node that counts itself in the current ring."""
    settings = SwarmSettings(mode=Mode.LWW, disk_loss=True, membership=True)
    outcome = run_seed(225, settings)
    assert outcome.degraded is not None and outcome.degraded.coordinator != "n1"
    assert outcome.violations == ()
