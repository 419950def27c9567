"""Membership (SPEC section 12): the semilattice, the rings it determines, join and leave with key
transfer through the node state machine, and the refusals of bad input."""

from __future__ import annotations

import functools

import attrs
import pytest
from dynref.causality import AnyVersions, Mode, empty_versions
from dynref.config import ClusterConfig
from dynref.explore.swarm import SwarmSettings, run_seed
from dynref.membership import (
    MemberEntry,
    Membership,
    Status,
    config_digest,
    current_ring,
    future_ring,
    initial_membership,
)
from dynref.messages import (
    Admin,
    AdminOk,
    ClientDelete,
    ClientGet,
    ClientPut,
    DropVersions,
    GetOk,
    Gossip,
    Handoff,
    InvalidRequest,
    JoinCluster,
    LeaveCluster,
    ProtocolError,
    Receive,
    Replicate,
    Request,
    Send,
    StoreMembership,
    StoreMeta,
    Transfer,
    TransferAck,
    TransferDigests,
)
from dynref.node import boot, recover, step
from dynref.ring import Ring, RingConfig, Strategy
from hypothesis import given
from hypothesis import strategies as st

from tests.node_harness import Net, nodes

CONFIG = ClusterConfig(
    nodes=nodes(5),
    n=3,
    r=2,
    w=2,
    handoff_interval=100,
    probe_interval=100,
    antientropy_interval=100,
    gossip_interval=100,
    transfer_batch=8,
)
KEYS = tuple(b"key%d" % i for i in range(30))

entries = st.builds(
    MemberEntry,
    st.sampled_from(["a", "b", "c", "d"]),
    st.integers(1, 2),
    st.sampled_from(["", "127.0.0.1:1"]),
    st.sampled_from(Status),
    st.integers(0, 3),
)
memberships = st.lists(entries, max_size=5).map(Membership.of)


@given(memberships, memberships, memberships)
def test_merge_is_a_join(a: Membership, b: Membership, c: Membership) -> None:
    """REQ-MEMBER-1: merge is commutative, associative and idempotent."""
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)


@given(st.lists(memberships, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_any_gossip_order_converges_to_the_same_membership_and_rings(
    views: list[Membership], random: object
) -> None:
    """REQ-MEMBER-1, REQ-MEMBER-2: folding the same views in any order gives equal memberships,
    and equal memberships give equal current and future rings."""
    shuffled = list(views)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    first = functools.reduce(Membership.merge, views)
    second = functools.reduce(Membership.merge, shuffled)
    assert first == second and first.digest() == second.digest()
    ring_config = RingConfig(tokens_per_capacity=4)
    if first.ids_with(frozenset({Status.VALID, Status.LEAVING})):
        assert current_ring(first, ring_config) == current_ring(second, ring_config)
        assert future_ring(first, ring_config) == future_ring(second, ring_config)


def test_rings_of_each_status() -> None:
    """REQ-MEMBER-2: the current ring has the valid and leaving members, the future ring the
    joining and valid ones; exiting members are in neither."""
    membership = Membership.of(
        [
            MemberEntry("a", 1, "", Status.VALID, 0),
            MemberEntry("b", 1, "", Status.JOINING, 1),
            MemberEntry("c", 1, "", Status.LEAVING, 1),
            MemberEntry("d", 1, "", Status.EXITING, 2),
        ]
    )
    assert current_ring(membership, RingConfig()).node_ids() == ("a", "c")
    assert future_ring(membership, RingConfig()).node_ids() == ("a", "b")


def _loaded(config: ClusterConfig) -> Net:
    net = Net.start(config)
    for index, key in enumerate(KEYS):
        net.request(f"n{index % 5 + 1}", lambda rid, k=key: ClientPut(rid, k, b"v-" + k, b""))
        net.settle(10, 1)
    net.settle(config.handoff_interval, 2)
    return net


def _settle(net: Net, rounds: int = 30) -> None:
    net.settle(net.config.handoff_interval, rounds)


def _check_placement(net: Net, members: tuple[str, ...]) -> None:
    """Every member agrees on membership and rings; each key's N owners hold it, others not."""
    states = [net.states[node] for node in members]
    assert all(s.membership == states[0].membership for s in states)
    assert all(s.ring == states[0].ring and s.future is None for s in states)
    ring = states[0].ring
    for key in KEYS:
        owners = ring.preference_list(key, net.config.n)
        held = {node for node in net.states if key in net.states[node].durable.data}
        assert held == set(owners), (key, owners, held)
        assert len({net.states[o].durable.data[key] for o in owners}) == 1


@pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.value)
def test_a_node_joins_through_a_seed_and_takes_its_share(strategy: Strategy) -> None:
    """REQ-MEMBER-3, REQ-MEMBER-5, REQ-MEMBER-7, INV-MEMBER-2, INV-MEMBER-3: the joining node
    announces itself to a seed, gossip spreads it, the old owners stream it the keys it gains,
    it becomes valid, and the displaced replicas drop their keys; nothing is lost."""
    config = attrs.evolve(CONFIG, ring=RingConfig(strategy=strategy, partitions=16))
    net = _loaded(config)
    net.add_node("n6")
    joined = net.admin("n6", lambda rid: JoinCluster(rid, "n1", 1, "127.0.0.1:7006"))
    assert net.results[joined] == AdminOk("joining")
    _settle(net)
    assert not net.protocol_errors()
    assert net.states["n6"].membership.get("n6").status is Status.VALID  # type: ignore[union-attr]
    _check_placement(net, tuple(net.states))
    assert any(key in net.states["n6"].durable.data for key in KEYS)
    assert any(isinstance(e, DropVersions) for _, e in net.effects)
    for key in KEYS:
        read = net.request("n6", lambda rid, k=key: ClientGet(rid, k))
        net.settle(10, 2)
        assert net.results[read] == GetOk((b"v-" + key,), net.results[read].context)  # type: ignore[union-attr]


def test_a_node_leaves_once_its_keys_are_held_elsewhere() -> None:
    """REQ-MEMBER-5, REQ-MEMBER-7, INV-MEMBER-3: a leaving node hands every key on, drops it
    after every future owner acknowledged it, then marks itself exiting."""
    net = _loaded(CONFIG)
    left = net.admin("n2", LeaveCluster)
    assert net.results[left] == AdminOk("leaving")
    _settle(net)
    assert not net.protocol_errors()
    assert net.states["n2"].membership.get("n2").status is Status.EXITING  # type: ignore[union-attr]
    assert not net.states["n2"].durable.data
    _check_placement(net, ("n1", "n3", "n4", "n5"))
    assert "n2" not in net.states["n1"].ring.node_ids()


def test_a_key_is_dropped_only_after_every_future_owner_acknowledged_it() -> None:
    """REQ-MEMBER-5, INV-MEMBER-4: while transfer acknowledgements are lost, the leaving node
    keeps every key; once they arrive it drops them."""
    net = _loaded(CONFIG)
    held = set(net.states["n2"].durable.data)
    net.admin("n2", LeaveCluster)
    for _ in range(15):
        net.deliver(lambda _s, _r, message: isinstance(message, TransferAck))
        net.tick(CONFIG.handoff_interval)
    assert set(net.states["n2"].durable.data) == held
    assert net.sent(Transfer)
    _settle(net)
    assert not net.states["n2"].durable.data


def test_writes_during_a_join_reach_the_pending_owner_and_w_counts_current_owners() -> None:
    """REQ-MEMBER-4: a put while a node joins goes to the current owners and the joining one;
    the joining node's acknowledgement does not count toward W."""
    net = _loaded(CONFIG)
    net.add_node("n6")
    net.admin("n6", lambda rid: JoinCluster(rid, "n1", 1, ""))
    for _ in range(3):  # the announcement spreads; the join does not complete yet
        net.deliver(lambda _s, _r, m: isinstance(m, Transfer))
        net.tick(CONFIG.gossip_interval)
    state = net.states["n1"]
    assert state.future is not None
    key = next(k for k in KEYS if "n6" in state.future.preference_list(k, 3))
    coordinator = state.ring.preference_list(key, 3)[0]
    put = net.request(coordinator, lambda rid: ClientPut(rid, key, b"during", b""))
    replicated = [
        e.to
        for n, e in net.effects
        if n == coordinator and isinstance(e, Send) and isinstance(e.message, Replicate)
    ]
    assert "n6" in replicated
    net.deliver(lambda _s, receiver, _m: receiver != "n6")  # only the pending owner answers
    assert put not in net.results


def test_bad_membership_input_is_refused_and_changes_nothing() -> None:
    """REQ-MEMBER-9: a join to an unknown seed, a leave below N valid nodes, a mismatched
    configuration: a clear error and no change; gossip from a non-member: refused, counted, no
    change."""
    outsider = boot(CONFIG, "n9", 0, 0).state
    unknown_seed = step(outsider, _admin(JoinCluster(1, "nowhere", 1, "")))
    assert unknown_seed.effects[-1].result == InvalidRequest("unknown seed 'nowhere'")  # type: ignore[union-attr]
    assert unknown_seed.state == outsider
    small = boot(attrs.evolve(CONFIG, nodes=nodes(3)), "n1", 0, 0).state
    refused = step(small, _admin(LeaveCluster(2)))
    assert "fewer than N=3" in refused.effects[-1].result.reason  # type: ignore[union-attr]
    assert refused.state == small
    member = boot(CONFIG, "n1", 0, 0).state
    joined = step(member, _admin(JoinCluster(3, "n2", 1, "")))
    assert "already a member" in joined.effects[-1].result.reason  # type: ignore[union-attr]
    other = attrs.evolve(CONFIG, n=2)
    foreign = step(outsider, _admin(JoinCluster(4, "n1", 1, ""))).effects[0]
    assert isinstance(foreign, StoreMembership)
    gossip = Gossip(b"0" * 16, foreign.membership)
    mismatch = step(boot(other, "n1", 0, 0).state, Receive("n9", gossip))
    assert [type(e) for e in mismatch.effects] == [ProtocolError]
    assert "configuration mismatch" in mismatch.effects[0].reason  # type: ignore[union-attr]
    # Gossip from a node no member counts (every member forgot it with their disks, itself
    # included) is refused and counted, not a protocol error (REQ-MEMBER-6, REQ-MEMBER-9).
    stranger = step(member, Receive("n8", Gossip(_digest(member), member.membership)))
    assert stranger.effects == ()
    assert stranger.state.volatile.stats.stale_messages == member.volatile.stats.stale_messages + 1
    assert (
        stranger.state.durable == member.durable and stranger.state.membership == member.membership
    )


def test_a_static_cluster_never_gossips_and_keeps_its_ring() -> None:
    """REQ-MEMBER-3: gossip starts with the first change; a static configuration has none."""
    net = _loaded(CONFIG)
    _settle(net, 10)
    assert not net.sent(Gossip)
    assert all(s.membership == initial_membership(CONFIG.nodes) for s in net.states.values())


def test_the_membership_survives_a_restart() -> None:
    """REQ-MEMBER-10: the membership a node learnt is durable and comes back with it."""
    net = _loaded(CONFIG)
    net.admin("n2", LeaveCluster)
    state = net.states["n2"]
    restarted = recover(CONFIG, state.durable, 0).state
    assert restarted.membership == state.membership
    assert restarted.ring == state.ring and restarted.future == state.future


def test_hints_for_a_departed_owner_are_retargeted_not_dropped() -> None:
    """REQ-MEMBER-8: a hint held for a node that left goes to the key's current owners."""
    net = _loaded(CONFIG)
    key = KEYS[0]
    owners = net.states["n1"].ring.preference_list(key, 3)
    owner = owners[0]
    holder = next(n for n in sorted(net.states) if n not in owners)
    versions = net.states[owner].durable.data[key]
    net.run(holder, Receive(owner, Replicate(77, key, versions, owner)))
    assert key in net.states[holder].durable.hints[owner]
    net.admin(owner, LeaveCluster)
    # The hint's handoffs are lost until the owner exits, so it is never handed off.
    net.settle(CONFIG.handoff_interval, 30, lambda _s, _r, message: isinstance(message, Handoff))
    assert net.states[owner].membership.get(owner).status is Status.EXITING  # type: ignore[union-attr]
    _settle(net)
    assert not net.states[holder].durable.hints
    _check_placement(net, tuple(n for n in net.states if n != owner))


def _admin(request: JoinCluster | LeaveCluster) -> Admin:
    return Admin(request)


def _digest(_state: object) -> bytes:
    return config_digest(CONFIG.n, CONFIG.mode, CONFIG.ring, CONFIG.merkle_depth)


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.value)
def test_join_and_leave_together_in_every_mode(mode: Mode) -> None:
    """INV-MEMBER-1, INV-MEMBER-2: a join and a leave at once; every acknowledged value stays
    readable and every member ends with the same membership and rings."""
    net = _loaded(attrs.evolve(CONFIG, mode=mode))
    net.add_node("n6")
    net.admin("n6", lambda rid: JoinCluster(rid, "n3", 1, ""))
    net.admin("n4", LeaveCluster)
    _settle(net, 40)
    assert not net.protocol_errors()
    members = tuple(n for n in net.states if n != "n4")
    _check_placement(net, members)
    for key in KEYS:
        values = {
            v for n in members for v in net.states[n].durable.data.get(key, _empty(mode)).values()
        }
        assert values == {b"v-" + key}


def _empty(mode: Mode) -> AnyVersions:
    return empty_versions(mode)


def test_transfer_batches_fit_a_frame_and_oversized_ones_are_refused() -> None:
    """REQ-BOUND-5, REQ-BOUND-6, REQ-MEMBER-5: a leaving node's batches stay within one frame
    (the keys left out follow in later batches); a peer's batch with an oversized key is
    refused whole."""
    config = attrs.evolve(
        CONFIG,
        max_value_bytes=3_000,
        max_object_bytes=4_000,
        max_frame_bytes=10_000,
        max_key_bytes=64,
        max_context_bytes=1_000,
    )
    net = Net.start(config)
    for index, key in enumerate(KEYS):
        value = bytes([65 + index]) * 2_500
        net.request(f"n{index % 5 + 1}", lambda rid, k=key, v=value: ClientPut(rid, k, v, b""))
        net.settle(10, 1)
    net.admin("n2", LeaveCluster)
    _settle(net)
    batches = [e.message for n, e in net.sent(Transfer) if n == "n2"]
    assert batches and all(len(batch.items) <= 3 for batch in batches)  # type: ignore[attr-defined]
    assert not net.states["n2"].durable.data
    versions = net.states["n1"].durable.data[next(iter(net.states["n1"].durable.data))]
    oversized = Transfer(1, ((b"x" * 65, versions),))
    refused = step(net.states["n1"], Receive("n3", oversized))
    assert [type(e) for e in refused.effects] == [ProtocolError]
    assert refused.state.durable == net.states["n1"].durable


def test_keys_owners_already_hold_cost_a_digest_not_their_versions() -> None:
    """REQ-MEMBER-5: keys go by digest first; a future owner that holds the same versions
    acknowledges the digest, so a leaving node sends each key's versions to its one new owner
    only, not to the owners that already hold it."""
    net = _loaded(CONFIG)
    _settle(net, 5)  # anti-entropy has made the replicas equal
    held = len(net.states["n2"].durable.data)
    net.admin("n2", LeaveCluster)
    _settle(net)
    stats = net.states["n2"].volatile.stats
    assert stats.keys_dropped == held
    assert stats.keys_offered >= 3 * held
    assert stats.keys_transferred <= held
    assert net.sent(TransferDigests)


def test_a_node_takes_a_new_actor_before_dropping_keys_its_dots_are_in() -> None:
    """REQ-MEMBER-12: dropping a key takes the node's own dots in it along, and a later write
    of the key there would issue them again; the node moves to a new incarnation (a new
    actor, stored by StoreMeta) before its first drop after writing, and only then."""
    net = _loaded(CONFIG)
    before = net.states["n2"].durable.incarnation
    net.admin("n2", LeaveCluster)
    _settle(net)
    writes = net.durable_writes("n2")
    metas = [i for i, e in enumerate(writes) if isinstance(e, StoreMeta)]
    drops = [i for i, e in enumerate(writes) if isinstance(e, DropVersions)]
    assert drops and net.states["n2"].durable.incarnation == before + 1
    assert [writes[i] for i in metas[-1:]] == [StoreMeta("n2", before + 1, 0)]
    assert metas[-1] < drops[0]


def test_swarm_seed_61_a_leaving_coordinator_no_longer_reissues_dots() -> None:
    """REQ-MEMBER-12, INV-MEMBER-1: swarm seed 61 (dvv, --membership) lost an acknowledged put:
    the leaving n5 had dropped k0, then coordinated a put of it with an empty store and issued
    a dot the replicas already held for an older value, which they kept."""
    outcome = run_seed(61, SwarmSettings(mode=Mode.DVV, membership=True))
    assert not outcome.violations, outcome.violations[:2]


def test_a_joined_node_sends_nothing_unasked_to_members_it_has_not_heard_from() -> None:
    """REQ-MEMBER-11: members that may not know the joining node yet count as down for it; a
    member it heard from becomes a target again."""
    outsider = boot(CONFIG, "n6", 0, 0).state
    joined = step(outsider, _admin(JoinCluster(1, "n1", 1, ""))).state
    asked = step(joined, Request(ClientGet(2, KEYS[0])))
    assert not [e for e in asked.effects if isinstance(e, Send)]
    owners = joined.ring.preference_list(KEYS[0], 3)
    heard = step(joined, Receive(owners[0], Gossip(_digest(joined), joined.membership))).state
    asked = step(heard, Request(ClientGet(3, KEYS[0])))
    assert [e.to for e in asked.effects if isinstance(e, Send)] == [owners[0]]


def test_deletes_travel_to_new_owners_as_tombstones() -> None:
    """REQ-MEMBER-5: a deleted key is transferred like a put, as its tombstone: the joining
    node ends up holding the tombstone, so no old value comes back through it. Anti-entropy is
    off, so the tombstone can only come by transfer."""
    net = _loaded(attrs.evolve(CONFIG, antientropy_interval=10**9))
    future = _future_with("n6")
    deleted = [key for key in KEYS if "n6" in future.preference_list(key, 3)][:3]
    assert deleted
    for key in deleted:
        read = net.request("n1", lambda rid, k=key: ClientGet(rid, k))
        net.settle(10, 2)
        context = net.results[read].context  # type: ignore[union-attr]
        net.request("n1", lambda rid, k=key, c=context: ClientDelete(rid, k, c))
        net.settle(10, 2)
    _settle(net, 10)
    net.add_node("n6")
    net.admin("n6", lambda rid: JoinCluster(rid, "n1", 1, ""))
    _settle(net)
    assert net.states["n6"].membership.get("n6").status is Status.VALID  # type: ignore[union-attr]
    for key in deleted:
        held = net.states["n6"].durable.data[key]
        assert held != _empty(CONFIG.mode) and not held.values()  # a tombstone, not nothing
        read = net.request("n6", lambda rid, k=key: ClientGet(rid, k))
        net.settle(10, 2)
        assert net.results[read].values == ()  # type: ignore[union-attr]


def _future_with(joiner: str) -> Ring:
    membership = initial_membership(CONFIG.nodes).merge(
        Membership.of([MemberEntry(joiner, 1, "", Status.VALID, 1)])
    )
    return current_ring(membership, CONFIG.ring)


def test_a_leaving_node_leaves_the_ring_under_a_steady_stream_of_writes() -> None:
    """REQ-MEMBER-7: with a put of a new key it owns in every round, a leaving node always holds
    a key written since the last round; it becomes exiting once its backlog fits one round,
    takes no new keys, and drops the rest once their new owners acknowledged them."""
    net = _loaded(CONFIG)
    net.admin("n2", LeaveCluster)
    ring = net.states["n1"].ring
    stream = (b"stream-%d" % i for i in range(100_000))
    owned = (key for key in stream if "n2" in ring.preference_list(key, 3))
    exited_at = None
    for round_index in range(60):
        key = next(owned)
        coordinator = next(n for n in ring.preference_list(key, 3) if n != "n2")
        net.deliver()
        net.tick(CONFIG.handoff_interval)
        # The put lands between the round's offers and their acknowledgements.
        net.request(coordinator, lambda rid, k=key: ClientPut(rid, k, b"v", b""))
        net.deliver()
        own = net.states["n2"].membership.get("n2")
        if exited_at is None and own is not None and own.status is Status.EXITING:
            exited_at = round_index
    assert exited_at is not None and exited_at < 40
    _settle(net)
    assert not net.states["n2"].durable.data
    assert not net.protocol_errors()


def test_a_joining_node_becomes_valid_under_a_steady_stream_of_writes() -> None:
    """REQ-MEMBER-7: with puts of keys the joining node gains, at every old owner in every
    round, landing between the round's offers and their acknowledgements, the old owners still
    declare what is left small enough, the node becomes valid, and nothing is lost."""
    net = _loaded(CONFIG)
    net.add_node("n6")
    net.admin("n6", lambda rid: JoinCluster(rid, "n1", 1, ""))
    future = _future_with("n6")
    ring = net.states["n1"].ring
    stream = (b"stream-%d" % i for i in range(1_000_000))
    gained = (key for key in stream if "n6" in future.preference_list(key, 3))
    valid_at = None
    for round_index in range(60):
        net.deliver()
        net.tick(CONFIG.handoff_interval)
        uncovered = {f"n{i}" for i in range(1, 6)}
        while uncovered:  # a key for every old owner, written after the round's offers
            key = next(gained)
            owners = set(ring.preference_list(key, 3))
            if owners & uncovered:
                uncovered -= owners
                coordinator = ring.preference_list(key, 3)[0]
                net.request(coordinator, lambda rid, k=key: ClientPut(rid, k, b"v", b""))
        net.deliver()
        own = net.states["n6"].membership.get("n6")
        if valid_at is None and own is not None and own.status is Status.VALID:
            valid_at = round_index
    assert valid_at is not None and valid_at < 40
    _settle(net, 40)
    assert not net.protocol_errors()
    assert net.states["n6"].durable.data
