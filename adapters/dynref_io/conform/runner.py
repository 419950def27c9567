"""One conformance run per seed: start the adapter, drive the store, record, judge.

A run, in order:

1. start the adapter program and `init` it with the seed: its capabilities and nodes;
2. run the seeded workload's clients concurrently until the operation budget is spent, while
   the seeded fault schedule is injected through the hooks the adapter offers;
3. end every open fault episode (restart, heal);
4. wait for convergence: poll `status` (until it says settled) and `read_replica` for every key
   until each key's replicas agree in two polls in a row, within `converge_timeout`; without
   replica reads, wait `SETTLE_S` instead;
5. final reads: every replica of every key (`read_replica`), and a read through the store
   (with R = N when the target takes per-request R);
6. stop the adapter (close its stdin), and judge the History with `dynref.check.check_history`.

An `AdapterError` at any step ends the run there: the result keeps the error, and the History
recorded so far is judged all the same (checks that need final reads then skip).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import attrs
from dynref.check import Report, check_history
from dynref.history import Header, History

from dynref_io.conform.adapter import AdapterError, AdapterProcess, AdapterStore
from dynref_io.conform.faults import FaultInjector, fault_schedule
from dynref_io.conform.protocol import Answer, TargetInfo
from dynref_io.conform.recorder import HistoryRecorder
from dynref_io.conform.verdict import incomplete_reasons
from dynref_io.conform.workload import (
    Budget,
    StoreTraits,
    WorkloadPlan,
    key_names,
    run_clients,
    workload_clients,
)

POLL_S = 0.25
SETTLE_S = 2.0
"""Without replica reads there is nothing to poll: the wait before the final reads."""
PROGRESS_S = 3.0

Say = Callable[[str], None]


@attrs.frozen
class ConformPlan:
    argv: tuple[str, ...]
    workload: WorkloadPlan = WorkloadPlan()
    ops: int = 400
    faults: tuple[str, ...] | None = None
    """Fault kinds to inject (None: every kind the adapter offers hooks for)."""
    request_timeout: float = 30.0
    setup_timeout: float = 120.0
    """For init and the fault hooks, which start, stop and restart nodes."""
    converge_timeout: float = 60.0
    target: str = ""
    """What to call the target when the adapter does not name it."""


@attrs.frozen
class RunResult:
    seed: int
    seconds: float
    history: History | None = None
    """None when the adapter never answered init."""
    report: Report | None = None
    error: str | None = None
    """Why the adapter failed (the run stopped there)."""
    notes: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    source: str | None = None
    """The file a judged history came from (`dynref check`)."""

    @property
    def status(self) -> str:
        if self.report is not None and self.report.failed:
            return "fail"
        if self.error is not None:
            return "error"
        return "incomplete" if self.incomplete else "pass"


class UnusableAdapterError(Exception):
    """The adapter cannot run what was asked (a fault it has no hooks for, a workload that
    needs deletes): a usage error, not a finding."""


def fault_kinds(plan: ConformPlan, info: TargetInfo) -> tuple[str, ...]:
    offered = tuple(
        kind
        for kind, hooks in (("kill", ("kill", "restart")), ("partition", ("partition", "heal")))
        if all(info.offers(hook) for hook in hooks)
    )
    if plan.faults is None:
        return offered
    for kind in plan.faults:
        if kind not in offered:
            hooks = ", ".join(sorted(info.hooks)) or "none"
            raise UnusableAdapterError(
                f"--faults {kind}: the adapter does not offer the hooks it needs "
                f"(it offers: {hooks})"
            )
    return plan.faults


class Run:
    """The state of one seed's run, kept so that an error at any step leaves a result."""

    def __init__(self, plan: ConformPlan, seed: int, say: Say) -> None:
        self.plan, self.seed, self.say = plan, seed, say
        self.adapter = AdapterProcess(plan.argv, plan.request_timeout, plan.setup_timeout)
        self.recorder = HistoryRecorder()
        self.info: TargetInfo | None = None
        self.notes: list[str] = []
        self.keys = key_names(plan.workload.keys)
        self.injector: FaultInjector | None = None
        self.started = time.monotonic()

    async def execute(self) -> None:
        await self.adapter.start()
        self.info = info = await self.adapter.init(self.seed)
        caps = info.capabilities
        if self.plan.workload.workload == "delete" and not caps.deletes:
            raise UnusableAdapterError("--workload delete: the target declares no deletes")
        kinds = fault_kinds(self.plan, info)
        traits = StoreTraits(
            info.nodes, caps.n, caps.deletes, caps.per_request_rw, info.coordinators
        )
        workload = attrs.evolve(self.plan.workload, prefix=f"s{self.seed}-")
        clients = workload_clients(
            workload, traits, AdapterStore(self.adapter), self.recorder, self.seed
        )
        schedule = fault_schedule(self.seed, kinds, info.nodes, self.plan.ops)
        self.injector = FaultInjector(self.adapter, self.recorder, schedule, self._fault_said)
        budget = Budget(self.plan.ops)
        reporter = asyncio.create_task(self._report_progress(budget))
        injecting = asyncio.create_task(self.injector.inject(budget))
        try:
            await run_clients(clients, budget)
            await injecting
        finally:
            budget.finish()
            reporter.cancel()
            injecting.cancel()
            await asyncio.gather(reporter, injecting, return_exceptions=True)
        await self.injector.restore()
        converged = await self.converge()
        if not converged[0]:
            self.notes.append(
                f"not converged within {self.plan.converge_timeout:g} s: {converged[1]}"
            )
        await self.final_reads()

    def _fault_said(self, what: str) -> None:
        self.say(f"seed {self.seed}: {what}")

    async def _report_progress(self, budget: Budget) -> None:
        while True:
            await asyncio.sleep(PROGRESS_S)
            _, acked, _ = self.recorder.counts()
            self.say(
                f"seed {self.seed}: {budget.issued}/{self.plan.ops} operations issued, "
                f"{acked} writes acknowledged"
            )

    # ------------------------------------------------------------ convergence

    async def converge(self) -> tuple[bool, str]:
        """(converged, the last thing that was not settled)."""
        assert self.info is not None
        if not self.info.offers("read_replica") and not self.info.offers("status"):
            await asyncio.sleep(SETTLE_S)
            return True, ""
        deadline = time.monotonic() + self.plan.converge_timeout
        previous: dict[str, list[tuple[str, ...]]] | None = None
        while True:
            problem, snapshot = await self._unsettled()
            if problem is None and self.info.offers("read_replica") and snapshot != previous:
                problem, previous = "confirming", snapshot
            if problem is None:
                return True, ""
            if time.monotonic() > deadline:
                return False, problem
            await asyncio.sleep(POLL_S)

    async def _unsettled(self) -> tuple[str | None, dict[str, list[tuple[str, ...]]]]:
        assert self.info is not None
        if self.info.offers("status"):
            status = await self.adapter.status()
            if isinstance(status, Answer):
                return f"status failed: {status.describe_error()}", {}
            if status.settled is False:
                return "the store says it has not settled", {}
        snapshot: dict[str, list[tuple[str, ...]]] = {}
        if not self.info.offers("read_replica"):
            return None, snapshot
        for key in self.keys:
            reads = await self.adapter.read_replica(key)
            if isinstance(reads, Answer):
                return f"read_replica {key} failed: {reads.describe_error()}", {}
            seen = []
            for read in reads:
                if not read.answer.ok:
                    return f"replica {read.node} of {key}: {read.answer.describe_error()}", {}
                seen.append(tuple(sorted(read.answer.values or ())))
            if len(set(seen)) > 1:
                return f"the replicas of {key} differ", {}
            snapshot[key] = seen
        return None, snapshot

    # ------------------------------------------------------------ final reads

    async def final_reads(self) -> None:
        info = self.info
        assert info is not None
        caps = info.capabilities
        r = caps.n if caps.per_request_rw else None
        for index, key in enumerate(self.keys):
            if info.offers("read_replica"):
                reads = await self.adapter.read_replica(key)
                if isinstance(reads, Answer):
                    self.notes.append(f"read_replica {key} failed: {reads.describe_error()}")
                else:
                    for read in reads:
                        self.recorder.final(key, read.answer, replica=read.node)
            node = info.nodes[index % len(info.nodes)] if info.coordinators else None
            answer = await self.adapter.client_op("get", client="final", node=node, key=key, r=r)
            self.recorder.final(key, answer, r=r or caps.r)

    # ------------------------------------------------------------ the result

    def result(self, error: str | None) -> RunResult:
        history = None
        report = None
        incomplete: tuple[str, ...] = ()
        if self.info is not None:
            header = Header(
                self.info.capabilities,
                self.info.target or self.plan.target,
                self.info.nodes,
                self.seed,
            )
            history = self.recorder.history(header)
            report = check_history(history)
            incomplete = incomplete_reasons(history)
        faults = tuple(a.describe() for a in self.injector.done) if self.injector else ()
        return RunResult(
            seed=self.seed,
            seconds=time.monotonic() - self.started,
            history=history,
            report=report,
            error=error,
            notes=tuple(self.notes),
            incomplete=incomplete,
            faults=faults,
        )


async def run_seed(plan: ConformPlan, seed: int, say: Say, sink: list[RunResult]) -> RunResult:
    """One seed's run; its result is appended to `sink` even when it is interrupted."""
    run = Run(plan, seed, say)
    error: str | None = "interrupted"
    try:
        await run.execute()
        error = None
    except UnusableAdapterError as exc:
        error = str(exc)
        raise
    except AdapterError as exc:
        error = str(exc)
        tail = run.adapter.stderr_tail
        if tail:
            error += "\n  the adapter's stderr ended with:\n    " + tail.replace("\n", "\n    ")
    finally:
        await asyncio.shield(run.adapter.close())
        result = run.result(error)
        sink.append(result)
    return result


async def run_seeds(
    plan: ConformPlan, seeds: Sequence[int], say: Say, sink: list[RunResult]
) -> None:
    """Every seed in turn; the first adapter error ends the series (the rest would fail alike)."""
    for seed in seeds:
        result = await run_seed(plan, seed, say, sink)
        say(f"seed {seed}: {describe_result(result)}")
        if result.error is not None:
            return


def describe_result(result: RunResult) -> str:
    ops = acked = 0
    if result.history is not None:
        ops = len(result.history.ops)
        acked = sum(1 for op in result.history.ops if op.is_write and op.ok)
    text = f"{result.status.upper()} ({ops} operations, {acked} acknowledged writes"
    if result.faults:
        text += f", faults: {'; '.join(result.faults)}"
    text += f", {result.seconds:.1f} s)"
    if result.report is not None and result.report.failed:
        failed = sorted({v.invariant for v in result.report.violations})
        text += f": {len(result.report.violations)} violations of {', '.join(failed)}"
    if result.error is not None:
        text += f": {result.error.splitlines()[0]}"
    return text


__all__ = [
    "ConformPlan",
    "RunResult",
    "UnusableAdapterError",
    "describe_result",
    "run_seed",
    "run_seeds",
]
