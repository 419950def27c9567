"""`dynref explore`, `dynref replay` and `dynref search` (issue 4, part 5), run in-process through
the real `dynref_io.cli.main`, plus one subprocess smoke test of the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dynref.check import HistoryView, Violation, violation
from dynref_io import cli
from dynref_io.cli import explore as cli_explore

ROOT = Path(__file__).resolve().parent.parent


def check_no_put_is_ever_acknowledged(view: HistoryView) -> list[Violation]:
    """A deliberately false property, to show that --check runs a designer's own checker."""
    return [
        violation("NO-ACKED-PUT", f"{op.describe()} was acknowledged", [op.completed])
        for op in view.acknowledged()
    ]


EXPLORE_MODULE = "dynref_io.cli.explore"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The explorer's commands, registered whether or not cli.py lists the module yet."""
    if EXPLORE_MODULE not in cli.SUBCOMMAND_MODULES:
        monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, EXPLORE_MODULE))


def dynref(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = cli.main(list(argv))
    except SystemExit as exit_:  # argparse rejects bad arguments by exiting
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_the_commands_are_registered_subcommands() -> None:
    names = {command.name for command in cli_explore.SUBCOMMANDS}
    assert names == {"explore", "replay", "search"}


def test_explore_passing_seeds_prints_a_summary_and_a_json_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = dynref(
        capsys, "explore", "--mode", "dvv", "--seeds", "0:3", "--steps", "120",
        "--json", "--save", str(tmp_path),
    )  # fmt: skip
    assert status == 0, out
    assert "schedules" in out and "events" in out and "per second" in out
    assert "largest sibling set" in out and "truly concurrent writes" in out
    assert "violations            none" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["schedules"] == 3
    assert summary["events"] > 3 * 120
    assert summary["events_per_second"] > 0
    assert summary["violations"] == []
    assert set(summary["sometimes"]) >= {"siblings_created", "handoffs", "read_repairs"}
    assert not list(tmp_path.iterdir())


def test_explore_vclock_shrinks_saves_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """INV-ACK-1: the lost update is found, shrunk and saved; replay reproduces it."""
    status, out, _ = dynref(
        capsys, "explore", "--mode", "vclock", "--seeds", "0:2", "--jobs", "2",
        "--json", "--save", str(tmp_path),
    )  # fmt: skip
    assert status == 1
    summary = json.loads(out.strip().splitlines()[-1])
    lost = [v for v in summary["violations"] if v["invariant"] == "INV-ACK-1"]
    assert lost and lost[0]["seed"] == 0
    saved = Path(lost[0]["trace"])
    assert saved.parent == tmp_path and saved.exists()
    assert "shrunk" in out and "INV-ACK-1" in out

    status, out, _ = dynref(capsys, "replay", str(saved))
    assert status == 1
    assert "matches the recording bit for bit" in out
    assert "violation reproduced:" in out and "INV-ACK-1" in out.split("violation reproduced:")[1]
    assert "put k1=" in out and ">>" in out

    page = tmp_path / "lost.html"
    status, out, _ = dynref(capsys, "replay", str(saved), "--diagram", "html", "--out", str(page))
    assert status == 1
    assert page.read_text().startswith("<!DOCTYPE html>") and "<svg" in page.read_text()


def test_replay_of_a_passing_trace_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = dynref(capsys, "search", "--mode", "dvv", "--all", "--save", str(tmp_path))
    assert status == 0 and "verdict               pass" in out
    status, out, _ = dynref(capsys, "search", "--mode", "vclock", "--save", str(tmp_path))
    assert status == 1
    (saved,) = tmp_path.glob("search-vclock-INV-ACK-1.jsonl")
    trace = saved.read_text().splitlines()
    # Edit the recording into a harmless one: keep only the first put, then the liveness phase.
    header, first_put = trace[0], trace[1]
    harmless = tmp_path / "harmless.jsonl"
    tail = [line for line in trace if not line.startswith('{"kind":"action"')]
    tail = [line for line in tail[1:] if '"kind":"operation"' not in line]
    tail = [line.replace('"INV-ACK-1"', "") for line in tail]
    harmless.write_text("\n".join([header, first_put, *tail]) + "\n")
    status, out, _ = dynref(capsys, "replay", str(harmless), "--diagram", "none")
    assert status == 0
    assert "DIFFERS from the recording" in out and "no violation" in out


def test_search_prints_states_verdict_and_the_minimal_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """INV-ACK-1 in vclock; dvv passes the same bound."""
    status, out, _ = dynref(capsys, "search", "--mode", "vclock", "--json")
    assert status == 1
    for heading in ("states visited", "distinct states", "time", "verdict"):
        assert heading in out
    assert "minimal counterexample: 6 actions" in out
    assert "INV-ACK-1: acknowledged op 1" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["verdict"] == "violation" and result["counterexample_length"] == 6
    status, out, _ = dynref(
        capsys, "search", "--mode", "lww", "--program", "get,put", "--max-states", "2000", "--json"
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert status == 3 and result["verdict"] == "incomplete"  # a bound cut it short
    assert "raise --max-states" in out


def test_a_designers_checker_runs_beside_the_built_in_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    check = f"{__name__}:check_no_put_is_ever_acknowledged"
    status, out, _ = dynref(
        capsys, "explore", "--seeds", "0:2", "--steps", "80", "--check", check,
        "--save", str(tmp_path), "--json",
    )  # fmt: skip
    assert status == 1
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary["violation_counts"]) == {"NO-ACKED-PUT"}
    (saved,) = tmp_path.glob("dvv-seed*-NO-ACKED-PUT.jsonl")
    assert "shrunk: 1 of 80 schedule actions" in out  # one put is all it takes
    status, out, _ = dynref(capsys, "replay", str(saved), "--check", check)
    assert status == 1 and "violation reproduced: NO-ACKED-PUT" in out
    status, out, _ = dynref(capsys, "search", "--mode", "dvv", "--check", check)
    assert status == 1 and "NO-ACKED-PUT" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["explore", "--seeds", "5:3"], "expected A:B"),
        (["explore", "--seeds", "x"], "expected A:B"),
        (["explore", "--mode", "paxos"], "invalid choice"),
        (["explore", "--jobs", "0"], "at least 1"),
        (["explore", "--n", "3", "--r", "4"], "must not exceed N=3"),
        (["explore", "--nodes", "2", "--n", "3"], "exceeds the 2 nodes"),
        (["search", "--program", "get,scan"], "--program"),
        (["search", "--coordinators", "n9"], "--coordinators"),
        (["replay", "/no/such/trace.jsonl"], "cannot read"),
        (["explore", "--check", "nomodule"], "MODULE:FUNCTION"),
        (["explore", "--check", "no_such_module_xyz:f"], "cannot import"),
        (["search", "--check", "json:no_such_function"], "has no function"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    status, _, err = dynref(capsys, *argv)
    assert status == 2
    assert complaint in err


def test_replay_rejects_a_file_that_is_no_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"kind": "header", "format": 99}\n')
    status, _, err = dynref(capsys, "replay", str(bogus))
    assert status == 2 and "not a dynref trace" in err


@pytest.mark.skipif(
    EXPLORE_MODULE not in cli.SUBCOMMAND_MODULES, reason="cli.py does not list the module yet"
)
def test_the_dynref_entry_point_runs_explore(tmp_path: Path) -> None:
    env = dict(os.environ)
    paths = [str(ROOT / "reference"), str(ROOT / "adapters"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    completed = subprocess.run(
        [sys.executable, "-m", "dynref_io.cli", "explore", "--seeds", "0:3", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode in {0, 1}, completed.stderr
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["schedules"] == 3
    assert {"events", "events_per_second", "violations"} <= set(summary)
