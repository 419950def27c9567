"""A canonical fingerprint of a cluster's state, for state hashing in exhaustive search.

`fingerprint(cluster)` is a 32-byte BLAKE2b digest of a canonical encoding of:
- each node: its durable state (id, incarnation, boots, every key's sibling-set digest, hints,
  the membership it learnt)
  and, for a live node, its volatile state except what is derived or merely counted (the
  Merkle trees, rebuilt from the durable store, and the statistics);
- the in-flight messages as a multiset: ids are ignored, so two bags that differ only in the
  order messages were sent fingerprint alike;
- the faults: crashed nodes, blocked pairs, and every node's clock;
- each client's state: its outstanding operation (kind, node, key, value, context), how many
  puts it issued, and its last read of each key (values and context).

The history, trace, audit records and counters are not part of the state: two runs that reach
equal states fingerprint alike even if they got there differently. An explorer that prunes on
fingerprints therefore judges history-based properties on the first path to each state.

The encoding never depends on hash order (maps and sets are sorted by encoded form), so a
fingerprint is the same in every process.
"""

from __future__ import annotations

import enum
import hashlib

import attrs
import immutables

from dynref.causality import DvvSet, LwwRegister, VclockSiblings
from dynref.causality.context import append_signed, append_varint
from dynref.sim.cluster import Cluster
from dynref.sim.model import Crashed
from dynref.state import DurableState, VolatileState

_SKIPPED_VOLATILE = frozenset({"trees", "stats"})
_VOLATILE_FIELDS = tuple(
    field.name for field in attrs.fields(VolatileState) if field.name not in _SKIPPED_VOLATILE
)


def canonical(value: object) -> bytes:
    """The canonical encoding of a value built of attrs classes, containers and scalars."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: object, out: bytearray) -> None:
    if value is None:
        out += b"N"
    elif isinstance(value, bool):
        out += b"T" if value else b"F"
    elif isinstance(value, int):
        out += b"i"
        append_signed(out, value)
    elif isinstance(value, str):
        _blob(b"s", value.encode(), out)
    elif isinstance(value, bytes):
        _blob(b"b", value, out)
    elif isinstance(value, DvvSet | VclockSiblings | LwwRegister):
        out += b"V" + value.digest()
    elif isinstance(value, enum.Enum):
        _blob(b"e", str(value.value).encode(), out)
    elif isinstance(value, tuple):
        out += b"("
        append_varint(out, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, frozenset):
        _sorted(b"{", [canonical(item) for item in value], out)
    elif isinstance(value, immutables.Map):
        _sorted(b"M", [canonical(k) + canonical(v) for k, v in value.items()], out)
    elif attrs.has(cls := type(value)):
        _blob(b"@", cls.__name__.encode(), out)
        for field in attrs.fields(cls):
            _encode(getattr(value, field.name), out)
    else:
        raise TypeError(f"no canonical encoding for {type(value).__name__}")


def _blob(tag: bytes, data: bytes, out: bytearray) -> None:
    out += tag
    append_varint(out, len(data))
    out += data


def _sorted(tag: bytes, encoded: list[bytes], out: bytearray) -> None:
    out += tag
    append_varint(out, len(encoded))
    for item in sorted(encoded):
        out += item


def _durable(durable: DurableState, out: bytearray) -> None:
    _encode((durable.node_id, durable.incarnation, durable.boots), out)
    _encode(durable.data, out)
    _encode(durable.hints, out)
    _encode(durable.membership, out)


def fingerprint(cluster: Cluster) -> bytes:
    out = bytearray(b"dynref-cluster-1")
    for node in cluster.node_ids():
        slot = cluster.nodes[node]
        _encode(node, out)
        if isinstance(slot, Crashed):
            out += b"X"
            _durable(slot.state.durable, out)
        else:
            out += b"L"
            _durable(slot.durable, out)
            volatile = slot.volatile
            for name in _VOLATILE_FIELDS:
                _encode(getattr(volatile, name), out)
        _encode(cluster.clocks[node], out)
    _sorted(b"B", [canonical(envelope) for envelope in cluster.in_flight.values()], out)
    _encode(cluster.blocked, out)
    for client in cluster.clients:
        state = cluster.client_states[client]
        _encode(client, out)
        if state.pending is None:
            out += b"N"
        else:
            op = cluster.operations[state.pending]
            _encode((op.kind, op.node, op.key, op.value, op.context), out)
        _encode(state.puts_issued, out)
        for key in sorted(state.last_reads.keys()):
            read = cluster.operations[state.last_reads[key]]
            _encode((key, read.result), out)
    return hashlib.blake2b(bytes(out), digest_size=32).digest()
