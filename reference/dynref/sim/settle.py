"""The fixed point `quiesce()` drives to, stated as what is still unsettled.

A cluster is settled when no message is in flight, every node is up, no node holds a hint or a
pending request (put, get or forward) or believes a peer down (with the network healed, the
failure detectors must recover too), and every key's preference-list replicas hold equal
sibling sets. `unsettled` lists what is not (empty when settled), in words a report can show.
"""

from __future__ import annotations

import immutables

from dynref.causality import AnyVersions, empty_versions
from dynref.config import ClusterConfig
from dynref.ring import Ring
from dynref.state import NodeState


def unsettled(
    config: ClusterConfig, nodes: immutables.Map[str, object], in_flight: int
) -> tuple[str, ...]:
    reasons: list[str] = []
    if in_flight:
        reasons.append(f"{in_flight} messages in flight")
    states: dict[str, NodeState] = {}
    for node in sorted(nodes.keys()):
        slot = nodes[node]
        if not isinstance(slot, NodeState):
            reasons.append(f"{node} is crashed")
            continue
        states[node] = slot
        for target in sorted(slot.durable.hints.keys()):
            keys = sorted(slot.durable.hints[target].keys())
            reasons.append(f"{node} holds hints for {target}: {_keys(keys)}")
        volatile = slot.volatile
        pending = len(volatile.puts) + len(volatile.gets) + len(volatile.forwards)
        if pending:
            reasons.append(f"{node} has {pending} requests in progress")
        if volatile.down:
            reasons.append(f"{node} believes {', '.join(sorted(volatile.down))} down")
    if states:
        ring = next(iter(states.values())).ring
        reasons.extend(differing_replicas(config, ring, states))
    return tuple(reasons)


def differing_replicas(
    config: ClusterConfig, ring: Ring, states: dict[str, NodeState]
) -> list[str]:
    """One line per key whose preference-list replicas (among `states`) hold different sets."""
    keys: set[bytes] = set()
    for state in states.values():
        keys.update(state.durable.data.keys())
    empty = empty_versions(config.mode)
    lines = []
    for key in sorted(keys):
        held: list[tuple[str, AnyVersions]] = [
            (node, states[node].durable.data.get(key, empty))
            for node in ring.preference_list(key, config.n)
            if node in states
        ]
        if any(versions != held[0][1] for _, versions in held[1:]):
            shown = "; ".join(f"{node} {describe_versions(v)}" for node, v in held)
            lines.append(f"replicas of {key!r} differ: {shown}")
    return lines


def describe_versions(versions: AnyVersions) -> str:
    values = versions.values()
    tombstones = versions.sibling_count() - len(values)
    shown = "[" + ", ".join(value.decode("utf-8", "replace") for value in values) + "]"
    if tombstones > 0:
        shown += f"+{tombstones} tombstone" + ("s" if tombstones > 1 else "")
    return shown


def _keys(keys: list[bytes]) -> str:
    return ", ".join(repr(key) for key in keys)
