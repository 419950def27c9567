"""A node whose store fails, or whose code fails: clear messages, errors to the clients, logs
with timestamps and tracebacks (REQ-DUR-3).

The full-disk case runs the real runtime over a real SQLite store whose page count is pinned
(SQLite then answers "database or disk is full", as on a full disk). The logging cases run
`run_node` in a child process with a defect planted, and read the child's stderr: its log.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dynref.messages import ClientPut, PutOk, Request, Unavailable
from dynref_io.client.native import Client, DynrefError
from dynref_io.node.config_file import NodeAddress, build_cluster_file, render_cluster_toml
from dynref_io.node.local_cluster import free_ports
from dynref_io.node.runtime import NodeRuntime, StoreFailure
from dynref_io.storage.stores import SqliteStorage

from tests.runtime_harness import Log, ManualClock, RecordingOutbox, config

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", re.MULTILINE)


def test_a_full_disk_stops_the_node_and_stores_nothing_of_the_batch(tmp_path: Path) -> None:
    """REQ-DUR-3, REQ-STORE-2: the failed batch is one transaction; its requests get errors."""
    log: Log = []
    path = tmp_path / "node.sqlite3"
    storage = SqliteStorage(path)
    runtime = NodeRuntime(
        config(1, n=1, r=1, w=1),
        "n1",
        lambda: storage,
        RecordingOutbox(log),
        clock=ManualClock(),
        log=lambda line: log.append(("log", line)),
    )

    async def scenario() -> None:
        await runtime.start()
        runtime.submit(Request(ClientPut(1, b"before", b"v", b"")))
        await runtime.process_ready()
        connection = storage._connection
        assert connection is not None
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        connection.execute(f"PRAGMA max_page_count = {pages}")
        runtime.submit(Request(ClientPut(2, b"small", b"v", b"")))
        runtime.submit(Request(ClientPut(3, b"large", b"x" * 200_000, b"")))
        with pytest.raises(StoreFailure, match="database or disk is full"):
            await runtime.process_ready()
        await runtime.close()

    asyncio.run(scenario())
    replies = dict(p for kind, p in log if kind == "reply")
    assert replies[1] == PutOk()
    for request_id in (2, 3):
        result = replies[request_id]
        assert isinstance(result, Unavailable) and "disk is full" in result.reason
    assert not [entry for entry in log if entry[0] == "send"]
    reopened = SqliteStorage(path)
    stored = reopened.load()
    reopened.close()
    assert stored is not None and set(stored.data) == {b"before"}
    (failure,) = [line for kind, line in log if kind == "log" and "cannot be written" in line]
    assert "Traceback" in failure and "OperationalError" in failure


CHILD = """
import sys
from pathlib import Path
from dynref_io.node import process, server
from dynref_io.node.config_file import load_cluster_file

planted = sys.argv[3]
if planted == "start":
    async def failing_start(self):
        raise ZeroDivisionError("planted in start")
    server.NodeRuntime.start = failing_start
elif planted == "connection":
    serve_client = server.NodeServer._serve_client
    calls = []
    async def failing_once(self, first, reader, writer):
        calls.append(first)
        if len(calls) == 1:
            raise ZeroDivisionError("planted in a connection")
        await serve_client(self, first, reader, writer)
    server.NodeServer._serve_client = failing_once
cluster = load_cluster_file(Path(sys.argv[1]))
sys.exit(process.run_node(cluster, "n1", Path(sys.argv[2]), "127.0.0.1"))
"""


def start_child(tmp_path: Path, planted: str) -> tuple[subprocess.Popen[str], int]:
    (port,) = free_ports(1)
    cluster = build_cluster_file((NodeAddress("n1", "127.0.0.1", port),), {"n": 1, "r": 1, "w": 1})
    config_path = tmp_path / "cluster.toml"
    config_path.write_text(render_cluster_toml(cluster))
    command = [sys.executable, "-c", CHILD, str(config_path), str(tmp_path / "data"), planted]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    return child, port


def test_an_internal_error_at_start_is_logged_with_timestamp_and_traceback(tmp_path: Path) -> None:
    child, _port = start_child(tmp_path, "start")
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 1, stderr
    assert "n1: failed: internal error" in stderr and "ZeroDivisionError" in stderr
    assert "Traceback" in stderr and "planted in start" in stderr
    assert TIMESTAMPED.search(stderr), stderr


def test_an_error_in_a_connection_is_logged_and_the_node_goes_on(tmp_path: Path) -> None:
    child, port = start_child(tmp_path, "connection")
    try:
        deadline = time.monotonic() + 20
        while True:  # wait for the listener
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the node never listened"
                time.sleep(0.05)
        with pytest.raises((DynrefError, OSError)), Client("127.0.0.1", port) as client:
            client.status()  # the planted defect closes this first client connection
        with Client("127.0.0.1", port) as client:
            assert client.status()["node_id"] == "n1"
            client.put("k", "v")
    finally:
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    entry = stderr[stderr.rindex("\n", 0, stderr.index("internal error")) + 1 :]
    assert TIMESTAMPED.match(entry) and entry.startswith(entry[:25] + "n1: internal error"), stderr
    assert "Traceback" in entry and "planted in a connection" in entry
    assert all(TIMESTAMPED.match(line) for line in stderr.splitlines() if line.startswith("20"))
