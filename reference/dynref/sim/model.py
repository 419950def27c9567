"""The parts of a cluster value, and `Draft`, the mutable scratch copy one action works on.

An action thaws the cluster into a Draft, changes it field by field (each field still holds
immutable values: maps, frozensets, logs), and freezes it back: one new Cluster per action, no
matter how many effects the node steps produced.
"""

from __future__ import annotations

import operator
from typing import Any

import attrs
import immutables

from dynref.config import ClusterConfig
from dynref.messages import Message
from dynref.sim.actions import Action
from dynref.sim.history import ClientState, Operation
from dynref.sim.log import Log
from dynref.sim.records import Record
from dynref.state import NodeState


@attrs.frozen
class InFlight:
    sender: str
    receiver: str
    message: Message
    operation: int | None = None
    """The client operation a ForwardPut carries, so that wherever and whenever it lands (even
    after its sender lost its disk and numbers its forwards anew) its execution is credited."""


@attrs.frozen
class Crashed:
    """A crashed node: its durable state, kept inside a NodeState whose volatile part is blank."""

    state: NodeState


@attrs.frozen
class Counters:
    """What happened so far; the sometimes-properties read several of these."""

    delivered: int = 0
    dropped: int = 0  # by a Drop action
    lost_to_faults: int = 0  # delivered across a blocked pair or to a crashed node
    duplicated: int = 0
    reads_with_siblings: int = 0  # GetOk with at least two values
    largest_sibling_set: int = 0
    sloppy_writes: int = 0  # StoreHint effects
    handoffs: int = 0  # DeleteHint effects
    read_repairs: int = 0
    antientropy_repairs: int = 0  # keys a SyncKeys changed
    crashes_losing_requests: int = 0  # crashes of a node with requests in progress
    protocol_errors: int = 0
    internal_errors: int = 0
    stray_replies: int = 0  # a reply to no pending operation of the node that sent it


@attrs.frozen
class Quiescence:
    """The liveness phase: began at a step, ran `rounds` tick rounds, and its verdict."""

    began: int
    bound: int
    step_ms: int
    rounds: int = 0
    ended: int | None = None
    converged: bool | None = None
    unsettled: tuple[str, ...] = ()


NodeSlot = NodeState | Crashed

CLUSTER_FIELDS = (
    "config",
    "clients",
    "nodes",
    "clocks",
    "in_flight",
    "next_message_id",
    "blocked",
    "client_states",
    "operations",
    "next_operation",
    "degraded",
    "counters",
    "quiescence",
    "step",
    "actions",
    "records",
)


COUNTER_NAMES = tuple(field.name for field in attrs.fields(Counters))
_COUNTER_INDEX = {name: index for index, name in enumerate(COUNTER_NAMES)}
_counter_values = operator.attrgetter(*COUNTER_NAMES)
cluster_fields = operator.attrgetter(*CLUSTER_FIELDS)
"""The values of a cluster's fields, in `CLUSTER_FIELDS` order."""


class Draft:
    """A cluster being changed by one action (or by one `quiesce`); never escapes the engine.

    Counters are tallied as plain integers and turned into one `Counters` value by `fields`:
    most actions count something, and rebuilding the frozen value per count cost more than the
    rest of a delivery's bookkeeping.
    """

    __slots__ = (*CLUSTER_FIELDS, "_tally")

    config: ClusterConfig
    clients: tuple[str, ...]
    nodes: immutables.Map[str, NodeSlot]
    clocks: immutables.Map[str, int]
    in_flight: immutables.Map[int, InFlight]
    next_message_id: int
    blocked: frozenset[tuple[str, str]]
    client_states: immutables.Map[str, ClientState]
    operations: immutables.Map[int, Operation]
    next_operation: int
    degraded: frozenset[str]
    counters: Counters
    """The counters as the draft began; `counter` and `bump` see the tally since."""
    quiescence: Quiescence | None
    step: int
    actions: Log[Action]
    records: Log[Record]
    _tally: list[int] | None

    def __init__(
        self,
        config: ClusterConfig,
        clients: tuple[str, ...],
        nodes: immutables.Map[str, NodeSlot],
        clocks: immutables.Map[str, int],
        in_flight: immutables.Map[int, InFlight],
        next_message_id: int,
        blocked: frozenset[tuple[str, str]],
        client_states: immutables.Map[str, ClientState],
        operations: immutables.Map[int, Operation],
        next_operation: int,
        degraded: frozenset[str],
        counters: Counters,
        quiescence: Quiescence | None,
        step: int,
        actions: Log[Action],
        records: Log[Record],
    ) -> None:
        self.config = config
        self.clients = clients
        self.nodes = nodes
        self.clocks = clocks
        self.in_flight = in_flight
        self.next_message_id = next_message_id
        self.blocked = blocked
        self.client_states = client_states
        self.operations = operations
        self.next_operation = next_operation
        self.degraded = degraded
        self.counters = counters
        self.quiescence = quiescence
        self.step = step
        self.actions = actions
        self.records = records
        self._tally = None

    def fields(self) -> tuple[Any, ...]:
        """The field values of the cluster this draft now describes, in `CLUSTER_FIELDS` order."""
        tally = self._tally
        counters = self.counters if tally is None else Counters(*tally)
        return (
            self.config,
            self.clients,
            self.nodes,
            self.clocks,
            self.in_flight,
            self.next_message_id,
            self.blocked,
            self.client_states,
            self.operations,
            self.next_operation,
            self.degraded,
            counters,
            self.quiescence,
            self.step,
            self.actions,
            self.records,
        )

    def bump(self, counter: str, amount: int = 1) -> None:
        tally = self._tally
        if tally is None:
            tally = self._tally = list(_counter_values(self.counters))
        tally[_COUNTER_INDEX[counter]] += amount

    def counter(self, counter: str) -> int:
        tally = self._tally
        if tally is None:
            return int(getattr(self.counters, counter))
        return tally[_COUNTER_INDEX[counter]]

    def record(self, record: Record) -> None:
        self.records = self.records.append(record)

    def live(self, node: str) -> NodeState | None:
        slot = self.nodes[node]
        return slot if isinstance(slot, NodeState) else None
