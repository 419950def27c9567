"""Quorum outcomes against a simple model, in the style of riak_kv's get/put FSM properties.

For any N, R, W, any view of which nodes are down (so fallbacks stand in), and any combination of
replica replies (versions, not found, timeout; in any order, some duplicated), the client's result
and the replicas that read repair writes to equal what a few lines of model say.
"""

from __future__ import annotations

import attrs
from dynref.causality import AnyVersions, Mode, empty_versions, encode_context, read_context
from dynref.config import ClusterConfig
from dynref.local import join
from dynref.messages import (
    ClientGet,
    ClientPut,
    Effect,
    Fetch,
    FetchReply,
    GetOk,
    PutOk,
    QuorumNotReached,
    Receive,
    Replicate,
    ReplicateAck,
    Reply,
    Request,
    Send,
    StoreVersions,
    Tick,
)
from dynref.node import boot, step
from dynref.state import NodeState
from hypothesis import given
from hypothesis import strategies as st

from tests.node_harness import nodes

KEY = b"k"


def version_pool(mode: Mode) -> list[AnyVersions]:
    """Empty, a first write, a successor, a concurrent sibling, and their merge."""
    empty = empty_versions(mode)
    first = empty.write(b"a", empty.context(), "x#0", 1)
    successor = first.write(b"b", first.context(), "x#0", 2)
    concurrent = first.write(b"c", first.context(), "y#0", 3)
    return [empty, first, successor, concurrent, join(successor, concurrent)]


@st.composite
def scenario(draw: st.DrawFn, *, coordinator_in_preference: bool) -> tuple[NodeState, set[str]]:
    mode = draw(st.sampled_from(list(Mode)))
    n = draw(st.integers(1, 4))
    config = ClusterConfig(
        nodes=nodes(n + 3), mode=mode, n=n, r=draw(st.integers(1, n)), w=draw(st.integers(1, n))
    )
    probe = boot(config, "n1", 0, 0).state
    walk = probe.ring.walk(KEY)
    candidates = walk[:n] if coordinator_in_preference else walk
    coordinator = draw(st.sampled_from(candidates))
    state = boot(config, coordinator, 0, 0).state
    down = draw(st.sets(st.sampled_from([node for node in walk if node != coordinator])))
    if draw(st.booleans()):
        local = draw(st.sampled_from(version_pool(mode)))
        durable = attrs.evolve(state.durable, data=state.durable.data.set(KEY, local))
        state = attrs.evolve(state, durable=durable)
    return state, down


def with_down(state: NodeState, down: set[str]) -> NodeState:
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, down=frozenset(down)))


def run(state: NodeState, events: list[object]) -> tuple[NodeState, list[list[Effect]]]:
    per_step: list[list[Effect]] = []
    for event in events:
        result = step(state, event)  # type: ignore[arg-type]
        state = result.state
        per_step.append(list(result.effects))
    return state, per_step


@given(scenario(coordinator_in_preference=False), st.data())
def test_get_result_and_read_repair_match_the_model(
    setup: tuple[NodeState, set[str]], data: st.DataObject
) -> None:
    """REQ-COORD-4, REQ-COORD-5, REQ-COORD-6: client result and repair set equal the model's."""
    state, down = setup
    state = with_down(state, down)
    me, config = state.node_id, state.config
    targets = state.ring.sloppy_targets(KEY, config.n, frozenset(down) - {me})
    primaries = {t.node_id for t in targets if t.hint_for is None}
    start = step(state, Request(ClientGet(7, KEY)))
    fetches = [e for e in start.effects if isinstance(e, Send) and isinstance(e.message, Fetch)]
    assert sorted(e.to for e in fetches) == sorted(t.node_id for t in targets if t.node_id != me)
    request_id = fetches[0].message.request_id if fetches else None

    pool = version_pool(config.mode)
    answers = {
        e.to: data.draw(st.one_of(st.none(), st.sampled_from(pool)), label=e.to) for e in fetches
    }
    responders = data.draw(st.permutations([node for node, v in answers.items() if v is not None]))
    doubled = data.draw(st.sets(st.sampled_from(responders))) if responders else set()
    events: list[object] = []
    for node in responders:
        reply = FetchReply(request_id, KEY, answers[node])  # type: ignore[arg-type]
        events.append(Receive(node, reply))
        if node in doubled:
            events.append(Receive(node, reply))
    events.append(Tick(config.request_timeout))
    events.append(
        Receive(responders[0], FetchReply(request_id, KEY, pool[1])) if responders else Tick(1)
    )  # type: ignore[arg-type]
    _, per_step = run(start.state, events)
    effects = list(start.effects) + [e for batch in per_step for e in batch]

    replies: list[tuple[str, AnyVersions]] = []
    if any(t.node_id == me for t in targets):
        local = state.durable.data.get(KEY, empty_versions(config.mode))
        replies.append((me, local))
    replies += [(node, answers[node]) for node in responders]  # type: ignore[misc]
    expected_result: object
    if len(replies) >= config.r:
        first = empty_versions(config.mode)
        for _, versions in replies[: config.r]:
            first = join(first, versions)
        expected_result = GetOk(first.values(), encode_context(config.mode, first.context()))
    else:
        expected_result = QuorumNotReached(config.r, len(replies))
    everything = empty_versions(config.mode)
    for _, versions in replies:
        everything = join(everything, versions)
    expected_repairs = {node for node, v in replies if node in primaries and v != everything}

    client_replies = [e for e in effects if isinstance(e, Reply)]
    assert client_replies == [Reply(7, expected_result)]  # type: ignore[arg-type]
    repaired = {e.to for e in effects if isinstance(e, Send) and isinstance(e.message, Replicate)}
    if any(isinstance(e, StoreVersions) for e in effects):
        repaired.add(me)
    assert repaired == expected_repairs
    for effect in effects:
        if isinstance(effect, Send) and isinstance(effect.message, Replicate):
            assert effect.message.versions == everything and effect.message.hint_for is None


@given(scenario(coordinator_in_preference=True), st.data())
def test_put_result_matches_the_model(
    setup: tuple[NodeState, set[str]], data: st.DataObject
) -> None:
    """REQ-COORD-3, REQ-SLOPPY-1, REQ-COORD-6: PutOk exactly when W distinct nodes acked."""
    state, down = setup
    state = with_down(state, down)
    me, config = state.node_id, state.config
    targets = [
        t for t in state.ring.sloppy_targets(KEY, config.n, frozenset(down)) if t.node_id != me
    ]
    start = step(state, Request(ClientPut(9, KEY, b"new", b"")))
    replicates = [
        e for e in start.effects if isinstance(e, Send) and isinstance(e.message, Replicate)
    ]
    assert [(e.to, e.message.hint_for) for e in replicates] == [
        (t.node_id, t.hint_for) for t in targets
    ]
    assert isinstance(start.effects[0], StoreVersions)

    ackers = (
        data.draw(st.lists(st.sampled_from([e.to for e in replicates]), unique=True))
        if replicates
        else []
    )
    doubled = data.draw(st.sets(st.sampled_from(ackers))) if ackers else set()
    events: list[object] = []
    for node in ackers:
        request_id = next(e.message.request_id for e in replicates if e.to == node)
        events.append(Receive(node, ReplicateAck(request_id, KEY)))
        if node in doubled:
            events.append(Receive(node, ReplicateAck(request_id, KEY)))
    events.append(Tick(config.request_timeout))
    _, per_step = run(start.state, events)

    distinct_acks = 1 + len(ackers)
    stored = start.effects[0].versions
    written = read_context(stored) if config.mode is Mode.LWW else b""  # REQ-CTX-4
    ok = PutOk(written)
    expected = ok if distinct_acks >= config.w else QuorumNotReached(config.w, distinct_acks)
    batches = [list(start.effects), *per_step]
    replies_at = [i for i, batch in enumerate(batches) for e in batch if isinstance(e, Reply)]
    assert [e for batch in batches for e in batch if isinstance(e, Reply)] == [Reply(9, expected)]
    if config.w == 1:
        assert replies_at == [0]
    elif distinct_acks >= config.w:
        wth_ack = [i + 1 for i, ev in enumerate(events) if isinstance(ev, Receive)]
        seen: set[str] = set()
        for position, event in zip(wth_ack, events, strict=False):
            seen.add(event.sender)  # type: ignore[attr-defined]
            if 1 + len(seen) >= config.w:
                assert replies_at == [position]
                break
