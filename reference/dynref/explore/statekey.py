"""State keys for the exhaustive search: the cluster's state and its history, canonically.

`StateKeys.key(cluster, extra)` identifies a search state by
- the same state `dynref.sim.fingerprint` covers (each node's durable state and its volatile
  state but for the Merkle trees, rebuilt from the durable store, and the statistics; its
  clock; the in-flight bag as a multiset, ids ignored; the blocked links; each client's pending
  operation, puts issued and last reads), encoded with `dynref.sim.canonical`;
- `history_key(cluster)`, the history as the checkers see it (see `dynref.explore.exhaustive`);
- `extra`, whatever else the search tracks (program positions, fault budgets).

One transition changes one node or two, a message or two and the history's tail; everything
else is the very same object as in the parent state. So encodings of node states, envelopes,
operations and records are memoised by object identity (the memo keeps each object alive, so an
id is never reused while it is cached, and is emptied when it grows past `MEMO_LIMIT`). That
makes a key cost what the transition changed rather than the whole state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs

from dynref.messages import DeleteHint, StoreHint
from dynref.sim import (
    AdminRecord,
    ClientState,
    Cluster,
    Crashed,
    DegradedRecord,
    DiskLossRecord,
    DropRecord,
    DurableRecord,
    ExecutionRecord,
    ForwardDeliveryRecord,
    HandoffAckRecord,
    Operation,
    ProtocolErrorRecord,
    Record,
    canonical,
)
from dynref.sim.model import NodeSlot
from dynref.state import VolatileState

MEMO_LIMIT = 400_000
_VOLATILE_FIELDS = tuple(
    field.name for field in attrs.fields(VolatileState) if field.name not in {"trees", "stats"}
)
_HISTORY_RECORDS = (
    AdminRecord,
    DropRecord,
    ExecutionRecord,
    ForwardDeliveryRecord,
    HandoffAckRecord,
    DegradedRecord,
    DiskLossRecord,
    ProtocolErrorRecord,
)


class StateKeys:
    """Computes search state keys, remembering the encodings of unchanged parts."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, bytes]] = {}
        self._completions: dict[int, tuple[object, bytes]] = {}
        """Operations have two encodings (invocation, completion): the second memo."""

    def _cached(
        self,
        part: object,
        encode: Callable[[Any], bytes] = canonical,
        memo: dict[int, tuple[object, bytes]] | None = None,
    ) -> bytes:
        memo = self._memo if memo is None else memo
        hit = memo.get(id(part))
        if hit is not None and hit[0] is part:
            return hit[1]
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        encoded = encode(part)
        memo[id(part)] = (part, encoded)
        return encoded

    def key(self, cluster: Cluster, extra: bytes = b"") -> bytes:
        state = hashlib.blake2b(digest_size=24)
        for node in cluster.node_ids():
            state.update(self._cached(cluster.nodes[node], self._encode_node))
            state.update(canonical(cluster.clocks[node]))
        bag = sorted(self._cached(envelope) for envelope in cluster.in_flight.values())
        state.update(canonical(len(bag)) + b"".join(bag))
        state.update(canonical(cluster.blocked))
        for client in cluster.clients:
            client_state = cluster.client_states[client]
            state.update(self._cached(client_state, partial(_encode_client, cluster, client)))
        state.update(extra)
        state.update(self.history_key(cluster))
        return state.digest()

    def _encode_node(self, slot: NodeSlot) -> bytes:
        if isinstance(slot, Crashed):
            return b"X" + self._cached(slot.state.durable)
        out = bytearray(b"L")
        out += self._cached(slot.durable)
        volatile = slot.volatile
        for name in _VOLATILE_FIELDS:
            value = getattr(volatile, name)
            out += canonical(value) if isinstance(value, int) else self._cached(value)
        return bytes(out)

    def history_key(self, cluster: Cluster) -> bytes:
        """The history as the checkers see it, with steps reduced to order and adjacency."""
        events: dict[int, list[bytes]] = {}
        for op in cluster.operations.values():
            events.setdefault(op.invoked, []).append(self._cached(op, _encode_invocation))
            if op.completed is not None:
                done = self._cached(op, _encode_completion, self._completions)
                events.setdefault(op.completed, []).append(done)
        for record in cluster.records.newest():
            if isinstance(record, DurableRecord):
                if not isinstance(record.write, StoreHint | DeleteHint):
                    continue
            elif not isinstance(record, _HISTORY_RECORDS):
                continue
            encoded = self._cached(record, _encode_record)
            events.setdefault(record.step, []).append(encoded)
        out = bytearray(canonical(cluster.counters.stray_replies))
        previous = -1
        for step in sorted(events):
            out += b"+" if step == previous + 1 else b"/"
            for item in sorted(events[step]):
                out += item
            previous = step
        out += b"+" if cluster.step == previous + 1 else b"/"
        return bytes(out)


def _encode_invocation(op: Operation) -> bytes:
    fields = (op.op_id, op.client, op.kind, op.node, op.key, op.value, op.context)
    return canonical(("invoke", *fields, op.read_from))


def _encode_completion(op: Operation) -> bytes:
    return canonical(("done", op.op_id, op.result))


def _encode_record(record: Record) -> bytes:
    return canonical(attrs.evolve(record, step=0))


def _encode_client(cluster: Cluster, client: str, client_state: ClientState) -> bytes:
    """A client's state; what it names in `cluster.operations` never changes once written."""
    pending: object = None
    if client_state.pending is not None:
        op = cluster.operations[client_state.pending]
        pending = (op.kind, op.node, op.key, op.value, op.context)
    reads = tuple(
        (key, cluster.operations[client_state.last_reads[key]].result)
        for key in sorted(client_state.last_reads.keys())
    )
    return canonical((client, pending, client_state.puts_issued, reads))


def history_key(cluster: Cluster) -> bytes:
    """`StateKeys().history_key(cluster)`, without memoisation."""
    return StateKeys().history_key(cluster)
