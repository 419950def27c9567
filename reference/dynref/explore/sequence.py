"""A trace as rows of a sequence diagram: who sent what to whom, step by step.

`sequence_of(trace, violations)` replays the trace action by action (so it sees each message a
Deliver names, and which client operations each step completed) and returns a `Sequence`: the
columns (clients, then nodes) and one or more rows per action. `diagram` draws it as text, `svg`
as HTML; both read only this model, so they always show the same thing.

Row kinds:
- `request` (client -> node) and `reply` (node -> client): a client invocation and its result;
- `message` (node -> node): a delivered message; `lost`: delivered into a partition or to a
  crashed node; `drop`: lost by a Drop action; `duplicate`: copied in flight;
- `crash`, `restart`, `disk`, `tick` on one node; `network` (partition, heal), `time` (a tick
  of every node) and `phase` (the liveness phase's start and end) across the whole diagram.

A row is highlighted when its step is one a violation names.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import attrs

from dynref.causality import AnyVersions, LwwContext, Mode, decode_context
from dynref.check import Violation
from dynref.messages import GetOk, InvalidRequest, Message, PutOk, QuorumNotReached
from dynref.sim import (
    Action,
    AdminRecord,
    Cluster,
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
    NoReply,
    Operation,
    OperationResult,
    Partition,
    PartitionDirected,
    Put,
    QuiesceBegin,
    QuiesceEnd,
    RestartNode,
    TickAll,
    TickNode,
    Trace,
    describe,
)

WHOLE_WIDTH_KINDS = frozenset({"network", "time", "phase"})


@attrs.frozen
class Row:
    step: int
    kind: str
    source: str | None
    """The column an arrow starts at, or the column a mark sits on."""
    target: str | None
    """The column an arrow ends at (None for marks and whole-width rows)."""
    label: str
    highlighted: bool = False


@attrs.frozen
class Sequence:
    title: str
    columns: tuple[str, ...]
    clients: tuple[str, ...]
    rows: tuple[Row, ...]
    violations: tuple[Violation, ...]


def sequence_of(
    trace: Trace, violations: Seq[Violation] = (), title: str | None = None
) -> Sequence:
    highlighted = {step for v in violations for step in v.steps}
    joined = (action.node for action in trace.actions if isinstance(action, Join))
    nodes = tuple(sorted({*(spec.node_id for spec in trace.config.nodes), *joined}))
    mode = trace.config.mode
    cluster = Cluster.start(trace.config, trace.clients)
    rows: list[Row] = []
    for step, action in enumerate(trace.actions):
        before = cluster
        cluster = cluster.apply(action)
        for row in _rows_of(step, action, before, cluster, mode):
            rows.append(attrs.evolve(row, highlighted=step in highlighted))
    config = trace.config
    heading = title or (
        f"{mode.value} trace: {len(nodes)} nodes, N={config.n} R={config.r} W={config.w}"
        + ("" if trace.seed is None else f", seed {trace.seed}")
    )
    return Sequence(
        heading, (*trace.clients, *nodes), trace.clients, tuple(rows), tuple(violations)
    )


def _rows_of(step: int, action: Action, before: Cluster, after: Cluster, mode: Mode) -> list[Row]:
    rows = _action_rows(step, action, before, after, mode)
    for op in after.history():
        if op.completed == step and op.result is not None:
            rows.append(Row(step, "reply", op.node, op.client, _result(op, op.result, mode)))
    return rows


def _action_rows(
    step: int, action: Action, before: Cluster, after: Cluster, mode: Mode
) -> list[Row]:
    if isinstance(action, Deliver | Drop | Duplicate):
        envelope = before.in_flight[action.message_id]
        text = f"#{action.message_id} {message_summary(envelope.message, mode)}"
        if isinstance(action, Drop):
            return [Row(step, "drop", envelope.sender, envelope.receiver, f"dropped {text}")]
        if isinstance(action, Duplicate):
            copy = f"duplicated {text} as #{before.next_message_id}"
            return [Row(step, "duplicate", envelope.sender, envelope.receiver, copy)]
        if after.counters.delivered > before.counters.delivered:
            return [Row(step, "message", envelope.sender, envelope.receiver, text)]
        why = "crashed" if envelope.receiver in before.crashed_nodes() else "partitioned"
        return [Row(step, "lost", envelope.sender, envelope.receiver, f"lost ({why}) {text}")]
    if isinstance(action, Get | Put | Delete):
        op = after.history()[-1]
        return [Row(step, "request", action.client, action.node, _request(op, mode))]
    if isinstance(action, TickNode):
        now = after.clocks[action.node]
        return [Row(step, "tick", action.node, None, f"tick {action.node} +{action.dt} (t={now})")]
    if isinstance(action, TickAll):
        return [Row(step, "time", None, None, f"every clock +{action.dt}")]
    if isinstance(action, Crash):
        return [Row(step, "crash", action.node, None, f"{action.node} crashes")]
    if isinstance(action, RestartNode):
        return [Row(step, "restart", action.node, None, f"{action.node} restarts")]
    if isinstance(action, LoseDisk):
        return [Row(step, "disk", action.node, None, f"{action.node} loses its disk")]
    if isinstance(action, Join | Leave):
        answered = [r for r in after.audit_records()[len(before.audit_records()) :]]
        result = next((r.result for r in answered if isinstance(r, AdminRecord)), None)
        outcome = "" if result is None else f": {type(result).__name__}"
        if isinstance(result, InvalidRequest):
            outcome += f" ({result.reason})"
        return [Row(step, "admin", action.node, None, describe(action) + outcome)]
    if isinstance(action, Partition | PartitionDirected | Heal):
        return [Row(step, "network", None, None, describe(action))]
    if isinstance(action, QuiesceBegin):
        text = f"liveness phase: faults off, drive to a fixed point (bound {action.bound} rounds)"
        return [Row(step, "phase", None, None, text)]
    if isinstance(action, QuiesceEnd):  # the last kind of action there is
        q = after.quiescence
        verdict = "converged" if q is not None and q.converged else "did NOT converge"
        rounds = 0 if q is None else q.rounds
        return [Row(step, "phase", None, None, f"fixed point: {verdict} after {rounds} rounds")]
    raise TypeError(f"no diagram row for {describe(action)}")


def _request(op: Operation, mode: Mode) -> str:
    text = f"{op.kind.value} {_text(op.key)}"
    if op.value is not None:
        text += f"={_text(op.value)}"
    if op.is_write:
        text += f" ctx {context_summary(op.context, mode)}"
    return text


def _result(op: Operation, result: OperationResult, mode: Mode) -> str:
    if isinstance(result, GetOk):
        values = ", ".join(_text(value) for value in result.values)
        return f"GetOk [{values}] ctx {context_summary(result.context, mode)}"
    if isinstance(result, PutOk):
        return f"PutOk ({op.kind.value} {_text(op.value or b'') or 'tombstone'})"
    if isinstance(result, QuorumNotReached):
        return f"QuorumNotReached (needed {result.needed}, seen {result.seen})"
    if isinstance(result, NoReply):
        return f"no reply: {result.reason}"
    return type(result).__name__


def message_summary(message: Message, mode: Mode) -> str:
    """A short form of a message: its type, key, values and hint target, when it has them."""
    parts = [type(message).__name__]
    key = getattr(message, "key", None)
    if isinstance(key, bytes):
        parts.append(_text(key))
    value = getattr(message, "value", b"")
    if value is None:
        parts.append("tombstone")
    elif value:
        parts[-1] += f"={_text(value)}"
    versions = getattr(message, "versions", None)
    if versions is not None:
        parts.append(versions_summary(versions))
    hint_for = getattr(message, "hint_for", None)
    if hint_for:
        parts.append(f"(hint for {hint_for})")
    result = getattr(message, "result", None)
    if result is not None:
        parts.append(type(result).__name__)
    range_index = getattr(message, "range_index", None)
    if isinstance(range_index, int):
        level = getattr(message, "level", None)
        parts.append(f"range {range_index}" + ("" if level is None else f" level {level}"))
    items = getattr(message, "items", None)
    if isinstance(items, tuple):
        parts.append(" ".join(f"{_text(k)} {versions_summary(v)}" for k, v in items))
    return " ".join(parts)


def versions_summary(versions: AnyVersions) -> str:
    values = [_text(value) for value in versions.values()]
    tombstones = versions.sibling_count() - len(values)
    return "[" + ", ".join(values + ["tombstone"] * max(0, tombstones)) + "]"


def context_summary(context: bytes, mode: Mode) -> str:
    if not context:
        return "{}"
    decoded = decode_context(mode, context)
    if isinstance(decoded, LwwContext):
        stamp = decoded.stamp
        return "{}" if stamp is None else f"{{{stamp[1]}@{stamp[0]}}}"
    entries = getattr(decoded, "entries", None)
    if entries is None:
        return "{?}"
    return "{" + ", ".join(f"{actor}:{counter}" for actor, counter in entries) + "}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
