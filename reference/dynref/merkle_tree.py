"""The Merkle tree a replica keeps for one key range: persistent, canonical, sized by its keys.

The node hashes are those of `dynref.merkle` (REQ-MERKLE-3): functions of the entries below each
node only. The tree stores the hashes of the nodes holding more than `BUCKET_KEYS` keys (inner
nodes) and, below them, buckets of at most `BUCKET_KEYS` (key, digest) entries; a node below a
bucket is hashed from the bucket's entries when an exchange asks for it. The layout is a
function of the entry set, so two trees over the same entries are equal values, whatever the
order of the updates that built them (REQ-MERKLE-4), and the tree follows its size one bucket at
a time: an update splits a bucket that grows past the limit, or merges two that shrink under
it, and never lays the whole tree out again (REQ-MERKLE-9). Node hashes are brought up to date
lazily: an update records the nodes it changed, and the next read rehashes them and their
ancestors at once.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence

import attrs
import immutables

from dynref.merkle import (
    EMPTY_HASH,
    HASH_BYTES,
    MAX_DEPTH,
    NODE_TAG,
    POSITION_BITS,
    Positioned,
    child_indexes,
    differing_indexes,
    entries_hash,
    is_valid_node,
    key_position,
    parent_hash,
    positioned,
    span_hash,
)

__all__ = ["BUCKET_KEYS", "MerkleTree", "build_tree", "differing_children", "empty_tree"]

BUCKET_KEYS = 8
"""The most entries a stored bucket holds (but at MAX_DEPTH): one more, and it splits in two."""

Bucket = immutables.Map[bytes, bytes]
_EMPTY_BUCKET: Bucket = immutables.Map()


def _level(flat: int) -> int:
    return flat.bit_length() - 1


def _under(flat: int, entries: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The entries whose position lies below the node `flat`."""
    level = _level(flat)
    shift = POSITION_BITS - level
    prefix = flat - (1 << level)
    return [(key, digest) for key, digest in entries if key_position(key) >> shift == prefix]


_STALE_LIMIT = 128
"""Nodes an update may leave unhashed before it brings the node hashes up to date itself.

Changed buckets share their ancestors, so the more a rehash takes at once, the fewer hashes each
update pays for: on a tree growing to 20,000 keys an update costs about a tenth less at 128 than
at 32 (docs/benchmarks.md, "The speed targets"); one rehash of 128 paths takes a few ms."""


class _Hashes:
    """The node hashes of one tree value, brought up to date when first read.

    `state` holds the hashes of an earlier version of the tree and the nodes changed since (each
    changed bucket, each node a split made or a merge removed). A read rehashes those and their
    ancestors at once, deepest first, so a run of updates between two reads costs a hash per
    node it touched. The result does not depend on when the read happens: the tree stays a value.
    """

    __slots__ = ("state",)

    def __init__(self, known: immutables.Map[int, bytes], stale: frozenset[int]) -> None:
        self.state = (known, stale)

    def current(
        self, buckets: immutables.Map[int, Bucket], inner: immutables.Map[int, bool]
    ) -> immutables.Map[int, bytes]:
        known, stale = self.state
        if stale:
            known = _rehash(buckets, inner, known, stale)
            self.state = (known, frozenset())
        return known


def _rehash(
    buckets: immutables.Map[int, Bucket],
    inner: immutables.Map[int, bool],
    known: immutables.Map[int, bytes],
    stale: frozenset[int],
) -> immutables.Map[int, bytes]:
    """`known` with the hashes of the `stale` nodes and their ancestors recomputed."""
    nodes = known.mutate()
    blake2b, node_tag = hashlib.blake2b, NODE_TAG
    by_level: dict[int, set[int]] = {}
    for flat in stale:
        by_level.setdefault(_level(flat), set()).add(flat)
    for level in range(max(by_level), -1, -1):
        above = by_level.setdefault(level - 1, set()) if level else set()
        for flat in by_level.get(level, ()):
            bucket = buckets.get(flat)
            if bucket is not None:
                value = entries_hash(tuple(bucket.items()))
            elif flat in inner:
                # parent_hash, inlined: this loop is most of an update's cost.
                left = nodes.get(flat << 1, EMPTY_HASH)
                right = nodes.get((flat << 1) | 1, EMPTY_HASH)
                if left == EMPTY_HASH:
                    value = right
                elif right == EMPTY_HASH:
                    value = left
                else:
                    value = blake2b(node_tag + left + right, digest_size=HASH_BYTES).digest()
            else:
                value = EMPTY_HASH
            # Canonical form: a node holding no key is not stored.
            if value == EMPTY_HASH:
                nodes.pop(flat, None)
            else:
                nodes[flat] = value
            above.add(flat >> 1)
    return nodes.finish()


@attrs.frozen
class MerkleTree:
    """A persistent Merkle tree over a set of (key, digest) pairs.

    Build one with `empty_tree` or `build_tree`, then `update`. Fields: `buckets` maps the flat
    index of each bucket to its entries (key -> digest); `size` is the number of keys; `inner`
    holds the flat indexes of the inner nodes. `nodes` maps the flat index of every inner node
    and bucket to its hash; it is computed when read (see `_Hashes`). The layout is a function of
    the entries, so equality goes by the buckets.
    """

    buckets: immutables.Map[int, Bucket] = attrs.field(factory=immutables.Map, repr=False)
    size: int = 0
    inner: immutables.Map[int, bool] = attrs.field(factory=immutables.Map, eq=False, repr=False)
    _hashes: _Hashes = attrs.field(
        factory=lambda: _Hashes(immutables.Map(), frozenset()), eq=False, repr=False
    )

    @property
    def nodes(self) -> immutables.Map[int, bytes]:
        return self._hashes.current(self.buckets, self.inner)

    def _home(self, position: int) -> int:
        """The flat index of the bucket that holds, or would hold, the key at `position`."""
        inner = self.inner
        low, high = 0, MAX_DEPTH  # the inner nodes on a key's path are those above its bucket
        while low < high:
            middle = (low + high) // 2
            if (1 << middle) + (position >> (POSITION_BITS - middle)) in inner:
                low = middle + 1
            else:
                high = middle
        return (1 << low) + (position >> (POSITION_BITS - low))

    def update(self, key: bytes, digest: bytes | None) -> MerkleTree:
        """Return the tree with `key` mapped to `digest`, or without `key` when digest is None."""
        position = key_position(key)
        home = self._home(position)
        bucket = self.buckets.get(home, _EMPTY_BUCKET)
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
        buckets, inner = self.buckets, self.inner
        changed = {home}
        if len(bucket) > BUCKET_KEYS and _level(home) < MAX_DEPTH:
            buckets_m, inner_m = buckets.mutate(), inner.mutate()
            buckets_m.pop(home, None)
            _place(home, list(bucket.items()), buckets_m, inner_m, changed)
            buckets, inner = buckets_m.finish(), inner_m.finish()
        elif digest is None:
            buckets, inner = _merged(home, bucket, buckets, inner, changed)
        else:
            buckets = buckets.set(home, bucket) if bucket else buckets.delete(home)
        known, stale = self._hashes.state
        stale = stale | changed
        tree = MerkleTree(buckets, size, inner, _Hashes(known, stale))
        if len(stale) >= _STALE_LIMIT:
            tree.nodes  # noqa: B018 (bounds the work a later read may face, and the memory)
        return tree

    def root(self) -> bytes:
        """Return the root hash."""
        return self.nodes.get(1, EMPTY_HASH)

    def node_hash(self, level: int, index: int) -> bytes:
        """Return the hash of node (level, index); ValueError if there is no such node."""
        if not is_valid_node(MAX_DEPTH, level, index):
            raise ValueError(f"no node ({level}, {index}) in a tree of depth {MAX_DEPTH}")
        flat = (1 << level) + index
        stored = self.nodes.get(flat)
        if stored is not None:
            return stored
        bucket = self._bucket_above(flat)
        if bucket is None:
            return EMPTY_HASH
        items = positioned(_under(flat, bucket.items()))
        return span_hash(items, 0, len(items))

    def _bucket_above(self, flat: int) -> Bucket | None:
        """The bucket strictly above the unstored node `flat`, None if `flat` holds no key."""
        while flat > 1:
            flat >>= 1
            bucket = self.buckets.get(flat)
            if bucket is not None:
                return bucket
            if flat in self.inner:
                return None
        return None

    def child_hashes(self, level: int, indexes: Sequence[int]) -> tuple[tuple[int, bytes], ...]:
        """Return (child index, hash) of both children of each given node at `level` (< 32).

        The result is ordered by child index, each child once.
        """
        if not 0 <= level < MAX_DEPTH:
            raise ValueError(f"level {level} has no children in a tree of depth {MAX_DEPTH}")
        out: list[tuple[int, bytes]] = []
        for index in sorted(set(indexes)):
            if not is_valid_node(MAX_DEPTH, level, index):
                raise ValueError(f"no node ({level}, {index}) in a tree of depth {MAX_DEPTH}")
            for child in child_indexes(index):
                out.append((child, self.node_hash(level + 1, child)))
        return tuple(out)

    def leaf_entries(self, level: int, indexes: Sequence[int]) -> tuple[tuple[bytes, bytes], ...]:
        """Return the (key, digest) pairs below the given nodes of `level`, sorted by key."""
        entries: list[tuple[bytes, bytes]] = []
        for index in set(indexes):
            if not is_valid_node(MAX_DEPTH, level, index):
                raise ValueError(f"no node ({level}, {index}) in a tree of depth {MAX_DEPTH}")
            entries.extend(self._entries_below((1 << level) + index))
        entries.sort()
        return tuple(entries)

    def _entries_below(self, flat: int) -> list[tuple[bytes, bytes]]:
        bucket = self.buckets.get(flat)
        if bucket is not None:
            return list(bucket.items())
        if flat not in self.inner:
            above = self._bucket_above(flat)
            return [] if above is None else _under(flat, above.items())
        out: list[tuple[bytes, bytes]] = []
        pending = [flat]
        while pending:
            node = pending.pop()
            for child in (node << 1, (node << 1) | 1):
                below = self.buckets.get(child)
                if below is not None:
                    out.extend(below.items())
                elif child in self.inner:
                    pending.append(child)
        return out

    def key_count(self) -> int:
        """Return the number of keys in the tree."""
        return self.size

    def items(self) -> tuple[tuple[bytes, bytes], ...]:
        """Return every (key, digest) pair, sorted by key (O(n); for tests and tools)."""
        return tuple(sorted(pair for bucket in self.buckets.values() for pair in bucket.items()))


def _place(
    flat: int,
    entries: list[tuple[bytes, bytes]],
    buckets: immutables.MapMutation[int, Bucket],
    inner: immutables.MapMutation[int, bool],
    changed: set[int],
) -> None:
    """Lay `entries` out below the node `flat`: one bucket, or an inner node and its halves."""
    changed.add(flat)
    level = _level(flat)
    if len(entries) <= BUCKET_KEYS or level == MAX_DEPTH:
        if entries:
            buckets[flat] = immutables.Map(entries)
        return
    inner[flat] = True
    shift = POSITION_BITS - 1 - level
    halves: tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]] = ([], [])
    for key, digest in entries:
        halves[(key_position(key) >> shift) & 1].append((key, digest))
    _place(flat << 1, halves[0], buckets, inner, changed)
    _place((flat << 1) | 1, halves[1], buckets, inner, changed)


def _merged(
    flat: int,
    bucket: Bucket,
    buckets: immutables.Map[int, Bucket],
    inner: immutables.Map[int, bool],
    changed: set[int],
) -> tuple[immutables.Map[int, Bucket], immutables.Map[int, bool]]:
    """The layout after `flat`'s bucket shrank to `bucket`: merged upwards while a node holds
    no more than BUCKET_KEYS keys (a node with an inner child holds more)."""
    buckets = buckets.set(flat, bucket) if bucket else buckets.delete(flat)
    while flat > 1:
        sibling = flat ^ 1
        if sibling in inner:
            break
        mine = buckets.get(flat, _EMPTY_BUCKET)
        theirs = buckets.get(sibling, _EMPTY_BUCKET)
        if len(mine) + len(theirs) > BUCKET_KEYS:
            break
        parent = flat >> 1
        buckets = buckets.delete(flat) if mine else buckets
        buckets = buckets.delete(sibling) if theirs else buckets
        merged = mine.update(theirs)
        buckets = buckets.set(parent, merged) if merged else buckets
        inner = inner.delete(parent)
        changed.update((flat, sibling, parent))
        flat = parent
    return buckets, inner


def empty_tree() -> MerkleTree:
    """Return the tree holding no key (nothing is allocated)."""
    return MerkleTree()


def build_tree(entries: Iterable[tuple[bytes, bytes]]) -> MerkleTree:
    """Return the tree over `entries`, equal to updating an empty tree with each pair in turn.

    One sort by position, then each node hashed once, bottom-up.
    """
    items = positioned(dict(entries).items())
    buckets: dict[int, Bucket] = {}
    inner: dict[int, bool] = {}
    nodes: dict[int, bytes] = {}
    _lay_out(items, 1, 0, len(items), (buckets, inner, nodes))
    return MerkleTree(
        immutables.Map(buckets),
        len(items),
        immutables.Map(inner),
        _Hashes(immutables.Map(nodes), frozenset()),
    )


def _lay_out(
    items: list[Positioned],
    flat: int,
    lo: int,
    hi: int,
    into: tuple[dict[int, Bucket], dict[int, bool], dict[int, bytes]],
) -> bytes:
    """Lay items[lo:hi] out below the node `flat` (buckets, inner nodes, hashes); its hash."""
    buckets, inner, nodes = into
    level = _level(flat)
    if hi - lo <= BUCKET_KEYS or level == MAX_DEPTH:
        if lo == hi:
            return EMPTY_HASH
        buckets[flat] = immutables.Map((key, digest) for _, key, digest in items[lo:hi])
        value = span_hash(items, lo, hi)
    else:
        inner[flat] = True
        right = ((flat << 1) | 1) ^ (1 << (level + 1))  # the right child's index
        middle = bisect_left(items, (right << (POSITION_BITS - 1 - level),), lo, hi)
        value = parent_hash(
            _lay_out(items, flat << 1, lo, middle, into),
            _lay_out(items, (flat << 1) | 1, middle, hi, into),
        )
    nodes[flat] = value
    return value


def differing_children(
    local: MerkleTree, level: int, remote: Sequence[tuple[int, bytes]]
) -> tuple[int, ...]:
    """Return the indexes of the nodes at `level` whose remote hash differs from the local one.

    `remote` holds (index, hash) pairs at `level`, as `MerkleTree.child_hashes` returns them. The
    result is ascending, each index once. ValueError if an index names no node at that level.
    """
    mine = [local.node_hash(level, index) for index in (index for index, _ in remote)]
    positions = differing_indexes(mine, [value for _, value in remote])
    return tuple(sorted({remote[position][0] for position in positions}))
