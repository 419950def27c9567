"""The actions a cluster accepts: each is a small frozen value, and a run is a list of them.

Engines (Hypothesis, swarm, exhaustive search) produce actions; `Cluster.apply` executes one;
a trace stores them; replay re-executes them. `quiesce()` expands into primitive actions
(heal, restarts, deliveries and whole-cluster ticks) between `QuiesceBegin` and `QuiesceEnd`,
so a replay needs nothing but the list.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Deliver:
    """Deliver one in-flight message (dropped across a blocked pair or to a crashed node)."""

    message_id: int


@attrs.frozen
class Drop:
    """Lose one in-flight message."""

    message_id: int


@attrs.frozen
class Duplicate:
    """Put a second copy of one in-flight message in the bag, under a new id."""

    message_id: int


@attrs.frozen
class TickNode:
    """Advance one node's clock by `dt` milliseconds (clocks drift apart this way)."""

    node: str
    dt: int


@attrs.frozen
class TickAll:
    """Advance every node's clock by `dt`, ticking the live ones in node-id order."""

    dt: int


@attrs.frozen
class Crash:
    """The node stops; its durable state survives, its volatile state and pending work do not."""

    node: str


@attrs.frozen
class RestartNode:
    """A crashed node comes back from its durable state (the `Restart` event)."""

    node: str


@attrs.frozen
class LoseDisk:
    """The node (crashed or not) loses its disk and boots empty under a fresh incarnation."""

    node: str


@attrs.frozen
class Partition:
    """Block every message between nodes of different groups; unlisted nodes form one group."""

    groups: tuple[tuple[str, ...], ...]


@attrs.frozen
class PartitionDirected:
    """Block exactly these (sender, receiver) pairs: an asymmetric partition."""

    pairs: tuple[tuple[str, str], ...]


@attrs.frozen
class Heal:
    """Unblock every pair."""


@attrs.frozen
class Get:
    client: str
    node: str
    key: bytes


@attrs.frozen
class Put:
    """The client writes its next unique value with the context of its own last read of `key`."""

    client: str
    node: str
    key: bytes


@attrs.frozen
class Delete:
    client: str
    node: str
    key: bytes


@attrs.frozen
class Join:
    """An admin asks `node` to join through `seed`; a node the cluster never had boots first
    (empty disk, incarnation 0, the seed's clock)."""

    node: str
    seed: str


@attrs.frozen
class Leave:
    """An admin asks `node` to leave the cluster."""

    node: str


@attrs.frozen
class QuiesceBegin:
    """Faults are off; from here the run drives to a fixed point within `bound` tick rounds."""

    bound: int
    step_ms: int


@attrs.frozen
class QuiesceEnd:
    """Judge the fixed point: settled within the bound, or a liveness violation (INV-CONV-1)."""


Action = (
    Deliver
    | Drop
    | Duplicate
    | TickNode
    | TickAll
    | Crash
    | RestartNode
    | LoseDisk
    | Partition
    | PartitionDirected
    | Heal
    | Get
    | Put
    | Delete
    | Join
    | Leave
    | QuiesceBegin
    | QuiesceEnd
)
ACTION_TYPES: tuple[type, ...] = (
    Deliver,
    Drop,
    Duplicate,
    TickNode,
    TickAll,
    Crash,
    RestartNode,
    LoseDisk,
    Partition,
    PartitionDirected,
    Heal,
    Get,
    Put,
    Delete,
    Join,
    Leave,
    QuiesceBegin,
    QuiesceEnd,
)


def describe(action: Action) -> str:
    """A short human-readable form, e.g. `deliver #12` or `put c1 -> n2 b'k0'`."""
    if isinstance(action, Deliver | Drop | Duplicate):
        return f"{type(action).__name__.lower()} #{action.message_id}"
    if isinstance(action, Get | Put | Delete):
        return f"{type(action).__name__.lower()} {action.client} -> {action.node} {action.key!r}"
    if isinstance(action, TickNode):
        return f"tick {action.node} +{action.dt}"
    if isinstance(action, TickAll):
        return f"tick all +{action.dt}"
    if isinstance(action, Crash | RestartNode | LoseDisk):
        return f"{type(action).__name__.lower()} {action.node}"
    if isinstance(action, Partition):
        return "partition " + " | ".join(",".join(group) for group in action.groups)
    if isinstance(action, PartitionDirected):
        return "block " + " ".join(f"{a}->{b}" for a, b in action.pairs)
    if isinstance(action, Join):
        return f"join {action.node} via {action.seed}"
    if isinstance(action, Leave):
        return f"leave {action.node}"
    if isinstance(action, QuiesceBegin):
        return f"quiesce (bound {action.bound} rounds of {action.step_ms} ms)"
    return type(action).__name__.lower()
