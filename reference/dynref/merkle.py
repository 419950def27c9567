"""Merkle hashing for anti-entropy: node naming, key positions, node hashes, comparisons.

Replicas compare trees over (key, digest of the key's sibling set) pairs; the tree itself is in
`dynref.merkle_tree`, a simulation of the whole exchange in `dynref.merkle_exchange`.

Shape (REQ-MERKLE-1): the tree is the complete binary tree of `MAX_DEPTH` levels below the root.
A node is named by (level, index) with 0 <= index < 2**level; its children are
(level + 1, 2 * index) and (level + 1, 2 * index + 1). Internally a node is also named by its
heap ("flat") index 2**level + index.

Positions (REQ-MERKLE-2): a key's position is MD5(b"merkle:" + key) as a 128-bit integer; the
node of level L holding the key is named by the top L bits of its position.

Hashing (REQ-MERKLE-3): the hash of a node is a function of the (key, digest) entries below it
and of nothing else: no entry, a constant; entries all at one position (in practice, one entry),
their leaf hash; otherwise the inner hash of the two halves split at the first bit where their
positions differ. A node with one non-empty child thus carries that child's hash, and a node of
any level can be hashed from its entries alone: an exchange may stop at any depth, and two
replicas need not lay their trees out alike.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_HASH",
    "HASH_BYTES",
    "MAX_AUTO_DEPTH",
    "MAX_DEPTH",
    "MIN_AUTO_DEPTH",
    "NODE_TAG",
    "POSITION_BITS",
    "Positioned",
    "child_indexes",
    "depth_for",
    "differing_indexes",
    "differing_keys",
    "entries_hash",
    "flat_index",
    "is_valid_node",
    "key_position",
    "leaf_hash",
    "leaf_index",
    "parent_hash",
    "parent_index",
    "positioned",
    "span_hash",
    "split_point",
    "uvarint_len",
]

HASH_BYTES = 16
"""Size of a node hash in bytes (BLAKE2b-128; see docs/benchmarks.md for the choice)."""

MAX_DEPTH = 32
"""The deepest level a node may be named at, and so the deepest an exchange may go."""

MIN_AUTO_DEPTH = 1
MAX_AUTO_DEPTH = 20
"""`depth_for` clamps its answer to [MIN_AUTO_DEPTH, MAX_AUTO_DEPTH]."""

POSITION_BITS = 128
"""Bits of a key's position."""
_LEAF_TAG = b"\x00"
NODE_TAG = b"\x01"
"""The first byte an inner node hashes (a leaf's is 0x00)."""

Positioned = tuple[int, bytes, bytes]
"""(position, key, digest) of one entry."""


# --- Index arithmetic (contract-checked) ---------------------------------------------------


def child_indexes(index: int) -> tuple[int, int]:
    """Return the indexes, one level down, of the two children of the node at `index`.

    pre: index >= 0
    post: __return__[1] == __return__[0] + 1
    post: __return__[0] % 2 == 0
    post: __return__[0] // 2 == index and __return__[1] // 2 == index
    """
    left = 2 * index
    return (left, left + 1)


def parent_index(index: int) -> int:
    """Return the index, one level up, of the parent of the node at `index` (level >= 1).

    pre: index >= 0
    post: 0 <= __return__ <= index
    post: index in (2 * __return__, 2 * __return__ + 1)
    """
    return index // 2


def is_valid_node(depth: int, level: int, index: int) -> bool:
    """Whether (level, index) names a node of the top `depth` levels of a tree.

    Use it to vet indexes that come from another replica before passing them to a tree.

    post: __return__ == (0 <= level <= depth and 0 <= index < 2 ** level)
    """
    if not 0 <= level <= depth:
        return False
    return 0 <= index < (1 << level)


def flat_index(level: int, index: int) -> int:
    """Return the heap index 2**level + index of the node (level, index); the root is 1.

    pre: 0 <= level <= 64
    pre: 0 <= index < 2 ** level
    post: __return__ == 2 ** level + index and __return__.bit_length() == level + 1
    """
    return (1 << level) + index


def uvarint_len(value: int) -> int:
    """Return the size in bytes of `value` encoded as an unsigned LEB128.

    pre: value >= 0
    post: __return__ >= 1 and 128 ** (__return__ - 1) <= max(value, 1) < 128 ** __return__
    """
    return max(1, (value.bit_length() + 6) // 7)


def split_point(first: int, last: int) -> int:
    """Return where the right half starts of the node at which positions `first` < `last` part:
    `last` with every bit below the most significant differing bit cleared (that bit is 1 in
    `last`, 0 in `first`).

    pre: 0 <= first < last
    post: first < __return__ <= last
    post: (__return__ ^ last) < 2 ** ((first ^ last).bit_length() - 1)
    post: __return__ % 2 ** ((first ^ last).bit_length() - 1) == 0
    """
    shift = (first ^ last).bit_length() - 1
    return (last >> shift) << shift


def differing_indexes(
    local_hashes: Sequence[bytes], remote_hashes: Sequence[bytes]
) -> tuple[int, ...]:
    """Return the positions at which the two equally long sequences of hashes differ, ascending.

    pre: len(local_hashes) == len(remote_hashes)
    post: __return__ == tuple(i for i, h in enumerate(local_hashes) if h != remote_hashes[i])
    """
    if len(local_hashes) != len(remote_hashes):
        raise ValueError("hash sequences of different lengths")
    return tuple(
        i
        for i, (mine, theirs) in enumerate(zip(local_hashes, remote_hashes, strict=True))
        if mine != theirs
    )


def differing_keys(
    local_entries: Sequence[tuple[bytes, bytes]], remote_entries: Sequence[tuple[bytes, bytes]]
) -> tuple[bytes, ...]:
    """Return the keys present on one side only or with different digests, ascending.

    Each side is a sequence of (key, digest) pairs, as `MerkleTree.leaf_entries` returns (should a
    key repeat, its last pair counts, as with successive updates).

    pre: len({k for k, _ in local_entries}) == len(local_entries)
    pre: len({k for k, _ in remote_entries}) == len(remote_entries)
    post: __return__ == tuple(sorted({k for k, _ in set(local_entries) ^ set(remote_entries)}))
    """
    mine = dict(local_entries)
    theirs = dict(remote_entries)
    keys = {key for key, digest in mine.items() if theirs.get(key) != digest}
    keys.update(key for key in theirs if key not in mine)
    return tuple(sorted(keys))


def depth_for(expected_keys: int) -> int:
    """Return a depth whose nodes hold one or two keys each, on average.

    floor(log2(n)), clamped to [MIN_AUTO_DEPTH, MAX_AUTO_DEPTH]: the wire cost of an exchange,
    about 2 hashes per level plus the entries of one node per differing key, is least near
    2**depth = n * ln 2, that is one to two keys per node (docs/benchmarks.md).

    post: MIN_AUTO_DEPTH <= __return__ <= MAX_AUTO_DEPTH
    post: __return__ in (1, 20) or 2 ** __return__ <= expected_keys < 2 ** (__return__ + 1)
    """
    if expected_keys < 2:
        return MIN_AUTO_DEPTH
    return max(MIN_AUTO_DEPTH, min(MAX_AUTO_DEPTH, expected_keys.bit_length() - 1))


# --- Positions and hashing -----------------------------------------------------------------


def key_position(key: bytes) -> int:
    """Return the key's position: MD5(b"merkle:" + key) read as a big-endian 128-bit integer."""
    return int.from_bytes(hashlib.md5(b"merkle:" + key).digest(), "big")


def leaf_index(depth: int, key: bytes) -> int:
    """Return the index of the node of level `depth` holding `key`: its position's top bits."""
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth {depth} outside 0..{MAX_DEPTH}")
    return key_position(key) >> (POSITION_BITS - depth)


def _uvarint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))
"""The LEB128 encoding of each value below 128: the length of every key and digest, in practice."""


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


def leaf_hash(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return the leaf hash of entries given in ascending key order (REQ-MERKLE-3)."""
    parts = [_LEAF_TAG]
    for key, digest in entries:
        parts += (_uvarint(len(key)), key, _uvarint(len(digest)), digest)
    return _hash(b"".join(parts))


EMPTY_HASH = leaf_hash(())
"""The hash of a node holding no key, at any level: H(0x00)."""


def parent_hash(left: bytes, right: bytes) -> bytes:
    """Return a node's hash from its children's: with one child empty, the other child's hash."""
    if left == EMPTY_HASH:
        return right
    if right == EMPTY_HASH:
        return left
    return _hash(NODE_TAG + left + right)


def positioned(entries: Iterable[tuple[bytes, bytes]]) -> list[Positioned]:
    """Return (position, key, digest) of each entry, sorted (by position, then key)."""
    return sorted((key_position(key), key, digest) for key, digest in entries)


def span_hash(items: Sequence[Positioned], lo: int, hi: int) -> bytes:
    """Return the hash of a node holding exactly the entries items[lo:hi] (REQ-MERKLE-3).

    `items` is sorted as `positioned` sorts. Empty: EMPTY_HASH; all at one position: their leaf
    hash; otherwise the inner hash of the two halves split where their positions first differ.
    """
    if lo == hi:
        return EMPTY_HASH
    first, last = items[lo][0], items[hi - 1][0]
    if first == last:
        return leaf_hash((key, digest) for _, key, digest in items[lo:hi])
    middle = bisect_left(items, (split_point(first, last),), lo, hi)
    return _hash(NODE_TAG + span_hash(items, lo, middle) + span_hash(items, middle, hi))


def entries_hash(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Return the hash of a node holding exactly these (key, digest) entries, keys distinct."""
    if len(entries) == 1:
        return leaf_hash(entries)  # no position needed: the common case
    items = positioned(entries)
    return span_hash(items, 0, len(items))
