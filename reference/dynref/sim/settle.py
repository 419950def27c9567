"""The fixed point `quiesce()` drives to, stated as what is still unsettled.

A cluster is settled when no message is in flight, every node is up, no node holds a hint or a
pending request (put, get or forward) or believes a peer down (with the network healed, the
failure detectors must recover too), and every key's preference-list replicas hold equal
sibling sets. Once the membership changed, also: every member that is not exiting holds the
same membership, with no member joining or leaving (INV-MEMBER-2), and no node holds a key
outside its preference list (INV-MEMBER-3: the transfers are done). `unsettled` lists what is
not (empty when settled), in words a report can show.
"""

from __future__ import annotations

import immutables

from dynref.causality import AnyVersions, empty_versions
from dynref.config import ClusterConfig
from dynref.membership import IN_CURRENT_RING, Status
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
        ring = member_ring(states)
        if any(state.membership.changed() for state in states.values()):
            reasons.extend(membership_disagreements(states))
            reasons.extend(misplaced_keys(config, ring, states))
        reasons.extend(differing_replicas(config, ring, states))
    return tuple(reasons)


def _active_members(states: dict[str, NodeState]) -> list[str]:
    """Nodes that are members in their own view and not exiting."""
    active = []
    for node, state in states.items():
        entry = state.membership.get(node)
        if entry is not None and entry.status is not Status.EXITING:
            active.append(node)
    return sorted(active)


def member_ring(states: dict[str, NodeState]) -> Ring:
    """The current ring of the first member in the current ring (by id)."""
    for node in sorted(states):
        entry = states[node].membership.get(node)
        if entry is not None and entry.status in IN_CURRENT_RING:
            return states[node].ring
    return next(iter(states.values())).ring


def membership_disagreements(states: dict[str, NodeState]) -> list[str]:
    """INV-MEMBER-2: the active members' memberships differ, or one is joining or leaving."""
    active = _active_members(states)
    if not active:
        return []
    reasons = []
    first = states[active[0]].membership
    differing = [node for node in active[1:] if states[node].membership != first]
    if differing:
        reasons.append(f"memberships differ: {active[0]} and {', '.join(differing)}")
    moving = [
        f"{entry.node_id} {entry.status.name.lower()}"
        for entry in first.entries
        if entry.status in (Status.JOINING, Status.LEAVING)
    ]
    if moving:
        reasons.append(f"membership in transition at {active[0]}: {', '.join(moving)}")
    return reasons


def misplaced_keys(config: ClusterConfig, ring: Ring, states: dict[str, NodeState]) -> list[str]:
    """INV-MEMBER-3: nodes holding keys the final ring does not give them."""
    reasons = []
    for node in sorted(states):
        outside = [
            key
            for key in sorted(states[node].durable.data.keys())
            if node not in ring.preference_list(key, config.n)
        ]
        if outside:
            reasons.append(f"{node} holds keys outside its preference lists: {_keys(outside)}")
    return reasons


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
