"""The example adapter of docs/conformance.md, run end to end: `dynref conform` starts
examples/http_json_store_adapter.py, which starts the HTTP store, and the store passes
(REQ-CONFORM-1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dynref_io import cli

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "examples" / "http_json_store_adapter.py"


def test_the_example_adapter_is_short_and_documented() -> None:
    assert len(ADAPTER.read_text().splitlines()) < 150
    assert "examples/" in (ROOT / "docs" / "conformance.md").read_text()


def test_the_example_store_passes_through_its_adapter(tmp_path: Path) -> None:
    """REQ-CONFORM-1: a store outside dynref, behind a standard-library adapter, is judged;
    it keeps every promise it declares (dvv contexts, strict quorum on one node)."""
    report = tmp_path / "report.json"
    status = cli.main(
        ["conform", "--adapter", f"{sys.executable} {ADAPTER}", "--seeds", "0:2",
         "--ops", "120", "--quiet", "--json", str(report)]
    )  # fmt: skip
    document = json.loads(report.read_text())
    assert status == 0, document
    assert document["target"] == "http json store"
    statuses = {check["check"]: check["status"] for check in document["runs"][0]["checks"]}
    assert statuses["INV-ACK-1"] == statuses["INV-READ-2"] == statuses["SIBLING-BOUND"] == "pass"
    assert document["runs"][0]["acknowledged_writes"] > 0
