"""kill -9 a node in the middle of a stream of writes, restart it: no acknowledged write is lost."""

from __future__ import annotations

import asyncio
import itertools
import shutil

import pytest
from dynref_io.client.native import AsyncClient, DynrefError
from dynref_io.node.local_cluster import LocalCluster
from dynref_io.node.server import STORAGE_FILE
from dynref_io.storage.stores import SqliteStorage

from tests.e2e.conftest import StartCluster, eventually, ring_of

VICTIM = "n2"
WRITERS = 6


async def write_stream(
    cluster: LocalCluster,
    worker: int,
    stop: asyncio.Event,
    acked: dict[str, tuple[str, str]],
) -> int:
    """Put fresh keys round-robin through every node until `stop`; record (value, coordinator)
    of each acknowledged put. Failed puts are unacknowledged and may be lost."""
    clients = {
        node: AsyncClient(cluster.address(node).host, cluster.address(node).port, timeout=3)
        for node in cluster.node_ids
    }
    attempts = 0
    try:
        for sequence in itertools.count():
            if stop.is_set():
                break
            node = cluster.node_ids[(worker + sequence) % len(cluster.node_ids)]
            key, value = f"w{worker}-{sequence}", f"value {worker}-{sequence}"
            attempts += 1
            try:
                await clients[node].put(key, value)
            except DynrefError:
                await asyncio.sleep(0.01)  # a dead node refuses at once: do not spin
                continue
            acked[key] = (value, node)
    finally:
        for client in clients.values():
            await client.close()
    return attempts


async def crash_during_writes(cluster: LocalCluster) -> dict[str, tuple[str, str]]:
    acked: dict[str, tuple[str, str]] = {}
    stop = asyncio.Event()
    writers = [
        asyncio.create_task(write_stream(cluster, worker, stop, acked)) for worker in range(WRITERS)
    ]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(cluster.kill, VICTIM)
    acked_before_kill = len(acked)
    await asyncio.sleep(1.0)
    acked_while_down = len(acked) - acked_before_kill
    await asyncio.to_thread(cluster.start, [VICTIM])
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*writers)
    assert acked_before_kill > 50, "the stream was running when the node died"
    assert acked_while_down > 20, "the cluster kept acknowledging writes without the node"
    return acked


async def read_back(cluster: LocalCluster, acked: dict[str, tuple[str, str]]) -> list[str]:
    """Read every acknowledged key with R=2, through every node in turn; return the missing."""
    clients = [
        AsyncClient(cluster.address(node).host, cluster.address(node).port, timeout=10)
        for node in cluster.node_ids
    ]
    limit = asyncio.Semaphore(64)
    missing: list[str] = []

    async def check(index: int, key: str, value: str) -> None:
        async with limit:
            found = await clients[index % len(clients)].get(key, r=2)
        if value.encode() not in found.values:
            missing.append(key)

    try:
        await asyncio.gather(
            *(check(i, key, value) for i, (key, (value, _)) in enumerate(acked.items()))
        )
    finally:
        for client in clients:
            await client.close()
    return missing


@pytest.mark.e2e
def test_kill_9_during_writes_loses_no_acknowledged_write(start_cluster: StartCluster) -> None:
    """REQ-NODE-2, REQ-DUR-1 across a real SIGKILL: every acknowledged put is readable after the
    restart, and every put the victim itself acknowledged is in its own SQLite file."""
    cluster = start_cluster(4)
    acked = asyncio.run(crash_during_writes(cluster))
    missing = asyncio.run(read_back(cluster, acked))
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost: {missing[:5]}"

    cluster.stop()
    store = SqliteStorage(cluster.data_dir(VICTIM) / STORAGE_FILE)
    try:
        durable = store.load()
    finally:
        store.close()
    assert durable is not None and durable.boots == 1
    # A put sent to the victim is coordinated there when the victim is in the key's preference
    # list (otherwise it is forwarded): the victim stored it before answering.
    ring = ring_of(cluster)
    coordinated = {
        key: value
        for key, (value, node) in acked.items()
        if node == VICTIM and VICTIM in ring.preference_list(key.encode(), 3)
    }
    assert coordinated, "the victim coordinated some acknowledged writes itself"
    not_on_disk = [
        key
        for key, value in coordinated.items()
        if key.encode() not in durable.data
        or value.encode() not in durable.data[key.encode()].values()
    ]
    assert not not_on_disk, f"the victim acknowledged writes it had not stored: {not_on_disk[:5]}"


@pytest.mark.e2e
def test_a_node_that_lost_its_disk_returns_under_a_new_incarnation(
    start_cluster: StartCluster,
) -> None:
    """REQ-DUR-2 across processes: delete a node's data directory and restart it; it boots a
    fresh incarnation, and anti-entropy refills it from the other replicas."""
    cluster = start_cluster(3, tokens_per_capacity=2)
    with cluster.client("n1") as client:
        for i in range(10):
            client.put(f"key{i}", f"value {i}", w=3)
    before = cluster.status(VICTIM)
    assert before is not None and before["keys"] == 10
    cluster.kill(VICTIM)
    shutil.rmtree(cluster.data_dir(VICTIM))
    cluster.start([VICTIM])
    after = cluster.status(VICTIM)
    assert after is not None and after["boots"] == 0
    assert after["incarnation"] != before["incarnation"]
    eventually(
        lambda: (cluster.status(VICTIM) or {}).get("keys") == 10,
        timeout=20,
        what="the new incarnation is refilled by anti-entropy",
    )
    with cluster.client(VICTIM) as client:
        found = client.get("key3", r=1)
        client.put("key3", "rewritten", context=found.context)
        assert client.get("key3", r=3).values == (b"rewritten",)
