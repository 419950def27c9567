"""What the clients of a key-value store saw: the records of a History (spec/history.md).

A History judges any store, not only dynref: it holds nothing a client (or the harness that
drives the clients and injects faults) could not observe. Keys and values are text; contexts are
opaque bytes. Times are integers from one monotonic clock (nanoseconds for a real harness; the
simulator uses its trace step indexes): checkers only compare them.

- `Header`: the target's declared `Capabilities` (causality mode, contexts, siblings, deletes,
  per-request R/W, strict quorum, replica reads, N/R/W), and optionally its name, nodes, seed.
- `Op`: one client operation (get, put or delete) with what was sent, what came back, when, and
  its `Outcome`: `ok`, `fail` (certainly took no effect) or `info` (unknown).
- `FinalRead`: a read taken once the harness healed every fault and the store settled, of one
  replica (`replica` names the node) or through the store (`replica` is None).
- `Fault`: something the harness did to the store (kill, restart, partition, heal, disk loss),
  or `redeliver`: the network delivered the request of write `op` again, so that write may take
  effect again at that time.
"""

from __future__ import annotations

import enum

import attrs

from dynref.causality import Mode


class OpKind(enum.Enum):
    GET = "get"
    PUT = "put"
    DELETE = "delete"


class Outcome(enum.Enum):
    OK = "ok"
    """The store answered with success (a read's values, a write's acknowledgement)."""
    FAIL = "fail"
    """The operation certainly took no effect (rejected before anything was stored)."""
    INFO = "info"
    """Unknown: a timeout, a crash, an error after which the write may or may not have happened."""


class FaultKind(enum.Enum):
    KILL = "kill"
    RESTART = "restart"
    PARTITION = "partition"
    HEAL = "heal"
    DISK_LOSS = "disk-loss"
    REDELIVER = "redeliver"


@attrs.frozen
class Capabilities:
    """What the target declares it offers; a check that needs what is missing is skipped."""

    causality: Mode
    contexts: bool
    """A context returned by a read names what the read saw (a write sending it supersedes that)."""
    siblings: bool
    """A read may return several concurrent values."""
    deletes: bool
    per_request_rw: bool
    """Requests may ask for their own R (gets) or W (puts, deletes)."""
    strict_quorum: bool
    """R + W > N quorums always overlap: no sloppy fallback, no hinted replicas."""
    replica_reads: bool
    """The harness can read one node's replica of a key (final per-replica reads)."""
    n: int
    r: int
    w: int


@attrs.frozen
class Header:
    capabilities: Capabilities
    target: str = ""
    nodes: tuple[str, ...] = ()
    seed: int | None = None


@attrs.frozen
class Op:
    """One client operation. `values` is set exactly for a get that succeeded."""

    id: int
    client: str
    kind: OpKind
    key: str
    coordinator: str
    """The node the client sent the request to."""
    invoked: int
    outcome: Outcome
    completed: int | None = None
    """None only for an operation still unanswered when the history ended (outcome info)."""
    value: str | None = None
    """A put's value: unique among the history's puts."""
    context_sent: bytes | None = None
    """A write's context (empty for a blind write); None for a get."""
    context_returned: bytes | None = None
    r: int | None = None
    w: int | None = None
    values: tuple[str, ...] | None = None
    error: str | None = None

    @property
    def is_write(self) -> bool:
        return self.kind is not OpKind.GET

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def describe(self) -> str:
        what = f"{self.kind.value} {self.key}"
        if self.value is not None:
            what += f"={self.value}"
        if self.values is not None:
            what += " -> [" + ", ".join(self.values) + "]"
        return f"op {self.id} ({self.client} {what} at {self.coordinator}, {self.outcome.value})"


@attrs.frozen
class FinalRead:
    key: str
    time: int
    outcome: Outcome
    """ok or fail: a final read that failed shows nothing."""
    replica: str | None = None
    """The node whose own replica was read; None for a read through the store."""
    r: int | None = None
    values: tuple[str, ...] | None = None
    context: bytes | None = None
    error: str | None = None

    def describe(self) -> str:
        where = f"replica {self.replica}" if self.replica is not None else "through the store"
        shown = "failed" if self.values is None else "[" + ", ".join(self.values) + "]"
        return f"final read of {self.key} ({where}) at {self.time}: {shown}"


@attrs.frozen
class Fault:
    kind: FaultKind
    time: int
    node: str | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    """A symmetric partition: nodes of different groups cannot talk (unlisted: one group)."""
    pairs: tuple[tuple[str, str], ...] = ()
    """A one-way partition: exactly these (sender, receiver) links are cut."""
    op: int | None = None
    """The write a `redeliver` names."""

    def describe(self) -> str:
        text = f"{self.kind.value} at {self.time}"
        if self.node is not None:
            text += f" {self.node}"
        if self.groups:
            text += " " + " | ".join(",".join(group) for group in self.groups)
        if self.pairs:
            text += " " + " ".join(f"{a}->{b}" for a, b in self.pairs)
        if self.op is not None:
            text += f" op {self.op}"
        return text


def op_problem(op: Op) -> tuple[str, str] | None:
    """The first inconsistency between an operation's fields, as (field, problem)."""
    if op.completed is None and op.outcome is not Outcome.INFO:
        return "completed", f"missing (only an info outcome may lack it, not {op.outcome.value})"
    if op.completed is not None and op.completed < op.invoked:
        return "completed", f"{op.completed} is before invoked {op.invoked}"
    if op.kind is OpKind.PUT and op.value is None:
        return "value", "missing (a put writes a value)"
    if op.kind is not OpKind.PUT and op.value is not None:
        return "value", f"a {op.kind.value} writes no value"
    if op.kind is OpKind.GET:
        if op.context_sent is not None:
            return "context_sent", "a get sends no context"
        if op.w is not None:
            return "w", "a get asks for R, not W"
        if (op.values is not None) != (op.outcome is Outcome.OK):
            return "values", "present exactly when a get's outcome is ok"
    else:
        if op.values is not None:
            return "values", f"a {op.kind.value} returns no values"
        if op.r is not None:
            return "r", f"a {op.kind.value} asks for W, not R"
    return None


def final_problem(final: FinalRead) -> tuple[str, str] | None:
    if final.outcome is Outcome.INFO:
        return "outcome", "a final read is ok or fail"
    if (final.values is not None) != (final.outcome is Outcome.OK):
        return "values", "present exactly when the outcome is ok"
    return None


def fault_problem(fault: Fault) -> tuple[str, str] | None:
    kind = fault.kind
    if kind in {FaultKind.KILL, FaultKind.RESTART, FaultKind.DISK_LOSS} and fault.node is None:
        return "node", f"missing (a {kind.value} names its node)"
    if kind is FaultKind.PARTITION and bool(fault.groups) == bool(fault.pairs):
        return "groups", "a partition has either groups or pairs"
    if kind is FaultKind.REDELIVER and fault.op is None:
        return "op", "missing (a redeliver names the write's op id)"
    return None


Entry = Op | FinalRead | Fault
"""A record a violation can quote as part of its excerpt."""


def entry_time(entry: Entry) -> int:
    return entry.invoked if isinstance(entry, Op) else entry.time


@attrs.frozen
class History:
    header: Header
    ops: tuple[Op, ...] = ()
    finals: tuple[FinalRead, ...] = ()
    faults: tuple[Fault, ...] = ()

    @property
    def capabilities(self) -> Capabilities:
        return self.header.capabilities


__all__ = [
    "Capabilities",
    "Entry",
    "Fault",
    "FaultKind",
    "FinalRead",
    "Header",
    "History",
    "Op",
    "OpKind",
    "Outcome",
    "entry_time",
    "fault_problem",
    "final_problem",
    "op_problem",
]
