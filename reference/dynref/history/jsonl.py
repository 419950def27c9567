"""A History as JSON lines, and back: pure functions over text (spec/history.md).

`encode_history(history)` writes the header line, then every operation, fault and final read
in time order. `decode_history(text)` is strict: the first non-blank line must be the header;
every line must be one JSON object of a known `type` with exactly the fields the format defines
(an unknown or duplicated field is an error, as is a wrong type or an inconsistent combination);
operation ids must be unique. Any defect raises `HistoryFormatError` naming the line and the
field. Reading files is the adapters' job.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from dynref.causality import Mode
from dynref.history.fields import (
    DuplicateFieldError,
    Fields,
    HistoryFormatError,
    no_duplicates,
    node_lists,
)
from dynref.history.records import (
    Capabilities,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
    fault_problem,
    final_problem,
    op_problem,
)

FORMAT = "dynref-history"
VERSION = 1


# ---------------------------------------------------------------- encoding


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if v is not None}, separators=(",", ":"))


def encode_header(header: Header) -> str:
    caps = header.capabilities
    return _dump(
        {
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "target": header.target or None,
            "nodes": list(header.nodes) if header.nodes else None,
            "seed": header.seed,
            "capabilities": {
                "causality": caps.causality.value,
                "contexts": caps.contexts,
                "siblings": caps.siblings,
                "deletes": caps.deletes,
                "per_request_rw": caps.per_request_rw,
                "strict_quorum": caps.strict_quorum,
                "replica_reads": caps.replica_reads,
                "n": caps.n,
                "r": caps.r,
                "w": caps.w,
            },
        }
    )


def encode_op(op: Op) -> str:
    return _dump(
        {
            "type": "op",
            "id": op.id,
            "client": op.client,
            "op": op.kind.value,
            "key": op.key,
            "value": op.value,
            "context_sent": None if op.context_sent is None else _b64(op.context_sent),
            "context_returned": None if op.context_returned is None else _b64(op.context_returned),
            "r": op.r,
            "w": op.w,
            "coordinator": op.coordinator,
            "invoked": op.invoked,
            "completed": op.completed,
            "outcome": op.outcome.value,
            "values": None if op.values is None else list(op.values),
            "error": op.error,
        }
    )


def encode_final(final: FinalRead) -> str:
    return _dump(
        {
            "type": "final",
            "key": final.key,
            "replica": final.replica,
            "r": final.r,
            "time": final.time,
            "outcome": final.outcome.value,
            "values": None if final.values is None else list(final.values),
            "context": None if final.context is None else _b64(final.context),
            "error": final.error,
        }
    )


def encode_fault(fault: Fault) -> str:
    return _dump(
        {
            "type": "fault",
            "fault": fault.kind.value,
            "time": fault.time,
            "node": fault.node,
            "groups": [list(group) for group in fault.groups] if fault.groups else None,
            "pairs": [list(pair) for pair in fault.pairs] if fault.pairs else None,
            "op": fault.op,
        }
    )


def encode_history(history: History) -> str:
    """The header, then every record in time order (faults, then operations, then final reads
    at equal times), one JSON object per line, each line ending in a newline."""
    timed: list[tuple[int, int, int, str]] = []
    timed.extend((f.time, 0, index, encode_fault(f)) for index, f in enumerate(history.faults))
    timed.extend((op.invoked, 1, op.id, encode_op(op)) for op in history.ops)
    timed.extend((f.time, 2, index, encode_final(f)) for index, f in enumerate(history.finals))
    timed.sort(key=lambda item: item[:3])
    lines = [encode_header(history.header), *(line for *_, line in timed)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- decoding


def _header(fields: Fields) -> Header:
    format_name = fields.text("format")
    if format_name != FORMAT:
        raise fields.error("format", f"expected {FORMAT!r}, got {format_name!r}")
    version = fields.integer("version")
    if version != VERSION:
        raise fields.error("version", f"this reader knows version {VERSION}, got {version}")
    target = fields.text("target", required=False) or ""
    nodes = fields.texts("nodes") or ()
    seed = fields.integer("seed", required=False, minimum=-(2**63))
    caps_fields = fields.nested("capabilities")
    n = caps_fields.required_integer("n", 1)
    caps = Capabilities(
        causality=caps_fields.choice("causality", Mode),
        contexts=caps_fields.boolean("contexts"),
        siblings=caps_fields.boolean("siblings"),
        deletes=caps_fields.boolean("deletes"),
        per_request_rw=caps_fields.boolean("per_request_rw"),
        strict_quorum=caps_fields.boolean("strict_quorum"),
        replica_reads=caps_fields.boolean("replica_reads"),
        n=n,
        r=caps_fields.required_integer("r", 1),
        w=caps_fields.required_integer("w", 1),
    )
    for name in ("r", "w"):
        if getattr(caps, name) > n:
            raise caps_fields.error(name, f"must not exceed n={n}")
    caps_fields.done()
    fields.done()
    return Header(caps, target, nodes, seed)


def _op(fields: Fields) -> Op:
    op = Op(
        id=fields.required_integer("id"),
        client=fields.required_text("client"),
        kind=fields.choice("op", OpKind),
        key=fields.required_text("key"),
        coordinator=fields.required_text("coordinator"),
        invoked=fields.required_integer("invoked"),
        outcome=fields.choice("outcome", Outcome),
        completed=fields.integer("completed", required=False),
        value=fields.text("value", required=False),
        context_sent=fields.context("context_sent"),
        context_returned=fields.context("context_returned"),
        r=fields.integer("r", required=False, minimum=1),
        w=fields.integer("w", required=False, minimum=1),
        values=fields.texts("values"),
        error=fields.text("error", required=False),
    )
    fields.done()
    problem = op_problem(op)
    if problem is not None:
        raise fields.error(*problem)
    return op


def _final(fields: Fields) -> FinalRead:
    final = FinalRead(
        key=fields.required_text("key"),
        time=fields.required_integer("time"),
        outcome=fields.choice("outcome", Outcome),
        replica=fields.text("replica", required=False),
        r=fields.integer("r", required=False, minimum=1),
        values=fields.texts("values"),
        context=fields.context("context"),
        error=fields.text("error", required=False),
    )
    fields.done()
    problem = final_problem(final)
    if problem is not None:
        raise fields.error(*problem)
    return final


def _fault(fields: Fields) -> Fault:
    kind = fields.choice("fault", FaultKind)
    time = fields.required_integer("time")
    node = fields.text("node", required=False)
    groups = node_lists(fields, "groups", None)
    pairs = node_lists(fields, "pairs", 2)
    op = fields.integer("op", required=False)
    fields.done()
    fault = Fault(kind, time, node, groups, tuple((a, b) for a, b in pairs), op)
    problem = fault_problem(fault)
    if problem is not None:
        raise fields.error(*problem)
    return fault


_READERS: dict[str, Callable[[Fields], object]] = {"op": _op, "final": _final, "fault": _fault}


def decode_history(text: str) -> History:
    """Parse a History; raises `HistoryFormatError` at the first defect."""
    header: Header | None = None
    ops: list[Op] = []
    finals: list[FinalRead] = []
    faults: list[Fault] = []
    first_line_of: dict[int, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw, object_pairs_hook=no_duplicates)
        except DuplicateFieldError as exc:
            raise HistoryFormatError(number, exc.field, "appears twice") from None
        except ValueError as exc:
            raise HistoryFormatError(number, None, f"not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise HistoryFormatError(number, None, "expected a JSON object")
        fields = Fields(number, record)
        kind = fields.text("type")
        if header is None:
            if kind != "header":
                raise fields.error("type", f"the first line must be the header, got {kind!r}")
            header = _header(fields)
            continue
        reader = _READERS.get(kind or "")
        if reader is None:
            expected = sorted(_READERS) if kind != "header" else "one header only"
            raise fields.error("type", f"expected one of {expected}, got {kind!r}")
        entry = reader(fields)
        if isinstance(entry, Op):
            if entry.id in first_line_of:
                raise fields.error(
                    "id", f"op {entry.id} appears twice (first on line {first_line_of[entry.id]})"
                )
            first_line_of[entry.id] = number
            ops.append(entry)
        elif isinstance(entry, FinalRead):
            finals.append(entry)
        else:
            assert isinstance(entry, Fault)
            faults.append(entry)
    if header is None:
        raise HistoryFormatError(1, None, "empty history: no header line")
    return History(header, tuple(ops), tuple(finals), tuple(faults))


__all__ = [
    "FORMAT",
    "VERSION",
    "HistoryFormatError",
    "decode_history",
    "encode_fault",
    "encode_final",
    "encode_header",
    "encode_history",
    "encode_op",
]
