"""A minimal deterministic network of node state machines, driven one step at a time.

The full simulator lives in the explorer; this harness is just enough to pin node scenarios:
messages queue in order, each can be delivered or dropped by a filter, every node ticks together,
and crashes keep only durable state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs
from dynref.config import ClusterConfig
from dynref.messages import (
    Admin,
    AdminRequest,
    ClientRequest,
    ClientResult,
    DurableWrite,
    Effect,
    Event,
    Message,
    ProtocolError,
    Receive,
    Request,
    Restart,
    Send,
    Tick,
)
from dynref.node import Step, boot, step
from dynref.ready import Ready
from dynref.ring import NodeSpec
from dynref.state import NodeState

Envelope = tuple[str, str, Message]
"""(sender, receiver, message)."""
Blocked = Callable[[str, str, Message], bool]


def nodes(count: int) -> tuple[NodeSpec, ...]:
    return tuple(NodeSpec(f"n{i}") for i in range(1, count + 1))


@attrs.define
class Net:
    config: ClusterConfig
    states: dict[str, NodeState]
    now: int = 0
    queue: list[Envelope] = attrs.Factory(list)
    results: dict[int, ClientResult] = attrs.Factory(dict)
    effects: list[tuple[str, Effect]] = attrs.Factory(list)
    """Every effect in emission order, for tests to inspect; routing goes by `readies`."""
    readies: list[tuple[str, Ready]] = attrs.Factory(list)
    crashed: set[str] = attrs.Factory(set)
    next_request: int = 1
    steps: list[tuple[str, Event, Step]] = attrs.Factory(list)

    @classmethod
    def start(cls, config: ClusterConfig) -> Net:
        states = {spec.node_id: boot(config, spec.node_id, 0, 0).state for spec in config.nodes}
        return cls(config, states)

    def run(self, node: str, event: Event) -> None:
        result = step(self.states[node], event)
        self.steps.append((node, event, result))
        self.apply(node, result)

    def apply(self, node: str, result: Step) -> None:
        """Persist (a harness's disk is the state itself), then send and reply."""
        self.states[node] = result.state
        self.effects.extend((node, effect) for effect in result.effects)
        ready = result.ready
        self.readies.append((node, ready))
        self.queue.extend((node, send.to, send.message) for send in ready.sends)
        for reply in ready.replies:
            self.results[reply.request_id] = reply.result

    def request(self, node: str, make: Callable[[int], ClientRequest]) -> int:
        request_id = self.next_request
        self.next_request += 1
        self.run(node, Request(make(request_id)))
        return request_id

    def admin(self, node: str, make: Callable[[int], AdminRequest]) -> int:
        request_id = self.next_request
        self.next_request += 1
        self.run(node, Admin(make(request_id)))
        return request_id

    def add_node(self, node_id: str) -> None:
        """Boot a node outside the configuration (it joins with an admin `JoinCluster`)."""
        self.states[node_id] = boot(self.config, node_id, 0, self.now).state

    def deliver(self, blocked: Blocked = lambda _s, _r, _m: False, rounds: int = 50) -> int:
        """Deliver queued messages (new ones too) until none is left; blocked ones are dropped."""
        delivered = 0
        for _ in range(rounds):
            if not self.queue:
                break
            batch, self.queue = self.queue, []
            for sender, receiver, message in batch:
                if receiver in self.crashed or blocked(sender, receiver, message):
                    continue
                self.run(receiver, Receive(sender, message))
                delivered += 1
        return delivered

    def tick(self, dt: int) -> None:
        self.now += dt
        for node in sorted(self.states):
            if node not in self.crashed:
                self.run(node, Tick(self.now))

    def settle(self, dt: int, times: int, blocked: Blocked = lambda _s, _r, _m: False) -> None:
        for _ in range(times):
            self.deliver(blocked)
            self.tick(dt)
        self.deliver(blocked)

    def crash(self, node: str) -> None:
        self.crashed.add(node)
        self.queue = [envelope for envelope in self.queue if envelope[1] != node]

    def restart(self, node: str) -> None:
        self.crashed.discard(node)
        self.run(node, Restart(self.now))

    def durable_writes(self, node: str) -> list[DurableWrite]:
        return [write for n, ready in self.readies if n == node for write in ready.writes]

    def protocol_errors(self) -> list[tuple[str, ProtocolError]]:
        return [(n, error) for n, ready in self.readies for error in ready.errors]

    def sent(self, kind: type) -> list[tuple[str, Send]]:
        return [
            (n, send)
            for n, ready in self.readies
            for send in ready.sends
            if isinstance(send.message, kind)
        ]


def isolate(isolated: Iterable[str]) -> Blocked:
    """A filter dropping every message to or from the given nodes."""
    cut = frozenset(isolated)
    return lambda sender, receiver, _message: sender in cut or receiver in cut
