"""The Merkle tree of anti-entropy (dynref.merkle): shape, hashing, canonical form and the diff.

The hashing tests rebuild every node hash with an independent, naive model of REQ-MERKLE-3, so
the incremental tree is checked against the spec rather than against itself.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

import pytest
from dynref.merkle import (
    HASH_BYTES,
    MAX_DEPTH,
    ExchangeCost,
    MerkleTree,
    build_tree,
    child_indexes,
    depth_for,
    differing_children,
    differing_indexes,
    differing_keys,
    empty_hash,
    empty_tree,
    flat_index,
    is_valid_node,
    leaf_index,
    parent_index,
    simulate_exchange,
    uvarint_len,
)
from hypothesis import assume, given
from hypothesis import strategies as st

keys = st.binary(max_size=5)
digests = st.binary(min_size=1, max_size=2)
depths = st.integers(min_value=0, max_value=6)
contents = st.dictionaries(keys, digests, max_size=30)
Contents = Mapping[bytes, bytes]


# --- An independent model of the spec ------------------------------------------------------


def model_uvarint(value: int) -> bytes:
    out = b""
    while value >= 0x80:
        out += bytes([(value & 0x7F) | 0x80])
        value >>= 7
    return out + bytes([value])


def model_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def model_leaf(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    data = b"\x00"
    for key, digest in sorted(pairs):
        data += model_uvarint(len(key)) + key + model_uvarint(len(digest)) + digest
    return model_hash(data)


def model_levels(depth: int, content: Contents) -> list[list[bytes]]:
    """Every node hash, level by level (level 0 first), computed naively from the whole set."""
    leaves: list[list[tuple[bytes, bytes]]] = [[] for _ in range(2**depth)]
    for key, digest in content.items():
        top = int.from_bytes(hashlib.md5(b"merkle:" + key).digest(), "big") >> (128 - depth)
        leaves[top].append((key, digest))
    levels = [[model_leaf(bucket) for bucket in leaves]]
    while len(levels[0]) > 1:
        below = levels[0]
        levels.insert(
            0, [model_hash(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below), 2)]
        )
    return levels


def tree_by_updates(depth: int, pairs: Iterable[tuple[bytes, bytes | None]]) -> MerkleTree:
    tree = empty_tree(depth)
    for key, digest in pairs:
        tree = tree.update(key, digest)
    return tree


def symmetric_difference(a: Contents, b: Contents) -> tuple[bytes, ...]:
    return tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))


@st.composite
def tree_pairs(draw: st.DrawFn) -> tuple[int, dict[bytes, bytes], dict[bytes, bytes]]:
    """A depth and two contents that share most keys: changed, removed and added keys."""
    depth = draw(depths)
    a = draw(contents)
    b = dict(a)
    for _ in range(draw(st.integers(0, 6))):
        existing = bool(a) and draw(st.booleans())
        key = draw(st.sampled_from(sorted(a))) if existing else draw(keys)
        digest = draw(st.none() | digests)
        if digest is None:
            b.pop(key, None)
        else:
            b[key] = digest
    return depth, a, b


# --- REQ-MERKLE-1: shape and index arithmetic -------------------------------------------------


@given(st.integers(min_value=0, max_value=2**40))
def test_req_merkle_1_children_and_parent_are_inverse(index: int) -> None:
    """REQ-MERKLE-1: node i has children 2i and 2i+1, each of whose parent is i."""
    left, right = child_indexes(index)
    assert (left, right) == (2 * index, 2 * index + 1)
    assert parent_index(left) == parent_index(right) == index


@given(st.integers(0, MAX_DEPTH), st.data())
def test_req_merkle_1_node_naming(depth: int, data: st.DataObject) -> None:
    """REQ-MERKLE-1: (level, index) with 0 <= level <= depth, 0 <= index < 2**level; heap order."""
    level = data.draw(st.integers(0, depth))
    index = data.draw(st.integers(0, 2**level - 1))
    assert is_valid_node(depth, level, index)
    assert not is_valid_node(depth, level, 2**level)
    assert not is_valid_node(depth, level, -1)
    assert not is_valid_node(depth, depth + 1, 0)
    assert not is_valid_node(depth, -1, 0)
    assert flat_index(level, index) == 2**level + index
    assert flat_index(0, 0) == 1


def test_req_merkle_1_out_of_range_nodes_are_value_errors() -> None:
    """REQ-MERKLE-1: a tree refuses to name a node it does not have."""
    tree = build_tree(3, [(b"k", b"d")])
    for level, index in [(4, 0), (-1, 0), (2, 4), (2, -1)]:
        with pytest.raises(ValueError):
            tree.node_hash(level, index)
    with pytest.raises(ValueError):
        tree.child_hashes(3, [0])  # leaves have no children
    with pytest.raises(ValueError):
        tree.child_hashes(1, [2])
    with pytest.raises(ValueError):
        tree.leaf_entries([8])
    with pytest.raises(ValueError):
        differing_children(tree, 2, [(9, b"x" * HASH_BYTES)])
    with pytest.raises(ValueError):
        empty_tree(MAX_DEPTH + 1)
    with pytest.raises(ValueError):
        simulate_exchange(empty_tree(2), empty_tree(3))


# --- REQ-MERKLE-2: leaf assignment --------------------------------------------------------------


@given(st.integers(0, MAX_DEPTH), st.binary(max_size=20))
def test_req_merkle_2_leaf_is_top_bits_of_md5(depth: int, key: bytes) -> None:
    """REQ-MERKLE-2: the bucket is the top `depth` bits of MD5(b"merkle:" + key)."""
    expected = int(hashlib.md5(b"merkle:" + key).hexdigest(), 16) >> (128 - depth)
    assert leaf_index(depth, key) == expected
    assert 0 <= expected < 2**depth
    if depth < MAX_DEPTH:
        assert leaf_index(depth + 1, key) // 2 == expected


def test_req_merkle_2_keys_spread_over_buckets() -> None:
    """REQ-MERKLE-2: consecutive keys (one ring range) spread evenly over the buckets."""
    counts = [0] * 16
    for i in range(4096):
        counts[leaf_index(4, i.to_bytes(4, "big"))] += 1
    assert min(counts) > 180 and max(counts) < 340  # expected 256 each


# --- REQ-MERKLE-3: hashing ----------------------------------------------------------------------


@given(depths, contents)
def test_req_merkle_3_every_node_hash_matches_the_spec(depth: int, content: Contents) -> None:
    """REQ-MERKLE-3: leaf and inner hashes are those of the spec, computed naively."""
    tree = build_tree(depth, content.items())
    levels = model_levels(depth, content)
    assert tree.root() == levels[0][0]
    for level, hashes in enumerate(levels):
        assert [tree.node_hash(level, i) for i in range(2**level)] == hashes
        assert all(len(h) == HASH_BYTES for h in hashes)


@given(st.integers(0, MAX_DEPTH))
def test_req_merkle_3_empty_tree_has_constant_hashes_and_no_nodes(depth: int) -> None:
    """REQ-MERKLE-3: an empty subtree hashes to a constant of its height; nothing is allocated."""
    tree = empty_tree(depth)
    assert tree.root() == empty_hash(depth)
    assert len(tree.nodes) == 0 and len(tree.buckets) == 0 and tree.key_count() == 0
    assert empty_hash(0) == model_leaf([])
    if depth > 0:
        assert empty_hash(depth) == model_hash(b"\x01" + empty_hash(depth - 1) * 2)
        assert tree.node_hash(depth - 1, 0) == empty_hash(1)


def test_req_merkle_3_hash_width() -> None:
    """REQ-MERKLE-3: node hashes are HASH_BYTES = 16 bytes."""
    assert HASH_BYTES == 16
    assert len(build_tree(4, [(b"a", b"b")]).root()) == 16


# --- REQ-MERKLE-4: a tree is a function of its (key, digest) set ---------------------------------


@given(depths, contents, st.randoms(use_true_random=False))
def test_req_merkle_4_update_order_does_not_matter(
    depth: int, content: Contents, rnd: random.Random
) -> None:
    """REQ-MERKLE-4: equal sets give equal trees (whole values) and roots, in any update order."""
    pairs = list(content.items())
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    one, two = tree_by_updates(depth, pairs), tree_by_updates(depth, shuffled)
    assert one == two
    assert one.root() == two.root()
    assert one == build_tree(depth, pairs)
    assert one.key_count() == len(content)
    assert one.items() == tuple(sorted(pairs))


@given(depths, st.lists(st.tuples(keys, st.none() | digests), max_size=40))
def test_req_merkle_4_any_history_equals_building_its_outcome(
    depth: int, history: list[tuple[bytes, bytes | None]]
) -> None:
    """REQ-MERKLE-4: overwrites and removals (digest None) leave the tree of the final set."""
    final: dict[bytes, bytes] = {}
    for key, digest in history:
        if digest is None:
            final.pop(key, None)
        else:
            final[key] = digest
    tree = tree_by_updates(depth, history)
    assert tree == build_tree(depth, final.items())
    assert tree.key_count() == len(final)
    # removing everything gives back the empty tree, with nothing allocated
    assert tree_by_updates(depth, [(k, None) for k in final]).key_count() == 0
    emptied = tree
    for key in final:
        emptied = emptied.update(key, None)
    assert emptied == empty_tree(depth)


@given(depths, st.lists(st.tuples(keys, digests), max_size=30))
def test_req_merkle_4_build_tree_equals_updating_one_by_one(
    depth: int, pairs: list[tuple[bytes, bytes]]
) -> None:
    """REQ-MERKLE-4: build_tree gives the same value as successive updates (last pair wins)."""
    assert build_tree(depth, pairs) == tree_by_updates(depth, pairs)


@given(depths, contents, contents)
def test_req_merkle_4_different_sets_have_different_roots(
    depth: int, a: Contents, b: Contents
) -> None:
    """REQ-MERKLE-4: different sets give different roots (collisions have probability 2**-128)."""
    assume(a != b)
    assert build_tree(depth, a.items()).root() != build_tree(depth, b.items()).root()


@given(st.integers(1, 12), contents, keys, st.none() | digests)
def test_req_merkle_4_an_update_copies_one_path(
    depth: int, content: Contents, key: bytes, digest: bytes | None
) -> None:
    """REQ-MERKLE-4: an update changes at most one bucket and the depth + 1 nodes of one path."""
    before = build_tree(depth, content.items())
    after = before.update(key, digest)
    changed_nodes = set(before.nodes.items()) ^ set(after.nodes.items())
    assert len({flat for flat, _ in changed_nodes}) <= depth + 1
    changed_buckets = {leaf for leaf, _ in set(before.buckets.items()) ^ set(after.buckets.items())}
    assert changed_buckets <= {leaf_index(depth, key)}
    if content.get(key) == digest:
        assert after is before


# --- REQ-MERKLE-6: the comparison helpers ---------------------------------------------------------


@given(st.lists(st.tuples(st.binary(max_size=1), st.binary(max_size=1)), max_size=20))
def test_req_merkle_6_differing_indexes(pairs: list[tuple[bytes, bytes]]) -> None:
    """REQ-MERKLE-6: differing_indexes is exactly the positions where the hashes differ, sorted."""
    local = [a for a, _ in pairs]
    remote = [b for _, b in pairs]
    result = differing_indexes(local, remote)
    assert result == tuple(sorted(result))
    assert set(result) == {i for i, (a, b) in enumerate(pairs) if a != b}
    with pytest.raises(ValueError):
        differing_indexes([*local, b""], remote)


@given(tree_pairs(), st.data())
def test_req_merkle_6_differing_children(
    pair: tuple[int, dict[bytes, bytes], dict[bytes, bytes]], data: st.DataObject
) -> None:
    """REQ-MERKLE-6: differing_children names exactly the sent nodes whose hashes differ."""
    depth, a, b = pair
    assume(depth > 0)
    ta, tb = build_tree(depth, a.items()), build_tree(depth, b.items())
    level = data.draw(st.integers(0, depth - 1))
    parents = data.draw(st.lists(st.integers(0, 2**level - 1), max_size=4))
    sent = tb.child_hashes(level, parents)
    assert [i for i, _ in sent] == sorted({c for p in parents for c in child_indexes(p)})
    assert all(h == tb.node_hash(level + 1, i) for i, h in sent)
    result = differing_children(ta, level + 1, sent)
    assert result == tuple(i for i, h in sent if ta.node_hash(level + 1, i) != h)


@given(contents, contents)
def test_req_merkle_6_differing_keys_is_the_symmetric_difference(a: Contents, b: Contents) -> None:
    """REQ-MERKLE-6: differing_keys: keys on one side only or with different digests, sorted."""
    assert differing_keys(sorted(a.items()), sorted(b.items())) == symmetric_difference(a, b)
    assert differing_keys(list(a.items()), list(a.items())) == ()


@given(tree_pairs(), st.data())
def test_req_merkle_6_leaf_entries_are_the_buckets_sorted(
    pair: tuple[int, dict[bytes, bytes], dict[bytes, bytes]], data: st.DataObject
) -> None:
    """REQ-MERKLE-6: leaf_entries returns the (key, digest) pairs of the given buckets by key."""
    depth, a, _ = pair
    tree = build_tree(depth, a.items())
    leaves = data.draw(st.lists(st.integers(0, 2**depth - 1), max_size=5))
    expected = sorted((k, d) for k, d in a.items() if leaf_index(depth, k) in leaves)
    assert list(tree.leaf_entries(leaves)) == expected
    assert tree.leaf_entries(range(2**depth)) == tree.items()


# --- REQ-MERKLE-5 and REQ-MERKLE-8: the exchange and its cost ------------------------------------


@given(tree_pairs())
def test_req_merkle_5_exchange_finds_exactly_the_symmetric_difference(
    pair: tuple[int, dict[bytes, bytes], dict[bytes, bytes]],
) -> None:
    """REQ-MERKLE-5: the top-down exchange finds exactly the keys whose digests differ."""
    depth, a, b = pair
    ta, tb = build_tree(depth, a.items()), build_tree(depth, b.items())
    expected = symmetric_difference(a, b)
    cost = simulate_exchange(ta, tb)
    assert cost.differing_keys == expected
    assert simulate_exchange(tb, ta).differing_keys == expected
    assert cost.records_sent == len(expected)


@given(tree_pairs())
def test_req_merkle_8_exchange_cost_bounds(
    pair: tuple[int, dict[bytes, bytes], dict[bytes, bytes]],
) -> None:
    """REQ-MERKLE-8: one round when roots agree, else depth + 2; at most 1 + 2*d*depth hashes."""
    depth, a, b = pair
    ta, tb = build_tree(depth, a.items()), build_tree(depth, b.items())
    cost = simulate_exchange(ta, tb, key_bytes=5, digest_bytes=2, record_bytes=100)
    d = len(cost.differing_keys)
    if d == 0:
        assert cost == ExchangeCost(1, 1, 0, (), HASH_BYTES)
        return
    assert cost.rounds == depth + 2
    assert depth * 2 + 1 <= cost.hashes_sent <= 1 + 2 * d * depth
    leaves = {leaf_index(depth, k) for k in cost.differing_keys}
    in_leaves = [sum(leaf_index(depth, k) in leaves for k in side) for side in (a, b)]
    assert cost.leaf_entries_sent in in_leaves  # one side sends its differing buckets
    assert cost.bytes_on_wire == (
        cost.hashes_sent * HASH_BYTES
        + cost.index_bytes
        + cost.leaf_entries_sent * (5 + 2)
        + d * 100
    )


def test_req_merkle_8_single_difference_in_a_large_tree() -> None:
    """REQ-MERKLE-8: one changed key among 2,000 costs 1 + 2*depth hashes and one bucket."""
    depth = depth_for(2000)
    pairs = [(i.to_bytes(16, "big"), hashlib.md5(bytes([i % 251])).digest()) for i in range(2000)]
    a = build_tree(depth, pairs)
    b = a.update(pairs[7][0], b"\xff" * 16)
    cost = simulate_exchange(a, b)
    assert cost.differing_keys == (pairs[7][0],)
    assert cost.rounds == depth + 2
    assert cost.hashes_sent == 1 + 2 * depth
    assert 1 <= cost.leaf_entries_sent <= 6


@given(st.integers(min_value=0, max_value=2**70))
def test_req_merkle_8_uvarint_len(value: int) -> None:
    """REQ-MERKLE-8: index bytes are counted as LEB128 sizes."""
    assert uvarint_len(value) == len(model_uvarint(value))


# --- REQ-MERKLE-7: depth for a range -------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**30))
def test_req_merkle_7_depth_for(n: int) -> None:
    """REQ-MERKLE-7: floor(log2 n) clamped to 1..20, so that buckets hold one or two keys."""
    depth = depth_for(n)
    assert 1 <= depth <= 20
    if 2 <= n < 2**21:
        assert 2**depth <= n < 2 ** (depth + 1)
    assert depth_for(n + 1) >= depth
    assert depth_for(100_000) == 16
