"""The wire format (SPEC section 8): framing, round trips, strict and total decoding, fuzzing."""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import tracemalloc
import typing
from pathlib import Path
from typing import Any

import attrs
import msgpack  # type: ignore[import-untyped]
import pytest
from dynref.causality import (
    AnyVersions,
    ClockedVersion,
    DvvSet,
    DvvSibling,
    Mode,
    VclockSiblings,
    VersionVector,
    empty_context,
    empty_versions,
    merge_versions,
)
from dynref.config import ClusterConfig
from dynref.membership import MemberEntry, Membership, Status
from dynref.messages import (
    CLIENT_RESULT_TYPES,
    MESSAGE_TYPES,
    ClientDelete,
    ClientGet,
    ClientPut,
    JoinCluster,
    LeaveCluster,
    MerkleCompare,
    Probe,
    PutOk,
    Replicate,
    Reply,
    Send,
    StoreVersions,
)
from dynref_io.wire import frames as wire
from dynref_io.wire.codec import (
    INT_MAX,
    INT_MIN,
    MAX_FRAME_BYTES,
    DecodeError,
    FrameReader,
    Schema,
    decode_body,
    decode_versions,
    encode,
    encode_versions,
    read_frame,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.node_harness import Net, isolate, nodes

ROOT = Path(__file__).resolve().parent.parent
FRAME_TYPES = tuple(cls for _, cls in wire.FRAME_TAGS)

# ---------------------------------------------------------------- strategies

ACTORS = (*(f"n{i}#{i % 3}" for i in range(1, 13)), "nœud-é#0")


@st.composite
def versions_of(draw: st.DrawFn, mode: Mode) -> AnyVersions:
    """A key's versions as the core builds them: writes with fresh or stale contexts, merges."""
    replicas: list[Any] = [empty_versions(mode) for _ in range(draw(st.integers(1, 3)))]
    contexts = [empty_context(mode)]
    for _ in range(draw(st.integers(0, 14))):
        index = draw(st.integers(0, len(replicas) - 1))
        if draw(st.integers(0, 3)) == 0:
            other = replicas[draw(st.integers(0, len(replicas) - 1))]
            replicas[index] = merge_versions(replicas[index], other)
        else:
            value = draw(st.none() | st.binary(max_size=12))
            context = draw(st.sampled_from(contexts))
            actor = draw(st.sampled_from(ACTORS))
            timestamp = draw(st.integers(-(2**62), 2**62))
            replicas[index] = replicas[index].write(value, context, actor, timestamp)
            contexts.append(replicas[index].context())
    chosen: AnyVersions = draw(st.sampled_from(replicas))
    return chosen


any_versions = st.sampled_from(list(Mode)).flatmap(versions_of)
member_entries = st.builds(
    MemberEntry,
    st.text(max_size=6),
    st.integers(1, 8),
    st.text(max_size=12),
    st.sampled_from(Status),
    st.integers(0, INT_MAX),
)
memberships = st.lists(member_entries, max_size=4).map(Membership.of)
_SIMPLE: dict[object, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(INT_MIN, INT_MAX),
    str: st.text(max_size=12),
    bytes: st.binary(max_size=24),
}


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of an annotation, in the spirit of `st.from_type`; versions come from the core."""
    if annotation == AnyVersions:
        return any_versions
    if annotation is Membership:  # entries ascend by node id, as the decoder checks
        return memberships
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(annotation)
    if attrs.has(annotation):
        hints = typing.get_type_hints(annotation)
        fields = [strategy_for(hints[field.name]) for field in attrs.fields(annotation)]
        return st.builds(annotation, *fields)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(arg) for arg in args))
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=4)
    return st.one_of(*(strategy_for(arg) for arg in args))  # a union


frames = st.sampled_from(FRAME_TYPES).flatmap(strategy_for)


def put(request_id: int, key: bytes, value: bytes) -> ClientPut:
    return ClientPut(request_id, key, value, b"")


def drive(mode: Mode) -> Net:
    """A cluster run that sends every message type: forwarded puts, a delete, a get, hinted
    writes, probes, handoff after a restart, and an anti-entropy exchange that repairs a key."""
    config = ClusterConfig(nodes=nodes(5), mode=mode)
    net = Net.start(config)
    down, coordinator = net.states["n1"].ring.preference_list(b"cart", 3)[:2]
    for index in range(6):
        key = b"cart" if index % 2 else b"key%d" % index
        net.request("n1", functools.partial(put, key=key, value=b"v%d" % index))
    net.settle(50, 2)
    net.crash(down)
    for attempt in range(2):  # the first times out and marks it down; the second is hinted
        value = b"while down %d" % attempt
        net.request(coordinator, functools.partial(put, key=b"cart", value=value))
        net.settle(250, 2, isolate([down]))
    net.restart(down)
    net.settle(300, 6)  # handoff delivers the hints and deletes them
    net.request("n3", lambda rid: ClientDelete(rid, b"key0", b""))
    net.request("n4", lambda rid: ClientGet(rid, b"cart"))
    net.settle(50, 3)
    peer, *_, stale = net.states["n1"].ring.preference_list(b"ae", 3)
    net.request("n1", functools.partial(put, key=b"ae", value=b"missed by one replica"))
    net.deliver(lambda _s, receiver, m: receiver == stale and isinstance(m, Replicate))
    # What the anti-entropy timer does, on the range that differs rather than a random one.
    range_index = net.states[stale].ring.range_index(b"ae")
    root = net.states[stale].volatile.trees[range_index].root()
    net.queue.append((stale, peer, MerkleCompare(range_index, 1, 0, ((0, root),))))
    net.deliver()
    # A node joins through a seed: gossip, transfer batches and offers (SPEC section 12).
    net.add_node("n6")
    net.admin("n6", lambda rid: JoinCluster(rid, "n1", 1, "127.0.0.1:7006"))
    net.settle(config.handoff_interval, 6)
    net.admin("n2", LeaveCluster)
    net.settle(config.handoff_interval, 6)
    return net


def is_wire_result(item: object) -> bool:
    return isinstance(item, DecodeError) or type(item) in FRAME_TYPES


def body_of(obj: wire.WireObject) -> bytes:
    return encode(obj)[4:]


# ---------------------------------------------------------------- registry and layout


def test_every_message_request_result_and_adapter_frame_has_a_tag() -> None:
    """REQ-WIRE-2: a type the core adds to its message lists cannot be forgotten by the codec."""
    adapter_frames = set(typing.get_args(wire.AdapterFrame))
    expected = {
        *MESSAGE_TYPES,
        ClientGet,
        ClientPut,
        ClientDelete,
        JoinCluster,
        LeaveCluster,
        *CLIENT_RESULT_TYPES,
    }
    assert set(FRAME_TYPES) == expected | adapter_frames
    assert set(typing.get_args(wire.WireObject)) == set(FRAME_TYPES)


def test_body_layout_is_version_tag_then_fields() -> None:
    """REQ-WIRE-1, REQ-WIRE-2: length prefix, then [version, tag, field...]; nested [tag, ...]."""
    assert encode(Probe(7)) == bytes.fromhex("00000004") + bytes([0x93, 1, 9, 7])
    versions = DvvSet().write(b"v", VersionVector(), "a#0", 5)
    raw = msgpack.unpackb(body_of(Replicate(1, b"k", versions, None)))
    assert raw == [1, 3, 1, b"k", [62, [60, [["a#0", 1]]], [[61, "a#0", 1, b"v", 5]]], None]


def test_docs_list_every_tag() -> None:
    """REQ-WIRE-2: docs/wire-format.md tables every tag the registry holds."""
    doc = (ROOT / "docs" / "wire-format.md").read_text()
    for tag, cls in (*wire.FRAME_TAGS, *wire.PART_TAGS):
        assert f"| {tag} | `{cls.__name__}` |" in doc


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", FRAME_TYPES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_every_frame_type_round_trips(cls: type, data: st.DataObject) -> None:
    """REQ-WIRE-3: decode(encode(x)) == x for every frame type."""
    obj = data.draw(strategy_for(cls))
    frame = encode(obj)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_body(frame[4:]) == obj


@pytest.mark.parametrize("mode", list(Mode), ids=lambda mode: mode.value)
@given(data=st.data())
def test_versions_of_each_mode_round_trip(mode: Mode, data: st.DataObject) -> None:
    """REQ-WIRE-3, REQ-WIRE-5: versions the core builds pass the decoder's invariant checks."""
    versions = data.draw(versions_of(mode))
    assert decode_versions(encode_versions(versions)) == versions
    message = Replicate(1, b"k", versions, data.draw(st.none() | st.text(max_size=4)))
    assert decode_body(body_of(message)) == message


@pytest.mark.parametrize("mode", list(Mode), ids=lambda mode: mode.value)
def test_real_traffic_round_trips(mode: Mode) -> None:
    """REQ-WIRE-3, REQ-WIRE-5: every message and result of a real cluster run passes the strict
    decoder unchanged (the invariant checks accept all the core produces)."""
    net = drive(mode)
    traffic: list[wire.WireObject] = [e.message for _, e in net.effects if isinstance(e, Send)]
    traffic += [
        wire.ClientReplyFrame(e.request_id, e.result)
        for _, e in net.effects
        if isinstance(e, Reply)
    ]
    assert {type(obj) for obj in traffic} >= set(MESSAGE_TYPES)
    for obj in traffic:
        assert decode_body(body_of(obj)) == obj


def test_largest_value_fits_in_the_default_frame() -> None:
    """REQ-WIRE-1: a put of a 1 MiB value (the core's limit) fits the 4 MiB default."""
    put = ClientPut(1, b"k" * 1024, b"\xff" * 1_048_576, b"\x01\x01\x00", 3)
    frame = encode(put)
    assert len(frame) - 4 <= MAX_FRAME_BYTES
    assert FrameReader().feed(frame) == [put]


# ---------------------------------------------------------------- strict decoding


def body(*items: object) -> bytes:
    return bytes(msgpack.packb(list(items), use_bin_type=True))


def dvv(vv: list[Any], *siblings: list[Any]) -> list[Any]:
    return [62, [60, vv], [[61, *sibling] for sibling in siblings]]


STRICT_CASES: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "not msgpack"),
    ("trailing bytes", body(1, 9, 7) + b"\x00", "not msgpack"),
    ("not an array", msgpack.packb({"v": 1}), "a frame body is an array"),
    ("unknown version", body(2, 9, 7), "unknown protocol version 2"),
    ("version as bool", body(True, 9, 7), "unknown protocol version True"),
    ("unknown tag", body(1, 99, 7), "unknown frame tag 99"),
    ("part tag at top level", body(1, 60, []), "unknown frame tag 60"),
    ("missing field", body(1, 21, 1, b"k", b"v", b""), "ClientPut has 5 fields, got 4"),
    ("extra field", body(1, 9, 7, 8), "Probe has 1 fields, got 2"),
    ("bool for int", body(1, 9, True), "Probe.nonce: expected int, got bool"),
    ("int beyond 64 bits", body(1, 9, 2**63), "does not fit in signed 64 bits"),
    ("float for int", body(1, 9, 1.5), "expected int, got float"),
    ("str for bytes", body(1, 5, 1, "k"), "Fetch.key: expected bin, got str"),
    (
        "bytes for str",
        body(1, 55, b"n1", b"n", "c", b""),
        "PeerHello.node_id: expected str, got bin",
    ),
    (
        "str for bytes in a hello",
        body(1, 55, "n1", "n", "c", b""),
        "PeerHello.nonce: expected bin, got str",
    ),
    ("a hello without the cluster", body(1, 55, "n1", b"n"), "PeerHello has 4 fields, got 2"),
    ("the hello of the previous version", body(1, 49, "n1", b"n"), "unknown frame tag 49"),
    ("the retired unauthenticated hello", body(1, 40, "n1"), "unknown frame tag 40"),
    ("bad utf-8", bytes([0x93, 1, 46, 0xA2, 0xFF, 0xFE]), "not msgpack"),
    ("wrong arity", body(1, 11, 0, 1, 0, [[0]]), "MerkleCompare.hashes[0]: expected an array of 2"),
    ("ext type", body(1, 9, msgpack.ExtType(1, b"x")), "expected int, got ext"),
    ("map for array", body(1, 44, 1, {"a": 1}), "expected array, got map"),
    ("duplicate map key", bytes([0x94, 1, 43, 1]) + bytes([0x82, 0xA1, 97, 1, 0xA1, 97, 2]), "dup"),
    ("int map key", bytes([0x94, 1, 43, 1]) + bytes([0x81, 1, 1]), "not msgpack"),
    ("nested tag of another class", body(1, 3, 1, b"k", [60, []], None), "tag 60 where"),
    ("nested empty array", body(1, 3, 1, b"k", [], None), "empty array"),
    ("client result where one is due", body(1, 2, 1, [20, 1, b"k", None]), "tag 20 where"),
    ("deep nesting", b"\x91" * 100_000 + b"\xc0", "not msgpack"),
    ("huge declared array", b"\xdd\xff\xff\xff\xff", "not msgpack"),
]
INVARIANT_CASES: list[tuple[str, bytes, str]] = [
    ("unsorted vv", body(1, 7, b"k", dvv([["b#0", 1], ["a#0", 1]])), "entries must ascend"),
    ("zero counter", body(1, 7, b"k", dvv([["a#0", 0]])), "entries must ascend"),
    ("uncovered dot", body(1, 7, b"k", dvv([], ["a#0", 1, None, 0])), "does not cover"),
    (
        "unsorted siblings",
        body(1, 7, b"k", dvv([["a#0", 2]], ["a#0", 2, None, 0], ["a#0", 1, None, 0])),
        "siblings must ascend",
    ),
    (
        "unsorted clock",
        body(1, 7, b"k", [64, [[63, [["b#0", 1, 0], ["a#0", 1, 0]], None, 0]]]),
        "clock entries must ascend",
    ),
    (
        "unsorted vclock versions",
        body(1, 7, b"k", [64, [[63, [["b#0", 1, 0]], None, 0], [63, [["a#0", 1, 0]], None, 0]]]),
        "versions must ascend",
    ),
]


@pytest.mark.parametrize(("case", "raw", "reason"), STRICT_CASES, ids=[c[0] for c in STRICT_CASES])
def test_strict_decoding_names_the_defect(case: str, raw: bytes, reason: str) -> None:
    """REQ-WIRE-4: each defect gives a DecodeError whose reason says what is wrong."""
    result = decode_body(raw)
    assert isinstance(result, DecodeError), case
    assert reason in result.reason


@pytest.mark.parametrize(
    ("case", "raw", "reason"), INVARIANT_CASES, ids=[c[0] for c in INVARIANT_CASES]
)
def test_versions_breaking_their_invariants_are_rejected(
    case: str, raw: bytes, reason: str
) -> None:
    """REQ-WIRE-5: sorted canonical vectors and clocks, dvv dots covered by the vector."""
    result = decode_body(raw)
    assert isinstance(result, DecodeError), case
    assert reason in result.reason
    assert result.reason.startswith("Handoff.versions")


def test_the_reason_gives_the_path_to_the_defect() -> None:
    """REQ-WIRE-4: the reason locates the defect inside nested values."""
    raw = body(1, 7, b"k", dvv([["a#0", "one"]]))
    assert decode_body(raw) == DecodeError(
        "Handoff.versions.vv.entries[0][1]: expected int, got str"
    )


def test_encode_refuses_what_the_wire_cannot_carry() -> None:
    """REQ-WIRE-2: encoding a non-frame or a mistyped field is a programming error."""
    bad: list[object] = [
        DvvSet(),
        StoreVersions(b"k", DvvSet()),
        object(),
        Probe(True),
        Probe(2**63),
        ClientGet(1, "k"),  # type: ignore[arg-type]
        ClientGet(1, bytearray(b"k")),  # type: ignore[arg-type]
        wire.FaultRequest(1, ["n1"]),  # type: ignore[arg-type]
        Replicate(1, b"k", VersionVector(), None),  # type: ignore[arg-type]
    ]
    for obj in bad:
        with pytest.raises(ValueError):
            encode(obj)  # type: ignore[arg-type]


# ---------------------------------------------------------------- fuzzing


def feed_whole_and_bytewise(data: bytes, limit: int) -> list[wire.WireObject | DecodeError]:
    whole = FrameReader(limit).feed(data)
    reader = FrameReader(limit)
    bytewise = [item for index in range(len(data)) for item in reader.feed(data[index : index + 1])]
    assert bytewise == whole
    assert all(is_wire_result(item) for item in whole)
    return whole


@given(st.binary(max_size=300), st.integers(0, 64))
def test_arbitrary_bytes_never_raise(data: bytes, limit: int) -> None:
    """REQ-WIRE-4: arbitrary bytes give frames or DecodeErrors, fed whole or byte by byte."""
    assert is_wire_result(decode_body(data))
    feed_whole_and_bytewise(data, limit)


@st.composite
def byte_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    mutated = bytearray(raw)
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "version", "tag"]))
    position = draw(st.integers(0, len(raw) - 1))
    if kind == "flip":
        mutated[position] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        del mutated[position:]
    elif kind == "insert":
        mutated.insert(position, draw(st.integers(0, 255)))
    elif kind == "delete":
        del mutated[position : position + draw(st.integers(1, 4))]
    else:  # the body starts with a fixarray header, then the version byte, then the tag byte
        mutated[1 if kind == "version" else 2] = draw(st.integers(0, 255))
    return bytes(mutated)


msgpack_values: st.SearchStrategy[object] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.binary(max_size=6)
    | st.just([]),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, min_size=1)
    ),
    max_leaves=8,
)


def swapped(value: object) -> object:
    """The same content in a neighbouring msgpack type: the confusions a sloppy peer makes."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value != 0 if value in (0, 1) else str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return dict(enumerate(value)) if value else None
    return [value]


def paths(tree: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(tree, list):
        for index, item in enumerate(tree):
            found += paths(item, (*prefix, index))
    return found


def replaced(tree: object, path: tuple[Any, ...], new: object) -> object:
    if not path:
        return new
    assert isinstance(tree, list)
    copy = list(tree)
    copy[path[0]] = replaced(tree[path[0]], path[1:], new)
    return copy


@st.composite
def structural_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    """Replace one node of the decoded tree (a field, a tag, a nested value) and repack."""
    tree = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    path = draw(st.sampled_from(paths(tree)))
    node: object = tree
    for index in path:
        node = node[index]  # type: ignore[index]
    new = draw(st.just(swapped(node)) | msgpack_values)
    return bytes(msgpack.packb(replaced(tree, path, new), use_bin_type=True))


@given(data=st.data())
def test_mutated_frames_decode_to_valid_objects_or_errors(data: st.DataObject) -> None:
    """REQ-WIRE-4: mutated valid frames never raise, and whatever decodes re-encodes to itself,
    so no half-validated object gets out of the decoder."""
    original = body_of(data.draw(frames))
    mutate = data.draw(st.sampled_from([byte_mutation, structural_mutation]))
    mutated = data.draw(mutate(original))
    result = decode_body(mutated)
    assert is_wire_result(result)
    if not isinstance(result, DecodeError):
        assert decode_body(body_of(result)) == result
    framed = len(mutated).to_bytes(4, "big") + mutated
    assert feed_whole_and_bytewise(framed, MAX_FRAME_BYTES) == [result]
    mangled = data.draw(byte_mutation(framed))  # the length prefix may be hit too
    feed_whole_and_bytewise(mangled, 1024)


@given(tag=st.sampled_from([tag for tag, _ in wire.FRAME_TAGS]), fields=st.lists(msgpack_values))
def test_random_fields_under_a_valid_tag_never_raise(tag: int, fields: list[object]) -> None:
    """REQ-WIRE-4: a right version and tag with random fields reaches the field checks."""
    raw = bytes(msgpack.packb([1, tag, *fields], use_bin_type=True))
    result = decode_body(raw)
    assert is_wire_result(result)
    if not isinstance(result, DecodeError):
        assert decode_body(body_of(result)) == result


# ---------------------------------------------------------------- framing


@given(objs=st.lists(frames, max_size=5), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_frames_survive_any_chunking(objs: list[wire.WireObject], cuts: list[int]) -> None:
    """REQ-WIRE-1: the reader gives the same frames however the stream is cut."""
    stream = b"".join(encode(obj) for obj in objs)
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    reader = FrameReader()
    out = [item for a, b in itertools.pairwise(points) for item in reader.feed(stream[a:b])]
    assert out == objs


def test_an_oversized_prefix_fails_the_reader_without_buffering_the_body() -> None:
    """REQ-WIRE-1: one DecodeError as soon as the prefix is read; nothing after."""
    reader = FrameReader(max_frame_bytes=16)
    tracemalloc.start()
    try:
        out = reader.feed(encode(Probe(1)) + (0xFFFFFFFF).to_bytes(4, "big") + b"\x00" * 8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out[0] == Probe(1)
    assert len(out) == 2 and isinstance(out[1], DecodeError)
    assert "exceeds the limit of 16" in out[1].reason
    assert peak < 1_000_000  # nowhere near the 4 GiB the prefix announced
    assert reader.failed
    assert reader.feed(encode(Probe(2))) == []


def test_a_bad_body_does_not_fail_the_reader() -> None:
    """REQ-WIRE-1: the prefix still delimits a bad body; the next frame reads fine."""
    reader = FrameReader()
    bad = b"\x00\x00\x00\x01\xc1"  # 0xc1 is never valid msgpack
    out = reader.feed(bad + encode(Probe(3)))
    assert isinstance(out[0], DecodeError) and out[1:] == [Probe(3)]
    assert not reader.failed


def read_all(data: bytes, limit: int = MAX_FRAME_BYTES) -> list[object]:
    async def main() -> list[object]:
        stream = asyncio.StreamReader()
        stream.feed_data(data)
        stream.feed_eof()
        out: list[object] = []
        while (frame := await read_frame(stream, limit)) is not None:
            out.append(frame)
            if isinstance(frame, DecodeError):
                break
        return out

    return asyncio.run(main())


def test_read_frame_reads_frames_until_a_clean_end() -> None:
    """REQ-WIRE-1: None at a clean end of stream, DecodeError at a torn one."""
    put = ClientPut(1, b"k", b"v", b"", None)
    assert read_all(encode(put) + encode(PutOk())) == [put, PutOk()]
    assert read_all(b"") == []
    torn_prefix = read_all(encode(put) + b"\x00\x00")
    assert torn_prefix[0] == put and isinstance(torn_prefix[1], DecodeError)
    torn_body = read_all(encode(put)[:-1])
    assert len(torn_body) == 1 and isinstance(torn_body[0], DecodeError)
    oversized = read_all((1 << 31).to_bytes(4, "big"), limit=1024)
    assert len(oversized) == 1 and "exceeds the limit" in oversized[0].reason  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the generic machinery


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Sample:
    colour: Colour
    pair: tuple[int, bytes | None]
    labels: dict[bytes, tuple[str, ...]]
    nested: DvvSibling | ClockedVersion | None


# No invariant checks: the strategy draws arbitrary (non-canonical) clocks.
SAMPLE_SCHEMA = Schema([(1, Sample)], [(2, DvvSibling), (3, ClockedVersion)], {})


@given(strategy_for(Sample))
def test_the_schema_carries_enums_dicts_fixed_tuples_and_tagged_unions(sample: Sample) -> None:
    """REQ-WIRE-2: every annotation form the registry allows round-trips."""
    assert SAMPLE_SCHEMA.decode_body(SAMPLE_SCHEMA.encode_body(sample)) == sample


def test_the_schema_rejects_unknown_enum_values_and_ambiguous_annotations() -> None:
    """REQ-WIRE-2, REQ-WIRE-4: bad enum values are errors; unsupported annotations fail early."""
    raw = body(1, 1, "green", [1, None], {}, None)
    assert "'green' is not a Colour" in SAMPLE_SCHEMA.decode_body(raw).reason

    @attrs.frozen
    class Ambiguous:
        either: tuple[int, ...] | tuple[str, ...]

    @attrs.frozen
    class Floating:
        number: float

    @attrs.frozen
    class Untagged:
        versions: VclockSiblings

    for cls in (Ambiguous, Floating, Untagged):
        with pytest.raises(TypeError):
            Schema([(1, cls)], [], {})
