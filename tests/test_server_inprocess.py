"""Nodes served in-process on a background event loop: the harness of the client and CLI tests,
and tests of the server itself.

Real sockets and the real runtime, but a memory store and no process per node: fast enough for
the ordinary test run. End-to-end tests with real processes live in tests/e2e/.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from dynref_io.client.native import Client
from dynref_io.node.config_file import ClusterFile, NodeAddress, Security, build_cluster_file
from dynref_io.node.local_cluster import free_ports
from dynref_io.node.server import NodeServer
from dynref_io.storage.stores import MemoryStorage, Storage

T = TypeVar("T")

FAST_TIMERS = {
    "request_timeout": 150,
    "forward_timeout": 150,
    "handoff_interval": 100,
    "antientropy_interval": 100,
    "probe_interval": 100,
}


SECRET = "a-cluster-secret-of-the-tests-0123456789"


def cluster_file(count: int, security: Security | None = None, **settings: Any) -> ClusterFile:
    ports = free_ports(count)
    addresses = tuple(
        NodeAddress(f"n{i}", "127.0.0.1", port) for i, port in enumerate(ports, start=1)
    )
    return build_cluster_file(addresses, {**FAST_TIMERS, **settings}, security)


def secured_cluster_file(count: int, **settings: Any) -> ClusterFile:
    """A cluster whose nodes share a secret the tests' strangers do not know."""
    return cluster_file(count, Security(secret=SECRET), **settings)


class BackgroundLoop:
    """An event loop on its own thread, so that blocking clients can talk to in-process nodes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@contextmanager
def serving(
    cluster: ClusterFile,
    node_ids: list[str] | None = None,
    *,
    open_storage: Callable[[], Storage] = MemoryStorage,
    log: Callable[[str], None] | None = None,
) -> Iterator[list[NodeServer]]:
    """Start the given nodes (default: all) with memory stores; stop them however the test ends."""
    background = BackgroundLoop()
    chosen = node_ids or [address.node_id for address in cluster.addresses]
    servers = [
        NodeServer(cluster, node_id, open_storage, log=log or (lambda _line: None))
        for node_id in chosen
    ]
    try:
        for server in servers:
            background.run(server.start())
        yield servers
    finally:
        for server in servers:
            background.run(server.stop())
        background.close()


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_nodes_connect_and_replicate_a_put() -> None:
    cluster = cluster_file(3)
    with serving(cluster) as servers:
        assert wait_until(
            lambda: all(str(s.status()["connected"]).count(",") == 1 for s in servers)
        )
        with Client("127.0.0.1", cluster.addresses[0].port) as client:
            client.put("k", "v")
        assert wait_until(lambda: all(s.status()["keys"] == 1 for s in servers))
        assert all(s.runtime.steps > 0 and s.runtime.commits > 0 for s in servers)


def test_a_restarted_peer_is_reconnected() -> None:
    cluster = cluster_file(2, n=2, r=2, w=2)
    with serving(cluster, ["n1"]) as (first,):
        with serving(cluster, ["n2"]):
            assert wait_until(lambda: first.status()["connected"] == "n2")
        assert wait_until(lambda: first.status()["connected"] == "")
        with serving(cluster, ["n2"]), Client("127.0.0.1", cluster.addresses[0].port) as client:
            assert wait_until(lambda: first.status()["connected"] == "n2")
            assert wait_until(lambda: first.status()["down"] == "")
            client.put("k", "v")  # W=2: n2 acknowledged over the new connections


@pytest.mark.parametrize("mode", ["lww", "dvv"])
def test_req_ctx_4_a_clients_put_returns_the_acknowledgements_context(mode: str) -> None:
    """REQ-CTX-4 through the client: in lww a put's acknowledgement names the stamp written, and
    a later write with it through the same node supersedes the first whatever their values'
    order (the issue's put "zzz" then put "aaa"); dvv's acknowledgement has no context."""
    cluster = cluster_file(3, mode=mode, n=3, r=2, w=2)
    with serving(cluster) as servers, Client("127.0.0.1", cluster.addresses[0].port) as client:
        assert wait_until(
            lambda: all(str(s.status()["connected"]).count(",") == 1 for s in servers)
        )
        written = client.put("k", "zzz")
        if mode == "dvv":
            assert written == b""
            return
        assert written
        assert client.put("k", "aaa", written)
        assert client.get("k").values == (b"aaa",)
        assert client.delete("k", client.get("k").context)
        assert client.get("k").values == ()
