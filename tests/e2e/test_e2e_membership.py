"""Membership on a real cluster (SPEC section 12): a node joins and another leaves while the
cluster serves, through the command line an operator uses; bad requests change nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dynref_io.node.config_file import load_cluster_file
from dynref_io.node.local_cluster import ClusterError, LocalCluster, free_ports
from dynref_io.node.local_membership import add_node, remove_node

from tests.e2e.conftest import StartCluster, dynref, eventually

KEYS = [f"key-{i}" for i in range(60)]


def members(cluster: LocalCluster, node_id: str) -> str:
    status = cluster.status(node_id)
    assert status is not None, f"{node_id} does not answer"
    return str(status["members"])


@pytest.mark.e2e
def test_a_node_joins_and_another_leaves_and_every_key_stays_readable(
    start_cluster: StartCluster,
) -> None:
    """INV-MEMBER-1, INV-MEMBER-2, REQ-MEMBER-14: `dynref cluster add` starts a node that joins
    through a seed and takes its share; `dynref cluster remove` makes another leave, hand its keys
    over and stop. Every acknowledged write stays readable through every remaining node, and
    every node holds the same membership."""
    cluster = start_cluster(4)
    with cluster.client("n2") as client:
        for key in KEYS:
            client.put(key, f"value of {key}")
    added = dynref("cluster", "add", "--dir", str(cluster.directory))
    assert added.returncode == 0, added.stdout + added.stderr
    assert "added n5: valid" in added.stdout
    cluster.reload()
    assert cluster.address("n5").joins
    eventually(lambda: (cluster.status("n5") or {}).get("keys", 0) > 0, 30, "n5 holds keys")
    removed = dynref("cluster", "remove", "n1", "--dir", str(cluster.directory))
    assert removed.returncode == 0, removed.stdout + removed.stderr
    cluster.reload()
    assert cluster.pid("n1") is None and "n1" not in cluster.node_ids
    assert load_cluster_file(cluster.config_path).address_of("n1").left
    expected = "n1:exiting,n2:valid,n3:valid,n4:valid,n5:valid"
    for node in cluster.node_ids:
        assert members(cluster, node) == expected
        with cluster.client(node) as client:
            for key in KEYS:
                assert client.get(key).values == (f"value of {key}".encode(),), (node, key)


@pytest.mark.e2e
def test_bad_membership_requests_are_refused_and_change_nothing(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    """REQ-MEMBER-9, REQ-MEMBER-13: a join through an address that is no seed, a leave below N
    nodes, a node whose N differs: each is a clear error, and the membership is unchanged."""
    cluster = start_cluster(3)
    before = members(cluster, "n1")
    config = str(cluster.config_path)
    unknown = dynref(
        "node", "--config", config, "--id", "n3", "--data-dir", str(tmp_path / "x"),
        "--join", "127.0.0.1:1",
    )  # fmt: skip
    assert unknown.returncode == 2 and "unknown seed" in unknown.stderr, unknown.stderr
    address = cluster.address("n2")
    leave = dynref("leave", "--node", f"{address.host}:{address.port}", "--config", config)
    assert leave.returncode == 1
    assert "refused to leave" in leave.stderr and "fewer than N=3" in leave.stderr
    assert members(cluster, "n1") == members(cluster, "n2") == before
    directory = str(cluster.directory)
    zero = dynref("cluster", "add", "--dir", directory, "--capacity", "0")
    assert zero.returncode == 2 and "--capacity must be at least 1" in zero.stderr
    stranger = dynref("cluster", "remove", "n99", "--dir", directory)
    assert stranger.returncode == 2 and "unknown node 'n99'" in stranger.stderr
    with pytest.raises(ClusterError, match="refused to leave"):
        remove_node(cluster, "n3")
    assert members(cluster, "n3") == before

    # A node whose file says N=2 (the same secret and name) is refused by every peer.
    other = tmp_path / "other.toml"
    own_port = f"port = {cluster.address('n3').port}"
    (free,) = free_ports(1)
    text = cluster.config_path.read_text().replace("n = 3", "n = 2", 1)
    other.write_text(text.replace(own_port, f"port = {free}"))
    mismatched = subprocess.Popen(
        [sys.executable, "-m", "dynref_io.cli", "node", "--config", str(other), "--id", "n3",
         "--data-dir", str(tmp_path / "other-n3"), "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        log = cluster.directory / "n1" / "node.log"
        eventually(lambda: "another configuration" in log.read_text(), 20, "n1 refuses it")
    finally:
        mismatched.terminate()
        mismatched.wait(10)
    assert members(cluster, "n1") == before


@pytest.mark.e2e
def test_add_and_remove_time_the_agreement(start_cluster: StartCluster) -> None:
    """REQ-MEMBER-14: the library calls behind the commands report how long the nodes took to
    agree on the new membership (docs/benchmarks.md quotes them)."""
    cluster = start_cluster(3)
    added = add_node(cluster)
    assert added.node_id == "n4" and added.seconds > 0
    left = remove_node(cluster, "n4")
    assert left.node_id == "n4" and left.seconds > 0
    assert members(cluster, "n1") == "n1:valid,n2:valid,n3:valid,n4:exiting"
