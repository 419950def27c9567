"""The Merkle exchange between two replicas' trees, run without messages, and what it costs.

The node runs the same exchange with messages (dynref.antientropy); this model counts what it
puts on the wire, for tests of REQ-MERKLE-5 and REQ-MERKLE-8 and for benchmarks/bench_merkle.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from dynref.merkle import HASH_BYTES, MAX_DEPTH, differing_keys, uvarint_len
from dynref.merkle_tree import MerkleTree, differing_children

__all__ = ["ExchangeCost", "simulate_exchange"]


@attrs.frozen
class ExchangeCost:
    """What a Merkle exchange between two replicas puts on the wire (see `simulate_exchange`).

    `rounds` counts the one-way messages of the tree exchange, root to leaf entries inclusive;
    `bytes_on_wire` adds up the hashes, the node indexes, the leaf entries and the `records_sent`
    version records of the differing keys.
    """

    rounds: int
    hashes_sent: int
    leaf_entries_sent: int
    differing_keys: tuple[bytes, ...]
    bytes_on_wire: int
    index_bytes: int = 0
    records_sent: int = 0


def _indexes_len(indexes: Sequence[int]) -> int:
    """Bytes of an ascending index list sent as LEB128 deltas (its length is in the framing)."""
    total = 0
    previous = 0
    for index in indexes:
        total += uvarint_len(index - previous)
        previous = index
    return total


def simulate_exchange(
    a: MerkleTree,
    b: MerkleTree,
    depth: int,
    *,
    key_bytes: int = 16,
    digest_bytes: int = 16,
    record_bytes: int = 116,
) -> ExchangeCost:
    """Run the anti-entropy exchange between `a` and `b` down to `depth`; return its cost.

    The protocol (REQ-MERKLE-5): A sends its root hash. Then, level by level and alternating
    sides (B first), the side whose turn it is sends the hashes of both children of every node
    found differing at the previous level, tagged by their parent indexes; the other side finds
    which children differ. At level `depth` the side whose turn it is sends the (key, digest)
    entries below the differing nodes, and the other side computes the differing keys, whose
    versions are then exchanged (one record of `record_bytes` per differing key).

    Cost model: a hash is HASH_BYTES; the parent indexes of a message are an ascending list sent
    as LEB128 deltas (the first from 0; the child indexes are implied); a leaf entry is
    key_bytes + digest_bytes; message framing (headers, lengths) is not counted.
    """
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"exchange depth {depth} outside 0..{MAX_DEPTH}")
    rounds = 1
    hashes = 1
    index_bytes = 0
    if a.root() == b.root():
        return ExchangeCost(rounds, hashes, 0, (), HASH_BYTES)
    sides = (a, b)
    turn = 1  # B answers A's root
    differing: tuple[int, ...] = (0,)
    for level in range(depth):
        sender, receiver = sides[turn], sides[1 - turn]
        sent = sender.child_hashes(level, differing)
        rounds += 1
        hashes += len(sent)
        index_bytes += _indexes_len(differing)
        differing = differing_children(receiver, level + 1, sent)
        turn = 1 - turn
        if not differing:  # only on a hash collision below a differing node
            break
    entries = 0
    keys: tuple[bytes, ...] = ()
    if differing:
        sender, receiver = sides[turn], sides[1 - turn]
        sent_entries = sender.leaf_entries(depth, differing)
        rounds += 1
        entries = len(sent_entries)
        index_bytes += _indexes_len(differing)
        keys = differing_keys(receiver.leaf_entries(depth, differing), sent_entries)
    total = (
        hashes * HASH_BYTES
        + index_bytes
        + entries * (key_bytes + digest_bytes)
        + len(keys) * record_bytes
    )
    return ExchangeCost(rounds, hashes, entries, keys, total, index_bytes, len(keys))
