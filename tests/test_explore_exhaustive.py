"""Bounded exhaustive search (issue 4, part 3): every schedule of a tiny cluster, breadth first.

vclock's lost update (INV-ACK-1) is found with a shortest counterexample; dvv and lww exhaust the
same bounds with zero violations (the black-box INV-ACK-1, INV-READ-1, INV-ORDER-1,
SIBLING-BOUND, INV-CONV-1, and the extras INV-CONV-1, INV-READ-2, INV-HINT-1).
"""

from __future__ import annotations

import pytest
from dynref.causality import Mode
from dynref.check import check_all
from dynref.explore.exhaustive import SearchSettings, default_program, search
from dynref.explore.statekey import history_key
from dynref.sim import Cluster as SimCluster
from dynref.sim import Deliver, Heal, Put, describe, explorer_config, from_jsonl, replay, to_jsonl

# Each bound: 3 nodes, two clients, one key unless said otherwise.
BOUNDS = {
    "N=2 W=2, each client puts once": {},
    "the same, at most one message lost": {"drops": 1},
    "N=3 R=2 W=2, each client puts once": {"n": 3, "r": 2, "w": 2},
    "two keys": {"keys": 2},
    "read-modify-write through the key's first replica": {
        "program": ("get", "put"),
        "coordinators": ("n2",),
    },
}


@pytest.mark.parametrize("bound", list(BOUNDS), ids=list(BOUNDS))
@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_dvv_and_lww_exhaust_the_bound_without_violations(mode: Mode, bound: str) -> None:
    report = search(SearchSettings(mode=mode, **BOUNDS[bound]))  # type: ignore[arg-type]
    assert report.counterexample is None, report.counterexample.violations
    assert report.verdict == "pass"
    assert report.exhausted
    assert report.judged_states > 0
    assert report.states_visited >= report.distinct_states > 100


def test_vclock_lost_update_is_found_with_a_shortest_trace() -> None:
    """INV-ACK-1: two blind puts through the same coordinator, and the first is lost."""
    report = search(SearchSettings(mode=Mode.VCLOCK))
    assert report.verdict == "violation"
    example = report.counterexample
    assert example is not None
    assert [v.invariant for v in example.violations] == ["INV-ACK-1"]
    schedule = example.trace.actions[: example.depth]
    assert [describe(a) for a in schedule] == [
        "put c1 -> n2 b'k0'",
        "put c2 -> n2 b'k0'",
        "deliver #0",
        "deliver #1",
        "deliver #2",
        "deliver #3",
    ]
    replayed = replay(from_jsonl(to_jsonl(example.trace)))
    assert "INV-ACK-1" in [v.invariant for v in check_all(replayed)]


def test_vclock_lost_update_is_found_under_a_drop_too() -> None:
    """INV-ACK-1: with one message lost, a retried forward reaches the other coordinator."""
    report = search(SearchSettings(mode=Mode.VCLOCK, drops=1))
    assert report.counterexample is not None
    assert report.counterexample.depth <= 6


def test_searching_everything_counts_every_state() -> None:
    report = search(SearchSettings(mode=Mode.VCLOCK, stop_at_first=False))
    stopped = search(SearchSettings(mode=Mode.VCLOCK))
    assert report.counterexample is not None
    assert report.distinct_states > stopped.distinct_states
    assert not report.exhausted  # a violation was found: the verdict is no pass


def test_the_state_limit_makes_the_verdict_incomplete() -> None:
    report = search(SearchSettings(mode=Mode.DVV, max_states=50))
    assert report.verdict == "incomplete"
    assert report.distinct_states <= 60


def test_history_key_keeps_order_and_adjacency_not_absolute_steps() -> None:
    start = SimCluster.start(explorer_config(Mode.DVV, nodes=3, n=2), ("c1",))

    def key_after(no_ops: int) -> bytes:
        cluster = start
        for _ in range(no_ops):
            cluster = cluster.apply(Heal())
        cluster = cluster.apply(Put("c1", "n2", b"k0"))
        for message_id in cluster.message_ids():
            cluster = cluster.apply(Deliver(message_id))
        return history_key(cluster)

    assert key_after(1) == key_after(2)  # the same history, shifted
    assert key_after(0) != key_after(1)  # the put is, or is not, the very first step


def test_programs_and_settings() -> None:
    assert default_program(1) == ("put",)
    assert default_program(2) == ("get", "put")
    assert default_program(3) == ("put", "get", "put")
    with pytest.raises(ValueError, match="unknown operations"):
        SearchSettings(program=("put", "scan"))
    assert SearchSettings(clients=3).client_names() == ("c1", "c2", "c3")
    assert SearchSettings(keys=2).key_names() == (b"k0", b"k1")


@pytest.mark.parametrize("mode", [Mode.DVV, Mode.LWW], ids=lambda m: m.value)
def test_one_join_exhausts_a_small_bound_without_violations(mode: Mode) -> None:
    """INV-MEMBER-1, INV-MEMBER-2, INV-MEMBER-3: a spare node joins through any seed at any
    point of a client's put; every interleaving passes every checker at quiescence."""
    report = search(SearchSettings(mode=mode, clients=1, joins=True))
    assert report.counterexample is None, report.counterexample.violations
    assert report.verdict == "pass" and report.exhausted
    assert report.distinct_states > 100
