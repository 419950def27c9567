"""Recording what clients saw as a `dynref.history.History` (spec/history.md), as it happens.

A harness calls `invoke` just before it sends a request and `complete` just after it has the
answer; times come from one monotonic clock (nanoseconds). An answer's outcome is `ok` for a
success, `fail` for an error the store marked definite (certainly no effect), `info` otherwise;
an operation never answered stays `info` with no completion. An acknowledged write the store
says it may have applied more than once (`may_repeat`) is named by a `redeliver` fault. Faults
and final reads are recorded with their times. `history(header)` returns everything so far, at
any moment: a run cut short still has a history to judge and to write.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
from dynref.history import (
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
)

from dynref_io.conform.protocol import Answer

UNKNOWN = "unknown-"
"""How a coordinator nobody named is recorded: `unknown-<op id>`."""


def outcome_of(answer: Answer) -> Outcome:
    if answer.ok:
        return Outcome.OK
    return Outcome.FAIL if answer.definite else Outcome.INFO


class HistoryRecorder:
    """Operations, faults and final reads of one run, numbered in invocation order."""

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock
        self._ops: dict[int, Op] = {}
        self._faults: list[Fault] = []
        self._finals: list[FinalRead] = []
        self._next_id = 1

    def now(self) -> int:
        return self._clock()

    # ------------------------------------------------------------ operations

    def invoke(
        self,
        client: str,
        kind: OpKind,
        key: str,
        coordinator: str | None,
        value: str | None = None,
        context: bytes | None = None,
        r: int | None = None,
        w: int | None = None,
    ) -> int:
        """Record a request about to be sent; returns its operation id. A coordinator not
        chosen (None) is the one the answer names, or else `unknown-<op id>`: one of its own,
        so that no two such operations count as sent through the same node."""
        op_id = self._next_id
        self._next_id += 1
        self._ops[op_id] = Op(
            id=op_id,
            client=client,
            kind=kind,
            key=key,
            coordinator=coordinator or f"{UNKNOWN}{op_id}",
            invoked=self.now(),
            outcome=Outcome.INFO,
            value=value,
            context_sent=None if kind is OpKind.GET else (context or b""),
            r=r,
            w=w,
        )
        return op_id

    def complete(self, op_id: int, answer: Answer) -> Op:
        """Record the answer to operation `op_id`."""
        op = self._ops[op_id]
        outcome = outcome_of(answer)
        is_get = op.kind is OpKind.GET
        done = attrs.evolve(
            op,
            completed=max(self.now(), op.invoked),
            outcome=outcome,
            coordinator=answer.node or op.coordinator,
            values=tuple(answer.values or ()) if is_get and outcome is Outcome.OK else None,
            context_returned=answer.context if outcome is Outcome.OK else None,
            error=None if answer.ok else answer.describe_error(),
        )
        self._ops[op_id] = done
        if answer.ok and answer.may_repeat and op.is_write:
            self._faults.append(Fault(FaultKind.REDELIVER, done.completed or op.invoked, op=op_id))
        return done

    def op(self, op_id: int) -> Op:
        return self._ops[op_id]

    # ------------------------------------------------------------ faults and final reads

    def fault(
        self,
        kind: FaultKind,
        node: str | None = None,
        groups: tuple[tuple[str, ...], ...] = (),
    ) -> Fault:
        fault = Fault(kind, self.now(), node=node, groups=groups)
        self._faults.append(fault)
        return fault

    def final(
        self, key: str, answer: Answer, replica: str | None = None, r: int | None = None
    ) -> None:
        self._finals.append(
            FinalRead(
                key=key,
                time=self.now(),
                outcome=Outcome.OK if answer.ok else Outcome.FAIL,
                replica=replica,
                r=r,
                values=tuple(answer.values or ()) if answer.ok else None,
                context=answer.context if answer.ok else None,
                error=None if answer.ok else answer.describe_error(),
            )
        )

    # ------------------------------------------------------------ the record

    @property
    def operations(self) -> int:
        return len(self._ops)

    def counts(self) -> tuple[int, int, int]:
        """(operations, acknowledged writes, writes that certainly took no effect)."""
        ops = self._ops.values()
        acked = sum(1 for op in ops if op.is_write and op.outcome is Outcome.OK)
        failed = sum(1 for op in ops if op.is_write and op.outcome is Outcome.FAIL)
        return len(self._ops), acked, failed

    def history(self, header: Header) -> History:
        ops = tuple(self._ops[op_id] for op_id in sorted(self._ops))
        faults = tuple(sorted(self._faults, key=lambda fault: fault.time))
        return History(header, ops, tuple(self._finals), faults)


__all__ = ["HistoryRecorder", "outcome_of"]
