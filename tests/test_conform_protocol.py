"""The target protocol's pure parts: strict reading of replies, how answers are recorded in the
History, and the seeded fault schedule (REQ-CONFORM-1, REQ-CONFORM-2)."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest
from dynref.causality import Mode
from dynref.history import FaultKind, Header, OpKind, Outcome
from dynref_io.conform.faults import fault_schedule
from dynref_io.conform.protocol import (
    Answer,
    ProtocolViolationError,
    TargetInfo,
    parse_line,
    read_answer,
    read_init,
    read_replicas,
)
from dynref_io.conform.recorder import HistoryRecorder
from hypothesis import given
from hypothesis import strategies as st

CAPABILITIES: dict[str, Any] = {
    "causality": "lww",
    "contexts": True,
    "siblings": False,
    "deletes": True,
    "per_request_rw": True,
    "strict_quorum": False,
    "coordinators": True,
    "n": 3,
    "r": 2,
    "w": 2,
    "hooks": ["kill", "restart", "read_replica"],
}


def init_reply(**changes: Any) -> dict[str, Any]:
    capabilities = {**CAPABILITIES, **changes.pop("capabilities", {})}
    return {"id": 1, "ok": True, "nodes": ["a", "b", "c"], "capabilities": capabilities, **changes}


def test_init_declares_capabilities_nodes_and_hooks() -> None:
    """REQ-CONFORM-1: replica reads are a capability because the hook is offered."""
    info = read_init(init_reply(target="x"))
    assert isinstance(info, TargetInfo)
    assert info.capabilities.causality is Mode.LWW
    assert info.capabilities.replica_reads and info.capabilities.per_request_rw
    assert not info.capabilities.strict_quorum
    assert info.nodes == ("a", "b", "c") and info.target == "x"
    assert info.offers("kill") and not info.offers("partition")


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"capabilities": {"causality": "crdt"}}, "expected dvv, vclock or lww"),
        ({"capabilities": {"r": 4}}, "expected 1 <= r, w <= n"),
        ({"capabilities": {"hooks": ["kill", "reboot"]}}, "unknown hooks reboot"),
        ({"capabilities": {"siblings": "no"}}, "field 'siblings': expected bool"),
        ({"capabilities": {"flavour": 1}}, "unknown fields flavour"),
        ({"nodes": ["a", "a"]}, "distinct node names"),
        ({"nodes": []}, "distinct node names"),
        ({"extra": True}, "unknown fields extra"),
    ],
)
def test_a_bad_init_reply_names_the_field(changes: dict[str, Any], said: str) -> None:
    with pytest.raises(ProtocolViolationError, match=said):
        read_init(init_reply(**changes))


@pytest.mark.parametrize(
    ("record", "op", "said"),
    [
        ({"id": 2, "ok": True}, "get", "field 'values': missing"),
        ({"id": 2, "ok": True, "values": [1]}, "get", "list of strings"),
        ({"id": 2, "ok": True, "context": "***"}, "put", "not standard base64"),
        ({"id": 2, "ok": False, "code": "oops", "definite": True}, "put", "unknown code"),
        ({"id": 2, "ok": False, "code": "timeout"}, "put", "field 'definite': missing"),
        ({"id": 2, "ok": True, "values": [], "may_repeat": True}, "get", "unknown fields"),
    ],
)
def test_a_bad_reply_names_the_field(record: dict[str, Any], op: str, said: str) -> None:
    with pytest.raises(ProtocolViolationError, match=said):
        read_answer(record, op)


@pytest.mark.parametrize(
    "line", [b"hello\n", b"[1]\n", b'{"id": "7"}\n', b'{"id": true}\n', b"\xff\n"]
)
def test_a_line_must_be_an_object_with_an_integer_id(line: bytes) -> None:
    with pytest.raises(ProtocolViolationError):
        parse_line(line)


def test_a_replica_has_values_or_an_error() -> None:
    replicas = [{"node": "a", "values": ["v"]}, {"node": "b", "error": "down"}]
    reads = read_replicas({"id": 3, "ok": True, "replicas": replicas})
    assert not isinstance(reads, Answer)
    assert reads[0].answer.values == ("v",) and not reads[1].answer.ok
    with pytest.raises(ProtocolViolationError, match="values or an error, not both"):
        read_replicas(
            {"id": 3, "ok": True, "replicas": [{"node": "a", "values": [], "error": "x"}]}
        )


def test_definite_failures_are_fail_others_info_and_repeats_are_redelivers() -> None:
    """REQ-CONFORM-1: `definite` decides fail (certainly no effect) or info; an acknowledged
    write that may have run twice is named by a redeliver fault."""
    clock = itertools.count(1_000, 10)
    recorder = HistoryRecorder(lambda: next(clock))
    context = base64.b64decode("AA==")
    answers = [
        read_answer({"id": 1, "ok": False, "code": "unavailable", "definite": True}, "put"),
        read_answer({"id": 2, "ok": False, "code": "timeout", "definite": False}, "put"),
        read_answer({"id": 3, "ok": True, "may_repeat": True, "context": "AA=="}, "put"),
    ]
    ids = []
    for index, answer in enumerate(answers):
        op_id = recorder.invoke("c1", OpKind.PUT, "k", None, f"v{index}", b"")
        recorder.complete(op_id, answer)
        ids.append(op_id)
    info = read_init(init_reply())
    assert isinstance(info, TargetInfo)
    history = recorder.history(Header(info.capabilities, "t", info.nodes, 0))
    ops = {op.id: op for op in history.ops}
    assert [ops[i].outcome for i in ids] == [Outcome.FAIL, Outcome.INFO, Outcome.OK]
    assert ops[ids[2]].context_returned == context
    assert ops[ids[0]].coordinator == f"unknown-{ids[0]}"
    faults = history.faults
    assert [(f.kind, f.op) for f in faults] == [(FaultKind.REDELIVER, ids[2])]


@given(
    st.integers(0, 10**6),
    st.sampled_from([("kill",), ("partition",), ("kill", "partition")]),
    st.integers(20, 2000),
)
def test_fault_episodes_are_seeded_paired_and_inside_the_run(
    seed: int, kinds: tuple[str, ...], ops: int
) -> None:
    """REQ-CONFORM-2: a seed fixes the schedule; each kill is followed by its restart and each
    partition by a heal, episodes do not overlap and fall between 10% and 85% of the budget."""
    nodes = ("n1", "n2", "n3", "n4", "n5")
    schedule = fault_schedule(seed, kinds, nodes, ops)
    assert schedule == fault_schedule(seed, kinds, nodes, ops)
    assert 2 <= len(schedule) <= 4 * len(kinds) and len(schedule) % 2 == 0
    positions = [action.at for action in schedule]
    assert positions == sorted(positions)
    assert 0.1 * ops - 1 <= positions[0] and positions[-1] <= 0.85 * ops + 1
    for opener, closer in zip(schedule[::2], schedule[1::2], strict=True):
        assert (opener.op, closer.op) in {("kill", "restart"), ("partition", "heal")}
        if opener.op == "kill":
            assert opener.node == closer.node and opener.node in nodes
        else:
            assert sorted(n for group in opener.groups for n in group) == sorted(nodes)
            assert all(opener.groups)
