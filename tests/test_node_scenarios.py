"""Pinned node scenarios, each driven through `step` alone by the minimal harness."""

from __future__ import annotations

import attrs
import pytest
from dynref.causality import Mode, empty_versions, encode_context
from dynref.config import ClusterConfig
from dynref.local import build_trees, join
from dynref.messages import (
    ClientDelete,
    ClientGet,
    ClientPut,
    DeleteHint,
    Fetch,
    ForwardPut,
    GetOk,
    Handoff,
    HandoffAck,
    InvalidContext,
    InvalidRequest,
    Message,
    PutOk,
    QuorumNotReached,
    Receive,
    Replicate,
    ReplicateAck,
    Send,
    StoreHint,
    SyncKeys,
    TooLarge,
    Unavailable,
)
from dynref.node import Step, boot, step
from dynref.state import NodeState

from tests.node_harness import Blocked, Net, isolate, nodes

KEY = b"cart"


def config(mode: Mode = Mode.DVV, count: int = 5, **overrides: int) -> ClusterConfig:
    return ClusterConfig(nodes=nodes(count), mode=mode, **overrides)


def preference(net: Net, key: bytes = KEY) -> tuple[str, ...]:
    return net.states["n1"].ring.preference_list(key, net.config.n)


def outsider(net: Net, key: bytes = KEY) -> str:
    return next(n for n in sorted(net.states) if n not in preference(net, key))


def get(net: Net, node: str, key: bytes = KEY, r: int | None = None) -> GetOk:
    request_id = net.request(node, lambda rid: ClientGet(rid, key, r))
    net.deliver()
    result = net.results[request_id]
    assert isinstance(result, GetOk), result
    return result


def put(
    net: Net,
    node: str,
    value: bytes,
    context: bytes = b"",
    key: bytes = KEY,
    blocked: Blocked = lambda _s, _r, _m: False,
) -> None:
    request_id = net.request(node, lambda rid: ClientPut(rid, key, value, context))
    net.deliver(blocked)
    assert net.results[request_id] == PutOk()


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.VCLOCK])
def test_paper_figure_3_siblings_and_reconciliation(mode: Mode) -> None:
    """REQ-COORD-3, REQ-COORD-4: D1, D2 at Sx; D3 at Sy and D4 at Sz concurrently; D5 reconciles."""
    net = Net.start(config(mode))
    sx, sy, sz = preference(net)
    put(net, sx, b"D1")
    put(net, sx, b"D2", get(net, sx).context)
    seen_d2 = get(net, sx)
    assert seen_d2.values == (b"D2",)
    put(net, sy, b"D3", seen_d2.context)
    put(net, sz, b"D4", seen_d2.context)
    both = get(net, sx, r=3)
    assert both.values == (b"D3", b"D4")
    put(net, sx, b"D5", both.context)
    assert get(net, sy, r=3).values == (b"D5",)


def test_put_from_outside_the_preference_list_is_forwarded() -> None:
    """REQ-COORD-2: a non-replica forwards the put to the first preference-list node."""
    net = Net.start(config())
    entry = outsider(net)
    put(net, entry, b"v")
    forwards = net.sent(ForwardPut)
    assert [(n, e.to) for n, e in forwards] == [(entry, preference(net)[0])]  # type: ignore[attr-defined]
    assert get(net, entry).values == (b"v",)


def test_a_silent_forward_target_is_marked_down_and_the_put_never_runs_elsewhere() -> None:
    """REQ-COORD-2, REQ-FD-1: the first target is silent; the client gets Unavailable (the
    outcome is unknown), the target is believed down, and no second node runs the put. The
    next put goes to the next preference-list node."""
    net = Net.start(config())
    first, second, _ = preference(net)
    entry = outsider(net)
    request_id = net.request(entry, lambda rid: ClientPut(rid, KEY, b"v", b""))
    net.settle(100, 6, isolate([first]))
    assert isinstance(net.results[request_id], Unavailable)
    assert first in net.states[entry].volatile.down
    assert [e.to for _, e in net.sent(ForwardPut)] == [first]  # type: ignore[attr-defined]
    again = net.request(entry, lambda rid: ClientPut(rid, KEY, b"w", b""))
    net.settle(100, 6, isolate([first]))
    assert net.results[again] == PutOk()
    assert [e.to for _, e in net.sent(ForwardPut)][-1] == second  # type: ignore[attr-defined]


def test_forward_gives_up_with_unavailable_when_no_replica_answers() -> None:
    """REQ-COORD-2: every preference-list node silent means Unavailable, not a hang."""
    net = Net.start(config())
    entry = outsider(net)
    request_id = net.request(entry, lambda rid: ClientPut(rid, KEY, b"v", b""))
    net.settle(100, 20, isolate(preference(net)))
    assert isinstance(net.results[request_id], Unavailable)


def test_put_without_quorum_reports_how_many_acknowledged() -> None:
    """REQ-COORD-3: at the deadline, QuorumNotReached says how many acks were seen."""
    net = Net.start(config(count=3))
    a, _, _ = preference(net)
    request_id = net.request(a, lambda rid: ClientPut(rid, KEY, b"v", b"", w=3))
    net.settle(100, 3, lambda _s, receiver, _m: receiver != a)
    assert net.results[request_id] == QuorumNotReached(needed=3, seen=1)


def test_sloppy_write_is_hinted_then_handed_off_after_the_owner_recovers() -> None:
    """REQ-SLOPPY-1, REQ-HANDOFF-1, INV-HINT-1: a fallback holds a hint until the owner acks it."""
    net = Net.start(config())
    a, _, c = preference(net)
    cut = isolate([c])
    put(net, a, b"first", blocked=cut)  # W=2 still met; at the deadline c is marked down
    net.settle(100, 3, cut)
    assert c in net.states[a].volatile.down
    request_id = net.request(a, lambda rid: ClientPut(rid, KEY, b"second", get(net, a).context))
    net.deliver(cut)
    assert net.results[request_id] == PutOk()
    hinted = [(n, e) for n, e in net.effects if isinstance(e, StoreHint)]
    assert hinted and all(e.target == c for _, e in hinted)  # type: ignore[attr-defined]
    fallback = hinted[0][0]
    assert fallback not in preference(net)
    assert not any(isinstance(e, DeleteHint) for _, e in net.effects)
    net.settle(100, 20)  # heal: probes mark c up, handoff delivers, the hint goes
    assert net.states[c].durable.data[KEY].values() == (b"second",)
    assert not net.states[fallback].durable.hints
    order = [
        type(e) for n, e in net.effects if n == fallback and isinstance(e, StoreHint | DeleteHint)
    ]
    assert order[-1] is DeleteHint
    acks = net.sent(HandoffAck)
    assert acks and all(n == c for n, _ in acks)
    assert net.states[fallback].volatile.stats.hints_handed_off == 1


def test_hint_is_kept_when_the_owner_acks_an_older_digest() -> None:
    """INV-HINT-1: an ack for versions the hint has since outgrown leaves the hint in place."""
    net = Net.start(config())
    a, _, c = preference(net)
    fallback = next(n for n in net.states[a].ring.walk(KEY) if n not in preference(net))
    versions = empty_versions(Mode.DVV).write(b"x", empty_versions(Mode.DVV).context(), "n9#0", 1)
    net.apply(fallback, _receive(net, fallback, a, Replicate(1, KEY, versions, c)))
    stale = HandoffAck(KEY, empty_versions(Mode.DVV).digest())
    net.apply(fallback, _receive(net, fallback, c, stale))
    assert KEY in net.states[fallback].durable.hints[c]
    net.apply(fallback, _receive(net, fallback, c, HandoffAck(KEY, versions.digest())))
    assert c not in net.states[fallback].durable.hints


def _receive(net: Net, node: str, sender: str, message: Message) -> Step:
    return step(net.states[node], Receive(sender, message))


def test_read_repair_brings_a_stale_replica_up_to_date() -> None:
    """REQ-COORD-5: a primary that answered with less than the merge receives the merge."""
    net = Net.start(config())
    a, _, c = preference(net)
    request_id = net.request(a, lambda rid: ClientPut(rid, KEY, b"v", b""))
    net.deliver(lambda _s, receiver, message: receiver == c and isinstance(message, Replicate))
    assert net.results[request_id] == PutOk()
    assert KEY not in net.states[c].durable.data
    assert get(net, a, r=3).values == (b"v",)
    repairs = [e for n, e in net.sent(Replicate) if n == a and e.to == c]  # type: ignore[attr-defined]
    assert len(repairs) == 2  # the dropped write, then the repair
    assert net.states[c].durable.data[KEY].values() == (b"v",)
    assert net.states[a].volatile.stats.read_repairs == 1


def test_antientropy_repairs_a_replica_sending_only_the_differing_keys() -> None:
    """REQ-AE-1, REQ-AE-2: Merkle exchange repairs missed writes; equal keys never travel."""
    net = Net.start(config(count=3, antientropy_interval=100))
    a, _, c = preference(net)
    shared = [f"shared-{i}".encode() for i in range(30)]
    missed = [f"missed-{i}".encode() for i in range(5)]
    for key in shared:
        put(net, a, b"old", key=key)
    for key in missed:
        request_id = net.request(a, lambda rid, key=key: ClientPut(rid, key, b"new", b""))
        net.deliver(lambda _s, receiver, m: receiver == c and isinstance(m, Replicate))
        assert net.results[request_id] == PutOk()
    assert not any(key in net.states[c].durable.data for key in missed)
    no_fetch = lambda _s, _r, m: isinstance(m, Fetch | Handoff)  # noqa: E731
    net.settle(100, 40, no_fetch)
    assert all(net.states[c].durable.data[key].values() == (b"new",) for key in missed)
    travelled = {key for _, e in net.sent(SyncKeys) for key, _ in e.message.items}  # type: ignore[attr-defined]
    travelled |= {key for _, e in net.sent(SyncKeys) for key in e.message.wanted}  # type: ignore[attr-defined]
    assert travelled and travelled <= set(missed)
    assert sum(s.volatile.stats.antientropy_keys_repaired for s in net.states.values()) >= len(
        missed
    )


def test_restart_loses_volatile_state_but_no_acknowledged_write() -> None:
    """REQ-DUR-1: a crash keeps durable state only; acknowledged writes are all still there."""
    net = Net.start(config())
    a, b, _ = preference(net)
    put(net, a, b"kept")
    request_id = net.request(a, lambda rid: ClientPut(rid, b"other", b"pending", b"", w=3))
    before = net.states[a]
    net.crash(a)
    net.restart(a)
    after = net.states[a]
    assert after.durable.data == before.durable.data
    assert after.durable.boots == before.durable.boots + 1
    assert not after.volatile.puts and not after.volatile.gets and not after.volatile.down
    assert after.volatile.trees == _rebuilt_trees(after)
    assert request_id not in net.results or net.results[request_id] != PutOk()
    net.deliver()
    assert get(net, b).values == (b"kept",)
    assert get(net, a).values == (b"kept",)


def _rebuilt_trees(state: NodeState) -> object:
    return build_trees(state)


def test_acknowledgement_from_before_a_restart_is_not_counted() -> None:
    """REQ-COORD-6, REQ-DUR-1: request ids embed the boot count, so old acks match nothing."""
    net = Net.start(config())
    a, _, _ = preference(net)
    old_request = net.request(a, lambda rid: ClientPut(rid, KEY, b"v", b"", w=3))
    old_acks = [(s, r, m) for s, r, m in net.queue]
    net.queue.clear()
    net.crash(a)
    net.restart(a)
    new_request = net.request(a, lambda rid: ClientPut(rid, KEY, b"w", get_context(net, a), w=3))
    new_replicates = [m for _, _, m in net.queue if isinstance(m, Replicate)]
    net.queue.clear()
    for sender, receiver, message in old_acks:
        net.apply(receiver, _receive(net, receiver, sender, message))
    stale_acks = [(s, r, m) for s, r, m in net.queue if isinstance(m, ReplicateAck)]
    assert stale_acks and all(
        m.request_id not in {x.request_id for x in new_replicates} for _, _, m in stale_acks
    )
    net.deliver(lambda _s, _r, m: isinstance(m, Replicate))
    assert new_request not in net.results
    assert old_request not in net.results


def get_context(net: Net, node: str) -> bytes:
    return encode_context(
        net.config.mode,
        net.states[node].durable.data.get(KEY, empty_versions(net.config.mode)).context(),
    )


def test_duplicate_acknowledgements_count_once() -> None:
    """REQ-COORD-6: W=3 with one replica's ack duplicated is still waiting for the third."""
    net = Net.start(config())
    a, b, c = preference(net)
    request_id = net.request(a, lambda rid: ClientPut(rid, KEY, b"v", b"", w=3))
    net.deliver(lambda _s, receiver, _m: receiver == c)
    acks = [
        e
        for n, e in net.effects
        if n == b and isinstance(e, Send) and isinstance(e.message, ReplicateAck)
    ]
    for effect in acks * 2:
        net.apply(a, _receive(net, a, b, effect.message))  # type: ignore[attr-defined]
    assert request_id not in net.results


@pytest.mark.parametrize(
    ("request_factory", "expected"),
    [
        (lambda rid: ClientPut(rid, b"k" * 2000, b"v", b""), TooLarge),
        (lambda rid: ClientPut(rid, b"k", b"v" * 2_000_000, b""), TooLarge),
        (lambda rid: ClientGet(rid, b"k", r=4), InvalidRequest),
        (lambda rid: ClientPut(rid, b"k", b"v", b"", w=0), InvalidRequest),
        (lambda rid: ClientPut(rid, b"k", b"v", b"\x07garbage"), InvalidContext),
        (lambda rid: ClientDelete(rid, b"k", b"\x01\x02"), InvalidContext),
    ],
)
def test_invalid_client_requests_get_clear_errors_and_change_nothing(
    request_factory, expected
) -> None:  # type: ignore[no-untyped-def]
    """REQ-COORD-1: size, quorum and context errors are answered at once; no state changes."""
    net = Net.start(config())
    before = net.states["n1"]
    request_id = net.request("n1", request_factory)
    assert isinstance(net.results[request_id], expected)
    assert net.states["n1"] == before
    assert not net.queue


def test_a_node_that_lost_its_disk_never_reissues_a_dot() -> None:
    """REQ-DUR-2: a new incarnation writes under a new actor, so both writes survive as siblings."""
    cfg = config()
    net = Net.start(cfg)
    a, b, _ = preference(net)
    put(net, a, b"before")
    net.crash(a)
    net.states[a] = boot(cfg, a, 1, net.now).state  # the disk is gone
    net.crashed.discard(a)
    put(net, a, b"after")  # empty context: concurrent with "before"
    assert get(net, b, r=3).values == (b"after", b"before")
    assert net.states[a].durable.actor == f"{a}#1"


def test_deletes_are_tombstones_that_a_later_put_supersedes() -> None:
    """REQ-CAUS-3: through the node, a delete hides the value and its context carries forward."""
    net = Net.start(config())
    a, _, _ = preference(net)
    put(net, a, b"v")
    request_id = net.request(a, lambda rid: ClientDelete(rid, KEY, get(net, a).context))
    net.deliver()
    assert net.results[request_id] == PutOk()
    deleted = get(net, a)
    assert deleted.values == ()
    put(net, a, b"again", deleted.context)
    assert get(net, a, r=3).values == (b"again",)


def test_durable_writes_precede_the_acknowledgements_of_their_step() -> None:
    """REQ-NODE-2: a step that acks a replica write has stored it, and lists the store first."""
    net = Net.start(config())
    a, _, c = preference(net)
    put(net, a, b"v")
    put(net, a, b"w", get(net, a).context)
    net.settle(100, 3, isolate([c]))
    put(net, a, b"hinted", get(net, a).context)
    checked = 0
    for _node, event, result in net.steps:
        if not (isinstance(event, Receive) and isinstance(event.message, Replicate)):
            continue
        kinds = [type(e) for e in result.effects]
        assert kinds[-1] is Send and isinstance(result.effects[-1].message, ReplicateAck)  # type: ignore[attr-defined]
        message = event.message
        durable = result.state.durable
        held = (
            durable.data[message.key]
            if message.hint_for is None
            else durable.hints[message.hint_for][message.key]
        )
        assert join(held, message.versions) == held
        checked += 1
    assert checked >= 5


def test_config_rejects_quorums_larger_than_n() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        attrs.evolve(config(), r=4)
