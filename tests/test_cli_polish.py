"""The `dynref` command as scripts and people use it: JSON output, exit codes, help, user errors.

REQ-CLI-1: every user error is one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dynref_io import cli
from dynref_io.cli.explore_runner import ProgressLines

from tests.test_cli import run
from tests.test_server_inprocess import cluster_file, serving


def dynref_process(
    *arguments: str | bytes, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynref_io.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_usage_error(completed: subprocess.CompletedProcess[str]) -> str:
    """The error line of an exit-2 run, after checking there is no traceback."""
    assert completed.returncode == 2, completed
    assert "Traceback" not in completed.stderr
    return completed.stderr.strip().splitlines()[-1]


def test_get_json_is_unambiguous_and_require_exits_4_when_not_found(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Values and context in one encoding, never guessed as text; --require for scripts."""
    cluster = cluster_file(1, n=1, r=1, w=1)
    node = f"127.0.0.1:{cluster.addresses[0].port}"
    with serving(cluster):
        status, out, _ = run(capsys, "get", "k", "--json", "--require", "--node", node)
        document = json.loads(out)
        assert status == cli.EXIT_NOT_FOUND == 4
        assert document["found"] is False and document["values"] == []
        assert run(capsys, "put", "k", "caf\u00e9", "--node", node)[0] == 0
        status, out, _ = run(capsys, "get", "k", "--json", "--encoding", "base64", "--node", node)
        document = json.loads(out)
        assert status == 0 and document["encoding"] == "base64"
        assert [base64.b64decode(v) for v in document["values"]] == ["caf\u00e9".encode()]
        context = document["context"]
        status, out, _ = run(capsys, "get", "k", "--json", "--require", "--node", node)
        assert status == 0 and json.loads(out)["values"] == ["caf\u00e9".encode().hex()]
        put = ("put", "k", "new", "--context", context, "--encoding", "base64", "--node", node)
        assert run(capsys, *put)[0] == 0
        status, out, _ = run(capsys, "get", "k", "--json", "--node", node)
        assert json.loads(out)["values"] == [b"new".hex()]  # the context superseded the old
        status, _, err = run(capsys, "put", "k", "v", "--context", "@@", "--encoding", "base64",
                             "--node", node)  # fmt: skip
        assert status == 2 and "--context is not base64" in err


def test_version_and_a_description_in_every_subcommands_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("dynref ")
    parser = cli.build_parser(cli.subcommands())
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    nested = [
        ("cluster", name) for name in commands["cluster"]._subparsers._group_actions[0].choices
    ]
    for words in [(name,) for name in commands] + nested:
        status, out, _ = run(capsys, *words, "--help")
        assert status == 0
        description = out.split("\n\n")[1]
        assert not description.startswith(("positional arguments", "options")), (words, out)
        assert len(description.split()) >= 5, (words, description)


def test_a_non_utf8_argument_is_a_usage_error() -> None:
    """REQ-CLI-1."""
    completed = subprocess.run(
        [sys.executable.encode(), b"-m", b"dynref_io.cli", b"get", b"k\xff", b"--node", b"h:1"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2 and b"Traceback" not in completed.stderr
    assert b"is not valid UTF-8" in completed.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "soon"])
def test_a_timeout_must_be_a_positive_number(
    capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    """REQ-CLI-1."""
    status, _, err = run(capsys, "get", "k", "--node", "h:1", "--timeout", timeout)
    assert status == 2 and "--timeout" in err
    status, _, err = run(capsys, "status", "h:1", "--timeout", timeout)
    assert status == 2


def test_unwritable_places_are_refused_before_the_work_starts(tmp_path: Path) -> None:
    """REQ-CLI-1: a file where a directory should be; nothing runs, nothing is left behind."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    explore = dynref_process("explore", "--seeds", "0:100000", "--save", str(blocker / "traces"))
    assert "is not a directory" in one_line_usage_error(explore)
    # refused up front: 100,000 seeds would outlast dynref_process's timeout
    search = dynref_process("search", "--save", str(blocker / "d"))
    assert "--save" in one_line_usage_error(search)
    demo = dynref_process("demo", "--dir", str(blocker / "d"))
    assert "--dir" in one_line_usage_error(demo)
    cluster = dynref_process("cluster", "start", "--nodes", "1", "--n", "1", "--r", "1", "--w",
                             "1", "--dir", str(blocker / "c"))  # fmt: skip
    assert "--dir" in one_line_usage_error(cluster)
    node = dynref_process("node", "--id", "n1", "--port", "7999", "--n", "1", "--r", "1", "--w",
                          "1", "--data-dir", str(blocker / "d"))  # fmt: skip
    assert "--data-dir" in one_line_usage_error(node)


def test_a_hand_edited_trace_is_a_usage_error(tmp_path: Path) -> None:
    """REQ-CLI-1: a trace that parses but names a message, node or client that is not there."""
    saved = dynref_process("search", "--mode", "vclock", "--save", str(tmp_path))
    assert saved.returncode == 1, saved.stderr
    (trace,) = tmp_path.glob("*.jsonl")
    text = trace.read_text()
    edits = [
        ('"message_id":3', '"message_id":99'),
        ('"client":"c1"', '"client":"c7"'),
        ('"key":"6b30"', '"key":"zz"'),
        ('"mode":"vclock"', '"mode":"x"'),
    ]
    for old, new in edits:
        assert old in text
        edited = tmp_path / "edited.jsonl"
        edited.write_text(text.replace(old, new, 1))
        line = one_line_usage_error(dynref_process("replay", str(edited), "--diagram", "none"))
        assert str(edited) in line
    out_dir = dynref_process("replay", str(trace), "--out", str(tmp_path))
    assert "is a directory" in one_line_usage_error(out_dir)


def test_progress_lines_are_spaced_by_the_interval() -> None:
    """At most one line per interval on a stream that is not a terminal."""
    now = [0.0]
    stream = io.StringIO()
    lines = ProgressLines(stream, interval=5.0, clock=lambda: now[0])
    for tick in range(100):
        now[0] = tick * 0.5
        lines.maybe(lambda seconds: f"at {seconds:.0f}")
    assert stream.getvalue().splitlines() == [f"at {5 * k}" for k in range(1, 10)]


@pytest.mark.parametrize(
    "arguments",
    [
        ("explore", "--seeds", "0:100000", "--jobs", "2"),
        ("search", "--mode", "dvv", "--program", "get,put", "--max-states", "100000000"),
    ],
    ids=["explore", "search"],
)
def test_ctrl_c_prints_the_summary_so_far(arguments: tuple[str, ...]) -> None:
    """Interrupted, explore and search say what they found so far and exit 130."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dynref_io.cli", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the banner: the run is under way
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted after" in out and "Traceback" not in err
    if arguments[0] == "explore":
        assert ("seeds" in out and "schedules" in out.lower()) or "violations" in out.lower()
    else:
        assert "states visited" in out


def test_the_demo_stops_its_nodes_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM takes Ctrl-C's path: every node stopped, exit 130."""
    directory = tmp_path / "demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "dynref_io.cli", "demo", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "cluster up" in line:
                break
        pids = [int((directory / f"n{i}" / "node.pid").read_text()) for i in range(1, 6)]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
