"""Local clusters of real node processes on loopback, always stopped when the test ends."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dynref.ring import Ring, build_ring
from dynref_io.node.local_cluster import LocalCluster, create_cluster

# Short timers keep each scenario to seconds; the request timeout leaves room for a loaded
# 2-core machine (a put that times out is only unacknowledged, never wrong).
TEST_TIMERS = {
    "request_timeout": 300,
    "forward_timeout": 300,
    "handoff_interval": 200,
    "antientropy_interval": 200,
    "probe_interval": 200,
}

StartCluster = Callable[..., LocalCluster]
CLI_TIMEOUT_S = 120


def dynref(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the `dynref` command line as a user would: a separate process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dynref_io.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[StartCluster]:
    """A factory: start_cluster(nodes, http=False, **settings) -> a started LocalCluster in
    tmp_path (with `http`, every node serves the HTTP API too)."""
    started: list[LocalCluster] = []

    def start(nodes: int, http: bool = False, **settings: Any) -> LocalCluster:
        directory = tmp_path / f"cluster{len(started) + 1}"
        cluster = create_cluster(directory, nodes, settings={**TEST_TIMERS, **settings}, http=http)
        started.append(cluster)
        cluster.start()
        return cluster

    try:
        yield start
    finally:
        for cluster in started:
            cluster.stop()


def ring_of(cluster: LocalCluster) -> Ring:
    config = cluster.cluster.config
    return build_ring(config.nodes, config.ring)


def eventually(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll until `condition` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)
