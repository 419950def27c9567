"""A whole Dynamo cluster as one immutable value, and the actions that make new ones.

A `Cluster` holds the configuration, each node's state (a `Crashed` marker keeping the durable
part for a crashed node), the in-flight messages as a bag keyed by id, the faults (blocked
directed pairs), each node's clock, the clients and their history, the trace of actions so far,
the audit records the checkers read, and counters. Every action returns a new cluster and
leaves the old one intact, so any state can be kept, compared, fingerprinted and explored from.

    cluster = Cluster.start(explorer_config())
    cluster = cluster.client_put("c1", "n1", b"k0")
    for message_id in cluster.message_ids():
        cluster = cluster.deliver(message_id)
    cluster = cluster.quiesce()
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import immutables

from dynref.config import ClusterConfig
from dynref.membership import IN_CURRENT_RING, Membership, initial_membership
from dynref.node import boot
from dynref.ring import Ring
from dynref.sim import engine
from dynref.sim.actions import (
    Action,
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
    QuiesceBegin,
    QuiesceEnd,
    RestartNode,
    TickAll,
    TickNode,
)
from dynref.sim.history import ClientState, Operation
from dynref.sim.log import Log
from dynref.sim.model import (
    Counters,
    Crashed,
    Draft,
    InFlight,
    NodeSlot,
    Quiescence,
    cluster_fields,
)
from dynref.sim.records import Record
from dynref.sim.settle import unsettled
from dynref.state import DurableState, NodeState

DEFAULT_CLIENTS = ("c1", "c2", "c3")
DEFAULT_QUIESCE_BOUND = 300
"""Tick rounds `quiesce` may use before the cluster counts as not converging (INV-CONV-1)."""
MAX_DELIVERIES_PER_DRAIN = 100_000


@attrs.frozen
class Cluster:
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
    """Live nodes that believe some peer down (so fallbacks may be in use)."""
    counters: Counters
    quiescence: Quiescence | None
    step: int
    """The index the next action gets in the trace."""
    actions: Log[Action]
    records: Log[Record]

    @classmethod
    def start(cls, config: ClusterConfig, clients: Iterable[str] = DEFAULT_CLIENTS) -> Cluster:
        """Every node booted with an empty disk (incarnation 0) at time 0."""
        names = tuple(clients)
        if len(set(names)) != len(names):
            raise ValueError("client names must be distinct")
        node_ids = sorted(spec.node_id for spec in config.nodes)
        nodes: dict[str, NodeSlot] = {node: boot(config, node, 0, 0).state for node in node_ids}
        return cls(
            config=config,
            clients=names,
            nodes=immutables.Map(nodes),
            clocks=immutables.Map(dict.fromkeys(node_ids, 0)),
            in_flight=immutables.Map(),
            next_message_id=0,
            blocked=frozenset(),
            client_states=immutables.Map({name: ClientState() for name in names}),
            operations=immutables.Map(),
            next_operation=1,
            degraded=frozenset(),
            counters=Counters(),
            quiescence=None,
            step=0,
            actions=Log(),
            records=Log(),
        )

    # ------------------------------------------------------------ applying actions

    def _thaw(self) -> Draft:
        return Draft(*cluster_fields(self))

    @classmethod
    def _freeze(cls, draft: Draft) -> Cluster:
        return cls(*draft.fields())

    def apply(self, action: Action) -> Cluster:
        """Execute one action; raises `InvalidActionError` when it does not apply here."""
        draft = self._thaw()
        engine.apply(draft, action)
        return self._freeze(draft)

    def apply_all(self, actions: Iterable[Action]) -> Cluster:
        draft = self._thaw()
        for action in actions:
            engine.apply(draft, action)
        return self._freeze(draft)

    def deliver(self, message_id: int) -> Cluster:
        return self.apply(Deliver(message_id))

    def drop(self, message_id: int) -> Cluster:
        return self.apply(Drop(message_id))

    def duplicate(self, message_id: int) -> Cluster:
        return self.apply(Duplicate(message_id))

    def tick(self, node: str, dt: int) -> Cluster:
        return self.apply(TickNode(node, dt))

    def tick_all(self, dt: int) -> Cluster:
        return self.apply(TickAll(dt))

    def crash(self, node: str) -> Cluster:
        return self.apply(Crash(node))

    def restart(self, node: str) -> Cluster:
        return self.apply(RestartNode(node))

    def lose_disk(self, node: str) -> Cluster:
        return self.apply(LoseDisk(node))

    def partition(self, groups: Iterable[Iterable[str]]) -> Cluster:
        normal = tuple(sorted(tuple(sorted(group)) for group in groups))
        return self.apply(Partition(normal))

    def partition_directed(self, pairs: Iterable[tuple[str, str]]) -> Cluster:
        return self.apply(PartitionDirected(tuple(sorted(set(pairs)))))

    def heal(self) -> Cluster:
        return self.apply(Heal())

    def client_get(self, client: str, node: str, key: bytes) -> Cluster:
        return self.apply(Get(client, node, key))

    def client_put(self, client: str, node: str, key: bytes) -> Cluster:
        return self.apply(Put(client, node, key))

    def client_delete(self, client: str, node: str, key: bytes) -> Cluster:
        return self.apply(Delete(client, node, key))

    def join(self, node: str, seed: str) -> Cluster:
        return self.apply(Join(node, seed))

    def leave(self, node: str) -> Cluster:
        return self.apply(Leave(node))

    def quiesce(self, bound: int = DEFAULT_QUIESCE_BOUND, step_ms: int | None = None) -> Cluster:
        """Faults off, then deliver everything and tick every node until settled or `bound`.

        Heals the network, restarts crashed nodes, then alternates: deliver every in-flight
        message in id order (new ones too), and if the cluster is not yet settled advance all
        clocks by `step_ms` (default: the shortest timer period) so that deadlines, handoff,
        probes and anti-entropy fire. `self.quiescence` of the result holds the verdict.
        """
        config = self.config
        step = step_ms or min(
            config.handoff_interval, config.probe_interval, config.antientropy_interval
        )
        draft = self._thaw()
        if draft.blocked:
            engine.apply(draft, Heal())
        for node in sorted(draft.nodes.keys()):
            if isinstance(draft.nodes[node], Crashed):
                engine.apply(draft, RestartNode(node))
        engine.apply(draft, QuiesceBegin(bound, step))
        rounds = 0
        while True:
            drained = _drain(draft)
            if not drained or rounds >= bound:
                break
            if not unsettled(draft.config, draft.nodes, 0):
                break
            engine.apply(draft, TickAll(step))
            rounds += 1
        engine.apply(draft, QuiesceEnd())
        return self._freeze(draft)

    # ------------------------------------------------------------ reading the cluster

    @property
    def ring(self) -> Ring:
        """The current ring of the first node (by id) that is a member; the static one's at
        quiescence, when every member agrees (INV-MEMBER-2)."""
        fallback = None
        for node in self.node_ids():
            slot = self.nodes[node]
            state = slot.state if isinstance(slot, Crashed) else slot
            entry = state.membership.get(node)
            if entry is not None and entry.status in IN_CURRENT_RING:
                return state.ring
            fallback = fallback or state.ring
        assert fallback is not None
        return fallback

    def node_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.nodes.keys()))

    def live_nodes(self) -> tuple[str, ...]:
        return tuple(n for n in self.node_ids() if isinstance(self.nodes[n], NodeState))

    def crashed_nodes(self) -> tuple[str, ...]:
        return tuple(n for n in self.node_ids() if isinstance(self.nodes[n], Crashed))

    def state(self, node: str) -> NodeState | None:
        """A live node's state, None for a crashed one."""
        slot = self.nodes[node]
        return slot if isinstance(slot, NodeState) else None

    def durable(self, node: str) -> DurableState:
        slot = self.nodes[node]
        return slot.state.durable if isinstance(slot, Crashed) else slot.durable

    def durable_membership(self, node: str) -> Membership:
        """The membership `node` holds (a crashed node: the one it will restart with)."""
        slot = self.nodes[node]
        if isinstance(slot, Crashed):
            return initial_membership(self.config.nodes).merge(slot.state.durable.membership)
        return slot.membership

    def preference_list(self, key: bytes) -> tuple[str, ...]:
        return self.ring.preference_list(key, self.config.n)

    def message_ids(self) -> tuple[int, ...]:
        """The ids of the in-flight messages, oldest first."""
        return tuple(sorted(self.in_flight.keys()))

    def client_busy(self, client: str) -> bool:
        return self.client_states[client].pending is not None

    def history(self) -> tuple[Operation, ...]:
        """Every client operation, in invocation order."""
        return tuple(self.operations[op_id] for op_id in sorted(self.operations.keys()))

    def trace_actions(self) -> tuple[Action, ...]:
        return self.actions.items()

    def audit_records(self) -> tuple[Record, ...]:
        return self.records.items()

    def settled(self) -> tuple[str, ...]:
        """What keeps the cluster from its fixed point right now (empty when settled)."""
        return unsettled(self.config, self.nodes, len(self.in_flight))


def _drain(draft: Draft) -> bool:
    """Deliver until nothing is in flight; False if that took implausibly many deliveries."""
    budget = MAX_DELIVERIES_PER_DRAIN
    while draft.in_flight:
        for message_id in sorted(draft.in_flight.keys()):
            engine.apply(draft, Deliver(message_id))
            budget -= 1
        if budget <= 0:
            return False
    return True
