"""What `dynref conform` and `dynref check` write: JUnit XML, the JSON summary, every run's
History, exit statuses and progress lines (REQ-CONFORM-2, REQ-CONFORM-3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dynref.history import decode_history
from dynref_io import cli

TESTS = Path(__file__).parent
TOY = TESTS / "toy_store.py"
BAD = TESTS / "bad_adapter.py"


def dynref(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def toy(arguments: str = "") -> str:
    return f"{sys.executable} {TOY} {arguments}".strip()


@pytest.fixture(scope="module")
def lww_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One series over the unbroken lww toy with every report: seeds 3 and 4."""
    out = tmp_path_factory.mktemp("lww")
    status = cli.main(
        [
            "conform", "--adapter", toy("--mode lww"), "--seeds", "3:5", "--ops", "120",
            "--quiet", "--junit", str(out / "junit.xml"), "--json", str(out / "report.json"),
            "--history", str(out / "histories"),
        ]
    )  # fmt: skip
    assert status == 0
    return out


def test_junit_has_a_testsuite_per_run_and_a_testcase_per_check_and_seed(lww_run: Path) -> None:
    """REQ-CONFORM-3: the seed in each test name; a check lww does not promise is skipped."""
    root = ET.parse(lww_run / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 2
    for suite, seed in zip(suites, (3, 4), strict=True):
        names = [case.get("name") for case in suite.findall("testcase")]
        assert f"INV-ACK-1 seed={seed}" in names
        assert all(name is not None and name.endswith(f" seed={seed}") for name in names)
        sibling = suite.find(f"testcase[@name='SIBLING-BOUND seed={seed}']")
        assert sibling is not None and sibling.find("skipped") is not None
        assert suite.get("failures") == "0" and suite.get("errors") == "0"
        assert suite.get("skipped") == "1"
        assert suite.get("tests") == str(len(names))
        seed_property = suite.find("properties/property[@name='seed']")
        assert seed_property is not None and seed_property.get("value") == str(seed)


def test_the_json_summary_and_histories_agree(lww_run: Path) -> None:
    """REQ-CONFORM-3: the JSON report names each run's history, written in the History
    format; the histories hold every operation the summary counts."""
    document = json.loads((lww_run / "report.json").read_text())
    assert document["verdict"] == "pass" and document["exit_status"] == 0
    assert document["settings"]["seeds"] == [3, 5]
    for run in document["runs"]:
        history = decode_history(Path(run["history"]).read_text())
        assert history.header.seed == run["seed"]
        assert len(history.ops) == run["operations"] == 120
        assert history.header.capabilities.causality.value == "lww"
        assert history.finals, "final reads are recorded"


def test_dynref_check_judges_a_recorded_history(
    capsys: pytest.CaptureFixture[str], lww_run: Path, tmp_path: Path
) -> None:
    """REQ-CONFORM-3: `dynref check` gives a written history the verdict `conform` gave."""
    history = lww_run / "histories" / "seed-3.jsonl"
    junit = tmp_path / "check.xml"
    status, out, _ = dynref(capsys, "check", str(history), "--junit", str(junit))
    assert status == 0
    assert out.startswith("dynref check: ")
    assert "verdict: PASS: 1 of 1 runs judged" in out
    assert ET.parse(junit).getroot().find("testsuite") is not None


def test_dynref_check_flags_a_faulty_history_and_refuses_a_malformed_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-CONFORM-3: exit 1 for a violation; exit 2, naming the line, for a malformed file."""
    histories = tmp_path / "h"
    status = cli.main(
        ["conform", "--adapter", toy("--defect invented-read"), "--seeds", "0:1", "--ops", "150",
         "--quiet", "--history", str(histories)]
    )  # fmt: skip
    assert status == 1
    capsys.readouterr()
    status, out, _ = dynref(capsys, "check", str(histories / "seed-0.jsonl"))
    assert status == 1
    assert "INV-READ-1" in out
    broken = tmp_path / "broken.jsonl"
    lines = (histories / "seed-0.jsonl").read_text().splitlines()
    broken.write_text("\n".join([*lines[:3], '{"type": "op"}', *lines[3:]]) + "\n")
    status, out, err = dynref(capsys, "check", str(broken))
    assert status == 2
    assert "line 4" in out
    assert f"dynref check: {broken}: line 4" in err
    assert "Traceback" not in out + err


def test_writes_no_final_read_can_judge_make_the_run_incomplete(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-CONFORM-3: exit 3 when acknowledged writes could not be judged; the JUnit report
    has a skipped `complete` testcase saying why."""
    junit = tmp_path / "j.xml"
    status, out, _ = dynref(
        capsys,
        "conform", "--adapter", f"{sys.executable} {BAD} no-reads", "--seeds", "0:1",
        "--ops", "30", "--quiet", "--junit", str(junit),
    )  # fmt: skip
    assert status == 3
    assert "verdict: INCOMPLETE" in out
    case = ET.parse(junit).getroot().find(".//testcase[@name='complete seed=0']")
    assert case is not None
    skipped = case.find("skipped")
    assert skipped is not None and "no successful final read" in (skipped.get("message") or "")


def test_progress_lines_go_to_stderr_when_it_is_not_a_terminal(tmp_path: Path) -> None:
    """REQ-CONFORM-3: progress on stderr (a pipe here), the summary on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "dynref_io.cli", "conform", "--adapter", toy(),
         "--seeds", "0:2", "--ops", "60"],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    progress = done.stderr.splitlines()
    assert progress[0].startswith("[") and "conform: " in progress[0]
    assert any("seed 0: PASS" in line for line in progress)
    assert any("seed 1: PASS" in line for line in progress)
    assert done.stdout.splitlines()[-1].startswith("verdict: PASS: 2 of 2 runs judged")


INTERRUPTIBLE = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'dynref'; runpy.run_module('dynref_io.cli', run_name='__main__')"
)
"""The command line, with Ctrl-C restored: a harness started in the background ignores it."""


def test_an_interrupted_series_stops_its_adapter_and_still_reports(tmp_path: Path) -> None:
    """REQ-CONFORM-3: Ctrl-C mid-run exits 130 with the reports of what was done."""
    report = tmp_path / "report.json"
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, "conform", "--adapter", toy(),
         "--seeds", "0:5", "--ops", "1000000", "--json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    assert child.stderr is not None
    for line in child.stderr:  # the first periodic progress line: the clients are running
        if "operations issued" in line:
            break
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, out + err
    assert "interrupted: the adapter is stopped" in err
    run = json.loads(report.read_text())["runs"][0]
    assert run["seed"] == 0 and run["error"] == "interrupted" and run["operations"] > 0
