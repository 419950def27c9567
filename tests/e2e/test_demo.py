"""`dynref demo` end to end, and how it judges its History and the stopped cluster's state."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import immutables
import pytest
from dynref.causality import DvvSet, Mode, VersionVector
from dynref.config import ClusterConfig
from dynref.history import FinalRead, Header, OpKind, Outcome
from dynref.ring import NodeSpec, build_ring
from dynref.sim.observed import capabilities_of
from dynref.state import DurableState
from dynref_io.cli import main
from dynref_io.conform.protocol import Answer, failure
from dynref_io.conform.recorder import HistoryRecorder
from dynref_io.demo.checks import final_read_mismatches, judge_history, replica_disagreements

KEY = "cart"
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


# ---------------------------------------------------------------- judging the History


def recorder() -> HistoryRecorder:
    """A recorder on a counting clock: each event one tick after the one before."""
    return HistoryRecorder(clock=itertools.count().__next__)


def put(history: HistoryRecorder, client: str, value: str, context: bytes = b"") -> None:
    op_id = history.invoke(client, OpKind.PUT, KEY, "n1", value, context)
    history.complete(op_id, Answer(True))


def read(history: HistoryRecorder, client: str, values: tuple[str, ...], context: bytes) -> None:
    op_id = history.invoke(client, OpKind.GET, KEY, "n2")
    history.complete(op_id, Answer(True, values, context))


def superseded_and_concurrent() -> HistoryRecorder:
    """c1 writes v1; c2 reads v1 and overwrites it with v2; c3 blindly writes v3; a fourth
    put is refused before anything is stored."""
    history = recorder()
    put(history, "c1", "v1")
    read(history, "c2", ("v1",), b"ctx-1")
    put(history, "c2", "v2", b"ctx-1")
    put(history, "c3", "v3")
    refused = history.invoke("c3", OpKind.PUT, KEY, "n1", "v4", b"")
    history.complete(refused, failure("unavailable", True, "cannot connect"))
    return history


def judged(history: HistoryRecorder, *final: str) -> list[str]:
    """The violations once every replica, and a read with R=3, show `final`."""
    for node in NODES:
        history.final(KEY, Answer(True, final), replica=node)
    history.final(KEY, Answer(True, final), r=3)
    verdict = judge_history(history.history(Header(capabilities_of(CONFIG), "demo", NODES)))
    return [f"{v.invariant}: {v.message}" for v in verdict.violations]


def test_a_lost_acknowledged_write_is_reported() -> None:
    """INV-ACK-1 on the demo's History: v3 was acknowledged, no write saw it, and it is gone."""
    (found,) = judged(superseded_and_concurrent(), "v2")
    assert found.startswith("INV-ACK-1") and "v3" in found


def test_superseded_and_refused_writes_are_not_losses() -> None:
    history = superseded_and_concurrent()
    assert judged(history, "v2", "v3") == []
    verdict = judge_history(history.history(Header(capabilities_of(CONFIG))))
    assert verdict.acknowledged_writes == 3 and verdict.operations == 5
    assert verdict.writes_without_effect == 1  # v4: refused before it was sent
    assert any(skipped.startswith("INV-READ-2") for skipped in verdict.skipped)


def test_an_overwrite_that_certainly_failed_excuses_nothing() -> None:
    history = recorder()
    put(history, "c1", "v1")
    read(history, "c2", ("v1",), b"ctx-1")
    never = history.invoke("c2", OpKind.PUT, KEY, "n4", "v2", b"ctx-1")
    history.complete(never, failure("unavailable", True, "cannot connect"))
    (found,) = judged(history)
    assert found.startswith("INV-ACK-1") and "v1" in found


def test_an_unanswered_delete_may_have_taken_effect() -> None:
    history = recorder()
    put(history, "c1", "v1")
    read(history, "c1", ("v1",), b"ctx-1")
    delete = history.invoke("c1", OpKind.DELETE, KEY, "n2", None, b"ctx-1")
    history.complete(delete, failure("timeout", False, "no answer"))
    assert judged(history) == []


def test_a_value_nobody_wrote_is_reported() -> None:
    history = superseded_and_concurrent()
    read(history, "c1", ("v2", "ghost"), b"ctx-2")
    (found,) = judged(history, "v2", "v3")
    assert found.startswith("INV-READ-1") and "ghost" in found


def test_the_demo_declares_what_a_dynref_cluster_offers() -> None:
    caps = capabilities_of(CONFIG)
    assert caps.causality is Mode.DVV and not caps.strict_quorum and caps.replica_reads


# ---------------------------------------------------------------- the stopped cluster's state


def stored(*values: bytes) -> DvvSet:
    """A sibling set holding `values` as concurrent writes (each with an empty context)."""
    versions = DvvSet()
    for value in values:
        versions = versions.write(value, VersionVector(), "n1#1", 0)
    return versions


def durable(node: str, data: dict[bytes, DvvSet]) -> DurableState:
    return DurableState(node_id=node, incarnation=1, boots=0, data=immutables.Map(data))


def test_differing_replicas_and_leftover_hints_are_reported() -> None:
    ring = build_ring(CONFIG.nodes, CONFIG.ring)
    key = KEY.encode()
    states = {node: durable(node, {key: stored(b"v1")}) for node in NODES}
    assert replica_disagreements(CONFIG, ring, states, [key]) == []
    states["n2"] = durable("n2", {key: stored(b"v1", b"v2")})
    states["n3"] = DurableState(
        "n3", 1, 0, immutables.Map({key: stored(b"v1")}), immutables.Map({"n1": immutables.Map()})
    )
    problems = replica_disagreements(CONFIG, ring, states, [key])
    assert len(problems) == 2
    assert "n3 still holds hints for n1" in problems[0]
    assert "store different versions" in problems[1]


def test_a_final_read_that_misses_a_stored_value_is_reported() -> None:
    final = FinalRead(KEY, 5, Outcome.OK, r=3, values=("v1",))
    assert final_read_mismatches([final], lambda _key: stored(b"v1")) == []
    assert len(final_read_mismatches([final], lambda _key: stored(b"v1", b"v2"))) == 1
    failed = FinalRead(KEY, 5, Outcome.FAIL, r=3, error="timeout")
    assert "failed" in final_read_mismatches([failed], lambda _key: stored())[0]
