"""A step shares what it does not change, and the deadline index stays exact.

The simulator tells what a step changed by identity (`post.volatile.stats is not
pre.volatile.stats`), and a Tick that fires nothing must cost next to nothing: both rest on
steps handing back the very objects they did not change.
"""

from __future__ import annotations

from dynref.config import ClusterConfig
from dynref.messages import ClientGet, ClientPut, Fetch, Receive, ReplicateAck, Send, Tick
from dynref.node import boot, step
from dynref.state import earliest_deadline
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node_harness import Net, isolate, nodes

CONFIG = ClusterConfig(nodes=nodes(5))
STATE = boot(CONFIG, "n1", 0, 0).state


def test_a_tick_that_fires_nothing_returns_the_same_state() -> None:
    """REQ-NODE-3: no timer due and no time passing: nothing changes, not even a copy."""
    assert step(STATE, Tick(STATE.volatile.now)).state is STATE
    assert step(STATE, Tick(STATE.volatile.now - 5)).state is STATE  # time never goes back


def test_a_tick_that_only_moves_the_clock_shares_the_rest() -> None:
    later = step(STATE, Tick(STATE.volatile.now + 1)).state
    assert later.volatile.now == STATE.volatile.now + 1
    assert later.durable is STATE.durable
    assert later.volatile.stats is STATE.volatile.stats
    assert later.volatile.trees is STATE.volatile.trees


def test_a_read_only_message_returns_the_same_state() -> None:
    """A Fetch is answered from the store without changing the node."""
    result = step(STATE, Receive("n2", Fetch(7, b"key")))
    assert result.state is STATE
    assert [type(effect) for effect in result.effects] == [Send]


def test_an_ignored_message_returns_the_same_state() -> None:
    """REQ-COORD-6: an acknowledgement for an unknown request changes nothing."""
    assert step(STATE, Receive("n2", ReplicateAck(12345, b"key"))).state is STATE


def test_counters_and_the_down_set_are_new_objects_only_when_they_change() -> None:
    """The simulator compares `stats` and `down` by identity to see what a step changed."""
    net = Net.start(CONFIG)
    previous = dict(net.states)
    net.request("n1", lambda rid: ClientPut(rid, b"key", b"v", b""))
    net.request("n2", lambda rid: ClientGet(rid, b"key"))
    net.deliver(isolate({"n3"}))
    net.settle(CONFIG.request_timeout, 8)
    assert len(net.steps) > 20
    for node, _event, result in net.steps:
        before, after = previous[node].volatile, result.state.volatile
        assert (after.stats is not before.stats) == (after.stats != before.stats)
        assert (after.down is not before.down) == (after.down != before.down)
        previous[node] = result.state


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["get", "put", "tick", "deliver", "cut"]), st.integers(1, 5)),
        max_size=25,
    )
)
def test_next_deadline_is_always_the_earliest_pending_deadline(
    program: list[tuple[str, int]],
) -> None:
    """The index that lets a Tick skip the deadline scan never drifts from the pending maps."""
    net = Net.start(ClusterConfig(nodes=nodes(5), request_timeout=30, forward_timeout=50))
    cut: frozenset[str] = frozenset()
    for action, number in program:
        node = f"n{number}"
        if action == "get":
            net.request(node, lambda rid: ClientGet(rid, b"k%d" % (rid % 3)))
        elif action == "put":
            net.request(node, lambda rid: ClientPut(rid, b"k%d" % (rid % 3), b"v", b""))
        elif action == "tick":
            net.tick(number * 10)
        elif action == "deliver":
            net.deliver(isolate(cut), rounds=1)
        else:
            cut = frozenset({node})
    for _node, _event, result in net.steps:
        volatile = result.state.volatile
        assert volatile.next_deadline == earliest_deadline(
            volatile.puts, volatile.gets, volatile.forwards
        )
