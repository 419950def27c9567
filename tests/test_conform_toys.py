"""`dynref conform` over the toy stores of tests/toy_store.py: each defect class is flagged by
the invariant that names it, and the unbroken toy passes (REQ-CONFORM-1, REQ-CONFORM-5).

Each test runs the real command (`dynref_io.cli.main`), which starts the toy as its adapter
program and speaks the target protocol with it over pipes; few seeds and operations keep it
quick, and each defect shows within them for the seeds given (the toys are seeded by `init`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from dynref_io import cli

TOY = Path(__file__).with_name("toy_store.py")


def conform(tmp_path: Path, toy_args: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """Run `dynref conform` on the toy; its exit status and its JSON report."""
    report = tmp_path / "report.json"
    status = cli.main(
        [
            "conform",
            "--adapter",
            f"{sys.executable} {TOY} {toy_args}",
            "--quiet",
            "--json",
            str(report),
            *extra,
        ]
    )
    return status, json.loads(report.read_text())


def failed_checks(document: dict[str, Any]) -> set[str]:
    return {
        check["check"]
        for run in document["runs"]
        for check in run["checks"]
        if check["status"] == "fail"
    }


@pytest.mark.parametrize("mode", ["dvv", "lww"])
def test_the_unbroken_toy_passes_every_check(tmp_path: Path, mode: str) -> None:
    """REQ-CONFORM-5: a store that keeps every promise passes: no violation, exit 0."""
    status, document = conform(tmp_path, f"--mode {mode}", "--seeds", "0:3", "--ops", "150")
    assert status == 0, document["runs"]
    assert document["verdict"] == "pass"
    assert document["totals"]["violations"] == 0
    statuses = {c["check"]: c["status"] for c in document["runs"][0]["checks"]}
    assert statuses["INV-ACK-1"] == statuses["INV-READ-1"] == statuses["INV-ORDER-1"] == "pass"
    assert statuses["INV-READ-2"] == statuses["INV-CONV-1"] == "pass"
    assert statuses["SIBLING-BOUND"] == ("pass" if mode == "dvv" else "skip")


DEFECTS = [
    # (toy arguments, workload, the invariant that names the defect)
    ("--defect stale-context-overwrites", "mixed", "INV-ACK-1"),
    ("--defect delete-one-copy", "delete", "INV-READ-1"),
    ("--defect replica-overwrites", "mixed", "INV-ACK-1"),
    ("--mode lww --defect lww-stamps-backwards", "mixed", "INV-ORDER-1"),
    ("--defect invented-read", "mixed", "INV-READ-1"),
]


@pytest.mark.parametrize(("toy_args", "workload", "invariant"), DEFECTS)
def test_each_defect_is_flagged_by_its_invariant(
    tmp_path: Path, toy_args: str, workload: str, invariant: str
) -> None:
    """REQ-CONFORM-5: every defect class is flagged by the invariant that names it (exit 1),
    with the history excerpt that shows it."""
    status, document = conform(
        tmp_path, toy_args, "--seeds", "0:2", "--ops", "200", "--workload", workload
    )
    assert status == 1
    assert document["verdict"] == "fail"
    assert invariant in failed_checks(document)
    for run in document["runs"]:
        for check in run["checks"]:
            for violation in check["violations"]:
                assert violation["invariant"] == check["check"]
                assert violation["excerpt"], violation["text"]


def test_an_invented_value_is_named_in_the_violation(tmp_path: Path) -> None:
    """REQ-CONFORM-5: the invented value is quoted, so a reader sees what was wrong."""
    _, document = conform(tmp_path, "--defect invented-read", "--seeds", "0:1", "--ops", "200")
    texts = [
        violation["text"]
        for check in document["runs"][0]["checks"]
        if check["check"] == "INV-READ-1"
        for violation in check["violations"]
    ]
    assert texts
    assert any("ghost-" in text for text in texts)
