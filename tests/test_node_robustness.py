"""`step` is total and deterministic, timers are state, and bad input is an error value."""

from __future__ import annotations

import attrs
from dynref.causality import Mode, empty_versions
from dynref.config import ClusterConfig
from dynref.messages import (
    ClientGet,
    ClientPut,
    Event,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    Handoff,
    HandoffAck,
    MerkleCompare,
    MerkleLeaves,
    Probe,
    ProbeAck,
    ProtocolError,
    PutOk,
    Receive,
    Replicate,
    ReplicateAck,
    Request,
    Send,
    SyncKeys,
    Tick,
)
from dynref.node import Step, boot, recover, step
from dynref.state import NodeState
from hypothesis import given
from hypothesis import strategies as st

from tests.node_harness import Net, nodes

CONFIG = ClusterConfig(nodes=nodes(5), mode=Mode.DVV)
STATE = boot(CONFIG, "n1", 0, 0).state


def written(mode: Mode, value: bytes) -> object:
    empty = empty_versions(mode)
    return empty.write(value, empty.context(), "n9#0", 5)


keys = st.binary(max_size=6)
small = st.integers(-3, 70)
versions = st.builds(written, st.sampled_from(list(Mode)), st.binary(max_size=4))
node_hashes = st.lists(st.tuples(small, st.binary(max_size=20)), max_size=3).map(tuple)
messages = st.one_of(
    st.builds(
        ForwardPut,
        small,
        keys,
        st.none() | st.binary(max_size=4),
        st.binary(max_size=6),
        st.none() | small,
    ),
    st.builds(ForwardReply, small, st.just(PutOk())),
    st.builds(
        Replicate, small, keys, versions, st.none() | st.sampled_from(["n2", "n3", "zz", "n1"])
    ),
    st.builds(ReplicateAck, small, keys),
    st.builds(Fetch, small, keys),
    st.builds(FetchReply, small, keys, versions),
    st.builds(Handoff, keys, versions),
    st.builds(HandoffAck, keys, st.binary(max_size=16)),
    st.builds(Probe, small),
    st.builds(ProbeAck, small),
    st.builds(MerkleCompare, small, small, small, node_hashes),
    st.builds(
        MerkleLeaves,
        small,
        small,
        st.lists(small, max_size=3).map(tuple),
        st.lists(st.tuples(keys, st.binary(max_size=16)), max_size=3).map(tuple),
    ),
    st.builds(
        SyncKeys,
        small,
        st.lists(st.tuples(keys, versions), max_size=2).map(tuple),
        st.lists(keys, max_size=2).map(tuple),
    ),
    st.text(max_size=3),  # not a message at all
)
events = st.one_of(
    st.builds(Receive, st.sampled_from(["n2", "n3", "n4", "n5", "n1", "stranger"]), messages),
    st.builds(Tick, st.integers(-5, 5_000)),
    st.builds(Request, st.builds(ClientGet, small, keys, st.none() | small)),
    st.builds(
        Request,
        st.builds(
            ClientPut, small, keys, st.binary(max_size=4), st.binary(max_size=6), st.none() | small
        ),
    ),
)


@given(st.lists(events, max_size=12))
def test_step_is_total_and_rejections_leave_durable_state_alone(sequence: list[Event]) -> None:
    """REQ-NODE-1: any event sequence, however malformed, yields steps; no exception escapes."""
    state = STATE
    for event in sequence:
        result = step(state, event)
        assert isinstance(result, Step)
        errors = [e for e in result.effects if isinstance(e, ProtocolError)]
        assert not any(e.reason.startswith("internal error") for e in errors), errors
        if errors:
            assert result.state.durable == state.durable
        state = result.state


def test_rejections_name_what_was_wrong() -> None:
    """REQ-NODE-1: messages from the node itself, foreign modes, unknown types and bad indexes
    are reported; REQ-MEMBER-6: a peer it does not know (a member it has not learnt of, or
    forgot with its disk) is refused and counted, not reported."""
    lww = written(Mode.LWW, b"x")
    unknown = step(STATE, Receive("stranger", Fetch(1, b"k")))
    assert unknown.effects == () and unknown.state.volatile.stats.stale_messages == 1
    cases = [
        Receive("n1", Probe(1)),
        Receive("n2", Replicate(1, b"k", lww, None)),  # type: ignore[arg-type]
        Receive("n2", "not a message"),  # type: ignore[arg-type]
    ]
    for event in cases:
        result = step(STATE, event)
        assert [type(e) for e in result.effects] == [ProtocolError], event
        assert result.state.durable == STATE.durable
    # A range this node does not replicate may come from a peer whose membership view differs
    # (REQ-MEMBER-6): refused without an answer, counted, not an error.
    stale = step(STATE, Receive("n2", MerkleCompare(10_000, 1, 0, ())))
    assert stale.effects == () and stale.state.volatile.stats.stale_messages == 1
    ranges = sorted(STATE.volatile.trees)
    for depth, level in [(99, 99), (4, 5), (-1, 0), (33, 0)]:  # level over depth, or over 32
        bad = step(STATE, Receive("n2", MerkleCompare(ranges[0], depth, level, ())))
        assert isinstance(bad.effects[0], ProtocolError), (depth, level)
    for depth, buckets in [(33, ()), (2, (4,)), (-1, ())]:
        bad = step(STATE, Receive("n2", MerkleLeaves(ranges[0], depth, buckets, ())))
        assert isinstance(bad.effects[0], ProtocolError), (depth, buckets)


def test_a_replicate_is_stored_by_a_primary_and_refused_elsewhere() -> None:
    """REQ-REPL-1, REQ-MEMBER-6: a primary merges and acks; a node outside the preference list
    refuses: it neither stores nor acknowledges, and counts the stale message."""
    key = b"some key"
    preference = STATE.ring.preference_list(key, CONFIG.n)
    versions = written(Mode.DVV, b"v")
    primary = boot(CONFIG, preference[0], 0, 0).state
    stored = step(primary, Receive(preference[1], Replicate(3, key, versions, None)))  # type: ignore[arg-type]
    assert stored.state.durable.data[key] == versions
    assert stored.effects[-1] == Send(preference[1], ReplicateAck(3, key))
    outsider = next(n.node_id for n in CONFIG.nodes if n.node_id not in preference)
    refused = step(
        boot(CONFIG, outsider, 0, 0).state,
        Receive(preference[0], Replicate(3, key, versions, None)),
    )  # type: ignore[arg-type]
    assert refused.effects == ()
    assert refused.state.volatile.stats.stale_messages == 1


def test_time_never_goes_backwards_and_timers_follow_the_configuration() -> None:
    """REQ-NODE-3: an old Tick keeps the clock; periods are the configured parameters."""
    config = attrs.evolve(CONFIG, probe_interval=70, handoff_interval=90, antientropy_interval=110)
    state = boot(config, "n1", 0, 0).state
    state = step(state, Tick(500)).state
    assert state.volatile.now == 500
    assert step(state, Tick(100)).state.volatile.now == 500
    assert state.volatile.next_probe == 570
    assert state.volatile.next_handoff == 590
    assert state.volatile.next_antientropy == 610
    down = attrs.evolve(state, volatile=attrs.evolve(state.volatile, down=frozenset({"n2"})))
    assert not [e for e in step(down, Tick(569)).effects if isinstance(e, Send)]
    assert step(down, Tick(570)).effects == (Send("n2", Probe(570)),)


def _run_scenario() -> tuple[dict[str, NodeState], list[tuple[str, object]]]:
    net = Net.start(attrs.evolve(CONFIG, antientropy_interval=50))
    for index in range(6):
        net.request(
            f"n{index % 5 + 1}", lambda rid, i=index: ClientPut(rid, b"k%d" % (i % 3), b"v", b"")
        )
        net.settle(40, 2, lambda _s, receiver, _m: receiver == "n2")
    net.settle(40, 10)
    return net.states, net.effects  # type: ignore[return-value]


def test_the_node_is_deterministic() -> None:
    """REQ-NODE-4: the same events give the same states and effects, seeds included."""
    first_states, first_effects = _run_scenario()
    second_states, second_effects = _run_scenario()
    assert first_states == second_states
    assert first_effects == second_effects
    assert any(
        isinstance(e, Send) and isinstance(e.message, MerkleCompare) for _, e in first_effects
    )


def test_a_store_of_another_mode_refuses_to_start() -> None:
    """REQ-DUR-1: recovering durable state under a different causality mode is a clear error."""
    durable = attrs.evolve(
        STATE.durable, data=STATE.durable.data.set(b"k", written(Mode.LWW, b"x"))
    )
    try:
        recover(CONFIG, durable, 0)
    except ValueError as error:
        assert "lww" in str(error) and "dvv" in str(error)
    else:
        raise AssertionError("recover accepted versions of another mode")
