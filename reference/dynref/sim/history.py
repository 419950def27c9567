"""What clients did and saw: one `Operation` per request, and each client's own memory.

A client has at most one outstanding operation. Every put writes a value unique in the run
(`b"<client>:<n>"`), so a value names the put that wrote it. A put or delete carries the context
of the client's own last successful read of that key (empty if it never read it), so stale
contexts arise naturally; `read_from` names that read, which is what the checkers use to work
out which writes a write had seen.
"""

from __future__ import annotations

import enum

import attrs
import immutables

from dynref.messages import (
    ClientResult,
    GetOk,
    InvalidContext,
    InvalidRequest,
    PutOk,
    QuorumNotReached,
    TooLarge,
    Unavailable,
)


class OperationKind(enum.Enum):
    GET = "get"
    PUT = "put"
    DELETE = "delete"


NODE_DOWN = "the node is down"
"""The NoReply reason of a request whose node was down when the client sent it: it never left
the client, so it certainly took no effect."""
NODE_CRASHED = "the node crashed"


@attrs.frozen
class NoReply:
    """The simulator's verdict on a request its node can no longer answer (crashed or down)."""

    reason: str


OperationResult = (
    GetOk
    | PutOk
    | QuorumNotReached
    | InvalidContext
    | TooLarge
    | InvalidRequest
    | Unavailable
    | NoReply
)


@attrs.frozen
class Operation:
    """One client request: invoked at trace step `invoked`, answered at step `completed`."""

    op_id: int
    client: str
    kind: OperationKind
    node: str
    key: bytes
    invoked: int
    value: bytes | None = None
    context: bytes = b""
    read_from: int | None = None
    completed: int | None = None
    result: OperationResult | None = None

    @property
    def is_write(self) -> bool:
        return self.kind is not OperationKind.GET

    @property
    def acknowledged(self) -> bool:
        """A put or delete the cluster answered with PutOk."""
        return self.is_write and isinstance(self.result, PutOk)

    @property
    def read_values(self) -> tuple[bytes, ...] | None:
        """The values a successful get returned, None for anything else."""
        return self.result.values if isinstance(self.result, GetOk) else None

    def completed_with(self, step: int, result: OperationResult) -> Operation:
        # Built field by field: attrs.evolve costs twice as much, once per operation.
        return Operation(
            self.op_id,
            self.client,
            self.kind,
            self.node,
            self.key,
            self.invoked,
            self.value,
            self.context,
            self.read_from,
            step,
            result,
        )

    def describe(self) -> str:
        what = f"{self.kind.value} {self.key!r}"
        if self.value is not None:
            what += f"={self.value!r}"
        return f"op {self.op_id} ({self.client} {what} at {self.node})"


def result_name(result: OperationResult | ClientResult | None) -> str:
    return "pending" if result is None else type(result).__name__


@attrs.frozen
class ClientState:
    """A client's memory: its outstanding operation and its last successful read of each key."""

    pending: int | None = None
    puts_issued: int = 0
    last_reads: immutables.Map[bytes, int] = immutables.Map()


__all__ = [
    "NODE_CRASHED",
    "NODE_DOWN",
    "ClientState",
    "NoReply",
    "Operation",
    "OperationKind",
    "OperationResult",
    "result_name",
]
