"""Seeded concurrent clients of any store, every request recorded in a History.

Each client picks a key and a node with its own seeded generator and does what its role says:

- `careful`: reads the key, then writes a new value (or, at the workload's delete rate,
  deletes) with that read's context: Dynamo's read-modify-write, which supersedes exactly the
  values the read returned;
- `stale`: writes with the context of an older read of the key, mostly through its own home
  node, so two writes with one stale context through one coordinator happen often (vclock's
  lost update needs exactly that); concurrent writes it never saw stay as siblings in dvv;
- `blind`: writes with an empty context, concurrent with everything already there.

Workloads: `rmw` (every client careful, no deletes), `blind`, `delete` (careful, one write in
three a delete), `mixed` (careful, careful, stale, blind, in turn; a few deletes). Every value
written is unique (`<prefix><client>-<n>`), so a value names the put that wrote it. Clients run
until the shared `Budget` of operations is spent or the stop event is set.

The store is anything with the `Store` methods: an adapter process (`dynref conform`), or a
dynref cluster's own clients (`dynref demo`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Protocol

import attrs
from dynref.history import OpKind

from dynref_io.conform.protocol import Answer
from dynref_io.conform.recorder import HistoryRecorder

WORKLOADS: dict[str, tuple[tuple[str, ...], float]] = {
    "rmw": (("careful",), 0.0),
    "blind": (("blind",), 0.0),
    "delete": (("careful",), 0.35),
    "mixed": (("careful", "careful", "stale", "blind"), 0.06),
}
"""Workload -> (the roles clients take in turn, the share of careful writes that delete)."""
REMEMBERED_READS = 6
"""How many of its latest reads of a key a client keeps (a stale writer uses the oldest)."""
HOME_SHARE = 0.7
"""How often a stale writer goes through its home node rather than a random one."""
OWN_QUORUM_SHARE = 0.2
"""With per-request R/W: how often a request asks for its own (R or W = 1, or N)."""


class Store(Protocol):
    """A store's client operations; `node` is the coordinator asked for (None: the store's
    choice). Every failure is an Answer, never an exception."""

    async def get(self, client: str, node: str | None, key: str, r: int | None) -> Answer: ...

    async def put(
        self, client: str, node: str | None, key: str, value: str, context: bytes, w: int | None
    ) -> Answer: ...

    async def delete(
        self, client: str, node: str | None, key: str, context: bytes, w: int | None
    ) -> Answer: ...


@attrs.frozen
class WorkloadPlan:
    workload: str = "mixed"
    clients: int = 4
    keys: int = 4
    prefix: str = ""
    """Put before every value (a run's seed, say): values stay unique across runs."""
    think: tuple[float, float] = (0.0, 0.0)
    """A client's pause between iterations, drawn uniformly (seconds)."""


@attrs.frozen
class StoreTraits:
    """What the workload needs to know of the store."""

    nodes: tuple[str, ...]
    n: int
    deletes: bool = True
    per_request_rw: bool = False
    coordinators: bool = True
    """Whether requests may name their coordinator."""


class Budget:
    """Operations left for all clients together (None: no limit), the stop signal, and a gate:
    once `issued` reaches the gate's count, clients wait until it opens (a fault injector
    closes it at the count where its next fault is due, and opens it once the fault is in)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.issued = 0
        self.stop = asyncio.Event()
        self._gate: int | None = None
        self._open = asyncio.Event()
        self._open.set()

    async def take(self) -> bool:
        while self._gate is not None and self.issued >= self._gate and not self.stop.is_set():
            await self._open.wait()
        if self.stop.is_set() or (self.total is not None and self.issued >= self.total):
            return False
        self.issued += 1
        return True

    def close_at(self, count: int) -> None:
        self._gate = count
        self._open.clear()

    def open(self) -> None:
        self._gate = None
        self._open.set()

    def finish(self) -> None:
        """Stop every client, waiting or not."""
        self.stop.set()
        self.open()


@attrs.frozen
class ReadMemo:
    context: bytes


def key_names(count: int) -> tuple[str, ...]:
    return tuple(f"k{i}" for i in range(count))


class WorkloadClient:
    """One client: a role, a seeded generator, and its memory of reads."""

    def __init__(
        self,
        name: str,
        role: str,
        plan: WorkloadPlan,
        traits: StoreTraits,
        store: Store,
        recorder: HistoryRecorder,
        rng: random.Random,
    ) -> None:
        self.name, self.role = name, role
        self.plan, self.traits = plan, traits
        self.store, self.recorder, self.rng = store, recorder, rng
        self.keys = key_names(plan.keys)
        self.delete_rate = WORKLOADS[plan.workload][1] if traits.deletes else 0.0
        self.home = rng.choice(traits.nodes)
        self._reads: dict[str, list[ReadMemo]] = {}
        self._sequence = 0

    async def run(self, budget: Budget) -> None:
        while True:
            key = self.rng.choice(self.keys)
            if not await self._iteration(key, budget):
                return
            low, high = self.plan.think
            if high > 0:
                await asyncio.sleep(self.rng.uniform(low, high))

    async def _iteration(self, key: str, budget: Budget) -> bool:
        """One round of the role; False once the budget is spent."""
        if self.role == "careful":
            if not await budget.take():
                return False
            read = await self.get(key)
            if read is not None and await budget.take():
                if self.rng.random() < self.delete_rate:
                    await self.delete(key, read)
                else:
                    await self.put(key, read)
        elif self.role == "stale":
            if self.rng.random() < 0.4:
                if not await budget.take():
                    return False
                await self.get(key)
            remembered = self._reads.get(key)
            if not await budget.take():
                return False
            home = self.rng.random() < HOME_SHARE
            await self.put(key, remembered[0] if remembered else None, home)
        else:  # blind
            if self.rng.random() < 0.3:
                if not await budget.take():
                    return False
                await self.get(key)
            if not await budget.take():
                return False
            await self.put(key, None)
        return True

    def _node(self, home: bool = False) -> str | None:
        if not self.traits.coordinators:
            return None
        return self.home if home else self.rng.choice(self.traits.nodes)

    def _own_quorum(self) -> int | None:
        if not self.traits.per_request_rw or self.rng.random() >= OWN_QUORUM_SHARE:
            return None
        return self.rng.choice((1, self.traits.n))

    async def get(self, key: str) -> ReadMemo | None:
        node, r = self._node(), self._own_quorum()
        op_id = self.recorder.invoke(self.name, OpKind.GET, key, node, r=r)
        answer = await self.store.get(self.name, node, key, r)
        self.recorder.complete(op_id, answer)
        if not answer.ok:
            return None
        memo = ReadMemo(answer.context or b"")
        remembered = self._reads.setdefault(key, [])
        remembered.append(memo)
        del remembered[:-REMEMBERED_READS]
        return memo

    async def put(self, key: str, read: ReadMemo | None, home: bool = False) -> None:
        self._sequence += 1
        value = f"{self.plan.prefix}{self.name}-{self._sequence}"
        context = b"" if read is None else read.context
        node, w = self._node(home), self._own_quorum()
        op_id = self.recorder.invoke(self.name, OpKind.PUT, key, node, value, context, w=w)
        answer = await self.store.put(self.name, node, key, value, context, w)
        self.recorder.complete(op_id, answer)

    async def delete(self, key: str, read: ReadMemo) -> None:
        node, w = self._node(), self._own_quorum()
        op_id = self.recorder.invoke(self.name, OpKind.DELETE, key, node, None, read.context, w=w)
        answer = await self.store.delete(self.name, node, key, read.context, w)
        self.recorder.complete(op_id, answer)


def workload_clients(
    plan: WorkloadPlan,
    traits: StoreTraits,
    store: Store,
    recorder: HistoryRecorder,
    seed: int,
) -> list[WorkloadClient]:
    roles: Sequence[str] = WORKLOADS[plan.workload][0]
    return [
        WorkloadClient(
            f"c{i + 1}",
            roles[i % len(roles)],
            plan,
            traits,
            store,
            recorder,
            random.Random(f"{seed}/c{i + 1}"),
        )
        for i in range(plan.clients)
    ]


async def run_clients(clients: Sequence[WorkloadClient], budget: Budget) -> None:
    """Run every client until the budget is spent or stopped; an error in one stops all."""
    tasks = [asyncio.create_task(client.run(budget)) for client in clients]
    try:
        await asyncio.gather(*tasks)
    finally:
        budget.finish()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = [
    "WORKLOADS",
    "Budget",
    "Store",
    "StoreTraits",
    "WorkloadClient",
    "WorkloadPlan",
    "key_names",
    "run_clients",
    "workload_clients",
]
