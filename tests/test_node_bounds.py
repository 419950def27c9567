"""Semantic bounds (SPEC section 6.4, REQ-BOUND-*): what a node refuses from clients and peers,
and that whatever it accepts can still be stored, sent and answered.

"Encodes" below means: every message, reply and stored set a step emits goes through the wire
codec, within the frame limit. The reported crashes were of that kind: the core accepted a
counter that the 64-bit encoder could not write, or built a reply larger than a frame.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from dynref.causality import (
    INTEGER_LIMIT,
    AnyVersions,
    DvvSet,
    DvvSibling,
    LwwRegister,
    LwwVersion,
    Mode,
    VersionVector,
    empty_context,
    empty_versions,
    encode_context,
    write_versions,
)
from dynref.config import DEFAULT_MAX_FRAME_BYTES, ClusterConfig
from dynref.limits import (
    batch_by_size,
    digests_by_size,
    footprint,
    peer_versions_problem,
    write_problem,
)
from dynref.messages import (
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    Effect,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    GetOk,
    Handoff,
    InvalidContext,
    MerkleLeaves,
    Message,
    ProtocolError,
    PutOk,
    Receive,
    Replicate,
    Reply,
    Request,
    Send,
    StoreHint,
    StoreVersions,
    SyncKeys,
    TooLarge,
    TransferDigests,
)
from dynref.node import Step, boot, step
from dynref.state import NodeState
from dynref_io.node.config_file import ConfigError, NodeAddress, build_cluster_file
from dynref_io.wire.codec import MAX_FRAME_BYTES, encode, encode_versions
from dynref_io.wire.frames import ClientReplyFrame
from hypothesis import example, given
from hypothesis import strategies as st

from tests.node_harness import Net, nodes

KEY = b"k"
MIB = 1024 * 1024


def config(mode: Mode = Mode.DVV, **overrides: Any) -> ClusterConfig:
    return ClusterConfig(nodes=nodes(3), mode=mode, **overrides)


def node_with(cfg: ClusterConfig, stored: AnyVersions | None = None, node: str = "n1") -> NodeState:
    state = boot(cfg, node, 0, 0).state
    if stored is None:
        return state
    durable = attrs.evolve(state.durable, data=state.durable.data.set(KEY, stored))
    return attrs.evolve(state, durable=durable)


def assert_encodes(result: Step, frame_limit: int = MAX_FRAME_BYTES) -> None:
    """Every effect goes through the wire codec, each frame within the limit."""
    for effect in result.effects:
        if isinstance(effect, Send):
            frame = encode(effect.message)
        elif isinstance(effect, Reply):
            frame = encode(ClientReplyFrame(effect.request_id, effect.result))
        elif isinstance(effect, StoreVersions | StoreHint):
            frame = encode_versions(effect.versions)
        else:
            continue
        assert len(frame) <= frame_limit + 4, type(effect).__name__


def durable_writes(result: Step) -> list[Effect]:
    return [e for e in result.effects if isinstance(e, StoreVersions | StoreHint)]


def refused_unchanged(before: NodeState, result: Step) -> None:
    """REQ-NODE-1: a refused input leaves the durable state as it was."""
    assert not durable_writes(result)
    assert result.state.durable == before.durable


def put(state: NodeState, value: bytes, context: bytes = b"", request_id: int = 1) -> Step:
    return step(state, Request(ClientPut(request_id, KEY, value, context)))


def reply_of(result: Step) -> object:
    (reply,) = [e.result for e in result.effects if isinstance(e, Reply)]
    return reply


# ---------------------------------------------------------------- REQ-BOUND-1: the config


def test_req_bound_1_the_frame_limit_is_the_codecs() -> None:
    """REQ-BOUND-1, REQ-WIRE-1: the core's default frame limit is the adapters' codec limit."""
    assert ClusterConfig(nodes=nodes(1)).max_frame_bytes == DEFAULT_MAX_FRAME_BYTES
    assert DEFAULT_MAX_FRAME_BYTES == MAX_FRAME_BYTES


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"max_object_bytes": MIB}, "max_object_bytes"),
        ({"max_object_bytes": 4 * MIB}, "max_frame_bytes"),
        ({"max_frame_bytes": MIB}, "max_frame_bytes"),
        ({"max_value_bytes": 4 * MIB - 32_768, "max_object_bytes": 4 * MIB - 4_096}, "a put"),
        ({"max_siblings": 0}, "max_siblings"),
        ({"max_context_actors": 0}, "max_context_actors"),
    ],
)
def test_req_bound_1_contradictory_limits_are_refused(
    overrides: dict[str, int], names: str
) -> None:
    """REQ-BOUND-1: an object must exceed a value and fit a frame; so must a put at the limits."""
    with pytest.raises(ValueError, match=names):
        ClusterConfig(nodes=nodes(3), **overrides)


# ---------------------------------------------------------------- REQ-BOUND-2: contexts

CRASHING_CONTEXT = bytes.fromhex("0101010178ffffffffffffffffff01")
"""`dynref put k x --context 0101010178ffffffffffffffffff01` took a coordinator down."""


def test_req_bound_2_a_ten_byte_counter_is_refused_not_stored() -> None:
    """REQ-BOUND-2: the reported context (a 10-byte LEB128 counter) is an InvalidContext and
    nothing is stored. Before, the put was stored and replicated with a counter above 2**64,
    which the 64-bit encoder could not write: the node crashed persisting it."""
    state = node_with(config())
    result = put(state, b"x", CRASHING_CONTEXT)
    assert isinstance(reply_of(result), InvalidContext)
    refused_unchanged(state, result)
    assert_encodes(result)


@pytest.mark.parametrize("counter", [INTEGER_LIMIT, 2**63 - 2])
def test_req_bound_2_a_counter_of_2_to_the_62_or_more_is_refused(counter: int) -> None:
    """REQ-BOUND-2: a 9-byte counter that would leave 62 bits is refused too."""
    state = node_with(config())
    context = encode_context(Mode.DVV, VersionVector.of({"x": counter}))
    result = put(state, b"x", context)
    reply = reply_of(result)
    assert isinstance(reply, InvalidContext) and "2**62" in reply.reason
    refused_unchanged(state, result)


def test_req_bound_2_contexts_beyond_their_size_or_actor_count_are_too_large() -> None:
    """REQ-BOUND-2: a context longer than max_context_bytes, or naming more actors than
    max_context_actors, is TooLarge; one at both limits is accepted. (A 2.6 MB context naming
    200,000 actors made a key unreadable on every replica.)"""
    cfg = config(max_context_actors=4, max_context_bytes=40)
    state = node_with(cfg)
    # Four actors, the coordinator's own among them: the key's vector names four after the put.
    four = encode_context(Mode.DVV, VersionVector.of({"a0": 1, "a1": 1, "a2": 1, "n1#0": 1}))
    five = encode_context(Mode.DVV, VersionVector.of({f"a{i}": 1 for i in range(5)}))
    assert len(four) <= 40
    accepted = put(state, b"x", four)
    assert any(isinstance(e, StoreVersions) for e in accepted.effects)
    # Four others: the context passes, but the key would name five actors (REQ-BOUND-3).
    others = encode_context(Mode.DVV, VersionVector.of({f"a{i}": 1 for i in range(4)}))
    assert reply_of(put(state, b"x", others)) == TooLarge("context actors", 5, 4)
    assert reply_of(put(state, b"x", five)) == TooLarge("context actors", 5, 4)
    huge = encode_context(Mode.DVV, VersionVector.of({"a" * 60: 1}))
    result = put(state, b"x", huge)
    assert reply_of(result) == TooLarge("context", len(huge), 40)
    refused_unchanged(state, result)
    big = encode_context(Mode.DVV, VersionVector.of({f"actor-{i}": 1 for i in range(200_000)}))
    result = put(node_with(config()), b"x", big)
    assert reply_of(result) == TooLarge("context", len(big), 65_536)


# ---------------------------------------------------------------- REQ-BOUND-3: client writes


def test_req_bound_3_a_counter_reaching_2_to_the_62_is_refused() -> None:
    """REQ-BOUND-3: a set whose own counter is 2**62 - 1 can take no further write. Before, a
    stored counter of 2**63 - 2 made every later put to the key crash its coordinator (the
    next dot did not fit 64 bits), after restarts too."""
    for counter in (INTEGER_LIMIT - 1, 2**63 - 2):
        stored = DvvSet(
            VersionVector.of({"n1#0": counter}), (DvvSibling("n1#0", counter, b"old", 0),)
        )
        state = node_with(config(), stored)
        for request_id in (1, 2):
            result = put(state, b"new", b"", request_id)
            assert reply_of(result) == TooLarge(
                "counter or timestamp", counter + 1, INTEGER_LIMIT - 1
            )
            refused_unchanged(state, result)
            assert_encodes(result)
            state = result.state


def test_req_bound_3_an_lww_stamp_reaching_2_to_the_62_is_refused() -> None:
    """REQ-BOUND-3, REQ-LWW-1: a write stamped above a timestamp of 2**62 - 1 is refused."""
    stored = LwwRegister(LwwVersion(INTEGER_LIMIT - 1, "n2#0", b"old"))
    state = node_with(config(Mode.LWW), stored)
    result = put(state, b"new")
    assert reply_of(result) == TooLarge("counter or timestamp", INTEGER_LIMIT, INTEGER_LIMIT - 1)
    refused_unchanged(state, result)


def test_req_bound_3_siblings_beyond_the_limit_are_refused_and_at_the_limit_accepted() -> None:
    """REQ-BOUND-3: blind puts add siblings up to max_siblings; the next is refused, nothing
    stored; a read-modify-write then collapses the key to one version. (250 concurrent blind
    puts once left 1,750 siblings.)"""
    net = Net.start(ClusterConfig(nodes=nodes(3), max_siblings=3, r=1, w=1))
    results = []
    for index in range(4):
        request_id = net.request("n1", lambda rid, i=index: ClientPut(rid, KEY, b"%d" % i, b""))
        net.deliver()
        results.append(net.results[request_id])
    assert results[:3] == [PutOk(), PutOk(), PutOk()]
    assert results[3] == TooLarge("siblings", 4, 3)
    stored = net.states["n1"].durable.data[KEY]
    assert stored.values() == (b"0", b"1", b"2")
    read = net.request("n1", lambda rid: ClientGet(rid, KEY))
    net.deliver()
    got = net.results[read]
    assert isinstance(got, GetOk)
    again = net.request("n1", lambda rid: ClientPut(rid, KEY, b"one", got.context))
    net.deliver()
    assert net.results[again] == PutOk()
    assert net.states["n1"].durable.data[KEY].values() == (b"one",)


def test_req_bound_3_a_value_at_the_limit_is_stored() -> None:
    """REQ-BOUND-3, REQ-COORD-1: a put of exactly max_value_bytes succeeds under the defaults,
    and its replication encodes within a frame."""
    state = node_with(config(w=1))
    result = put(state, b"v" * 1_048_576)
    assert reply_of(result) == PutOk()
    assert_encodes(result)


def test_req_bound_3_five_blind_megabyte_puts_leave_every_reply_within_a_frame() -> None:
    """REQ-BOUND-3, REQ-BOUND-4: five blind 1 MiB puts through the three replicas in turn.
    Before, every one was stored and the key's replies outgrew the 4 MiB frame, so its
    replicas never converged. Now the object bound refuses the second and later, and every
    message and reply of the run fits a frame."""
    net = Net.start(ClusterConfig(nodes=nodes(3), r=3, w=2))
    outcomes = []
    for index in range(5):
        node = ("n1", "n2", "n3")[index % 3]
        value = bytes([index]) * MIB
        request_id = net.request(node, lambda rid, v=value: ClientPut(rid, KEY, v, b""))
        net.deliver()
        outcomes.append(net.results[request_id])
    assert outcomes[0] == PutOk()
    assert all(isinstance(outcome, TooLarge) for outcome in outcomes[1:])
    read = net.request("n2", lambda rid: ClientGet(rid, KEY, 3))
    net.deliver()
    got = net.results[read]
    assert isinstance(got, GetOk) and got.values == (bytes([0]) * MIB,)
    for _, _, result in net.steps:
        assert_encodes(result)


MODES = tuple(Mode)


@st.composite
def stored_and_request(draw: st.DrawFn) -> tuple[ClusterConfig, NodeState, ClientRequest]:
    """A small-limit config, a key's set built by writes of several actors, and a request
    whose value and context straddle the limits."""
    mode = draw(st.sampled_from(MODES))
    cfg = config(
        mode,
        max_siblings=draw(st.integers(1, 4)),
        max_context_actors=draw(st.integers(1, 4)),
        max_value_bytes=draw(st.integers(1, 40)),
        max_object_bytes=draw(st.integers(41, 400)),
        w=1,
    )
    versions: AnyVersions = empty_versions(mode)
    for _ in range(draw(st.integers(0, 6))):
        actor = draw(st.sampled_from(("n1#0", "n2#0", "n3#0", "x#7")))
        value = draw(st.none() | st.binary(max_size=50))
        counter_like = draw(st.sampled_from((1, 5, INTEGER_LIMIT - 2, INTEGER_LIMIT - 1)))
        context = empty_context(mode) if draw(st.booleans()) else versions.context()
        versions = write_versions(versions, value, context, actor, counter_like)
    state = node_with(cfg, None if versions.is_empty() else versions)
    value = draw(st.binary(max_size=50))
    context = draw(
        st.sampled_from(
            (
                b"",
                encode_context(mode, versions.context()),
                encode_context(mode, empty_context(mode)),
            )
        )
    )
    if mode is not Mode.LWW and draw(st.booleans()):
        names = draw(st.sets(st.sampled_from(("a1", "a2", "a3", "n1#0", "x#7")), max_size=5))
        counters = st.sampled_from((1, INTEGER_LIMIT - 2, INTEGER_LIMIT - 1))
        actors = {name: draw(counters) for name in names}
        context = encode_context(mode, VersionVector.of(actors))
    request: ClientRequest = (
        ClientPut(1, KEY, value, context) if draw(st.booleans()) else ClientDelete(1, KEY, context)
    )
    return cfg, state, request


@given(stored_and_request())
def test_req_bound_3_a_client_write_is_refused_whole_or_leaves_the_key_within_bounds(
    case: tuple[ClusterConfig, NodeState, ClientRequest],
) -> None:
    """REQ-BOUND-2, REQ-BOUND-3, REQ-NODE-1: a put or delete beyond a bound gets TooLarge or
    InvalidContext and leaves the durable state unchanged; one that succeeds leaves the key's
    set within every client bound; and every effect encodes."""
    cfg, state, request = case
    result = step(state, Request(request))
    reply = reply_of(result)
    assert_encodes(result)
    if isinstance(reply, TooLarge | InvalidContext):
        refused_unchanged(state, result)
        return
    assert isinstance(reply, PutOk)
    stored = result.state.durable.data[KEY]
    assert write_problem(cfg, stored) is None
    found = footprint(stored)
    assert found.versions <= cfg.max_siblings and found.size <= cfg.max_object_bytes


# ---------------------------------------------------------------- REQ-BOUND-5: peers

BIG = b"v" * 41


def dvv_with(value: bytes | None, counter: int = 1, actor: str = "n2#0") -> DvvSet:
    return DvvSet(VersionVector.of({actor: counter}), (DvvSibling(actor, counter, value, 0),))


def many_siblings(count: int) -> DvvSet:
    actors = [f"a{i}#0" for i in range(count)]
    return DvvSet(
        VersionVector.of(dict.fromkeys(actors, 1)),
        tuple(DvvSibling(actor, 1, b"x", 0) for actor in sorted(actors)),
    )


SMALL = config(max_value_bytes=40, max_object_bytes=100, max_siblings=2, max_key_bytes=8)

BEYOND: list[tuple[str, Message]] = [
    ("value", Replicate(1, KEY, dvv_with(BIG), None)),
    ("value-hint", Replicate(1, KEY, dvv_with(BIG), "n3")),
    ("counter", Replicate(1, KEY, dvv_with(b"x", INTEGER_LIMIT), None)),
    ("counter-2^63-2", Replicate(1, KEY, dvv_with(b"x", 2**63 - 2), None)),
    ("siblings", Replicate(1, KEY, many_siblings(3 * 2 + 1), None)),
    ("handoff", Handoff(KEY, dvv_with(BIG))),
    ("sync", SyncKeys(0, ((KEY, dvv_with(BIG)),), ())),
    ("key", Replicate(1, b"k" * 9, dvv_with(b"x"), None)),
    ("fetch-key", Fetch(1, b"k" * 9)),
    ("leaves-key", MerkleLeaves(0, 1, (0,), ((b"k" * 9, b"d" * 16),))),
    (
        "lww-timestamp",
        Replicate(1, KEY, LwwRegister(LwwVersion(INTEGER_LIMIT, "n2#0", b"x")), None),
    ),
]


@pytest.mark.parametrize(("name", "message"), BEYOND, ids=[name for name, _ in BEYOND])
def test_req_bound_5_a_peer_message_beyond_a_bound_is_a_protocol_error(
    name: str, message: Message
) -> None:
    """REQ-BOUND-5, REQ-NODE-1: peers are held to the bounds (they used to bypass
    max_value_bytes): a ProtocolError naming the bound, nothing stored, nothing sent."""
    cfg = SMALL if "lww" not in name else attrs.evolve(SMALL, mode=Mode.LWW)
    state = node_with(cfg)
    result = step(state, Receive("n2", message))
    errors = [e for e in result.effects if isinstance(e, ProtocolError)]
    assert len(errors) == 1 and "refused" in errors[0].reason, result.effects
    assert not [e for e in result.effects if isinstance(e, Send)]
    refused_unchanged(state, result)


def test_req_bound_5_a_forwarded_put_beyond_a_bound_is_answered_and_reported() -> None:
    """REQ-BOUND-5: a ForwardPut the forwarder should have refused gets the client's error
    and a ProtocolError, and nothing is stored."""
    state = node_with(config())
    result = step(state, Receive("n2", ForwardPut(5, KEY, b"x", CRASHING_CONTEXT, None)))
    assert any(isinstance(e, ProtocolError) for e in result.effects)
    (answer,) = [e for e in result.effects if isinstance(e, Send)]
    assert isinstance(answer.message, ForwardReply)
    assert isinstance(answer.message.result, InvalidContext)
    refused_unchanged(state, result)


def test_req_bound_5_a_fetch_reply_beyond_a_bound_is_not_merged() -> None:
    """REQ-BOUND-5: an oversized FetchReply is refused; the get still waits for others."""
    state = node_with(attrs.evolve(SMALL, r=2))
    started = step(state, Request(ClientGet(1, KEY)))
    fetch = next(e for e in started.effects if isinstance(e, Send))
    assert isinstance(fetch.message, Fetch)
    reply = FetchReply(fetch.message.request_id, KEY, dvv_with(BIG))
    result = step(started.state, Receive(fetch.to, reply))
    assert any(isinstance(e, ProtocolError) for e in result.effects)
    assert not [e for e in result.effects if isinstance(e, Reply)]
    assert result.state.volatile.gets == started.state.volatile.gets


def test_req_bound_5_a_replica_stores_a_merge_beyond_the_client_limits() -> None:
    """REQ-BOUND-5: two sets within the bounds whose join holds more siblings than
    max_siblings are merged and stored, never refused: refusing would keep replicas apart."""
    cfg = config(max_siblings=2)
    state = node_with(cfg, many_siblings(2))
    other = DvvSet(
        VersionVector.of({"z#0": 1, "y#0": 1}),
        (
            DvvSibling("y#0", 1, b"y", 0),
            DvvSibling("z#0", 1, b"z", 0),
        ),
    )
    result = step(state, Receive("n2", Replicate(1, KEY, other, None)))
    assert not any(isinstance(e, ProtocolError) for e in result.effects)
    assert result.state.durable.data[KEY].sibling_count() == 4
    assert peer_versions_problem(cfg, result.state.durable.data[KEY]) is None


# ---------------------------------------------------------------- REQ-BOUND-4 and REQ-BOUND-6


@given(st.sampled_from(MODES), st.data())
def test_req_bound_4_the_size_measure_bounds_the_encoded_size(
    mode: Mode, data: st.DataObject
) -> None:
    """REQ-BOUND-4: a set's size measure is at least its wire encoding."""
    versions: AnyVersions = empty_versions(mode)
    for _ in range(data.draw(st.integers(0, 6))):
        value = data.draw(st.none() | st.binary(max_size=30))
        actor = data.draw(st.sampled_from(("n1#0", "nœud-é#12", "x")))
        timestamp = data.draw(st.integers(-(2**61), 2**61))
        context = data.draw(st.sampled_from((empty_context(mode), versions.context())))
        versions = write_versions(versions, value, context, actor, timestamp)
    assert len(encode_versions(versions)) <= footprint(versions).size + 16


def test_req_bound_6_sync_keys_fit_a_frame_and_anti_entropy_still_converges() -> None:
    """REQ-BOUND-6: with a small frame, a replica missing many large keys is repaired over
    several exchanges, each SyncKeys within the frame."""
    frame = 64 * 1024
    cfg = ClusterConfig(
        nodes=nodes(3),
        max_frame_bytes=frame,
        max_value_bytes=10_000,
        max_object_bytes=12_000,
        max_context_bytes=8_000,
        max_key_bytes=64,
        antientropy_interval=20,
        r=1,
        w=1,
    )
    net = Net.start(cfg)
    keys = [b"key-%d" % index for index in range(40)]
    for key in keys:
        net.request("n1", lambda rid, k=key: ClientPut(rid, k, k * 1000, b""))
        net.deliver(lambda _s, receiver, _m: receiver == "n3")  # n3 misses them all
    for _ in range(400):
        if all(key in net.states["n3"].durable.data for key in keys):
            break
        net.settle(20, 1)
    assert all(key in net.states["n3"].durable.data for key in keys)
    syncs = net.sent(SyncKeys)
    assert syncs
    for _, effect in syncs:
        assert isinstance(effect, Send)
        assert len(encode(effect.message)) <= frame
    assert max(len(effect.message.items) for _, effect in syncs) < len(keys)  # type: ignore[union-attr]


def test_req_bound_6_the_first_item_always_goes() -> None:
    """REQ-BOUND-6: a batch keeps items in order while they fit, the first one always."""
    cfg = config()
    huge = dvv_with(b"x" * 1_000_000)
    items = [(b"a", huge), (b"b", huge), (b"c", huge), (b"d", huge), (b"e", huge)]
    kept = batch_by_size(cfg, items)
    assert [key for key, _ in kept] == [b"a", b"b", b"c", b"d"]
    small = config(
        max_frame_bytes=100_000,
        max_value_bytes=10_000,
        max_object_bytes=20_000,
        max_context_bytes=1_000,
    )
    assert [key for key, _ in batch_by_size(small, items)] == [b"a"]


@given(st.lists(st.integers(1, 5_000), min_size=1, max_size=60))
@example([5_000] * 60)
@example([40] * 2_000)
def test_req_bound_6_transfer_digests_fit_a_frame(key_sizes: list[int]) -> None:
    """REQ-BOUND-6: a TransferDigests keeps (key, digest) pairs in order while the message fits
    one frame, the first always."""
    frame = 64 * 1024
    cfg = config(
        max_frame_bytes=frame,
        max_value_bytes=10_000,
        max_object_bytes=12_000,
        max_context_bytes=8_000,
        max_key_bytes=5_000,
    )
    offered = [(bytes([65 + i % 26]) * size, bytes(16)) for i, size in enumerate(key_sizes)]
    kept = digests_by_size(cfg, offered)
    assert kept and list(kept) == offered[: len(kept)]
    assert len(encode(TransferDigests(2**62, kept))) <= frame
    if len(kept) < len(offered):  # cut only where the next pair would not fit the budget
        spent = sum(len(key) + 16 + 32 for key, _ in offered[: len(kept) + 1])
        assert spent > frame - 1_024


def test_req_bound_1_the_cluster_file_sets_the_limits_and_names_a_contradiction() -> None:
    """REQ-BOUND-1: the cluster file's [limits] sets the new limits; a value limit above the
    object limit is a one-line ConfigError naming both."""
    one = (NodeAddress("n1", "127.0.0.1", 7001),)
    quorum = {"n": 1, "r": 1, "w": 1}
    with pytest.raises(ConfigError, match=r"max_object_bytes.*max_value_bytes"):
        build_cluster_file(one, {**quorum, "max_value_bytes": 2 * MIB})
    raised = {"max_value_bytes": 2 * MIB, "max_object_bytes": 2 * MIB + 4_096, "max_siblings": 7}
    cluster = build_cluster_file(one, {**quorum, **raised})
    assert cluster.config.max_object_bytes == 2 * MIB + 4_096
    assert cluster.config.max_siblings == 7
