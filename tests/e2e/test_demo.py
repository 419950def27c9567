"""`dynref demo` end to end, and the glue that judges its history with the shared checkers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import immutables
import pytest
from dynref.causality import DvvSet, VersionVector
from dynref.config import ClusterConfig
from dynref.ring import NodeSpec, build_ring
from dynref.sim import OperationKind
from dynref.state import DurableState
from dynref_io.cli import main
from dynref_io.demo.checks import (
    HistoryRecorder,
    RecordedRun,
    check_history,
    final_read_mismatches,
    replica_disagreements,
    settled_quiescence,
)

KEY = b"cart"
NODES = ("n1", "n2", "n3")
CONFIG = ClusterConfig(nodes=tuple(NodeSpec(node) for node in NODES))
DEMO_TIMEOUT_S = 170


@pytest.mark.e2e
def test_the_demo_runs_and_loses_no_acknowledged_write(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    completed = subprocess.run(
        [sys.executable, "-m", "dynref_io.cli", "demo", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr[-3000:]
    assert re.search(r"^verdict: PASS: 0 lost writes of [\d,]+ acknowledged", output, re.M)
    assert re.search(r"^  lost writes\s+0$", output, re.M)
    acknowledged = re.search(r"^  acknowledged writes\s+([\d,]+)", output, re.M)
    assert acknowledged and int(acknowledged[1].replace(",", "")) > 100
    assert "killed n2 with SIGKILL" in completed.stderr
    assert "cut n4 off" in completed.stderr
    assert not list(directory.glob("n*/node.pid")), "the demo left a node running"


@pytest.mark.parametrize(
    "arguments",
    [["--clients", "0"], ["--keys", "-1"], ["--phase-seconds", "0"], ["--phase-seconds", "nan"]],
)
def test_bad_demo_arguments_exit_2(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", *arguments]) == 2
    assert "dynref demo: error:" in capsys.readouterr().err


def test_a_directory_holding_a_cluster_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cluster.toml").write_text("")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert "already holds a cluster" in capsys.readouterr().err


# ---------------------------------------------------------------- the history-checking glue


def stored(*values: bytes) -> DvvSet:
    """A sibling set holding `values` as concurrent writes (each with an empty context)."""
    versions = DvvSet()
    for value in values:
        versions = versions.write(value, VersionVector(), "n1#1", 0)
    return versions


def durable(node: str, data: dict[bytes, DvvSet]) -> DurableState:
    return DurableState(node_id=node, incarnation=1, boots=0, data=immutables.Map(data))


def history_with_a_superseded_and_a_concurrent_write() -> HistoryRecorder:
    """c1 writes v1; c2 reads v1 and overwrites it with v2; c3 blindly writes v3."""
    history = HistoryRecorder()
    first = history.invoke("c1", OperationKind.PUT, "n1", KEY, b"v1")
    history.write_ok(first)
    read = history.invoke("c2", OperationKind.GET, "n2", KEY)
    history.read_ok(read, (b"v1",), b"ctx-1")
    second = history.invoke("c2", OperationKind.PUT, "n2", KEY, b"v2", b"ctx-1", read_from=read)
    history.write_ok(second)
    blind = history.invoke("c3", OperationKind.PUT, "n3", KEY, b"v3")
    history.write_ok(blind)
    failed = history.invoke("c3", OperationKind.PUT, "n1", KEY, b"v4")
    history.failed(failed, "QuorumError: quorum not reached")
    return history


def judge(history: HistoryRecorder, final: DvvSet) -> list[str]:
    operations = history.operations()
    run = RecordedRun(
        CONFIG,
        operations,
        {node: durable(node, {KEY: final}) for node in NODES},
        settled_quiescence(operations, converged=True),
    )
    return [f"{v.invariant}: {v.message}" for v in check_history(run).violations]


def test_a_lost_acknowledged_write_is_reported() -> None:
    found = judge(history_with_a_superseded_and_a_concurrent_write(), stored(b"v2"))
    assert len(found) == 1
    assert found[0].startswith("INV-ACK-1") and "b'v3'" in found[0]


def test_superseded_and_unacknowledged_writes_are_not_losses() -> None:
    history = history_with_a_superseded_and_a_concurrent_write()
    assert judge(history, stored(b"v2", b"v3")) == []
    verdict = check_history(
        RecordedRun(CONFIG, history.operations(), {}, settled_quiescence((), converged=True))
    )
    assert verdict.acknowledged_writes == 3 and verdict.operations == 5
    assert verdict.writes_without_effect == 1  # v4: unacknowledged, and nowhere to be seen


def overwrite_that_failed() -> HistoryRecorder:
    """c1 writes v1; c2 reads it and tries to overwrite it with v2, without acknowledgement."""
    history = HistoryRecorder()
    first = history.invoke("c1", OperationKind.PUT, "n1", KEY, b"v1")
    history.write_ok(first)
    read = history.invoke("c2", OperationKind.GET, "n2", KEY)
    history.read_ok(read, (b"v1",), b"ctx-1")
    second = history.invoke("c2", OperationKind.PUT, "n4", KEY, b"v2", b"ctx-1", read_from=read)
    history.failed(second, "UnavailableError: no preference-list node answered")
    return history


def test_an_unacknowledged_overwrite_that_never_took_effect_excuses_nothing() -> None:
    found = judge(overwrite_that_failed(), DvvSet())
    assert len(found) == 1
    assert found[0].startswith("INV-ACK-1") and "b'v1'" in found[0]


def test_an_unacknowledged_overwrite_that_took_effect_supersedes() -> None:
    assert judge(overwrite_that_failed(), stored(b"v2")) == []
    history = overwrite_that_failed()
    later = history.invoke("c3", OperationKind.GET, "n3", KEY)
    history.read_ok(later, (b"v2",), b"ctx-2")  # v2 was applied: a read returned it
    assert judge(history, DvvSet()) == []


def read_then_delete(sent: bool) -> HistoryRecorder:
    """c1 writes v1, reads it, and deletes it with that context, without an answer."""
    history = HistoryRecorder()
    first = history.invoke("c1", OperationKind.PUT, "n1", KEY, b"v1")
    history.write_ok(first)
    read = history.invoke("c1", OperationKind.GET, "n1", KEY)
    history.read_ok(read, (b"v1",), b"ctx-1")
    delete = history.invoke("c1", OperationKind.DELETE, "n2", KEY, None, b"ctx-1", read)
    if sent:
        history.failed(delete, "RequestTimeoutError: no answer")
    else:
        history.not_sent(delete, "cannot connect to n2")
    return history


def test_a_delete_that_was_never_sent_excuses_nothing() -> None:
    found = judge(read_then_delete(sent=False), DvvSet())
    assert len(found) == 1 and found[0].startswith("INV-ACK-1")


def test_an_unanswered_delete_may_have_taken_effect() -> None:
    assert judge(read_then_delete(sent=True), DvvSet()) == []


def test_a_value_nobody_wrote_is_reported() -> None:
    history = history_with_a_superseded_and_a_concurrent_write()
    ghost = history.invoke("c1", OperationKind.GET, "n1", KEY)
    history.read_ok(ghost, (b"v2", b"ghost"), b"ctx-2")
    found = judge(history, stored(b"v2", b"v3"))
    assert len(found) == 1 and found[0].startswith("INV-READ-1") and "ghost" in found[0]


def test_differing_replicas_and_leftover_hints_are_reported() -> None:
    ring = build_ring(CONFIG.nodes, CONFIG.ring)
    states = {node: durable(node, {KEY: stored(b"v1")}) for node in NODES}
    assert replica_disagreements(CONFIG, ring, states, [KEY]) == []
    states["n2"] = durable("n2", {KEY: stored(b"v1", b"v2")})
    states["n3"] = DurableState(
        "n3", 1, 0, immutables.Map({KEY: stored(b"v1")}), immutables.Map({"n1": immutables.Map()})
    )
    problems = replica_disagreements(CONFIG, ring, states, [KEY])
    assert len(problems) == 2
    assert "n3 still holds hints for n1" in problems[0]
    assert "store different versions" in problems[1]


def test_a_final_read_that_misses_a_stored_value_is_reported() -> None:
    history = HistoryRecorder()
    read = history.invoke("final", OperationKind.GET, "n1", KEY)
    history.read_ok(read, (b"v1",), b"ctx")
    (final,) = history.operations()
    assert final_read_mismatches([final], lambda _key: stored(b"v1")) == []
    assert len(final_read_mismatches([final], lambda _key: stored(b"v1", b"v2"))) == 1
