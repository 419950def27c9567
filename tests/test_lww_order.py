"""lww keeps the order a client can observe (REQ-LWW-1, REQ-CTX-4), through `step` alone.

A coordinator used to stamp a write with its clock, which moves only on a tick, so a delete or
an overwrite right after a put through the same node could rank below the put and vanish.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import immutables
from dynref.causality import LwwContext, LwwRegister, Mode, decode_context
from dynref.check import check_all, format_violations
from dynref.config import ClusterConfig
from dynref.messages import (
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ClientResult,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    GetOk,
    PutOk,
    Replicate,
    ReplicateAck,
    Tick,
)
from dynref.sim import Cluster, explorer_config
from dynref.sim.history import OperationKind
from hypothesis import given
from hypothesis import strategies as st

from tests.node_harness import Net, nodes
from tests.scenario import deliver, drop_all

KEY = b"k"
NODES = ("n1", "n2", "n3")


def lww_net(**overrides: int) -> Net:
    settings = {"n": 3, "r": 1, "w": 1, "antientropy_interval": 50, "handoff_interval": 50}
    settings.update(overrides)
    return Net.start(ClusterConfig(nodes=nodes(3), mode=Mode.LWW, **settings))


def run(
    net: Net, node: str, make: Callable[[int], ClientRequest], drop: bool = False
) -> ClientResult:
    """One request, with every message it causes delivered (or, with `drop`, every Replicate
    lost), before the next starts: operations are sequential."""
    request_id = net.request(node, make)
    net.deliver(lambda _s, _r, message: drop and isinstance(message, Replicate))
    return net.results[request_id]


def read_all(net: Net, node: str = "n1") -> GetOk:
    result = run(net, node, lambda rid: ClientGet(rid, KEY, 3))
    assert isinstance(result, GetOk), result
    return result


def test_req_lww_1_a_delete_right_after_a_put_through_one_node_deletes() -> None:
    """REQ-LWW-1: put then delete through one node within one tick. Before the fix both were
    stamped with the same clock and actor, the tombstone ranked below the value, and the
    delete had no effect."""
    net = lww_net(w=2, r=2)
    assert isinstance(run(net, "n1", lambda rid: ClientPut(rid, KEY, b"x", b"")), PutOk)
    assert isinstance(run(net, "n1", lambda rid: ClientDelete(rid, KEY, b"")), PutOk)
    assert read_all(net).values == ()


def test_req_lww_1_an_overwrite_with_the_read_context_wins() -> None:
    """REQ-LWW-1: put "zzz", read, put "aaa" with the read's context, through one node within
    one tick. Before the fix "aaa" ranked below "zzz" (same clock and actor) and was lost."""
    net = lww_net(w=2, r=2)
    assert isinstance(run(net, "n1", lambda rid: ClientPut(rid, KEY, b"zzz", b"")), PutOk)
    read = run(net, "n1", lambda rid: ClientGet(rid, KEY))
    assert isinstance(read, GetOk) and read.values == (b"zzz",)
    put = run(net, "n1", lambda rid: ClientPut(rid, KEY, b"aaa", read.context))
    assert isinstance(put, PutOk)
    assert read_all(net).values == (b"aaa",)


def test_req_ctx_4_put_ok_names_the_version_written() -> None:
    """REQ-CTX-4: in lww PutOk carries the context of the version written, and a write
    passing it back is ordered after it even through a coordinator that never saw it."""
    net = lww_net()
    net.run("n1", Tick(10_000))  # n1's clock runs far ahead of n2's
    first = run(net, "n1", lambda rid: ClientPut(rid, KEY, b"first", b""), drop=True)
    assert isinstance(first, PutOk)
    stamp = decode_context(Mode.LWW, first.context)
    assert stamp == LwwContext((10_000, "n1#0"))
    second = run(net, "n2", lambda rid: ClientPut(rid, KEY, b"second", first.context), drop=True)
    assert isinstance(second, PutOk)
    assert decode_context(Mode.LWW, second.context) == LwwContext((10_001, "n2#0"))
    converge(net)
    assert read_all(net).values == (b"second",)


@attrs.frozen
class Op:
    kind: str  # "put", "delete" or "get"
    node: str
    drop: bool  # lose every Replicate the operation causes
    advance: int  # ms this node's clock moves before the operation


def ops(nodes_drawn: st.SearchStrategy[str]) -> st.SearchStrategy[list[Op]]:
    return st.lists(
        st.builds(
            Op,
            kind=st.sampled_from(("put", "put", "delete", "get")),
            node=nodes_drawn,
            drop=st.booleans(),
            advance=st.sampled_from((0, 0, 0, 1, 7)),
        ),
        min_size=1,
        max_size=8,
    )


def converge(net: Net) -> None:
    """Tick every node (each on its own clock) until all three replicas hold the same version;
    anti-entropy and handoff repair what was dropped."""
    for _ in range(200):
        net.deliver()
        held = {net.states[node].durable.data.get(KEY) for node in NODES}
        if len(held) == 1 and not any(net.states[node].durable.hints for node in NODES):
            return
        for node in NODES:
            net.run(node, Tick(net.states[node].volatile.now + 50))
    raise AssertionError("the replicas did not converge")


def request_for(kind: str, value: bytes, context: bytes) -> Callable[[int], ClientRequest]:
    if kind == "put":
        return lambda rid: ClientPut(rid, KEY, value, context)
    if kind == "delete":
        return lambda rid: ClientDelete(rid, KEY, context)
    return lambda rid: ClientGet(rid, KEY)


def play(
    net: Net, schedule: list[Op], skews: dict[str, int], *, pass_contexts: bool
) -> bytes | None:
    """Run the operations one after another; return the last write's value (None: a delete,
    or no write at all). With `pass_contexts` the client writes with the context of its last
    result (a read's, or a PutOk's); without, it writes blind."""
    for node, skew in skews.items():
        net.run(node, Tick(skew))
    context = b""
    last: bytes | None = None
    for index, op in enumerate(schedule):
        if op.advance:
            net.run(op.node, Tick(net.states[op.node].volatile.now + op.advance))
        sent = context if pass_contexts else b""
        # Each value sorts below the previous ones: a later write never wins by its value.
        value = b"v%d" % (99 - index)
        result = run(net, op.node, request_for(op.kind, value, sent), drop=op.drop)
        assert isinstance(result, PutOk | GetOk), result
        context = result.context
        if op.kind != "get":
            last = value if op.kind == "put" else None
    return last


@given(ops(st.just("n2")), st.sampled_from(NODES))
def test_req_lww_1_sequential_writes_through_one_coordinator_end_with_the_last(
    schedule: list[Op], reader: str
) -> None:
    """REQ-LWW-1, client-observable order: blind puts and deletes of one key, one after
    another through the same coordinator (replication lost or not, its clock moving or not),
    end, once the replicas converge, with the last write visible (nothing after a delete)."""
    net = lww_net()
    last = play(net, schedule, {}, pass_contexts=False)
    converge(net)
    assert read_all(net, reader).values == (() if last is None else (last,))


@given(
    ops(st.sampled_from(NODES)),
    st.fixed_dictionaries({node: st.sampled_from((0, 3, 5_000)) for node in NODES}),
)
def test_req_lww_1_one_client_passing_its_contexts_sees_its_last_write_anywhere(
    schedule: list[Op], skews: dict[str, int]
) -> None:
    """REQ-LWW-1, REQ-CTX-4: one client that writes with the context of its last result (a
    read's or a PutOk's), through any coordinator, with the nodes' clocks skewed and
    replication lost or not, ends with its last write visible (nothing after a delete)."""
    net = lww_net()
    last = play(net, schedule, skews, pass_contexts=True)
    converge(net)
    assert read_all(net).values == (() if last is None else (last,))


def test_req_lww_1_a_coordinator_stamps_above_a_hint_it_holds() -> None:
    """REQ-LWW-1: the stamp also clears versions the coordinator holds as a hint for the key
    (its primary store may not have them)."""
    net = lww_net()
    node = "n1"
    state = net.states[node]
    hinted = LwwRegister().write(b"hinted", LwwContext(), "n3#0", 900)
    hints = state.durable.hints.set(
        "n2", state.durable.hints.get("n2", immutables.Map()).set(KEY, hinted)
    )
    net.states[node] = attrs.evolve(state, durable=attrs.evolve(state.durable, hints=hints))
    result = run(net, node, lambda rid: ClientPut(rid, KEY, b"new", b""), drop=True)
    assert isinstance(result, PutOk)
    assert decode_context(Mode.LWW, result.context) == LwwContext((901, "n1#0"))


def test_req_ctx_4_put_ok_is_empty_outside_lww() -> None:
    """REQ-CTX-4: dvv and vclock have no context naming just the written version."""
    for mode in (Mode.DVV, Mode.VCLOCK):
        net = Net.start(ClusterConfig(nodes=nodes(3), mode=mode, r=1, w=1))
        assert run(net, "n1", lambda rid: ClientPut(rid, KEY, b"x", b"")) == PutOk(b"")


def test_req_lww_2_writes_through_one_entry_node_keep_its_order_whoever_coordinates() -> None:
    """REQ-LWW-2, INV-ORDER-1: c1's blind put through n1 (no owner of k0) is forwarded to n2,
    whose clock is ahead; c1's next blind put through n1 is forwarded to n4 (n1 now believes n2
    and n5 down), whose clock lags and which never got the first. n1 answered the first, so it
    raises the second's context to that stamp, and the second wins. Found by the swarm (lww,
    joins and leaves, seed 1371: a node that became an owner stamped from its lagging clock)."""
    cluster = Cluster.start(explorer_config(Mode.LWW), ("c1", "c2"))
    assert cluster.preference_list(b"k0") == ("n2", "n5", "n4")
    cluster = cluster.tick("n2", 100).client_put("c1", "n1", b"k0")
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n2")
    cluster = drop_all(cluster, Replicate, sender="n2", receiver="n4")
    cluster = deliver(cluster, Replicate, sender="n2", receiver="n5")
    cluster = deliver(cluster, ReplicateAck, sender="n5", receiver="n2")
    cluster = deliver(cluster, ForwardReply, sender="n2", receiver="n1")
    first = cluster.history()[0]
    assert first.acknowledged
    cluster = cluster.client_get("c2", "n1", b"k0")
    cluster = drop_all(cluster, Fetch, sender="n1", receiver="n2")
    cluster = drop_all(cluster, Fetch, sender="n1", receiver="n5")
    cluster = deliver(cluster, Fetch, sender="n1", receiver="n4")
    cluster = deliver(cluster, FetchReply, sender="n4", receiver="n1")
    cluster = cluster.tick("n1", cluster.config.request_timeout)  # n2 and n5 believed down
    cluster = cluster.client_put("c1", "n1", b"k0")
    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n4").quiesce()
    second = cluster.history()[-1]
    assert second.kind is OperationKind.PUT and second.acknowledged
    assert cluster.state("n2").durable.data[b"k0"].values() == (second.value,)  # type: ignore[union-attr]
    violations = check_all(cluster)
    assert violations == [], format_violations(violations)
