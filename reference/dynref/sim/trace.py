"""Traces: a run as data (seed, configuration, clients, actions, observations), as JSON lines.

`trace_of(cluster)` captures a run; `replay(trace)` re-executes its actions from a fresh cluster
and gives the same cluster, bit for bit (same fingerprint, same observations), in any process
that runs the same code. `to_jsonl` / `from_jsonl` convert to and from text, one JSON object per
line, every line carrying a `"kind"`:

    {"kind": "header", "format": 1, "seed": 7, "clients": [...], "config": {...}}
    {"kind": "action", "step": 0, "action": {"type": "Put", "client": "c1", ...}}
    ...one line per action, in order...
    {"kind": "operation", "operation": {...}}       one per client operation
    {"kind": "counters", "counters": {...}}
    {"kind": "quiescence", "quiescence": {...} or null}
    {"kind": "fingerprint", "fingerprint": "<hex>"}
    {"kind": "violations", "violations": ["INV-ACK-1", ...]}

Bytes (keys, values, contexts, the fingerprint) are lowercase hex strings.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from dynref.config import ClusterConfig
from dynref.sim.actions import Action
from dynref.sim.cluster import Cluster
from dynref.sim.fingerprint import fingerprint
from dynref.sim.history import Operation
from dynref.sim.jsonvalues import Json, JsonShapeError, from_json, to_json
from dynref.sim.model import Counters, Quiescence

TRACE_FORMAT = 1


@attrs.frozen
class Observations:
    """What a run showed: every client operation, the counters, the liveness verdict, the state."""

    operations: tuple[Operation, ...]
    counters: Counters
    quiescence: Quiescence | None
    fingerprint: bytes


@attrs.frozen
class Trace:
    config: ClusterConfig
    clients: tuple[str, ...]
    actions: tuple[Action, ...]
    observations: Observations
    seed: int | None = None
    violations: tuple[str, ...] = ()
    """The invariant ids the recorder found violated (a replay can check they still are)."""


def observe(cluster: Cluster) -> Observations:
    return Observations(
        cluster.history(), cluster.counters, cluster.quiescence, fingerprint(cluster)
    )


def trace_of(cluster: Cluster, seed: int | None = None, violations: tuple[str, ...] = ()) -> Trace:
    return Trace(
        cluster.config,
        cluster.clients,
        cluster.trace_actions(),
        observe(cluster),
        seed,
        violations,
    )


def replay(trace: Trace) -> Cluster:
    """Re-execute the trace's actions on a fresh cluster of its configuration and clients."""
    return Cluster.start(trace.config, trace.clients).apply_all(trace.actions)


def _line(kind: str, **members: Json) -> str:
    return json.dumps({"kind": kind, **members}, separators=(",", ":"))


def to_jsonl(trace: Trace) -> str:
    lines = [
        _line(
            "header",
            format=TRACE_FORMAT,
            seed=trace.seed,
            clients=to_json(trace.clients),
            config=to_json(trace.config),
        )
    ]
    lines.extend(
        _line("action", step=index, action=to_json(action))
        for index, action in enumerate(trace.actions)
    )
    observations = trace.observations
    lines.extend(_line("operation", operation=to_json(op)) for op in observations.operations)
    lines.append(_line("counters", counters=to_json(observations.counters)))
    lines.append(_line("quiescence", quiescence=to_json(observations.quiescence)))
    lines.append(_line("fingerprint", fingerprint=observations.fingerprint.hex()))
    lines.append(_line("violations", violations=to_json(trace.violations)))
    return "\n".join(lines) + "\n"


def from_jsonl(text: str) -> Trace:
    """Parse a trace; raises `JsonShapeError` (a ValueError) naming the first bad line."""
    header: dict[str, Any] | None = None
    actions: list[Action] = []
    operations: list[Operation] = []
    single: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise JsonShapeError("a trace line must be a JSON object")
            kind = line.get("kind")
            if number == 1 or header is None:
                if kind != "header" or line.get("format") != TRACE_FORMAT:
                    raise JsonShapeError(f"expected a format {TRACE_FORMAT} header")
                header = line
            elif kind == "action":
                if line.get("step") != len(actions):
                    raise JsonShapeError(f"expected step {len(actions)}")
                actions.append(from_json(Action, line["action"]))
            elif kind == "operation":
                operations.append(from_json(Operation, line["operation"]))
            elif kind in {"counters", "quiescence", "fingerprint", "violations"}:
                single[kind] = line[kind]
            else:
                raise JsonShapeError(f"unknown line kind {kind!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise JsonShapeError(f"trace line {number}: {exc}") from exc
    if header is None:
        raise JsonShapeError("empty trace")
    missing = {"counters", "quiescence", "fingerprint", "violations"} - set(single)
    if missing:
        raise JsonShapeError(f"trace lacks {sorted(missing)}")
    observations = Observations(
        tuple(operations),
        from_json(Counters, single["counters"]),
        from_json(Quiescence | None, single["quiescence"]),
        from_json(bytes, single["fingerprint"]),
    )
    return Trace(
        config=from_json(ClusterConfig, header.get("config")),
        clients=from_json(tuple[str, ...], header.get("clients")),
        actions=tuple(actions),
        observations=observations,
        seed=from_json(int | None, header.get("seed")),
        violations=from_json(tuple[str, ...], single["violations"]),
    )
