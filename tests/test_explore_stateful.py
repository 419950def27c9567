"""The Hypothesis engine: a RuleBasedStateMachine over the simulated cluster (issue 4, part 3).

The network is a bag; rules deliver, drop and duplicate messages picked by position, tick one
node or all, crash and restart nodes, partition (symmetric and asymmetric shapes) and heal, let
a spare node join and a member leave (SPEC section 12), and let three clients get, put and
delete two keys through any node. Cheap invariants run after every step (INV-READ-1 no
invention, no ProtocolError, no stray reply); teardown quiesces and runs every checker: the
black-box checks over the run's History (INV-ACK-1, INV-READ-1, INV-ORDER-1, SIBLING-BOUND,
INV-CONV-1) and the white-box extras (INV-CONV-1's fixed point, INV-READ-2 in clean windows,
INV-HINT-1, ACK-QUORUM, INV-MEMBER-2..4).

dvv and lww must pass; vclock must fail with INV-ACK-1, which Hypothesis finds and shrinks on
its own. The shrunk program is pinned below as a plain regression test. The disk-loss machines
add one rule, a node losing its disk, and are judged by INV-ACK-2 (survival while a node that
durably acknowledged the write keeps its disk).
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

import dynref.state
import pytest
from dynref.causality import Mode
from dynref.check import (
    SOMETIMES_PROPERTIES,
    HistoryView,
    SometimesReport,
    check_all,
    check_always,
    format_violations,
    sometimes,
)
from dynref.check.custody import kept_by_a_surviving_disk
from dynref.explore.swarm import decommissioned
from dynref.sim import (
    EXPLORER_KEYS,
    Action,
    Cluster,
    Put,
    describe,
    explorer_config,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
EXAMPLES = max(400, settings.default.max_examples)
STEPS = 100 if THOROUGH else 50
CLIENTS = ("c1", "c2", "c3")
POSITION = st.integers(0, 7)
NODE = st.integers(0, 4)
DT = st.sampled_from((20, 60, 250))
CLIENT = st.integers(0, 2)
KEY = st.integers(0, 1)


def _run_settings(examples: int) -> settings:
    return settings(
        settings.default,
        max_examples=examples,
        stateful_step_count=STEPS,
        report_multiple_bugs=False,
        database=None,
    )


class ClusterMachine(RuleBasedStateMachine):
    mode: ClassVar[Mode] = Mode.DVV
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []
    failing_actions: ClassVar[tuple[Action, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.cluster = Cluster.start(explorer_config(self.mode, nodes=3), CLIENTS)
        self.steps_run = 0

    @initialize(nodes=st.sampled_from((5, 4, 3)))
    def start(self, nodes: int) -> None:
        self.cluster = Cluster.start(explorer_config(self.mode, nodes=nodes), CLIENTS)

    # Rules never depend on preconditions: one that does not apply is a no-op. Deleting a
    # step while shrinking then never invalidates the steps after it, so programs shrink well.

    # ------------------------------------------------------------ the network

    def _message(self, position: int) -> int | None:
        ids = self.cluster.message_ids()
        return ids[position % len(ids)] if ids else None

    @rule(position=POSITION)
    def deliver(self, position: int) -> None:
        message_id = self._message(position)
        if message_id is not None:
            self.cluster = self.cluster.deliver(message_id)

    @rule()
    def drain(self) -> None:
        """Deliver everything, oldest first, and what that sends, until nothing is in flight."""
        for _ in range(100):
            if not self.cluster.in_flight:
                break
            for message_id in self.cluster.message_ids():
                self.cluster = self.cluster.deliver(message_id)

    @rule(position=POSITION)
    def drop(self, position: int) -> None:
        message_id = self._message(position)
        if message_id is not None:
            self.cluster = self.cluster.drop(message_id)

    @rule(position=POSITION)
    def duplicate(self, position: int) -> None:
        message_id = self._message(position)
        if message_id is not None:
            self.cluster = self.cluster.duplicate(message_id)

    @rule(shape=st.integers(0, 4))
    def partition(self, shape: int) -> None:
        nodes = self.cluster.node_ids()
        first, second, last = nodes[0], nodes[1], nodes[-1]
        if shape == 0:
            self.cluster = self.cluster.partition([[first]])
        elif shape == 1:
            self.cluster = self.cluster.partition([[first, second]])
        elif shape == 2:
            self.cluster = self.cluster.partition([[last]])
        elif shape == 3:  # first can hear everyone, nobody hears first
            self.cluster = self.cluster.partition_directed((first, n) for n in nodes[1:])
        else:  # nobody reaches second, second reaches everyone
            self.cluster = self.cluster.partition_directed(
                (n, second) for n in nodes if n != second
            )

    @rule()
    def heal(self) -> None:
        if self.cluster.blocked:
            self.cluster = self.cluster.heal()

    @rule()
    def calm(self) -> None:
        """A calm spell: faults off and the cluster settles (INV-CONV-1 judges it too)."""
        self.cluster = self.cluster.quiesce()

    # ------------------------------------------------------------ time and crashes

    def _node(self, index: int) -> str:
        nodes = self.cluster.node_ids()
        return nodes[index % len(nodes)]

    @rule(node=NODE, dt=DT)
    def tick(self, node: int, dt: int) -> None:
        self.cluster = self.cluster.tick(self._node(node), dt)

    @rule(dt=DT)
    def tick_all(self, dt: int) -> None:
        self.cluster = self.cluster.tick_all(dt)

    @rule(node=NODE)
    def crash(self, node: int) -> None:
        """At most a minority of the nodes is down at once, so that work can progress."""
        name = self._node(node)
        crashed = self.cluster.crashed_nodes()
        if name not in crashed and len(crashed) + 1 <= len(self.cluster.nodes) // 2:
            self.cluster = self.cluster.crash(name)

    @rule(node=NODE)
    def restart(self, node: int) -> None:
        name = self._node(node)
        if name in self.cluster.crashed_nodes():
            self.cluster = self.cluster.restart(name)

    # ------------------------------------------------------------ membership

    @rule(seed=NODE)
    def join(self, seed: int) -> None:
        """The spare node joins through a seed (once per run)."""
        config = self.cluster.config
        spare = f"n{len(config.nodes) + 1}"
        seeds = config.seed_ids()
        seed_name = seeds[seed % len(seeds)]
        if spare not in self.cluster.nodes and self.cluster.state(seed_name) is not None:
            self.cluster = self.cluster.join(spare, seed_name)

    @rule(node=NODE)
    def leave(self, node: int) -> None:
        """A live member leaves (once per run; the node refuses when fewer than N would stay)."""
        name = self._node(node)
        left = any(type(action).__name__ == "Leave" for action in self.cluster.trace_actions())
        if not left and self.cluster.state(name) is not None:
            self.cluster = self.cluster.leave(name)

    # ------------------------------------------------------------ clients

    def _client_call(self, kind: str, client: int, node: int, key: int) -> None:
        """Client `client` among those idle (one outstanding operation per client)."""
        idle = [name for name in CLIENTS if not self.cluster.client_busy(name)]
        if idle:
            method = getattr(self.cluster, f"client_{kind}")
            self.cluster = method(idle[client % len(idle)], self._node(node), EXPLORER_KEYS[key])

    @rule(client=CLIENT, node=NODE, key=KEY)
    def get(self, client: int, node: int, key: int) -> None:
        self._client_call("get", client, node, key)

    @rule(client=CLIENT, node=NODE, key=KEY)
    def put(self, client: int, node: int, key: int) -> None:
        self._client_call("put", client, node, key)

    @rule(client=CLIENT, node=NODE, key=KEY)
    def delete(self, client: int, node: int, key: int) -> None:
        self._client_call("delete", client, node, key)

    # ------------------------------------------------------------ properties

    @invariant()
    def nothing_invented_and_no_node_errors(self) -> None:
        """INV-READ-1 (no invention), no ProtocolError, no internal error, no stray reply."""
        self.steps_run += 1  # Hypothesis checks invariants after every rule
        violations = check_always(self.cluster)
        assert not violations, format_violations(violations)

    def teardown(self) -> None:
        final = self.cluster.quiesce()
        type(self).collected.append(sometimes(final))
        type(self).step_counts.append(self.steps_run)
        violations = check_all(final)
        if violations:
            type(self).failing_actions = self.cluster.trace_actions()
            program = "\n".join(describe(action) for action in self.cluster.trace_actions())
            raise AssertionError(format_violations(violations) + "\nprogram:\n" + program)


class DiskLossMachine(ClusterMachine):
    """The same rules and one more: a node loses its disk. A run with a disk loss is judged by
    INV-ACK-2 instead of INV-ACK-1 (the checkers switch by themselves)."""

    custody_judged: ClassVar[list[int]] = []

    @rule(node=NODE)
    def lose_disk(self, node: int) -> None:
        """The node (crashed or not) loses its disk and boots empty under a new incarnation;
        not a node that left the cluster (its process is stopped for good)."""
        name = self._node(node)
        if not decommissioned(self.cluster, name):
            self.cluster = self.cluster.lose_disk(name)

    def teardown(self) -> None:
        final = self.cluster.quiesce()
        view = HistoryView(final)
        if view.disk_losses:
            # Acknowledged writes INV-ACK-2 requires to survive: a guard against vacuity.
            kept = sum(kept_by_a_surviving_disk(view, op) for op in view.acknowledged())
            type(self).custody_judged.append(kept)
        super().teardown()


class DvvMachine(ClusterMachine):
    mode = Mode.DVV
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []


class LwwMachine(ClusterMachine):
    mode = Mode.LWW
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []


class VclockMachine(ClusterMachine):
    mode = Mode.VCLOCK
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []


class DvvDiskLossMachine(DiskLossMachine):
    mode = Mode.DVV
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []
    custody_judged: ClassVar[list[int]] = []


class LwwDiskLossMachine(DiskLossMachine):
    mode = Mode.LWW
    collected: ClassVar[list[SometimesReport]] = []
    step_counts: ClassVar[list[int]] = []
    custody_judged: ClassVar[list[int]] = []


# lww keeps one version per key: it never shows siblings.
EXPECTED_SOMETIMES = {
    Mode.DVV: SOMETIMES_PROPERTIES,
    Mode.LWW: tuple(p for p in SOMETIMES_PROPERTIES if p != "siblings_created"),
}


@pytest.mark.parametrize("machine", [DvvMachine, LwwMachine], ids=["dvv", "lww"])
def test_exploration_keeps_every_invariant(machine: type[ClusterMachine]) -> None:
    """INV-ACK-1, INV-CONV-1, INV-READ-1, INV-ORDER-1, INV-READ-2, INV-HINT-1 hold in dvv and
    lww, and every sometimes-property fired at least once across the run (no vacuous pass)."""
    machine.collected.clear()
    machine.step_counts.clear()
    started = time.perf_counter()
    run_state_machine_as_test(machine, settings=_run_settings(EXAMPLES))
    elapsed = time.perf_counter() - started
    total = SometimesReport()
    for report in machine.collected:
        total = total.combine(report)
    print(f"\n{machine.mode.value}: {len(machine.collected)} runs, {elapsed:.1f} s, {total}")
    assert len(machine.collected) >= EXAMPLES
    full_length = sum(count >= STEPS for count in machine.step_counts)
    print(f"{full_length} runs of at least {STEPS} steps")
    assert full_length >= 200
    assert not total.never_fired(EXPECTED_SOMETIMES[machine.mode]), total
    assert total.strict_quorum_reads_checked > 0, total
    if machine.mode is Mode.DVV:
        assert total.largest_sibling_set >= 2


DISK_LOSS_EXAMPLES = max(200, settings.default.max_examples)


@pytest.mark.parametrize("machine", [DvvDiskLossMachine, LwwDiskLossMachine], ids=["dvv", "lww"])
def test_exploration_with_disk_loss_keeps_every_invariant(machine: type[DiskLossMachine]) -> None:
    """INV-ACK-2: with a rule that loses a node's disk, an acknowledged write survives while a
    node that durably acknowledged it keeps its disk; every other invariant holds too. Many
    runs lost a disk and still owed the survival of some acknowledged write."""
    machine.collected.clear()
    machine.step_counts.clear()
    machine.custody_judged.clear()
    run_state_machine_as_test(machine, settings=_run_settings(DISK_LOSS_EXAMPLES))
    assert len(machine.collected) >= DISK_LOSS_EXAMPLES
    with_disk_loss = machine.custody_judged
    print(f"\n{machine.mode.value}: {len(with_disk_loss)} runs lost a disk, {sum(with_disk_loss)}")
    assert len(with_disk_loss) >= DISK_LOSS_EXAMPLES // 4
    assert sum(1 for kept in with_disk_loss if kept) >= 20


def _reused_actor_program() -> DiskLossMachine:
    """c1 writes k0 through n2 (its preference list is n2, n5, n4), n2 loses its disk, and c2
    writes k0 through n2 with an empty context; then the teardown quiesces and judges."""
    machine = DvvDiskLossMachine()
    machine.start(nodes=5)
    machine.put(client=0, node=1, key=0)
    machine.drain()
    machine.lose_disk(node=1)
    machine.put(client=1, node=1, key=0)
    machine.drain()
    return machine


def test_the_disk_loss_rule_and_ack_2_catch_a_reused_actor_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """INV-ACK-2: a node that lost its disk and reissues its old actor id (riak_kv issue 679)
    makes c2's dot equal to c1's; n5 and n4, which kept their disks, merge the two and keep one,
    and the teardown reports c1's acknowledged write lost. Without the defect n2 writes as
    n2#1, both writes stay as siblings, and the same program passes."""
    _reused_actor_program().teardown()
    monkeypatch.setattr(dynref.state, "actor_name", lambda node_id, _incarnation: f"{node_id}#0")
    with pytest.raises(AssertionError, match="INV-ACK-2"):
        _reused_actor_program().teardown()


def test_exploration_finds_and_shrinks_the_vclock_lost_update() -> None:
    """INV-ACK-1: in vclock mode Hypothesis finds, by itself, a lost acknowledged write."""
    VclockMachine.failing_actions = ()
    with pytest.raises(AssertionError, match="INV-ACK-1"):
        run_state_machine_as_test(VclockMachine, settings=_run_settings(EXAMPLES))
    shrunk = VclockMachine.failing_actions
    assert shrunk, "the failure came from the checkers"
    program = [describe(action) for action in shrunk]
    assert len(shrunk) <= 6, program
    assert sum(isinstance(action, Put) for action in shrunk) >= 2, program


# The program Hypothesis shrinks the vclock failure to (5 nodes; k0's preference list is n2, n5,
# n4): c1 puts c1:1 through n1, and before anything is delivered c2 puts c2:1 through n1 too,
# with the same (empty) context. n1 is no replica, so it forwards both puts to n2. The teardown's
# quiesce delivers them in order: n2 writes c1:1 with clock {n2#0: 1}, replicates it, and then
# writes c2:1 with the same clock {n2#0: 1}, which replaces c1:1. n5 stores c1:1 and acks, so
# c1's put is acknowledged (W=2: n2 and n5); then c2:1 arrives everywhere, the clocks are equal,
# and merge keeps c2:1. An acknowledged write is gone, and no write had seen it.
LOST_UPDATE: tuple[Action, ...] = (
    Put("c1", "n1", b"k0"),
    Put("c2", "n1", b"k0"),
)


def _run(mode: Mode, actions: tuple[Action, ...]) -> Cluster:
    return Cluster.start(explorer_config(mode, nodes=5), CLIENTS).apply_all(actions).quiesce()


def test_pinned_vclock_lost_update_loses_an_acknowledged_write() -> None:
    """INV-ACK-1, INV-CAUS-3: the shrunk counterexample, replayed as a plain program."""
    cluster = _run(Mode.VCLOCK, LOST_UPDATE)
    first = cluster.history()[0]
    assert first.acknowledged and first.value == b"c1:1"
    violations = check_all(cluster)
    assert [v.invariant for v in violations] == ["INV-ACK-1"], format_violations(violations)
    assert "c1:1" in violations[0].message


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW])
def test_pinned_lost_update_program_is_harmless_in_dvv_and_lww(mode: Mode) -> None:
    """INV-ACK-1: the same program keeps both writes as siblings in dvv; lww keeps the later."""
    cluster = _run(mode, LOST_UPDATE)
    assert check_all(cluster) == []
    final = cluster.durable("n2").data[b"k0"].values()
    assert final == ((b"c1:1", b"c2:1") if mode is Mode.DVV else (b"c2:1",))
