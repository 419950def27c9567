"""The client against in-process nodes: results, siblings, contexts, errors and pipelining."""

from __future__ import annotations

import asyncio
import socket

import pytest
from dynref.ring import build_ring
from dynref_io.client.native import (
    AsyncClient,
    Client,
    GetResult,
    InvalidContextError,
    InvalidRequestError,
    NodeConnectionError,
    QuorumError,
    RequestTimeoutError,
    TooLargeError,
    UnavailableError,
)
from dynref_io.node.local_cluster import free_ports

from tests.test_server_inprocess import cluster_file, serving


def test_put_get_delete_with_str_and_bytes() -> None:
    cluster = cluster_file(1, n=1, r=1, w=1)
    with serving(cluster), Client("127.0.0.1", cluster.addresses[0].port) as client:
        assert client.get("absent") == GetResult((), client.get("absent").context)
        client.put("cart", "apple")
        found = client.get(b"cart")
        assert found.values == (b"apple",)
        client.put(b"cart", b"pear", context=found.context)
        assert client.get("cart").values == (b"pear",)
        client.delete("cart", client.get("cart").context)
        assert client.get("cart").values == ()


def test_concurrent_writes_without_context_become_siblings() -> None:
    cluster = cluster_file(1, n=1, r=1, w=1)
    with serving(cluster), Client("127.0.0.1", cluster.addresses[0].port) as client:
        client.put("k", "one")
        client.put("k", "two")
        found = client.get("k")
        assert sorted(found.values) == [b"one", b"two"]
        client.put("k", "merged", context=found.context)
        assert client.get("k").values == (b"merged",)


def test_node_answers_become_exceptions() -> None:
    cluster = cluster_file(1, n=1, r=1, w=1, max_key_bytes=8)
    with serving(cluster), Client("127.0.0.1", cluster.addresses[0].port) as client:
        with pytest.raises(TooLargeError, match="key too large: 9 bytes, the limit is 8"):
            client.put("k" * 9, "v")
        with pytest.raises(InvalidContextError, match="invalid context"):
            client.put("k", "v", context=b"\xff garbage")
        with pytest.raises(InvalidRequestError, match="R=2"):
            client.get("k", r=2)
        client.put("k", "still serving")
        assert client.get("k").values == (b"still serving",)


def test_quorum_error_names_needed_and_seen() -> None:
    cluster = cluster_file(2, n=2, r=2, w=2)
    with serving(cluster, ["n1"]), Client("127.0.0.1", cluster.addresses[0].port) as client:
        with pytest.raises(QuorumError) as raised:
            client.put("k", "v")
        assert (raised.value.needed, raised.value.seen) == (2, 1)
        assert "needed 2 replicas, 1 answered" in str(raised.value)


def test_unavailable_when_no_preference_list_node_answers_a_forward() -> None:
    cluster = cluster_file(2, n=1, r=1, w=1)
    ring = build_ring(cluster.config.nodes, cluster.config.ring)
    key = next(f"k{i}" for i in range(1000) if ring.preference_list(f"k{i}".encode(), 1) == ("n2",))
    with (
        serving(cluster, ["n1"]),
        Client("127.0.0.1", cluster.addresses[0].port) as client,
        pytest.raises(UnavailableError, match="unavailable"),
    ):
        client.put(key, "v")


def test_connection_errors_are_clear() -> None:
    (port,) = free_ports(1)
    with pytest.raises(NodeConnectionError, match=f"cannot connect to node 127.0.0.1:{port}"):
        Client("127.0.0.1", port, timeout=1).get("k")

    async def connect() -> None:
        await AsyncClient("127.0.0.1", port, timeout=1).get("k")

    with pytest.raises(NodeConnectionError, match="cannot connect"):
        asyncio.run(connect())


def test_a_silent_node_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with pytest.raises(RequestTimeoutError, match=r"did not answer ClientGet within 0\.2 s"):
            Client("127.0.0.1", port, timeout=0.2).get("k")
    finally:
        listener.close()


def test_status_and_isolation() -> None:
    cluster = cluster_file(3)
    with serving(cluster), Client("127.0.0.1", cluster.addresses[0].port) as client:
        status = client.status()
        assert status["node_id"] == "n1" and status["keys"] == 0
        assert status["down"] == [] and status["isolated"] == []
        client.isolate(["n2", "n3"])
        assert client.status()["isolated"] == ["n2", "n3"]
        with pytest.raises(QuorumError):
            client.put("k", "v")
        client.isolate([])
        assert client.status()["isolated"] == []


def test_pipelined_requests_on_one_connection_and_ids_of_two_clients() -> None:
    """Both clients number their requests from 1: the node keeps them apart."""
    cluster = cluster_file(1, n=1, r=1, w=1)
    port = cluster.addresses[0].port

    async def workload() -> None:
        async with (
            AsyncClient("127.0.0.1", port) as first,
            AsyncClient("127.0.0.1", port) as second,
        ):
            await asyncio.gather(
                *(first.put(f"a{i}", f"first {i}") for i in range(100)),
                *(second.put(f"b{i}", f"second {i}") for i in range(100)),
            )
            found = await asyncio.gather(*(second.get(f"a{i}") for i in range(100)))
            assert [result.values for result in found] == [
                (f"first {i}".encode(),) for i in range(100)
            ]
            assert (await first.status())["keys"] == 200

    with serving(cluster):
        asyncio.run(workload())


def test_async_client_reconnects_after_the_node_restarts() -> None:
    cluster = cluster_file(1, n=1, r=1, w=1)
    port = cluster.addresses[0].port

    async def put(client: AsyncClient, key: str) -> None:
        await client.put(key, "v")

    client = AsyncClient("127.0.0.1", port, timeout=2)
    loop = asyncio.new_event_loop()
    try:
        with serving(cluster):
            loop.run_until_complete(put(client, "before"))
        with pytest.raises(NodeConnectionError):
            loop.run_until_complete(put(client, "while down"))
        with serving(cluster):
            loop.run_until_complete(put(client, "after"))
        loop.run_until_complete(client.close())
    finally:
        loop.close()
