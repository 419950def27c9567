"""The Merkle tree of anti-entropy (dynref.merkle, merkle_tree, merkle_exchange): shape, hashing,
canonical layout and the exchange.

The hashing tests rebuild node hashes with an independent, naive model of REQ-MERKLE-3, so the
incremental tree is checked against the spec rather than against itself.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

import pytest
from dynref import merkle_tree
from dynref.merkle import (
    EMPTY_HASH,
    HASH_BYTES,
    MAX_DEPTH,
    child_indexes,
    depth_for,
    differing_indexes,
    differing_keys,
    flat_index,
    is_valid_node,
    key_position,
    leaf_index,
    parent_index,
    span_hash,
    split_point,
    uvarint_len,
)
from dynref.merkle_exchange import ExchangeCost, simulate_exchange
from dynref.merkle_tree import (
    BUCKET_KEYS,
    MerkleTree,
    build_tree,
    differing_children,
    empty_tree,
)
from hypothesis import assume, given
from hypothesis import strategies as st

keys = st.binary(max_size=5)
digests = st.binary(min_size=1, max_size=2)
depths = st.integers(min_value=0, max_value=7)
exchange_depths = st.integers(min_value=0, max_value=MAX_DEPTH)
contents = st.dictionaries(keys, digests, max_size=40)
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


def model_position(key: bytes) -> int:
    return int(hashlib.md5(b"merkle:" + key).hexdigest(), 16)


def model_leaf(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    data = b"\x00"
    for key, digest in sorted(pairs):
        data += model_uvarint(len(key)) + key + model_uvarint(len(digest)) + digest
    return model_hash(data)


def model_set_hash(entries: list[tuple[int, bytes, bytes]]) -> bytes:
    """REQ-MERKLE-3 read literally: empty, one position, or split at the first differing bit."""
    if not entries:
        return model_leaf([])
    if len({position for position, _, _ in entries}) == 1:
        return model_leaf((key, digest) for _, key, digest in entries)
    for bit in range(127, -1, -1):
        halves: list[list[tuple[int, bytes, bytes]]] = [[], []]
        for entry in entries:
            halves[(entry[0] >> bit) & 1].append(entry)
        if halves[0] and halves[1]:
            return model_hash(b"\x01" + model_set_hash(halves[0]) + model_set_hash(halves[1]))
    raise AssertionError("distinct positions differ in some bit")


def model_node_hash(content: Contents, level: int, index: int) -> bytes:
    """The hash of node (level, index): that of the entries whose position starts with index."""
    below = [
        (model_position(key), key, digest)
        for key, digest in content.items()
        if model_position(key) >> (128 - level) == index
    ]
    return model_set_hash(below)


def tree_by_updates(pairs: Iterable[tuple[bytes, bytes | None]]) -> MerkleTree:
    tree = empty_tree()
    for key, digest in pairs:
        tree = tree.update(key, digest)
    return tree


def symmetric_difference(a: Contents, b: Contents) -> tuple[bytes, ...]:
    return tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))


def path_of(key: bytes) -> set[int]:
    """The flat indexes of the nodes holding `key`, at every level, and of their children."""
    position = key_position(key)
    on_path = {flat_index(level, position >> (128 - level)) for level in range(MAX_DEPTH + 1)}
    return on_path | {child for flat in on_path for child in (2 * flat, 2 * flat + 1)}


@st.composite
def tree_pairs(draw: st.DrawFn) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
    """Two contents that share most keys: changed, removed and added keys."""
    a = draw(contents)
    b = dict(a)
    for _ in range(draw(st.integers(0, 8))):
        existing = bool(a) and draw(st.booleans())
        key = draw(st.sampled_from(sorted(a))) if existing else draw(keys)
        digest = draw(st.none() | digests)
        if digest is None:
            b.pop(key, None)
        else:
            b[key] = digest
    return a, b


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
    """REQ-MERKLE-1: a tree has levels 0..32 and refuses to name a node outside them."""
    tree = build_tree([(b"k", b"d")])
    for level, index in [(MAX_DEPTH + 1, 0), (-1, 0), (2, 4), (2, -1)]:
        with pytest.raises(ValueError):
            tree.node_hash(level, index)
    with pytest.raises(ValueError):
        tree.child_hashes(MAX_DEPTH, [0])  # the deepest level has no children
    with pytest.raises(ValueError):
        tree.child_hashes(1, [2])
    with pytest.raises(ValueError):
        tree.leaf_entries(3, [8])
    with pytest.raises(ValueError):
        differing_children(tree, 2, [(9, b"x" * HASH_BYTES)])
    with pytest.raises(ValueError):
        simulate_exchange(tree, tree, MAX_DEPTH + 1)
    assert tree.node_hash(MAX_DEPTH, leaf_index(MAX_DEPTH, b"k")) == tree.root()


# --- REQ-MERKLE-2: positions ------------------------------------------------------------------


@given(st.integers(0, MAX_DEPTH), st.binary(max_size=20))
def test_req_merkle_2_leaf_is_top_bits_of_md5(depth: int, key: bytes) -> None:
    """REQ-MERKLE-2: the level-L node holding a key: the top L bits of MD5(b"merkle:" + key)."""
    assert key_position(key) == model_position(key)
    expected = model_position(key) >> (128 - depth)
    assert leaf_index(depth, key) == expected
    assert 0 <= expected < 2**depth
    if depth < MAX_DEPTH:
        assert leaf_index(depth + 1, key) // 2 == expected


def test_req_merkle_2_keys_spread_over_buckets() -> None:
    """REQ-MERKLE-2: consecutive keys (one ring range) spread evenly over the nodes of a level."""
    counts = [0] * 16
    for i in range(4096):
        counts[leaf_index(4, i.to_bytes(4, "big"))] += 1
    assert min(counts) > 180 and max(counts) < 340  # expected 256 each


# --- REQ-MERKLE-3: hashing ----------------------------------------------------------------------


@given(depths, contents)
def test_req_merkle_3_every_node_hash_matches_the_spec(depth: int, content: Contents) -> None:
    """REQ-MERKLE-3: every node of the top levels hashes as the spec says, computed naively."""
    tree = build_tree(content.items())
    assert tree.root() == model_node_hash(content, 0, 0)
    for level in range(depth + 1):
        for index in range(2**level):
            assert tree.node_hash(level, index) == model_node_hash(content, level, index)


@given(contents, st.integers(0, MAX_DEPTH), st.data())
def test_req_merkle_3_nodes_below_the_kept_layout_hash_from_their_entries(
    content: Contents, level: int, data: st.DataObject
) -> None:
    """REQ-MERKLE-3: a node of any level down to 32 hashes its own entries, whatever the layout."""
    assume(content)
    key = data.draw(st.sampled_from(sorted(content)))
    index = leaf_index(level, key)
    tree = tree_by_updates(content.items())
    assert tree.node_hash(level, index) == model_node_hash(content, level, index)
    sibling = index ^ 1 if level else 0
    assert tree.node_hash(level, sibling) == model_node_hash(content, level, sibling)
    if level < MAX_DEPTH:
        children = dict(tree.child_hashes(level, [index]))
        assert children == {c: model_node_hash(content, level + 1, c) for c in child_indexes(index)}


def test_req_merkle_3_empty_nodes_one_entry_chains_and_equal_positions() -> None:
    """REQ-MERKLE-3: E = H(0x00) at every level; a lone entry's leaf hash all the way up; entries
    at one position share one leaf; otherwise the split is at the first differing bit."""
    assert EMPTY_HASH == model_leaf([]) == model_hash(b"\x00")
    empty = empty_tree()
    assert empty.root() == EMPTY_HASH and not empty.nodes and not empty.buckets
    assert empty.node_hash(MAX_DEPTH, 12345) == EMPTY_HASH
    lone = build_tree([(b"k", b"d")])
    leaf = model_leaf([(b"k", b"d")])
    assert {lone.node_hash(level, leaf_index(level, b"k")) for level in range(33)} == {leaf}
    same_place = [(7, b"a", b"1"), (7, b"b", b"2")]
    assert span_hash(same_place, 0, 2) == model_leaf([(b"a", b"1"), (b"b", b"2")])
    apart = [(0b0100, b"x", b"1"), (0b0110, b"y", b"2"), (0b0111, b"z", b"3")]
    inner = model_hash(b"\x01" + model_leaf([(b"y", b"2")]) + model_leaf([(b"z", b"3")]))
    top = model_hash(b"\x01" + model_leaf([(b"x", b"1")]) + inner)
    assert span_hash(apart, 0, 3) == top


@given(st.integers(0, 2**128 - 2), st.integers(1, 2**128 - 1))
def test_req_merkle_3_split_point(first: int, distance: int) -> None:
    """REQ-MERKLE-3: the split lies at the first bit where two positions differ."""
    last = min(first + distance, 2**128 - 1)
    assume(first < last)
    split = split_point(first, last)
    bit = (first ^ last).bit_length() - 1
    assert first < split <= last
    assert (split >> bit) & 1 == 1 and split % (1 << bit) == 0
    assert split >> (bit + 1) == first >> (bit + 1) == last >> (bit + 1)


def test_req_merkle_3_hash_width() -> None:
    """REQ-MERKLE-3: node hashes are HASH_BYTES = 16 bytes."""
    assert HASH_BYTES == 16
    assert len(build_tree([(b"a", b"b")]).root()) == 16
    assert len(build_tree([(bytes([i]), b"b") for i in range(20)]).root()) == 16


# --- REQ-MERKLE-4: a tree is a function of its (key, digest) set ---------------------------------


@given(contents, st.randoms(use_true_random=False))
def test_req_merkle_4_update_order_does_not_matter(content: Contents, rnd: random.Random) -> None:
    """REQ-MERKLE-4: equal sets give equal trees (layout and hashes), in any update order."""
    pairs = list(content.items())
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    one, two = tree_by_updates(pairs), tree_by_updates(shuffled)
    built = build_tree(pairs)
    assert one == two == built
    assert one.inner == two.inner == built.inner
    assert one.nodes == two.nodes == built.nodes
    assert one.key_count() == len(content)
    assert one.items() == tuple(sorted(pairs))


def test_req_merkle_4_long_runs_of_unread_updates_equal_building_their_outcome() -> None:
    """REQ-MERKLE-4: updates with no read between them bring the hashes up to date themselves
    every so often (the stale limit), and what they leave equals the tree built at once; the
    nodes left unhashed stay bounded by that limit."""
    tree = empty_tree()
    final: dict[bytes, bytes] = {}
    for index in range(1_000):
        key, digest = b"key-%d" % (index % 700), b"%d" % index
        tree = tree.update(key, digest)
        final[key] = digest
        assert len(tree._hashes.state[1]) < merkle_tree._STALE_LIMIT
    built = build_tree(final.items())
    assert tree == built and tree.inner == built.inner and tree.nodes == built.nodes


@given(st.lists(st.tuples(keys, st.none() | digests), max_size=60))
def test_req_merkle_4_any_history_equals_building_its_outcome(
    history: list[tuple[bytes, bytes | None]],
) -> None:
    """REQ-MERKLE-4: overwrites and removals (digest None) leave the tree of the final set."""
    final: dict[bytes, bytes] = {}
    for key, digest in history:
        if digest is None:
            final.pop(key, None)
        else:
            final[key] = digest
    tree = tree_by_updates(history)
    built = build_tree(final.items())
    assert tree == built and tree.inner == built.inner and tree.nodes == built.nodes
    assert tree.key_count() == len(final)
    emptied = tree
    for key in final:
        emptied = emptied.update(key, None)
    assert emptied == empty_tree()
    assert not emptied.nodes and not emptied.inner and emptied.root() == EMPTY_HASH


@given(st.lists(st.tuples(keys, digests), max_size=40))
def test_req_merkle_4_build_tree_equals_updating_one_by_one(
    pairs: list[tuple[bytes, bytes]],
) -> None:
    """REQ-MERKLE-4: build_tree gives the same value as successive updates (last pair wins)."""
    assert build_tree(pairs) == tree_by_updates(pairs)


@given(contents, contents)
def test_req_merkle_4_different_sets_have_different_roots(a: Contents, b: Contents) -> None:
    """REQ-MERKLE-4: different sets give different roots (collisions have probability 2**-128)."""
    assume(a != b)
    assert build_tree(a.items()).root() != build_tree(b.items()).root()


@given(contents, keys, st.none() | digests)
def test_req_merkle_4_an_update_copies_one_path(
    content: Contents, key: bytes, digest: bytes | None
) -> None:
    """REQ-MERKLE-4: an update changes only nodes on the key's path and their children."""
    before = build_tree(content.items())
    after = before.update(key, digest)
    changed = {flat for flat, _ in set(before.nodes.items()) ^ set(after.nodes.items())}
    changed |= {flat for flat, _ in set(before.buckets.items()) ^ set(after.buckets.items())}
    assert changed <= path_of(key)
    if content.get(key) == digest:
        assert after is before


# --- REQ-MERKLE-9: the layout follows the size ---------------------------------------------------


@given(st.lists(st.tuples(keys, st.none() | digests), max_size=80))
def test_req_merkle_9_buckets_hold_at_most_bucket_keys_and_inner_nodes_more(
    history: list[tuple[bytes, bytes | None]],
) -> None:
    """REQ-MERKLE-9: after any history, every bucket holds 1..BUCKET_KEYS keys and every inner
    node more than BUCKET_KEYS; every bucket hangs below inner nodes only."""
    tree = tree_by_updates(history)
    sizes: dict[int, int] = {}
    for flat, bucket in tree.buckets.items():
        assert 1 <= len(bucket) <= BUCKET_KEYS or flat.bit_length() - 1 == MAX_DEPTH
        ancestor = flat >> 1
        while ancestor:
            assert ancestor in tree.inner
            sizes[ancestor] = sizes.get(ancestor, 0) + len(bucket)
            ancestor >>= 1
    assert set(sizes) == set(tree.inner)
    assert all(size > BUCKET_KEYS for size in sizes.values())
    assert sum(len(bucket) for bucket in tree.buckets.values()) == tree.key_count()


def test_req_merkle_9_a_tree_grows_and_shrinks_one_bucket_at_a_time() -> None:
    """REQ-MERKLE-9: 3,000 keys added then removed; no update relays more than one path."""
    pairs = [
        (i.to_bytes(4, "big"), hashlib.md5(i.to_bytes(4, "big")).digest()) for i in range(3_000)
    ]
    tree = empty_tree()
    for step, (key, digest) in enumerate(pairs + [(key, None) for key, _ in pairs]):
        before = tree
        tree = tree.update(key, digest)
        if step % 5 == 0:
            changed = {f for f, _ in set(before.buckets.items()) ^ set(tree.buckets.items())}
            changed |= set(before.inner) ^ set(tree.inner)
            assert changed <= path_of(key)
        if step == 4_500:
            assert tree == build_tree(tree.items()) and tree.inner == build_tree(tree.items()).inner
    assert tree == empty_tree() and not tree.inner


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


@given(tree_pairs(), st.integers(0, 12), st.data())
def test_req_merkle_6_differing_children(
    pair: tuple[dict[bytes, bytes], dict[bytes, bytes]], level: int, data: st.DataObject
) -> None:
    """REQ-MERKLE-6: differing_children names exactly the sent nodes whose hashes differ."""
    a, b = pair
    ta, tb = build_tree(a.items()), build_tree(b.items())
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


@given(contents, exchange_depths, st.data())
def test_req_merkle_6_leaf_entries_are_the_entries_below_the_nodes_sorted(
    content: Contents, level: int, data: st.DataObject
) -> None:
    """REQ-MERKLE-6: leaf_entries returns the (key, digest) pairs below the given nodes, by key."""
    tree = tree_by_updates(content.items())
    wanted = [leaf_index(level, key) for key in content][:3]
    wanted += data.draw(st.lists(st.integers(0, 2**level - 1), max_size=3))
    expected = sorted((k, d) for k, d in content.items() if leaf_index(level, k) in wanted)
    assert list(tree.leaf_entries(level, wanted)) == expected
    if level <= 8:
        assert tree.leaf_entries(level, range(2**level)) == tree.items()


# --- REQ-MERKLE-5 and REQ-MERKLE-8: the exchange and its cost ------------------------------------


@given(tree_pairs(), exchange_depths, st.lists(st.tuples(keys, st.none() | digests), max_size=8))
def test_req_merkle_5_exchange_at_any_depth_finds_exactly_the_symmetric_difference(
    pair: tuple[dict[bytes, bytes], dict[bytes, bytes]],
    depth: int,
    detour: list[tuple[bytes, bytes | None]],
) -> None:
    """REQ-MERKLE-5: at any exchange depth, whatever history laid the trees out, the top-down
    exchange finds exactly the keys whose digests differ."""
    a, b = pair
    ta = build_tree(a.items())
    tb = tree_by_updates([*detour, *((key, None) for key, _ in detour), *b.items()])
    assert tb == build_tree(b.items())
    expected = symmetric_difference(a, b)
    cost = simulate_exchange(ta, tb, depth)
    assert cost.differing_keys == expected
    assert simulate_exchange(tb, ta, depth).differing_keys == expected
    assert cost.records_sent == len(expected)


@given(tree_pairs(), depths)
def test_req_merkle_8_exchange_cost_bounds(
    pair: tuple[dict[bytes, bytes], dict[bytes, bytes]], depth: int
) -> None:
    """REQ-MERKLE-8: one round when roots agree, else depth + 2; at most 1 + 2*d*depth hashes."""
    a, b = pair
    ta, tb = build_tree(a.items()), build_tree(b.items())
    cost = simulate_exchange(ta, tb, depth, key_bytes=5, digest_bytes=2, record_bytes=100)
    d = len(cost.differing_keys)
    if d == 0:
        assert cost == ExchangeCost(1, 1, 0, (), HASH_BYTES)
        return
    assert cost.rounds == depth + 2
    assert depth * 2 + 1 <= cost.hashes_sent <= 1 + 2 * d * depth
    nodes = {leaf_index(depth, k) for k in cost.differing_keys}
    below = [sum(leaf_index(depth, k) in nodes for k in side) for side in (a, b)]
    assert cost.leaf_entries_sent in below  # one side sends its entries below the differing nodes
    assert cost.bytes_on_wire == (
        cost.hashes_sent * HASH_BYTES
        + cost.index_bytes
        + cost.leaf_entries_sent * (5 + 2)
        + d * 100
    )


def test_req_merkle_8_single_difference_in_a_large_tree() -> None:
    """REQ-MERKLE-8: one changed key among 2,000 costs 1 + 2*depth hashes and one node's entries."""
    depth = depth_for(2000)
    pairs = [(i.to_bytes(16, "big"), hashlib.md5(bytes([i % 251])).digest()) for i in range(2000)]
    a = build_tree(pairs)
    b = a.update(pairs[7][0], b"\xff" * 16)
    cost = simulate_exchange(a, b, depth)
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
    """REQ-MERKLE-7: floor(log2 n) clamped to 1..20, so that a node holds one or two keys."""
    depth = depth_for(n)
    assert 1 <= depth <= 20
    if 2 <= n < 2**21:
        assert 2**depth <= n < 2 ** (depth + 1)
    assert depth_for(n + 1) >= depth
    assert depth_for(100_000) == 16
    assert depth_for(1_000_000) == 19
