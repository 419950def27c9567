"""`dynref cluster start/status/stop`, `put` and `get` as a user runs them: separate processes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from dynref_io.node.local_cluster import ClusterError, LocalCluster

from tests.e2e.conftest import dynref

TIMER_FLAGS = ["--request-timeout", "300", "--handoff-interval", "200", "--probe-interval", "200"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead but keeps its pid until reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.e2e
def test_cluster_start_status_put_get_stop_leaves_no_process(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    try:
        started = dynref("cluster", "start", "--nodes", "3", "--dir", str(directory), *TIMER_FLAGS)
        assert started.returncode == 0, started.stderr
        assert (directory / "cluster.toml").exists()
        pids = [int((directory / f"n{i}" / "node.pid").read_text()) for i in (1, 2, 3)]
        assert all(pid_alive(pid) for pid in pids)

        status = dynref("cluster", "status", "--dir", str(directory))
        assert status.returncode == 0, status.stderr
        rows = status.stdout.splitlines()
        assert rows[0].split()[:4] == ["node", "address", "pid", "alive"]
        assert [row.split()[3] for row in rows[1:]] == ["yes", "yes", "yes"]

        put = dynref("put", "greeting", "hello", "--dir", str(directory))
        assert put.returncode == 0 and put.stdout.strip() == "ok", put.stderr
        got = dynref("get", "greeting", "--r", "3", "--dir", str(directory))
        assert got.returncode == 0, got.stderr
        assert "value: hello" in got.stdout.splitlines()
        context = got.stdout.splitlines()[-1].removeprefix("context: ")
        deleted = dynref("delete", "greeting", "--context", context, "--dir", str(directory))
        assert deleted.returncode == 0, deleted.stderr
        assert "not found" in dynref("get", "greeting", "--dir", str(directory)).stdout

        killed = dynref("cluster", "kill", "n2", "--dir", str(directory))
        assert killed.returncode == 0 and not pid_alive(pids[1])
        restarted = dynref("cluster", "restart", "n2", "--dir", str(directory))
        assert restarted.returncode == 0, restarted.stderr
        pids[1] = int((directory / "n2" / "node.pid").read_text())

        stopped = dynref("cluster", "stop", "--dir", str(directory))
        assert stopped.returncode == 0, stopped.stderr
        assert not any(pid_alive(pid) for pid in pids), "a node process survived the stop"
        for node in ("n1", "n2", "n3"):  # SIGTERM is a clean shutdown, not a kill
            log = (directory / node / "node.log").read_text()
            assert log.rstrip().endswith(f"{node}: stopped"), log
        after = dynref("cluster", "status", "--dir", str(directory)).stdout.splitlines()
        assert [row.split()[3] for row in after[1:]] == ["no", "no", "no"]
    finally:
        with contextlib.suppress(ClusterError):  # raised when the cluster was never created
            LocalCluster(directory).stop()
