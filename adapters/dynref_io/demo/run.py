"""`dynref demo`: a 5-node local cluster under a concurrent workload and faults, then checked.

The run, in order:

1. start 5 node processes (N=3, R=2, W=2, dvv, SQLite) with short timers and few tokens;
2. run the `mixed` workload's clients (`dynref_io.conform.workload`) on a few shared keys
   through the fault schedule: steady, SIGKILL one node, restart it, cut another off (fault
   injection at that node), heal it, add a node (it joins and takes its share of the keys),
   remove another (it hands its keys over and stops); every request, and each fault, is
   recorded in a History;
3. stop the clients and time the convergence (`wait_for_convergence` says what is observed):
   hinted handoff, anti-entropy and the probes' reads have to do it alone;
4. final reads: each replica of every key in the final ring, and every key with R=3; stop the
   cluster, and load every node's SQLite file (the removed node's too);
5. judge: the History under the black-box checks (`demo.checks.judge_history`), and the
   stopped cluster's state: the replicas' stored versions agree, no hint is left, the final
   reads show what the replicas hold.

Counters (hints handed off, keys repaired by anti-entropy, ...) come from the nodes' status,
which is volatile: it restarts from zero with the process. The killed node's counters are read
just before the kill and added in, so only what it did in those last milliseconds is missed.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
from dynref.config import ClusterConfig
from dynref.history import FaultKind, Header, History, encode_history
from dynref.sim.observed import capabilities_of

from dynref_io.client.native import AsyncClient, DynrefError, GetResult
from dynref_io.conform.dynref_store import DynrefStore, unsettled_statuses
from dynref_io.conform.recorder import HistoryRecorder
from dynref_io.conform.workload import (
    Budget,
    StoreTraits,
    WorkloadPlan,
    key_names,
    run_clients,
    workload_clients,
)
from dynref_io.demo.checks import (
    describe_violation,
    final_read_mismatches,
    final_ring,
    final_versions,
    judge_history,
    load_durable_states,
    logged_protocol_errors,
    replica_disagreements,
)
from dynref_io.node.local_cluster import LocalCluster, create_cluster
from dynref_io.node.local_membership import add_node, remove_node

NODES = 5
HISTORY_FILE = "history.jsonl"
VICTIM = "n2"
"""The node killed with SIGKILL and restarted."""
CUT_OFF = "n4"
"""The node cut off from every peer, then healed."""
LEAVER = "n1"
"""The node removed from the cluster while the workload runs (after a new node joined)."""
CLUSTER_SETTINGS = {
    "n": 3,
    "r": 2,
    "w": 2,
    "mode": "dvv",
    "request_timeout": 300,
    "forward_timeout": 300,
    "handoff_interval": 200,
    "antientropy_interval": 200,
    "probe_interval": 200,
    "tokens_per_capacity": 2,  # few ranges: anti-entropy visits each of them often
}
COUNTERS = (
    "coordinated_puts",
    "coordinated_gets",
    "hinted_writes",
    "hints_handed_off",
    "read_repairs",
    "antientropy_exchanges",
    "antientropy_keys_repaired",
    "protocol_errors",
)
REPAIRS = ("hints_handed_off", "antientropy_keys_repaired", "read_repairs")
"""The counters of the repairs that change a replica once the clients have stopped."""
POLL_S = 0.25
QUIET_S = 1.5
ADMIN_TIMEOUT_S = 2.0
CLIENT_TIMEOUT_S = 3.0
"""Longer than any node's request and forward timeouts: a reply is normally never cut short."""
THINK_S = (0.01, 0.04)
"""A client's pause between iterations, drawn uniformly: it keeps the history checkable."""

Say = Callable[[str], None]


@attrs.frozen
class DemoPlan:
    clients: int = 6
    keys: int = 8
    seed: int = 1
    phase_seconds: float = 5.0
    """Length of each phase of the fault schedule."""
    converge_timeout: float = 30.0


@attrs.frozen
class Convergence:
    settled_seconds: float | None
    """After the workload stopped: when the replicas last changed (None: not settled in
    time)."""
    confirmed_seconds: float
    """After the workload stopped: when the probe reads confirmed it (or the wait gave up)."""
    unsettled: str | None = None


@attrs.frozen
class DemoReport:
    directory: Path
    operations: int
    workload_operations: int
    acknowledged_writes: int
    lost_writes: int
    writes_without_effect: int
    reads_with_siblings: int
    largest_sibling_set: int
    counters: dict[str, int]
    convergence: Convergence
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    wall_seconds: float

    @property
    def passed(self) -> bool:
        return not self.problems


class CounterLedger:
    """Status counters summed over the lifetimes of the nodes' processes."""

    def __init__(self) -> None:
        self._earlier_lifetimes: collections.Counter[str] = collections.Counter()

    def bank(self, status: dict[str, Any]) -> None:
        """Keep the counters of a process about to die."""
        for name in COUNTERS:
            self._earlier_lifetimes[name] += int(status.get(name, 0))

    def totals(self, statuses: Iterable[dict[str, Any] | None]) -> dict[str, int]:
        totals = collections.Counter(self._earlier_lifetimes)
        for status in statuses:
            for name in COUNTERS:
                totals[name] += int((status or {}).get(name, 0))
        return {name: totals[name] for name in COUNTERS}


class Demo:
    """One run of the demo against a started cluster."""

    def __init__(self, cluster: LocalCluster, plan: DemoPlan, say: Say) -> None:
        self.cluster = cluster
        self.plan = plan
        self.say = say
        self.config: ClusterConfig = cluster.cluster.config
        self.key_names = key_names(plan.keys)
        self.keys = [key.encode() for key in self.key_names]
        self.recorder = HistoryRecorder()
        self.ledger = CounterLedger()
        endpoints = {a.node_id: (a.host, a.port) for a in cluster.cluster.addresses}
        self.store = DynrefStore(endpoints, CLIENT_TIMEOUT_S)
        self.admin = {
            node: AsyncClient(host, port, timeout=ADMIN_TIMEOUT_S)
            for node, (host, port) in endpoints.items()
        }

    async def close(self) -> None:
        await self.store.close()
        for client in self.admin.values():
            await client.close()

    def connect(self, node: str) -> None:
        """Clients for a node that joined after the start."""
        address = self.cluster.address(node)
        self.store.add_node(node, address.host, address.port)
        self.admin[node] = AsyncClient(address.host, address.port, timeout=ADMIN_TIMEOUT_S)

    def history(self) -> History:
        nodes = tuple(address.node_id for address in self.cluster.cluster.addresses)
        header = Header(capabilities_of(self.config), "dynref demo", nodes, self.plan.seed)
        return self.recorder.history(header)

    async def status(self, node_id: str) -> dict[str, Any] | None:
        try:
            return await self.admin[node_id].status()
        except DynrefError:
            return None

    async def statuses(self) -> dict[str, dict[str, Any] | None]:
        found = await asyncio.gather(*(self.status(node) for node in self.cluster.node_ids))
        return dict(zip(self.cluster.node_ids, found, strict=True))

    # ------------------------------------------------------------ workload and faults

    async def run_workload(self) -> None:
        """The clients run through the whole fault schedule, then stop."""
        plan, phase = self.plan, self.plan.phase_seconds
        workload = WorkloadPlan("mixed", plan.clients, plan.keys, think=THINK_S)
        traits = StoreTraits(tuple(self.cluster.node_ids), self.config.n, per_request_rw=False)
        clients = workload_clients(workload, traits, self.store, self.recorder, plan.seed)
        roles = collections.Counter(client.role for client in clients)
        self.say(
            f"workload: {plan.clients} clients ({_roles(roles)}) on {plan.keys} keys, "
            "values unique per write"
        )
        budget = Budget(None)
        running = asyncio.create_task(run_clients(clients, budget))
        try:
            await self._phase(phase, "steady")
            victim_status = await self.status(VICTIM)
            if victim_status is not None:
                self.ledger.bank(victim_status)
            self.recorder.fault(FaultKind.KILL, VICTIM)
            await asyncio.to_thread(self.cluster.kill, VICTIM)
            self.say(f"killed {VICTIM} with SIGKILL")
            await self._phase(phase, f"{VICTIM} down")
            self.say(f"restarting {VICTIM}")
            self.recorder.fault(FaultKind.RESTART, VICTIM)
            await asyncio.to_thread(self.cluster.start, [VICTIM])
            self.say(f"{VICTIM} is back")
            await self._phase(phase / 2, "all up")
            others = [node for node in self.cluster.node_ids if node != CUT_OFF]
            self.recorder.fault(FaultKind.PARTITION, groups=((CUT_OFF,), tuple(others)))
            await self.admin[CUT_OFF].isolate(others)
            self.say(f"cut {CUT_OFF} off from every peer (fault injection at {CUT_OFF})")
            await self._phase(phase, f"{CUT_OFF} cut off")
            self.recorder.fault(FaultKind.HEAL)
            await self.admin[CUT_OFF].isolate([])
            self.say(f"healed {CUT_OFF}")
            await self._phase(phase / 2, "healed")
            await self._change_membership(phase)
        finally:
            budget.finish()
            await running
        self.say(f"workload stopped: {self._progress()}")

    async def _change_membership(self, phase: float) -> None:
        """Add a node, then remove another, while the clients go on."""
        self.say("adding a node: it joins through a seed and takes its share of the keys")
        added = await asyncio.to_thread(add_node, self.cluster)
        self.connect(added.node_id)
        self.say(f"{added.node_id} joined; the nodes agreed on the ring in {added.seconds:.1f} s")
        await self._phase(phase / 2, f"{added.node_id} in")
        self.say(f"removing {LEAVER}: it hands its keys to their new owners, then stops")
        removed = await asyncio.to_thread(remove_node, self.cluster, LEAVER)
        if removed.last_status is not None:
            self.ledger.bank(removed.last_status)
        self.say(f"{LEAVER} left after {removed.seconds:.1f} s; its process is stopped")
        await self._phase(phase / 2, f"{LEAVER} out")

    async def _phase(self, seconds: float, name: str) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 2.0))
            self.say(f"  {name}: {self._progress()}")

    def _progress(self) -> str:
        operations, acked, failed = self.recorder.counts()
        return (
            f"{operations} operations, {acked} acknowledged writes, "
            f"{failed} certainly without effect"
        )

    # ------------------------------------------------------------ convergence

    async def wait_for_convergence(self) -> Convergence:
        """Poll until the cluster is settled, and say when its replicas last changed.

        Settled means: every node answers, holds no hint, believes no peer down and is cut off
        from none; and, for every key, a read with R=1 at each node of its preference list
        (answered from that node's own replica, which the coordinator counts first) returns
        the same siblings and the same context. Those reads repair the replicas they find
        differing, as any read does, so they are made only once the repair counters (hints
        handed off, anti-entropy and read repairs) stood still for `QUIET_S`: until then
        handoff and anti-entropy do the work. With the clients stopped, only those repairs
        change a replica, so the replicas were settled from the last poll that saw a counter
        move. The exact check, on the stored versions, comes after the cluster stopped.
        """
        started = time.monotonic()
        last_repair, last_total = started, -1
        shown: str | None = None
        while True:
            statuses = await self.statuses()
            now = time.monotonic()
            total = sum(self.ledger.totals(statuses.values())[name] for name in REPAIRS)
            if total != last_total:
                last_repair, last_total = now, total
            problem = unsettled_statuses(statuses)
            if problem is None and now - last_repair < QUIET_S:
                problem = "repairs in progress"
            elif problem is None:
                problem = await self._replicas_differ()
                if problem is None:
                    return Convergence(last_repair - started, time.monotonic() - started)
            if now - started > self.plan.converge_timeout:
                return Convergence(None, now - started, problem)
            if problem != shown:
                self.say(f"  converging: {problem}")
                shown = problem
            await asyncio.sleep(POLL_S)

    async def preference_list(self, key: bytes) -> tuple[str, ...]:
        """The key's preference list in the ring the first answering node holds now."""
        for node in self.cluster.node_ids:
            try:
                return (await self.admin[node].ring(key)).preference_list
            except DynrefError:
                continue
        raise DynrefError("no node answered a ring request")

    async def _replicas_differ(self) -> str | None:
        for key in self.keys:
            replicas = await self.preference_list(key)
            try:
                seen = [await self.admin[node].get(key, r=1) for node in replicas]
            except DynrefError as exc:
                return f"a replica read of {key.decode()} failed: {exc}"
            if any((s.values, s.context) != (seen[0].values, seen[0].context) for s in seen):
                return f"replicas of {key.decode()} differ: {_shown(replicas, seen)}"
        return None

    async def final_reads(self) -> None:
        """Record, for every key, a read of each preference-list replica (R=1 at that node:
        answered from its own replica) and a read with R=N through each node in turn."""
        for index, key in enumerate(self.key_names):
            for node in await self.preference_list(key.encode()):
                answer = await self.store.get("final", node, key, 1)
                self.recorder.final(key, answer, replica=node)
            node = self.cluster.node_ids[index % len(self.cluster.node_ids)]
            answer = await self.store.get("final", node, key, self.config.n)
            self.recorder.final(key, answer, r=self.config.n)


def _roles(roles: collections.Counter[str]) -> str:
    return ", ".join(f"{count} {role}" for role, count in roles.items())


def _shown(replicas: tuple[str, ...], seen: list[GetResult]) -> str:
    return "; ".join(
        f"{node} [{', '.join(v.decode() for v in found.values)}]"
        for node, found in zip(replicas, seen, strict=True)
    )


async def run_demo_async(directory: Path, plan: DemoPlan, say: Say) -> DemoReport:
    wall_start = time.monotonic()
    cluster = create_cluster(directory, NODES, settings=CLUSTER_SETTINGS)
    say(f"starting {NODES} nodes (N=3, R=2, W=2, dvv, SQLite) in {directory}")
    demo: Demo | None = None
    try:
        await asyncio.to_thread(cluster.start)
        say("cluster up: " + ", ".join(cluster.node_ids))
        demo = Demo(cluster, plan, say)
        await demo.run_workload()
        workload_operations = demo.recorder.operations
        say("waiting for convergence (no hints, nobody down, replicas agree)")
        convergence = await demo.wait_for_convergence()
        if convergence.settled_seconds is not None:
            say(
                f"converged {convergence.settled_seconds:.1f} s after the workload stopped "
                f"(confirmed at {convergence.confirmed_seconds:.1f} s)"
            )
        await demo.final_reads()
        counters = demo.ledger.totals((await demo.statuses()).values())
    finally:
        if demo is not None:
            await demo.close()
        say("stopping the cluster")
        await asyncio.to_thread(cluster.stop)
    states = load_durable_states(cluster)
    problems: list[str] = []
    if convergence.settled_seconds is None:
        problems.append(
            f"no convergence within {plan.converge_timeout:.0f} s: {convergence.unsettled}"
        )
    ring = final_ring(demo.config, states)
    problems += replica_disagreements(demo.config, ring, states, demo.keys)
    history = demo.history()
    # Kept beside the cluster, so that `dynref check` can judge the run again.
    (directory / HISTORY_FILE).write_text(encode_history(history), encoding="utf-8")
    through_store = [final for final in history.finals if final.replica is None]
    problems += final_read_mismatches(
        through_store, lambda key: final_versions(states, key, demo.config)
    )
    verdict = judge_history(history)
    problems += [describe_violation(violation) for violation in verdict.violations]
    protocol_errors = logged_protocol_errors(cluster)
    if protocol_errors:
        problems.append(f"the nodes logged {protocol_errors} protocol errors")
    if verdict.acknowledged_writes == 0:
        problems.append("no write was acknowledged: the run checked nothing")
    notes = []
    if verdict.reads_with_siblings == 0:
        notes.append("no read returned siblings this time")
    notes += [f"skipped: {check}" for check in verdict.skipped]
    if counters["hints_handed_off"] == 0:
        notes.append("no hint was handed off this time")
    return DemoReport(
        directory=directory,
        operations=verdict.operations + len(through_store),
        workload_operations=workload_operations,
        acknowledged_writes=verdict.acknowledged_writes,
        lost_writes=len(verdict.lost_writes),
        writes_without_effect=verdict.writes_without_effect,
        reads_with_siblings=verdict.reads_with_siblings,
        largest_sibling_set=verdict.largest_sibling_set,
        counters=counters,
        convergence=convergence,
        problems=tuple(problems),
        notes=tuple(notes),
        wall_seconds=time.monotonic() - wall_start,
    )


def run_demo(directory: Path, plan: DemoPlan, say: Say) -> DemoReport:
    return asyncio.run(run_demo_async(directory, plan, say))
