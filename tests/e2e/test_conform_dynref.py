"""`dynref conform --target dynref`: a real local cluster, driven through its own adapter
program under kills and partitions, judged from what its clients saw (REQ-CONFORM-2,
REQ-CONFORM-5). A short budget here; docs/conformance.md and the report give the command that
runs many seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dynref.history import FaultKind, decode_history
from dynref_io import cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["dvv", "lww"])
def test_a_dynref_cluster_passes_under_faults(tmp_path: Path, mode: str) -> None:
    report, histories = tmp_path / "report.json", tmp_path / "histories"
    status = cli.main(
        ["conform", "--target", "dynref", "--mode", mode, "--seeds", "1:2", "--ops", "150",
         "--quiet", "--json", str(report), "--history", str(histories)]
    )  # fmt: skip
    document = json.loads(report.read_text())
    assert status == 0, json.dumps(document["runs"], indent=1)[:4000]
    assert document["target"] == f"dynref {mode}, 5 nodes"
    run = document["runs"][0]
    assert run["acknowledged_writes"] > 0
    statuses = {check["check"]: check["status"] for check in run["checks"]}
    for check in ("INV-READ-1", "INV-ACK-1", "INV-ORDER-1", "INV-CONV-1"):
        assert statuses[check] == "pass"
    assert statuses["INV-READ-2"] == "skip"  # sloppy quorum declares no strict quorum
    history = decode_history((histories / "seed-1.jsonl").read_text())
    kinds = {fault.kind for fault in history.faults}
    assert {FaultKind.KILL, FaultKind.RESTART} <= kinds or {
        FaultKind.PARTITION,
        FaultKind.HEAL,
    } <= kinds
    replicas = {final.replica for final in history.finals if final.replica is not None}
    assert len(replicas) >= 3  # every replica of the keys was read at the end
