"""Merkle trees for anti-entropy: a pure, persistent binary hash tree over (key, digest) pairs.

A replica keeps, for each key range it holds, a `MerkleTree` over the pairs (key, digest of the
key's sibling set). Two replicas compare their trees top-down (roots first, then only the
children of differing nodes, level by level) and finally exchange the (key, digest) entries of
the differing leaf buckets, so that only the versions of differing keys cross the wire.

Shape (REQ-MERKLE-1): a complete binary tree of `depth` levels below the root. Level 0 holds the
root, level `depth` holds the 2**depth leaf buckets. A node is named by (level, index) with
0 <= index < 2**level; its children are (level + 1, 2 * index) and (level + 1, 2 * index + 1).
Internally a node is stored under its heap ("flat") index 2**level + index.

Leaf assignment (REQ-MERKLE-2): a key falls in bucket `leaf_index(depth, key)`, the top `depth`
bits of MD5(b"merkle:" + key), independent of the key's ring position so that the keys of one
range spread evenly over the buckets.

Hashing (REQ-MERKLE-3): hashes are BLAKE2b with a 16-byte output (`HASH_BYTES`), domain separated
by a one-byte tag. A leaf hashes the tag 0x00 and, for each entry in ascending key order, the
key and the digest each preceded by its length as an unsigned LEB128. An inner node hashes the
tag 0x01 and its left then right child hash. A subtree holding no key has a constant hash that
depends on its height only (`empty_hash`), so an empty subtree costs no storage.

The representation is canonical: only non-empty buckets and nodes whose hash differs from the
empty constant are stored, so two trees of one depth over the same (key, digest) set are equal
values, whatever the order of the updates that built them. An update copies one leaf bucket
(structure shared otherwise) and leaves the node hashes to the next read, which rehashes at once
the paths from every leaf changed since: at most depth + 1 hashes per update, fewer where the
paths meet (a node keeps many writes between two anti-entropy rounds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import attrs
import immutables

__all__ = [
    "HASH_BYTES",
    "MAX_DEPTH",
    "ExchangeCost",
    "MerkleTree",
    "build_tree",
    "child_indexes",
    "depth_for",
    "differing_children",
    "differing_indexes",
    "differing_keys",
    "empty_hash",
    "empty_tree",
    "flat_index",
    "is_valid_node",
    "leaf_index",
    "parent_index",
    "simulate_exchange",
    "uvarint_len",
]

HASH_BYTES = 16
"""Size of a node hash in bytes (BLAKE2b-128; see docs/benchmarks.md for the choice)."""

MAX_DEPTH = 32
"""The deepest tree this module builds: 2**32 leaf buckets, far beyond any real range."""

MIN_AUTO_DEPTH = 1
MAX_AUTO_DEPTH = 20
"""`depth_for` clamps its answer to [MIN_AUTO_DEPTH, MAX_AUTO_DEPTH]."""

_LEAF_TAG = b"\x00"
_NODE_TAG = b"\x01"

Bucket = immutables.Map[bytes, bytes]
_EMPTY_BUCKET: Bucket = immutables.Map()


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
    """Whether (level, index) names a node of a tree of this depth.

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


# --- Hashing and leaf assignment -----------------------------------------------------------


def leaf_index(depth: int, key: bytes) -> int:
    """Return the leaf bucket of `key`: the top `depth` bits of MD5(b"merkle:" + key)."""
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth {depth} outside 0..{MAX_DEPTH}")
    position = int.from_bytes(hashlib.md5(b"merkle:" + key).digest(), "big")
    return position >> (128 - depth)


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


def _leaf_hash(bucket: Bucket) -> bytes:
    parts = [_LEAF_TAG]
    for key in sorted(bucket):
        digest = bucket[key]
        parts += (_uvarint(len(key)), key, _uvarint(len(digest)), digest)
    return _hash(b"".join(parts))


def _node_hash(left: bytes, right: bytes) -> bytes:
    return _hash(_NODE_TAG + left + right)


def _empty_hashes() -> tuple[bytes, ...]:
    hashes = [_leaf_hash(_EMPTY_BUCKET)]
    for _ in range(MAX_DEPTH):
        hashes.append(_node_hash(hashes[-1], hashes[-1]))
    return tuple(hashes)


_EMPTY: tuple[bytes, ...] = _empty_hashes()


def empty_hash(height: int) -> bytes:
    """Return the hash of a subtree holding no key, `height` levels above the leaves."""
    if not 0 <= height <= MAX_DEPTH:
        raise ValueError(f"height {height} outside 0..{MAX_DEPTH}")
    return _EMPTY[height]


def _check_depth(depth: int) -> None:
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth {depth} outside 0..{MAX_DEPTH}")


# --- The tree ------------------------------------------------------------------------------


_STALE_LEAVES_LIMIT = 32
"""Leaves an update may leave unhashed before it brings the node hashes up to date itself."""


class _Hashes:
    """The node hashes of one tree value, brought up to date when first read.

    `state` holds the hashes of an earlier version of the tree and the leaves changed since.
    A read rehashes the paths from those leaves to the root at once (once for the nodes the
    paths share) and keeps the result, so a run of updates between two reads costs a hash per
    node it touched rather than depth + 1 hashes per update. The result does not depend on when
    the read happens: the tree stays a value. Both parts sit in one tuple, replaced at once.
    """

    __slots__ = ("state",)

    def __init__(self, known: immutables.Map[int, bytes], stale: frozenset[int]) -> None:
        self.state = (known, stale)

    def current(
        self, depth: int, buckets: immutables.Map[int, Bucket]
    ) -> immutables.Map[int, bytes]:
        known, stale = self.state
        if stale:
            known = _rehash_paths(depth, buckets, known, stale)
            self.state = (known, frozenset())
        return known


def _rehash_paths(
    depth: int,
    buckets: immutables.Map[int, Bucket],
    known: immutables.Map[int, bytes],
    leaves: frozenset[int],
) -> immutables.Map[int, bytes]:
    """`known` with the hashes on the paths from `leaves` to the root recomputed from `buckets`."""
    nodes = known.mutate()
    base = 1 << depth
    for leaf in leaves:
        _store(nodes, base + leaf, _leaf_hash(buckets.get(leaf, _EMPTY_BUCKET)), _EMPTY[0])
    level = {(base + leaf) >> 1 for leaf in leaves}
    blake2b, node_tag = hashlib.blake2b, _NODE_TAG
    for height in range(1, depth + 1):
        below = _EMPTY[height - 1]
        for flat in level:
            pair = nodes.get(flat << 1, below) + nodes.get((flat << 1) | 1, below)
            value = blake2b(node_tag + pair, digest_size=HASH_BYTES).digest()
            _store(nodes, flat, value, _EMPTY[height])
        level = {flat >> 1 for flat in level}
    return nodes.finish()


def _store(
    nodes: immutables.MapMutation[int, bytes], flat: int, value: bytes, empty: bytes
) -> None:
    # Canonical form: a node whose subtree holds no key is not stored.
    if value == empty:
        nodes.pop(flat, None)
    else:
        nodes[flat] = value


@attrs.frozen
class MerkleTree:
    """A persistent Merkle tree of one depth over a set of (key, digest) pairs.

    Build one with `empty_tree` or `build_tree`, then `update`. Fields: `buckets` maps a leaf index
    to its non-empty bucket (key -> digest); `size` is the number of keys. `nodes` maps the flat
    index of every node whose subtree is non-empty to its hash; it is computed from the buckets
    when read (see `_Hashes`), so equality goes by depth and buckets.
    """

    depth: int
    buckets: immutables.Map[int, Bucket] = attrs.field(factory=immutables.Map, repr=False)
    size: int = 0
    _hashes: _Hashes = attrs.field(
        factory=lambda: _Hashes(immutables.Map(), frozenset()), eq=False, repr=False
    )

    @property
    def nodes(self) -> immutables.Map[int, bytes]:
        return self._hashes.current(self.depth, self.buckets)

    def update(self, key: bytes, digest: bytes | None) -> MerkleTree:
        """Return the tree with `key` mapped to `digest`, or without `key` when digest is None."""
        depth = self.depth
        leaf = leaf_index(depth, key)
        bucket = self.buckets.get(leaf, _EMPTY_BUCKET)
        old = bucket.get(key)
        if digest is None:
            if old is None:
                return self
            bucket = bucket.delete(key)
            size = self.size - 1
        else:
            if old == digest:
                return self
            bucket = bucket.set(key, digest)
            size = self.size + (old is None)
        buckets = self.buckets.set(leaf, bucket) if bucket else self.buckets.delete(leaf)
        known, stale = self._hashes.state
        stale |= {leaf}
        tree = MerkleTree(depth, buckets, size, _Hashes(known, stale))
        if len(stale) >= _STALE_LEAVES_LIMIT:
            tree.nodes  # noqa: B018 (bounds the work a later read may face, and the memory)
        return tree

    def root(self) -> bytes:
        """Return the root hash."""
        return self.nodes.get(1, _EMPTY[self.depth])

    def node_hash(self, level: int, index: int) -> bytes:
        """Return the hash of node (level, index); ValueError if the tree has no such node."""
        if not is_valid_node(self.depth, level, index):
            raise ValueError(f"no node ({level}, {index}) in a tree of depth {self.depth}")
        return self.nodes.get((1 << level) + index, _EMPTY[self.depth - level])

    def child_hashes(self, level: int, indexes: Sequence[int]) -> tuple[tuple[int, bytes], ...]:
        """Return (child index, hash) of both children of each given node at `level` (< depth).

        The result is ordered by child index, each child once.
        """
        if not 0 <= level < self.depth:
            raise ValueError(f"level {level} has no children in a tree of depth {self.depth}")
        out: list[tuple[int, bytes]] = []
        for index in sorted(set(indexes)):
            if not is_valid_node(self.depth, level, index):
                raise ValueError(f"no node ({level}, {index}) in a tree of depth {self.depth}")
            for child in child_indexes(index):
                out.append((child, self.node_hash(level + 1, child)))
        return tuple(out)

    def leaf_entries(self, indexes: Sequence[int]) -> tuple[tuple[bytes, bytes], ...]:
        """Return the (key, digest) pairs of the given leaf buckets, sorted by key."""
        entries: list[tuple[bytes, bytes]] = []
        for index in set(indexes):
            if not is_valid_node(self.depth, self.depth, index):
                raise ValueError(f"no leaf {index} in a tree of depth {self.depth}")
            entries.extend(self.buckets.get(index, _EMPTY_BUCKET).items())
        entries.sort()
        return tuple(entries)

    def key_count(self) -> int:
        """Return the number of keys in the tree."""
        return self.size

    def items(self) -> tuple[tuple[bytes, bytes], ...]:
        """Return every (key, digest) pair, sorted by key (O(n); for tests and tools)."""
        return tuple(sorted(pair for bucket in self.buckets.values() for pair in bucket.items()))


def empty_tree(depth: int) -> MerkleTree:
    """Return the tree of this depth holding no key (no node is allocated)."""
    _check_depth(depth)
    return MerkleTree(depth)


def build_tree(depth: int, entries: Iterable[tuple[bytes, bytes]]) -> MerkleTree:
    """Return the tree over `entries`, equal to updating an empty tree with each pair in turn.

    Bottom-up in O(n) hashing, rather than O(n * depth) for n updates.
    """
    _check_depth(depth)
    raw: dict[int, dict[bytes, bytes]] = {}
    for key, digest in entries:
        raw.setdefault(leaf_index(depth, key), {})[key] = digest
    buckets = {leaf: immutables.Map(bucket) for leaf, bucket in raw.items()}
    base = 1 << depth
    level_hashes = {base + leaf: _leaf_hash(bucket) for leaf, bucket in buckets.items()}
    nodes: dict[int, bytes] = {}
    for height in range(depth + 1):
        empty = _EMPTY[height]
        nodes.update((flat, value) for flat, value in level_hashes.items() if value != empty)
        if height == depth:
            break
        parents: dict[int, bytes] = {}
        for flat in level_hashes:
            parent = flat >> 1
            if parent not in parents:
                left = level_hashes.get(parent << 1, empty)
                right = level_hashes.get((parent << 1) | 1, empty)
                parents[parent] = _node_hash(left, right)
        level_hashes = parents
    size = sum(len(bucket) for bucket in buckets.values())
    return MerkleTree(
        depth, immutables.Map(buckets), size, _Hashes(immutables.Map(nodes), frozenset())
    )


def depth_for(expected_keys: int) -> int:
    """Return a depth whose leaf buckets hold one or two keys each, on average.

    floor(log2(n)), clamped to [MIN_AUTO_DEPTH, MAX_AUTO_DEPTH]: the wire cost of an exchange,
    about 2 hashes per level plus one bucket of entries per differing key, is least near
    2**depth = n * ln 2, that is one to two keys per bucket (docs/benchmarks.md).

    post: MIN_AUTO_DEPTH <= __return__ <= MAX_AUTO_DEPTH
    post: __return__ in (1, 20) or 2 ** __return__ <= expected_keys < 2 ** (__return__ + 1)
    """
    if expected_keys < 2:
        return MIN_AUTO_DEPTH
    return max(MIN_AUTO_DEPTH, min(MAX_AUTO_DEPTH, expected_keys.bit_length() - 1))


def differing_children(
    local: MerkleTree, level: int, remote: Sequence[tuple[int, bytes]]
) -> tuple[int, ...]:
    """Return the indexes of the nodes at `level` whose remote hash differs from the local one.

    `remote` holds (index, hash) pairs at `level`, as `MerkleTree.child_hashes` returns them. The
    result is ascending, each index once. ValueError if an index names no node at that level.
    """
    mine = [local.node_hash(level, index) for index, _ in remote]
    positions = differing_indexes(mine, [value for _, value in remote])
    return tuple(sorted({remote[position][0] for position in positions}))


# --- The whole exchange, simulated -----------------------------------------------------------


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
    *,
    key_bytes: int = 16,
    digest_bytes: int = 16,
    record_bytes: int = 116,
) -> ExchangeCost:
    """Run the anti-entropy exchange between `a` and `b` without messages; return its cost.

    The protocol (REQ-MERKLE-5): A sends its root hash. Then, level by level and alternating
    sides (B first), the side whose turn it is sends the hashes of both children of every node
    found differing at the previous level, tagged by their parent indexes; the other side finds
    which children differ. At the leaf level the side whose turn it is sends the (key, digest)
    entries of the differing buckets, and the other side computes the differing keys, whose
    versions are then exchanged (one record of `record_bytes` per differing key).

    Cost model: a hash is HASH_BYTES; the parent indexes of a message are an ascending list sent
    as LEB128 deltas (the first from 0; the child indexes are implied); a leaf entry is
    key_bytes + digest_bytes; message framing (headers, lengths) is not counted.
    """
    if a.depth != b.depth:
        raise ValueError(f"trees of different depths {a.depth} and {b.depth}")
    rounds = 1
    hashes = 1
    index_bytes = 0
    if a.root() == b.root():
        return ExchangeCost(rounds, hashes, 0, (), HASH_BYTES)
    sides = (a, b)
    turn = 1  # B answers A's root
    differing: tuple[int, ...] = (0,)
    for level in range(a.depth):
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
        sent_entries = sender.leaf_entries(differing)
        rounds += 1
        entries = len(sent_entries)
        index_bytes += _indexes_len(differing)
        keys = differing_keys(receiver.leaf_entries(differing), sent_entries)
    total = (
        hashes * HASH_BYTES
        + index_bytes
        + entries * (key_bytes + digest_bytes)
        + len(keys) * record_bytes
    )
    return ExchangeCost(rounds, hashes, entries, keys, total, index_bytes, len(keys))
