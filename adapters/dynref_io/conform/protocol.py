"""The target protocol: how `dynref conform` talks to a store's adapter (docs/conformance.md).

The adapter is a program dynref starts; they speak JSON lines over its stdin and stdout. Each
request is one JSON object with an integer `id` and an `op`; the adapter answers each with one
object carrying the same `id`, in any order (many requests may be in flight). A success is
`{"id": 7, "ok": true, ...}`; a failure `{"id": 7, "ok": false, "code": "timeout",
"definite": false, "message": "..."}`, where `definite` says the operation certainly took no
effect. Closing the adapter's stdin asks it to stop its store and exit.

This module holds the pure part, shared by dynref's side and by adapters written in Python:
the error codes, the request shapes, and the strict reading of replies (`read_reply`), which
names the field at fault in one line (`ProtocolViolationError`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import attrs
from dynref.causality import Mode
from dynref.history import Capabilities

PROTOCOL_VERSION = 1
CLIENT_OPS = ("get", "put", "delete")
HOOKS = ("kill", "restart", "partition", "heal", "read_replica", "status")
"""Optional operations; an adapter lists those it offers in its capabilities."""
OPS = ("init", *CLIENT_OPS, *HOOKS)

ERROR_CODES: dict[str, str] = {
    "timeout": "no answer in time; the operation may or may not have happened (indefinite)",
    "crash": "the node or the connection died while the request was in flight (indefinite)",
    "unavailable": "the store refused before storing anything (definite), or could not tell",
    "invalid-context": "the store rejected the context before storing anything (definite)",
    "too-large": "the key, value or context exceeds a limit; nothing stored (definite)",
    "invalid-request": "a malformed request, rejected before anything was stored (definite)",
    "unsupported": "the adapter does not offer this operation (definite)",
    "other": "anything else; `definite` says whether it certainly had no effect",
}
"""Every error code an adapter may send, with its usual meaning. The `definite` flag of each
error reply decides how dynref records the operation: `fail` (certainly no effect) or `info`."""


class ProtocolViolationError(ValueError):
    """A reply that does not follow the protocol, in one line naming the field."""


@attrs.frozen
class TargetInfo:
    """What the adapter's `init` reply declares."""

    capabilities: Capabilities
    nodes: tuple[str, ...]
    hooks: frozenset[str]
    coordinators: bool
    """Whether the adapter sends each client request to the node the request names."""
    target: str = ""

    def offers(self, hook: str) -> bool:
        return hook in self.hooks


@attrs.frozen
class Answer:
    """A reply to a get, put or delete (or one replica's part of a `read_replica` reply)."""

    ok: bool
    values: tuple[str, ...] | None = None
    """A get's values (siblings; empty when not found)."""
    context: bytes | None = None
    node: str | None = None
    """The node that coordinated, when the adapter says."""
    may_repeat: bool = False
    """For an acknowledged write: the store may have applied it more than once (a forward
    retried to another coordinator, say), each time as a version of its own."""
    code: str | None = None
    definite: bool = False
    """For a failure: the operation certainly took no effect."""
    message: str = ""

    def describe_error(self) -> str:
        return f"{self.code}: {self.message}" if self.message else str(self.code)


def failure(code: str, definite: bool, message: str = "") -> Answer:
    return Answer(False, code=code, definite=definite, message=message)


@attrs.frozen
class ReplicaRead:
    node: str
    answer: Answer


@attrs.frozen
class Status:
    settled: bool | None
    detail: Any = None


# ---------------------------------------------------------------- requests


def encode_request(request: dict[str, Any]) -> bytes:
    """One request line (fields set to None are left out)."""
    present = {key: value for key, value in request.items() if value is not None}
    return (json.dumps(present, separators=(",", ":")) + "\n").encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- reading replies


class _Fields:
    """A reply's fields, taken one at a time and checked; `done` refuses any left over."""

    def __init__(self, record: dict[str, Any], where: str) -> None:
        self.record = dict(record)
        self.where = where

    def error(self, field: str, problem: str) -> ProtocolViolationError:
        return ProtocolViolationError(f"{self.where}, field {field!r}: {problem}")

    def take(self, field: str, kind: type, required: bool = True) -> Any:
        value = self.record.pop(field, None)
        if value is None:
            if required:
                raise self.error(field, "missing")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(field, f"expected {kind.__name__}, got {json.dumps(value)[:60]}")
        return value

    def strings(self, field: str, required: bool = True) -> tuple[str, ...] | None:
        found = self.take(field, list, required)
        if found is None:
            return None
        if not all(isinstance(item, str) for item in found):
            raise self.error(field, "expected a list of strings")
        return tuple(found)

    def context(self, field: str = "context") -> bytes | None:
        text = self.take(field, str, required=False)
        if text is None:
            return None
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self.error(field, "not standard base64 with padding") from None

    def done(self) -> None:
        if self.record:
            extra = ", ".join(sorted(self.record))
            raise ProtocolViolationError(f"{self.where}: unknown fields {extra}")


def parse_line(line: bytes) -> dict[str, Any]:
    """One line of the adapter's output as a JSON object with an integer `id`."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolViolationError(f"not JSON ({exc}): {_shown(line)}") from None
    if not isinstance(record, dict):
        raise ProtocolViolationError(f"not a JSON object: {_shown(line)}")
    request_id = record.get("id")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise ProtocolViolationError(f"no integer 'id': {_shown(line)}")
    return record


def _shown(line: bytes) -> str:
    text = line.decode("utf-8", "backslashreplace").rstrip("\n")
    return text if len(text) <= 120 else text[:117] + "..."


def read_answer(record: dict[str, Any], op: str) -> Answer:
    """A reply to a client operation (get, put, delete) or a hook, ok or not."""
    fields = _Fields(record, f"reply {record.get('id')} to {op}")
    fields.take("id", int)
    ok = fields.take("ok", bool)
    if not ok:
        code = fields.take("code", str)
        if code not in ERROR_CODES:
            raise fields.error("code", f"unknown code {code!r} (known: {', '.join(ERROR_CODES)})")
        definite = fields.take("definite", bool)
        message = fields.take("message", str, required=False) or ""
        fields.done()
        return failure(code, definite, message)
    values = fields.strings("values", required=op == "get") if op == "get" else None
    context = fields.context() if op in CLIENT_OPS else None
    node = fields.take("node", str, required=False) if op in CLIENT_OPS else None
    repeat = fields.take("may_repeat", bool, required=False) if op in {"put", "delete"} else None
    fields.done()
    return Answer(True, values, context, node, bool(repeat))


def read_init(record: dict[str, Any]) -> TargetInfo | Answer:
    """The `init` reply: the target's capabilities and nodes (or its failure)."""
    if record.get("ok") is not True:
        return read_answer(record, "init")
    fields = _Fields(record, "reply to init")
    fields.take("id", int)
    fields.take("ok", bool)
    target = fields.take("target", str, required=False) or ""
    nodes = fields.strings("nodes")
    assert nodes is not None
    if not nodes or len(set(nodes)) != len(nodes):
        raise fields.error("nodes", "expected one or more distinct node names")
    raw = fields.take("capabilities", dict)
    fields.done()
    caps = _Fields(raw, "reply to init, capabilities")
    causality = caps.take("causality", str)
    if causality not in {mode.value for mode in Mode}:
        raise caps.error("causality", f"expected dvv, vclock or lww, got {causality!r}")
    flags = {
        name: caps.take(name, bool)
        for name in ("contexts", "siblings", "deletes", "per_request_rw", "strict_quorum")
    }
    coordinators = caps.take("coordinators", bool)
    n, r, w = (caps.take(name, int) for name in ("n", "r", "w"))
    if not 1 <= r <= n or not 1 <= w <= n:
        raise caps.error("n", f"expected 1 <= r, w <= n, got n={n} r={r} w={w}")
    hooks = caps.strings("hooks")
    assert hooks is not None
    unknown = sorted(set(hooks) - set(HOOKS))
    if unknown:
        raise caps.error("hooks", f"unknown hooks {', '.join(unknown)} (known: {', '.join(HOOKS)})")
    caps.done()
    capabilities = Capabilities(
        causality=Mode(causality),
        replica_reads="read_replica" in hooks,
        n=n,
        r=r,
        w=w,
        **flags,
    )
    return TargetInfo(capabilities, nodes, frozenset(hooks), coordinators, target)


def read_replicas(record: dict[str, Any]) -> tuple[ReplicaRead, ...] | Answer:
    """The `read_replica` reply: each replica's values (or why it could not be read)."""
    if record.get("ok") is not True:
        return read_answer(record, "read_replica")
    fields = _Fields(record, "reply to read_replica")
    fields.take("id", int)
    fields.take("ok", bool)
    replicas = fields.take("replicas", list)
    fields.done()
    found = []
    for index, item in enumerate(replicas):
        if not isinstance(item, dict):
            raise fields.error(f"replicas[{index}]", "expected an object")
        part = _Fields(item, f"reply to read_replica, replicas[{index}]")
        node = part.take("node", str)
        error = part.take("error", str, required=False)
        values = part.strings("values", required=error is None)
        context = part.context()
        part.done()
        if error is not None and values is not None:
            raise part.error("error", "a replica has values or an error, not both")
        answer = failure("other", True, error) if error is not None else Answer(True, values)
        found.append(ReplicaRead(node, attrs.evolve(answer, context=context)))
    return tuple(found)


def read_status(record: dict[str, Any]) -> Status | Answer:
    if record.get("ok") is not True:
        return read_answer(record, "status")
    fields = _Fields(record, "reply to status")
    fields.take("id", int)
    fields.take("ok", bool)
    settled = fields.take("settled", bool, required=False)
    detail = fields.record.pop("detail", None)
    fields.done()
    return Status(settled, detail)


__all__ = [
    "CLIENT_OPS",
    "ERROR_CODES",
    "HOOKS",
    "OPS",
    "PROTOCOL_VERSION",
    "Answer",
    "ProtocolViolationError",
    "ReplicaRead",
    "Status",
    "TargetInfo",
    "b64",
    "encode_request",
    "failure",
    "parse_line",
    "read_answer",
    "read_init",
    "read_replicas",
    "read_status",
]
