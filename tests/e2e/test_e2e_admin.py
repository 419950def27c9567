"""Remote administration of real node processes: status, ring, isolate, heal, the start check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dynref_io.node.local_cluster import ClusterError, LocalCluster, create_cluster

from tests.e2e.conftest import StartCluster, dynref, eventually, ring_of

pytestmark = pytest.mark.e2e


def test_status_ring_isolate_and_heal_by_address(start_cluster: StartCluster) -> None:
    """REQ-ADMIN-1: any node, by address, as text and as JSON."""
    cluster = start_cluster(3, n=2, r=1, w=1)
    address = f"127.0.0.1:{cluster.address('n1').port}"
    with cluster.client("n2") as native:
        for index in range(20):
            native.put(f"key-{index}", "v")
    ring = ring_of(cluster)
    held = sum(1 for index in range(20) if "n1" in ring.preference_list(f"key-{index}".encode(), 2))
    eventually(lambda: cluster.status("n1")["keys"] == held, 10, "n1 holds its replicas")

    status = dynref("status", address, "--json")
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["status"]["node_id"] == "n1" and document["status"]["pid"] == cluster.pid("n1")
    assert sum(entry["keys"] for entry in document["ranges"]) == held
    assert all("n1" in entry["preference_list"] for entry in document["ranges"])
    text = dynref("status", address)
    assert text.returncode == 0 and "keys per range" in text.stdout

    shown = json.loads(dynref("ring", address, "--key", "key-3", "--json").stdout)
    assert shown["key"]["preference_list"] == list(ring.preference_list(b"key-3", 2))
    assert shown["key"]["range"] == ring.range_index(b"key-3") and shown["nodes"] == [
        "n1",
        "n2",
        "n3",
    ]

    isolated = dynref("isolate", address, "n3", "--json")
    assert isolated.returncode == 0 and json.loads(isolated.stdout)["isolated"] == ["n3"]
    assert json.loads(dynref("isolate", address, "--json").stdout)["isolated"] == ["n2", "n3"]
    assert cluster.status("n1")["isolated"] == ["n2", "n3"]
    assert json.loads(dynref("heal", address, "n2", "--json").stdout)["isolated"] == ["n3"]
    assert dynref("heal", address).stdout.strip() == "n1 isolated from: nobody"
    unknown = dynref("isolate", address, "n9")
    assert unknown.returncode == 2 and "n9 not among the other nodes" in unknown.stderr
    gone = dynref("status", "127.0.0.1:1", "--timeout", "1")
    assert gone.returncode == 1 and "cannot connect" in gone.stderr


def test_cluster_start_refuses_a_port_answered_by_another_process(tmp_path: Path) -> None:
    """REQ-ADMIN-2: a second cluster on the first one's ports does not pass for started."""
    first = tmp_path / "first"
    settings = {"n": 1, "r": 1, "w": 1}
    create_cluster(first, 2, settings=settings)
    started = dynref("cluster", "start", "--dir", str(first))
    try:
        assert started.returncode == 0, started.stderr
        second = tmp_path / "second"
        second.mkdir()
        shutil.copy(first / "cluster.toml", second / "cluster.toml")
        clash = dynref("cluster", "start", "--dir", str(second))
        assert clash.returncode == 1 and "Traceback" not in clash.stderr
        assert "is answered by node" in clash.stderr or "exited during startup" in clash.stderr
        copy = LocalCluster(second)
        assert [copy.pid(node) for node in copy.node_ids] == [None, None]
        original = LocalCluster(first)
        assert all(original.status(node) is not None for node in original.node_ids)
    finally:
        LocalCluster(first).stop()


def test_the_identity_check_names_the_node_and_pids(tmp_path: Path) -> None:
    """REQ-ADMIN-2: a status from another node id or pid is refused."""
    cluster = create_cluster(tmp_path / "c", 1, settings={"n": 1, "r": 1, "w": 1})
    with pytest.raises(ClusterError, match="is answered by node 'n7' with pid 12"):
        cluster._check_identity("n1", {"node_id": "n7", "pid": 12})
