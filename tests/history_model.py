"""A seeded model of a Dynamo-like store that records the History its clients see.

Every node replicates every key (N = the number of nodes) with dynref's own causality types, so
a correct model keeps Dynamo's promises by construction: a write is applied at its coordinator
with the client's context, replicated, and acknowledged once W replicas hold it; a read merges R
replicas at one instant; replicas merge (anti-entropy) now and then and all of them at the end.
Clients overlap: every step of every operation is a separate event, drawn at random among those
enabled, and node clocks drift apart. Optional faults keep it honest: writes refused before
anything is stored (`fail`), writes that time out (`info`, applied or not, perhaps after their
answer), and writes applied again later (a `redeliver` fault).

`Defect` plants one classic bug; `generate(settings, seed)` returns the History. The property
tests (tests/test_check_history.py) and benchmarks/bench_check.py use it.
"""

from __future__ import annotations

import enum
import random

import attrs
from dynref.causality import (
    AnyVersions,
    ContextError,
    DvvSet,
    LwwRegister,
    LwwVersion,
    Mode,
    decode_context,
    empty_versions,
    merge_versions,
    read_context,
)
from dynref.history import (
    Capabilities,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
)


class Defect(enum.Enum):
    STALE_CONTEXT_OVERWRITES = "a coordinator's write drops every sibling, not only those seen"
    DELETE_ONE_COPY = "a delete removes the coordinator's copy only"
    REPLICA_OVERWRITES = "a replica takes an incoming version instead of merging it"
    LWW_STAMPS_BACKWARDS = "a coordinator's lww stamps can go back in time"
    MERGE_KEEPS_SEEN = "a merge keeps the siblings the other side had already superseded"
    INVENTED_READ = "a read returns a value nobody wrote"
    STALE_READ = "a read asks one replica although the store claims strict quorum"


@attrs.frozen
class ModelSettings:
    mode: Mode = Mode.DVV
    nodes: int = 3
    r: int = 2
    w: int = 2
    clients: int = 3
    keys: int = 2
    operations: int = 120
    get_per_mille: int = 450
    delete_per_mille: int = 100
    blind_per_mille: int = 200
    refuse_per_mille: int = 0
    timeout_per_mille: int = 0
    redeliver_per_mille: int = 0
    repair_at_end: bool = True
    defect: Defect | None = None

    def capabilities(self) -> Capabilities:
        dvv = self.mode is Mode.DVV
        strict = self.r + self.w > self.nodes or self.defect is Defect.STALE_READ
        return Capabilities(
            self.mode, dvv, dvv, True, False, strict, True, self.nodes, self.r, self.w
        )


@attrs.define
class _Pending:
    op: Op
    stage: str  # "apply", "acks" or "read"
    acks: set[str] = attrs.field(factory=set)
    times_out: bool = False
    returned: bytes | None = None
    """The context an lww write returns: the stamp of the version it wrote."""


class _Model:
    def __init__(self, settings: ModelSettings, seed: int) -> None:
        self.s = settings
        self.rng = random.Random(seed)
        self.nodes = [f"n{i}" for i in range(1, settings.nodes + 1)]
        self.keys = [f"k{i}" for i in range(settings.keys)]
        self.clients = [f"c{i}" for i in range(1, settings.clients + 1)]
        self.store: dict[str, dict[str, AnyVersions]] = {node: {} for node in self.nodes}
        self.clock = {node: self.rng.randint(0, 40) for node in self.nodes}
        self.issued = dict.fromkeys(self.nodes, 0)
        self.time = 0
        self.done: list[Op] = []
        self.pending: dict[str, _Pending] = {}
        self.messages: list[tuple[str, str, AnyVersions, int]] = []
        self.late: list[tuple[Op, bool]] = []
        """Writes the network delivers again (True: they already ran) or after their answer."""
        self.faults: list[Fault] = []
        self.contexts: dict[tuple[str, str], bytes] = {}
        self.puts = dict.fromkeys(self.clients, 0)
        self.issued_ops = 0

    # ------------------------------------------------------------ the store

    def empty(self) -> AnyVersions:
        return empty_versions(self.s.mode)

    def apply(self, op: Op, coordinator: str) -> tuple[set[str], bytes | None]:
        """Run a write at `coordinator`: the nodes holding it, and in lww the context naming
        the version it wrote (what a PutOk returns)."""
        key, defect = op.key, self.s.defect
        current = self.store[coordinator].get(key, self.empty())
        if defect is Defect.DELETE_ONE_COPY and op.kind is OpKind.DELETE:
            self.store[coordinator].pop(key, None)
            return set(self.nodes), None
        context = decode_context(self.s.mode, op.context_sent or b"")
        if isinstance(context, ContextError):
            context = decode_context(self.s.mode, b"")
        stamp, actor = self.clock[coordinator], f"{coordinator}#0"
        value = None if op.value is None else op.value.encode()
        if defect is Defect.LWW_STAMPS_BACKWARDS and isinstance(current, LwwRegister):
            stamp -= self.rng.randint(0, 30)  # the clock alone, and it may step back
            written: AnyVersions = current.merge(LwwRegister(LwwVersion(stamp, actor, value)))
        else:
            # lww: the register stamps above what it holds and what the context saw
            # (REQ-LWW-1); above what this coordinator stamped before, too.
            stamp = max(stamp, self.issued[coordinator] + 1)
            written = current.write(value, context, actor, stamp)  # type: ignore[arg-type]
            if isinstance(written, LwwRegister) and written.winner is not None:
                self.issued[coordinator] = max(self.issued[coordinator], written.winner.timestamp)
        if defect is Defect.STALE_CONTEXT_OVERWRITES and isinstance(written, DvvSet):
            newest = max(
                (s for s in written.siblings if s.actor == f"{coordinator}#0"),
                key=lambda s: s.counter,
            )
            written = DvvSet(written.vv, (newest,))
        self.store[coordinator][key] = written
        for node in self.nodes:
            if node != coordinator:
                self.messages.append((node, key, written, op.id))
        returned = read_context(written) if isinstance(written, LwwRegister) else None
        return {coordinator}, returned

    def receive(self, node: str, key: str, versions: AnyVersions) -> None:
        current = self.store[node].get(key, self.empty())
        if self.s.defect is Defect.REPLICA_OVERWRITES:
            self.store[node][key] = versions
        elif self.s.defect is Defect.MERGE_KEEPS_SEEN and isinstance(versions, DvvSet):
            assert isinstance(current, DvvSet)
            by_dot = {s.dot: s for s in (*current.siblings, *versions.siblings)}
            siblings = tuple(by_dot[dot] for dot in sorted(by_dot))
            self.store[node][key] = DvvSet(current.vv.join(versions.vv), siblings)
        else:
            self.store[node][key] = merge_versions(current, versions)

    def exchange(self, key: str, first: str, second: str) -> None:
        for node, other in ((first, second), (second, first)):
            held = self.store[other].get(key)
            if held is not None:
                self.receive(node, key, held)

    def read(self, key: str, replicas: list[str]) -> AnyVersions:
        merged = self.empty()
        for node in replicas:
            merged = merge_versions(merged, self.store[node].get(key, self.empty()))
        return merged

    # ------------------------------------------------------------ clients

    def invoke(self, client: str) -> None:
        self.issued_ops += 1
        key, node = self.rng.choice(self.keys), self.rng.choice(self.nodes)
        draw = self.rng.randrange(1000)
        op_id, now = self.issued_ops, self.time
        if draw < self.s.get_per_mille:
            op = Op(op_id, client, OpKind.GET, key, node, now, Outcome.INFO)
            self.pending[client] = _Pending(op, "read")
            return
        blind = self.rng.randrange(1000) < self.s.blind_per_mille
        context = b"" if blind else self.contexts.get((client, key), b"")
        if draw < self.s.get_per_mille + self.s.delete_per_mille:
            op = Op(
                op_id, client, OpKind.DELETE, key, node, now, Outcome.INFO, context_sent=context
            )
        else:
            self.puts[client] += 1
            value = f"{client}:{self.puts[client]}"
            op = Op(op_id, client, OpKind.PUT, key, node, now, Outcome.INFO, None, value, context)
        if self.rng.randrange(1000) < self.s.refuse_per_mille:
            self.done.append(attrs.evolve(op, outcome=Outcome.FAIL, completed=now, error="refused"))
            return
        times_out = self.rng.randrange(1000) < self.s.timeout_per_mille
        self.pending[client] = _Pending(op, "apply", times_out=times_out)

    def finish(self, client: str, outcome: Outcome, **changes: object) -> None:
        pending = self.pending.pop(client)
        op = attrs.evolve(pending.op, outcome=outcome, completed=self.time, **changes)
        self.done.append(op)

    def step_client(self, client: str) -> None:
        pending = self.pending[client]
        op = pending.op
        if pending.stage == "read":
            count = 1 if self.s.defect is Defect.STALE_READ else self.s.r
            merged = self.read(op.key, self.rng.sample(self.nodes, count))
            values = [value.decode() for value in merged.values()]
            if self.s.defect is Defect.INVENTED_READ and self.rng.randrange(4) == 0:
                values.append(f"ghost:{op.id}")
            context = read_context(merged)
            self.contexts[(client, op.key)] = context
            self.finish(client, Outcome.OK, values=tuple(sorted(values)), context_returned=context)
        elif pending.stage == "apply":
            if pending.times_out and self.rng.randrange(2) == 0:
                self.late.append((op, False))  # answered before it ran: later, or never
                self.finish(client, Outcome.INFO, error="timeout")
                return
            pending.acks, pending.returned = self.apply(op, op.coordinator)
            pending.stage = "acks"
            if self.rng.randrange(1000) < self.s.redeliver_per_mille:
                self.late.append((op, True))
        elif pending.times_out:
            self.finish(client, Outcome.INFO, error="timeout")
        elif len(pending.acks) >= self.s.w:
            if pending.returned is not None:  # the client writes on with what its put returned
                self.contexts[(client, op.key)] = pending.returned
            self.finish(client, Outcome.OK, context_returned=pending.returned)

    # ------------------------------------------------------------ the run

    def tick(self) -> None:
        self.time += 1
        for node in self.nodes:
            self.clock[node] += self.rng.randint(0, 2)

    def step(self) -> bool:
        self.tick()
        idle = [c for c in self.clients if c not in self.pending]
        choices: list[tuple[str, int]] = []
        if idle and self.issued_ops < self.s.operations:
            choices.append(("invoke", 3))
        if self.pending:
            choices.append(("client", 4))
        if self.messages:
            choices.append(("deliver", 5))
        if self.late:
            choices.append(("late", 1))
        choices.append(("exchange", 1))
        if len(choices) == 1 and self.issued_ops >= self.s.operations:
            return False
        kind = self.rng.choices([k for k, _ in choices], [w for _, w in choices])[0]
        if kind == "invoke":
            self.invoke(self.rng.choice(idle))
        elif kind == "client":
            self.step_client(self.rng.choice(sorted(self.pending)))
        elif kind == "deliver":
            node, key, versions, op_id = self.messages.pop(self.rng.randrange(len(self.messages)))
            self.receive(node, key, versions)
            for pending in self.pending.values():
                if pending.op.id == op_id and pending.stage == "acks":
                    pending.acks.add(node)
        elif kind == "late":
            op, ran = self.late.pop(self.rng.randrange(len(self.late)))
            if self.rng.randrange(3):
                if ran:
                    self.faults.append(Fault(FaultKind.REDELIVER, self.time, op=op.id))
                self.apply(op, self.rng.choice(self.nodes))
        else:
            self.exchange(self.rng.choice(self.keys), *self.rng.sample(self.nodes, 2))
        return True

    def run(self) -> History:
        while self.step():
            pass
        self.tick()
        if self.s.repair_at_end:
            for key in self.keys:
                for first in self.nodes:
                    for second in self.nodes:
                        if first < second:
                            self.exchange(key, first, second)
                for first in self.nodes:  # a second round spreads what the first gathered
                    for second in self.nodes:
                        if first < second:
                            self.exchange(key, first, second)
        finals: list[FinalRead] = []
        for key in sorted({op.key for op in self.done}):
            for node in self.nodes:
                held = self.store[node].get(key, self.empty())
                values = tuple(value.decode() for value in held.values())
                finals.append(FinalRead(key, self.time, Outcome.OK, replica=node, values=values))
            merged = self.read(key, self.nodes)
            values = tuple(value.decode() for value in merged.values())
            finals.append(FinalRead(key, self.time, Outcome.OK, None, len(self.nodes), values))
        header = Header(self.s.capabilities(), "history model", tuple(self.nodes))
        ops = tuple(sorted(self.done, key=lambda op: op.id))
        return History(header, ops, tuple(finals), tuple(self.faults))


def generate(settings: ModelSettings, seed: int) -> History:
    return _Model(settings, seed).run()
