"""Shrinking a failing run: delta debugging over its schedule, judged by replay.

A failing run is a schedule (the actions before the liveness phase) that, followed by
`quiesce()`, violates some invariant. `shrink` looks for a short sub-list of the schedule that
still violates the *same* invariant:

1. truncation: cut everything after the last schedule step the violation names, if that
   still fails;
2. delta debugging (Zeller's ddmin): try subsets and complements of ever smaller chunks,
   keeping any candidate that still fails;
3. a last pass removing single actions until none can go (the result is 1-minimal).

Each candidate is replayed from a fresh cluster (`replay_schedule`). Removing actions changes
which messages exist, so message ids are translated: a message is named by the action that sent
it and its rank among that action's sends, and a Deliver/Drop/Duplicate of a message the
candidate never sent is skipped, as is any action that no longer applies (a restart of a node
that is up, a request from a busy client). The shrunk schedule is the list of actions the replay
actually applied, with the ids they had there, so it replays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from dynref.config import ClusterConfig
from dynref.explore.judge import Check, violated
from dynref.sim import (
    DEFAULT_QUIESCE_BOUND,
    Action,
    Cluster,
    Deliver,
    Drop,
    Duplicate,
    InvalidActionError,
    QuiesceBegin,
)

MessageName = tuple[int, int]
"""(index in the original schedule of the action that sent it, rank among its sends)."""


@attrs.frozen
class ShrinkResult:
    schedule: tuple[Action, ...]
    """The shrunk schedule, replayable as it is (before the liveness phase)."""
    cluster: Cluster
    """The shrunk schedule run through `quiesce()`: its trace is the counterexample."""
    invariant: str
    original_length: int
    replays: int
    """How many candidates were replayed."""


def schedule_of(actions: Sequence[Action]) -> tuple[Action, ...]:
    """The actions before the liveness phase (the first QuiesceBegin), for a whole trace."""
    for index, action in enumerate(actions):
        if isinstance(action, QuiesceBegin):
            return tuple(actions[:index])
    return tuple(actions)


def message_names(
    config: ClusterConfig, clients: Sequence[str], schedule: Sequence[Action]
) -> dict[int, MessageName]:
    """Every message id the schedule created, named by its sending action and rank."""
    names: dict[int, MessageName] = {}
    cluster = Cluster.start(config, clients)
    for index, action in enumerate(schedule):
        before = cluster.next_message_id
        cluster = cluster.apply(action)
        for message_id in range(before, cluster.next_message_id):
            names[message_id] = (index, message_id - before)
    return names


def replay_schedule(
    config: ClusterConfig,
    clients: Sequence[str],
    schedule: Sequence[Action],
    kept: Sequence[int],
    names: dict[int, MessageName],
) -> tuple[Cluster, tuple[Action, ...]]:
    """Apply the schedule's actions at indexes `kept`, translating message ids, skipping what
    no longer applies; return the cluster and the actions actually applied."""
    cluster = Cluster.start(config, clients)
    new_id: dict[MessageName, int] = {}
    applied: list[Action] = []
    for index in kept:
        action = _translate(schedule[index], names, new_id)
        if action is None:
            continue
        before = cluster.next_message_id
        try:
            cluster = cluster.apply(action)
        except InvalidActionError:
            continue
        applied.append(action)
        for message_id in range(before, cluster.next_message_id):
            new_id[(index, message_id - before)] = message_id
    return cluster, tuple(applied)


def _translate(
    action: Action, names: dict[int, MessageName], new_id: dict[MessageName, int]
) -> Action | None:
    if isinstance(action, Deliver | Drop | Duplicate):
        name = names.get(action.message_id)
        translated = None if name is None else new_id.get(name)
        return None if translated is None else type(action)(translated)
    return action


def shrink(
    config: ClusterConfig,
    clients: Sequence[str],
    schedule: Sequence[Action],
    invariant: str,
    *,
    last_step: int | None = None,
    quiesce_bound: int = DEFAULT_QUIESCE_BOUND,
    checks: Sequence[Check] = (),
) -> ShrinkResult:
    """Shrink `schedule` while `quiesce()` after it still violates `invariant`.

    `last_step`, when given, is the last schedule step the violation names: truncating after
    it is tried first. Raises ValueError if the schedule does not fail to begin with.
    """
    schedule = tuple(schedule)
    names = message_names(config, clients, schedule)
    replays = 0

    def fails(kept: Sequence[int]) -> bool:
        nonlocal replays
        replays += 1
        cluster, _ = replay_schedule(config, clients, schedule, kept, names)
        return invariant in violated(cluster.quiesce(quiesce_bound), checks)

    everything = list(range(len(schedule)))
    if not fails(everything):
        raise ValueError(f"the schedule does not violate {invariant}")
    kept = everything
    if last_step is not None and last_step + 1 < len(schedule):
        prefix = everything[: last_step + 1]
        if fails(prefix):
            kept = prefix
    kept = ddmin(kept, fails)
    kept = remove_one_at_a_time(kept, fails)
    _, applied = replay_schedule(config, clients, schedule, kept, names)
    final = Cluster.start(config, clients).apply_all(applied).quiesce(quiesce_bound)
    return ShrinkResult(applied, final, invariant, len(schedule), replays)


def ddmin(items: list[int], fails: Callable[[Sequence[int]], bool]) -> list[int]:
    """Zeller's ddmin: a smaller list on which `fails` still holds (`fails(items)` must)."""
    granularity = 2
    while len(items) >= 2:
        size = -(-len(items) // granularity)
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        reduced = False
        for chunk in chunks:
            if fails(chunk):
                items, granularity, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:
            for index in range(len(chunks)):
                complement = [i for j, chunk in enumerate(chunks) if j != index for i in chunk]
                if fails(complement):
                    items, granularity, reduced = complement, max(granularity - 1, 2), True
                    break
        if not reduced:
            if granularity >= len(items):
                break
            granularity = min(len(items), 2 * granularity)
    return items


def remove_one_at_a_time(items: list[int], fails: Callable[[Sequence[int]], bool]) -> list[int]:
    """Drop single items, last first, while `fails` holds, until no single one can go."""
    changed = True
    while changed:
        changed = False
        for position in reversed(range(len(items))):
            candidate = items[:position] + items[position + 1 :]
            if fails(candidate):
                items, changed = candidate, True
    return items
