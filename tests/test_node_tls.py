"""Optional TLS on every connection, peers' and clients' (REQ-AUTH-3), with a self-signed
certificate made at test time, against in-process nodes over real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dynref_io.client.native import AsyncClient, Client, NodeConnectionError, tls_context
from dynref_io.node.config_file import ClusterFile, ConfigError, Security
from dynref_io.node.server import NodeServer
from dynref_io.storage.stores import MemoryStorage

from tests.certificates import self_signed
from tests.test_server_inprocess import SECRET, cluster_file, serving, wait_until


def tls_cluster(tmp_path: Path, count: int, **settings: int) -> ClusterFile:
    certificate, key = self_signed(tmp_path)
    security = Security(secret=SECRET, tls_cert=certificate, tls_key=key)
    return cluster_file(count, security, **settings)


def test_peers_and_clients_talk_over_tls(tmp_path: Path) -> None:
    """REQ-AUTH-3: nodes connect to each other over TLS, and so do clients that trust the
    node's certificate."""
    cluster = tls_cluster(tmp_path, 3)
    trusted = tls_context(cluster.security.tls_trust)
    with serving(cluster) as servers:
        assert wait_until(lambda: all(s.status()["connected"].count(",") == 1 for s in servers))
        with Client("127.0.0.1", servers[0].port, tls=trusted) as client:
            client.put("k", "over tls")
            assert client.get("k", r=3).values == (b"over tls",)

        async def pipelined() -> tuple[None, None]:
            async with AsyncClient("127.0.0.1", servers[1].port, tls=trusted) as client:
                return await asyncio.gather(client.put("a", "1"), client.put("b", "2"))

        asyncio.run(pipelined())
        assert wait_until(lambda: all(s.status()["keys"] == 3 for s in servers))


def test_a_client_without_tls_or_without_trust_is_refused(tmp_path: Path) -> None:
    """REQ-AUTH-3: plaintext gets no frame; a certificate the client does not trust fails the
    client's check."""
    cluster = tls_cluster(tmp_path, 1, n=1, r=1, w=1)
    port = cluster.addresses[0].port
    with serving(cluster) as (node,):
        with pytest.raises(NodeConnectionError):
            Client("127.0.0.1", port, timeout=5).put("k", "plaintext")
        with pytest.raises(NodeConnectionError, match="certificate verify failed"):
            Client("127.0.0.1", port, timeout=5, tls=tls_context()).put("k", "untrusting")
        assert node.status()["keys"] == 0


def test_nodes_that_do_not_trust_each_other_never_connect(tmp_path: Path) -> None:
    """REQ-AUTH-3: a node checks its peer's certificate against its own trust file."""
    ours = tls_cluster(tmp_path, 2, n=2, r=1, w=1)
    other_certificate, other_key = self_signed(tmp_path, "other")
    theirs_security = Security(secret=SECRET, tls_cert=other_certificate, tls_key=other_key)
    theirs = ClusterFile(ours.config, ours.addresses, security=theirs_security)
    lines: list[str] = []
    with (
        serving(ours, ["n1"], log=lines.append) as (first,),
        serving(theirs, ["n2"], log=lines.append) as (second,),
    ):
        assert wait_until(lambda: sum("certificate verify failed" in line for line in lines) >= 2)
        assert first.status()["connected"] == "" and second.status()["connected"] == ""


def test_unreadable_certificates_are_a_clear_error(tmp_path: Path) -> None:
    """REQ-AUTH-3: a node does not start with TLS files it cannot load."""
    missing = tmp_path / "missing.pem"
    security = Security(secret=SECRET, tls_cert=missing, tls_key=missing)
    cluster = cluster_file(1, security, n=1, r=1, w=1)
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        NodeServer(cluster, "n1", MemoryStorage)
