"""Every REQ- and INV- id of spec/SPEC.md is named by at least one test, unless marked planned."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ID = re.compile(r"\b(?:REQ|INV)-[A-Z]+-\d+\b")


def spec_ids() -> tuple[set[str], set[str]]:
    """Return (ids to check, planned ids) as declared on SPEC.md's lines."""
    declared: set[str] = set()
    planned: set[str] = set()
    for line in (ROOT / "spec" / "SPEC.md").read_text().splitlines():
        match = re.match(r"^\s*-\s+((?:REQ|INV)-[A-Z]+-\d+)", line)
        if match:
            (planned if "(planned)" in line else declared).add(match.group(1))
    return declared, planned


def ids_named_by_tests() -> set[str]:
    named: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        if path.name != Path(__file__).name:
            named.update(ID.findall(path.read_text()))
    return named


def test_every_spec_id_is_named_by_a_test() -> None:
    declared, _ = spec_ids()
    missing = sorted(declared - ids_named_by_tests())
    assert not missing, f"spec ids no test names: {missing}"


def test_tests_name_only_ids_the_spec_declares() -> None:
    declared, planned = spec_ids()
    unknown = sorted(ids_named_by_tests() - declared - planned)
    assert not unknown, f"tests name ids the spec does not declare: {unknown}"


def test_the_spec_declares_ids() -> None:
    declared, _ = spec_ids()
    assert len(declared) >= 10
