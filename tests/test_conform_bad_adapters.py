"""A malformed, dying or hanging adapter gets a clear error and exit 2, never a hang or a
traceback, and the reports still hold what was done (REQ-CONFORM-4).

The adapters are tests/bad_adapter.py, each breaking the target protocol one way; timeouts are
one second so that the hanging ones are cut short quickly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from dynref_io import cli

BAD = Path(__file__).with_name("bad_adapter.py")
FAST = ("--request-timeout", "1", "--setup-timeout", "1", "--ops", "40", "--quiet")

EXPECTED = [
    # (behaviour, what the one-line error says)
    ("exit", "the adapter exited with status 3"),
    ("garbage", "output line 1 of the adapter: not JSON"),
    ("no-id", "no integer 'id'"),
    ("bad-init", "reply to init, field 'capabilities': missing"),
    ("hang-init", "did not answer init request 1 within 1 s"),
    ("hang-get", "did not answer get request"),
    ("unknown-id", "which no request in flight has"),
    ("bad-reply", "field 'values': expected list"),
    ("deaf", "did not answer init request 1 within 1 s"),
]


def conform(
    capsys: pytest.CaptureFixture[str], behaviour: str, *extra: str
) -> tuple[int, str, str]:
    status = cli.main(
        ["conform", "--adapter", f"{sys.executable} {BAD} {behaviour}", *FAST, *extra]
    )
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(("behaviour", "said"), EXPECTED)
def test_a_bad_adapter_is_an_error_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, behaviour: str, said: str
) -> None:
    """REQ-CONFORM-4: each way of breaking the protocol is named in one line on stderr."""
    report = tmp_path / "report.json"
    status, out, err = conform(capsys, behaviour, "--seeds", "0:3", "--json", str(report))
    assert status == 2
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("dynref conform: adapter")]
    assert len(errors) == 1, err
    assert said in errors[0]
    assert "verdict: ERROR" in out
    document = json.loads(report.read_text())
    assert document["exit_status"] == 2
    assert [run["seed"] for run in document["runs"]] == [0]  # the series stops at the error
    assert said in document["runs"][0]["error"]


def test_a_dying_adapter_shows_the_tail_of_its_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQ-CONFORM-4: what the adapter said before dying is shown with the error."""
    status, out, _ = conform(capsys, "exit", "--seeds", "0:1")
    assert status == 2
    assert "bad adapter: giving up at once" in out


def test_a_partial_run_still_writes_its_history_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-CONFORM-4: an adapter that hangs mid-run leaves a judged partial history, and every
    report (JUnit with an error testcase, JSON, the History) is written."""
    junit, report, histories = tmp_path / "j.xml", tmp_path / "r.json", tmp_path / "h"
    status, _, _ = conform(
        capsys,
        "hang-get",
        "--seeds", "5:7",
        "--junit", str(junit),
        "--json", str(report),
        "--history", str(histories),
    )  # fmt: skip
    assert status == 2
    run = json.loads(report.read_text())["runs"][0]
    assert run["seed"] == 5 and run["status"] == "error" and run["operations"] > 0
    assert (histories / "seed-5.jsonl").read_text().startswith('{"type":"header"')
    xml = junit.read_text()
    assert 'name="adapter seed=5"' in xml and "<error" in xml


def test_a_missing_adapter_program_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["conform", "--adapter", "/nonexistent/adapter --x", *FAST])
    out, err = capsys.readouterr()
    assert status == 2
    assert "cannot start the adapter '/nonexistent/adapter'" in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--adapter", ""], "--adapter is empty"),
        (["--adapter", "'unclosed"], "No closing quotation"),
        (["--adapter", "x", "--mode", "lww"], "--mode goes with --target dynref"),
        (["--target", "dynref", "--request-timeout", "0"], "must be a positive number"),
        (["--target", "dynref", "--faults", "flood"], "expected a comma-separated list"),
    ],
)
def test_bad_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """REQ-CLI-1: one line on stderr and exit 2, before anything is started."""
    try:
        status = cli.main(["conform", *argv])
    except SystemExit as exit_:  # argparse refuses by exiting
        status = int(exit_.code or 0)
    _, err = capsys.readouterr()
    assert status == 2
    assert said in err


def test_a_fault_the_adapter_has_no_hooks_for_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQ-CONFORM-1: faults go only through the hooks a target offers; asking for more is
    an error naming what it offers, not a silent pass."""
    toy = Path(__file__).with_name("toy_store.py")
    status = cli.main(
        ["conform", "--adapter", f"{sys.executable} {toy}", "--faults", "kill", *FAST]
    )
    _, err = capsys.readouterr()
    assert status == 2
    assert "--faults kill: the adapter does not offer the hooks it needs" in err
    assert "read_replica, status" in err
