"""The security settings of the cluster file as an operator meets them: node processes started
by the command line, clients reading the cluster file (REQ-AUTH-1 to REQ-AUTH-3)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from dynref_io.node.local_cluster import (
    ClusterError,
    LocalCluster,
    create_cluster,
    free_ports,
    generated_security,
)

from tests.certificates import self_signed
from tests.e2e.conftest import TEST_TIMERS, dynref


@pytest.mark.e2e
def test_a_node_without_a_secret_will_not_listen_on_a_public_address(tmp_path: Path) -> None:
    """REQ-AUTH-2: `dynref node --host 0.0.0.0` without a secret exits 2 at once, saying why."""
    (port,) = free_ports(1)
    node = ("node", "--id", "n1", "--data-dir", str(tmp_path / "n1"), "--port", str(port))
    node += ("--n", "1", "--r", "1", "--w", "1")
    refused = dynref(*node, "--host", "0.0.0.0")
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0: without a cluster secret" in refused.stderr


@pytest.mark.e2e
def test_a_node_without_a_secret_says_so_on_stderr(tmp_path: Path) -> None:
    """REQ-AUTH-2: the node started on loopback without a secret warns on start."""
    (port,) = free_ports(1)
    command = [
        sys.executable, "-m", "dynref_io.cli", "node", "--id", "n1",
        "--data-dir", str(tmp_path / "n1"), "--port", str(port),
        "--n", "1", "--r", "1", "--w", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while (line := process.stderr.readline()) and "listening on" not in line:
            lines.append(line)
    finally:
        process.terminate()  # once it listens; what it logged meanwhile is still to be read
        # Read through the text stream, which may hold lines already: not communicate().
        lines += process.stderr.read().splitlines()
        process.wait(30)
    assert any("no cluster secret" in line and "loopback only" in line for line in lines), lines


@pytest.mark.e2e
def test_a_tls_cluster_serves_the_clients_that_trust_it(tmp_path: Path) -> None:
    """REQ-AUTH-3: node processes talk TLS to each other and to clients that read the cluster
    file or are given the certificate."""
    certificate, key = self_signed(tmp_path)
    security = generated_security()
    security = type(security)(secret=security.secret, tls_cert=certificate, tls_key=key)
    directory = tmp_path / "cluster"
    cluster = create_cluster(directory, 3, settings=TEST_TIMERS, security=security)
    try:
        cluster.start()  # waits until every node answers (over TLS) and all are connected
        put = dynref("put", "k", "secret value", "--dir", str(directory))
        assert put.returncode == 0, put.stderr
        address = cluster.address("n2")
        node = ("--node", f"{address.host}:{address.port}", "--timeout", "5")
        plaintext = dynref("get", "k", *node)
        assert plaintext.returncode == 1
        got = dynref("get", "k", "--r", "3", *node, "--tls-ca", str(certificate))
        assert got.returncode == 0 and "value: secret value" in got.stdout, got.stderr
    finally:
        with contextlib.suppress(ClusterError):
            cluster.stop()


@pytest.mark.e2e
def test_a_cluster_with_a_client_token(tmp_path: Path) -> None:
    """REQ-AUTH-1: `cluster start --client-token` writes a token the commands read from the
    file; a client without it is refused."""
    directory = tmp_path / "cluster"
    try:
        started = dynref(
            "cluster",
            "start",
            "--nodes",
            "2",
            "--n",
            "2",
            "--client-token",
            "--dir",
            str(directory),
        )
        assert started.returncode == 0, started.stderr
        assert dynref("put", "k", "v", "--dir", str(directory)).returncode == 0
        address = LocalCluster(directory).address("n1")
        anonymous = dynref("get", "k", "--node", f"{address.host}:{address.port}")
        assert anonymous.returncode == 1 and "requires a client token" in anonymous.stderr
        status = dynref("cluster", "status", "--dir", str(directory))
        assert [row.split()[3] for row in status.stdout.splitlines()[1:]] == ["yes", "yes"]
    finally:
        with contextlib.suppress(ClusterError):
            LocalCluster(directory).stop()
