"""A seeded fault schedule, and the task that injects it through the adapter's hooks.

`fault_schedule` turns a seed into episodes spread over the run's operations: a `kill` episode
kills one node and later restarts it, a `partition` episode splits the nodes in two groups
(often one node against the rest) and later heals. Episodes never overlap, and each fault kind
asked for gets one or two of them. They are placed by operation count (the clients' progress),
between 10% and 85% of the budget, so every run ends with time to recover under load.

`inject` performs the schedule as the clients make progress, recording each fault in the
History when its request is sent; `restore` ends whatever episode is still open once the
clients stop (a killed node restarted, a partition healed), so final reads see every node.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import attrs
from dynref.history import FaultKind

from dynref_io.conform.adapter import AdapterError, AdapterProcess
from dynref_io.conform.recorder import HistoryRecorder
from dynref_io.conform.workload import Budget

FAULTS: dict[str, tuple[str, str]] = {
    "kill": ("kill", "restart"),
    "partition": ("partition", "heal"),
}
"""A fault kind of `--faults` -> the hooks that start and end its episodes."""
POLL_S = 0.02


@attrs.frozen
class FaultAction:
    at: int
    """Fire once the clients have issued this many operations."""
    op: str
    node: str | None = None
    groups: tuple[tuple[str, ...], ...] = ()

    def describe(self) -> str:
        if self.node is not None:
            return f"{self.op} {self.node}"
        if self.groups:
            return f"{self.op} " + " | ".join(",".join(group) for group in self.groups)
        return self.op


def fault_schedule(
    seed: int, kinds: Sequence[str], nodes: Sequence[str], ops: int
) -> tuple[FaultAction, ...]:
    rng = random.Random(f"{seed}/faults")
    usable = [kind for kind in kinds if kind != "partition" or len(nodes) >= 2]
    episodes = [kind for kind in usable for _ in range(rng.randint(1, 2))]
    rng.shuffle(episodes)
    if not episodes:
        return ()
    start, end = 0.1 * ops, 0.85 * ops
    slot = (end - start) / len(episodes)
    actions: list[FaultAction] = []
    for index, kind in enumerate(episodes):
        begin = int(start + index * slot + rng.uniform(0, slot / 3))
        finish = max(begin + 1, int(start + (index + 1) * slot - rng.uniform(0, slot / 3)))
        opener, closer = FAULTS[kind]
        if kind == "kill":
            node = rng.choice(list(nodes))
            actions += [FaultAction(begin, opener, node), FaultAction(finish, closer, node)]
        else:
            groups = _split(rng, nodes)
            actions += [FaultAction(begin, opener, groups=groups), FaultAction(finish, closer)]
    return tuple(actions)


def _split(rng: random.Random, nodes: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    shuffled = rng.sample(list(nodes), len(nodes))
    cut = 1 if rng.random() < 0.5 else rng.randint(1, len(nodes) // 2)
    return (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))


_KINDS = {
    "kill": FaultKind.KILL,
    "restart": FaultKind.RESTART,
    "partition": FaultKind.PARTITION,
    "heal": FaultKind.HEAL,
}


class FaultInjector:
    """Performs a schedule's actions through the adapter, recording each as a fault."""

    def __init__(
        self,
        adapter: AdapterProcess,
        recorder: HistoryRecorder,
        schedule: Sequence[FaultAction],
        say: Callable[[str], None],
    ) -> None:
        self.adapter, self.recorder, self.say = adapter, recorder, say
        self.pending = list(schedule)
        self.open: set[str] = set()
        """Openers (kill NODE, partition) whose closer has not run yet."""
        self.done: list[FaultAction] = []

    async def inject(self, budget: Budget) -> None:
        """Run each action when the clients reach its operation count: they wait there until
        the fault is in, so every episode of the schedule happens. Stops with the clients."""
        try:
            while self.pending:
                action = self.pending[0]
                budget.close_at(action.at)
                while budget.issued < action.at and not budget.stop.is_set():
                    await asyncio.sleep(POLL_S)
                if budget.stop.is_set():
                    return
                self.pending.pop(0)
                await self._perform(action)
                budget.open()
        finally:
            budget.open()

    async def restore(self) -> None:
        """End every open episode (the clients have stopped); skip those never begun."""
        for action in self.pending:
            if action.op in {"restart", "heal"} and _episode(action) in self.open:
                await self._perform(action)
        self.pending = []

    async def _perform(self, action: FaultAction) -> None:
        fields: dict[str, object] = {}
        if action.node is not None:
            fields["node"] = action.node
        if action.groups:
            fields["groups"] = [list(group) for group in action.groups]
        self.recorder.fault(_KINDS[action.op], action.node, action.groups)
        answer = await self.adapter.hook(action.op, **fields)
        if not answer.ok:
            raise AdapterError(
                f"the adapter's {action.describe()} failed: {answer.describe_error()}"
            )
        if action.op in {"kill", "partition"}:
            self.open.add(_episode(action))
        else:
            self.open.discard(_episode(action))
        self.done.append(action)
        self.say(action.describe())


def _episode(action: FaultAction) -> str:
    """What pairs an opener with its closer: the node killed, or the one partition."""
    return f"node {action.node}" if action.op in {"kill", "restart"} else "partition"


__all__ = ["FAULTS", "FaultAction", "FaultInjector", "fault_schedule"]
