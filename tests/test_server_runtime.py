"""The runtime's persist-then-send order and group commit, with a memory store and a fake outbox.

REQ-NODE-2: no Send or Reply of a step leaves before `Storage.commit` returned for its writes
(the recording store logs a commit as "apply" when it starts and "applied" when it returns).
"""

from __future__ import annotations

import asyncio

import pytest
from dynref.messages import (
    ClientGet,
    ClientPut,
    GetOk,
    PutOk,
    Receive,
    Replicate,
    ReplicateAck,
    Request,
    StoreMeta,
    Unavailable,
)
from dynref_io.node.runtime import MAX_QUEUED_EVENTS, NodeRuntime, StoreFailure, node_status
from dynref_io.storage.stores import MemoryStorage

from tests.runtime_harness import (
    Log,
    ManualClock,
    RecordingOutbox,
    RecordingStorage,
    config,
    make_runtime,
    position,
    stores_key,
)


def test_start_persists_a_fresh_incarnation_before_anything_else() -> None:
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)
    asyncio.run(runtime.start())
    meta = log[position(log, "apply")][1][0]  # type: ignore[index]
    assert isinstance(meta, StoreMeta) and meta.boots == 0 and meta.incarnation > 0
    assert storage.inner.load() == runtime.state.durable


def test_restart_recovers_the_stored_state_and_counts_the_boot() -> None:
    log: Log = []
    inner = MemoryStorage()
    first = make_runtime(config(1, n=1, r=1, w=1), RecordingStorage(log, inner), log)

    async def write_one() -> None:
        await first.start()
        first.submit(Request(ClientPut(7, b"k", b"v", b"")))
        await first.process_ready()

    asyncio.run(write_one())
    second = make_runtime(config(1, n=1, r=1, w=1), RecordingStorage(log, inner), log)
    asyncio.run(second.start())
    assert second.state.durable.boots == 1
    assert second.state.durable.incarnation == first.state.durable.incarnation
    assert b"k" in second.state.durable.data


def test_a_reply_leaves_only_after_the_apply_holding_its_write_returned() -> None:
    """REQ-NODE-2 on a single node: the put's PutOk follows the commit of its StoreVersions."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        runtime.submit(Request(ClientPut(7, b"k", b"v", b"")))
        await runtime.process_ready()

    asyncio.run(scenario())
    applied = position(log, "applied", stores_key(b"k"))
    replied = position(log, "reply", lambda payload: payload == (7, PutOk()))
    assert position(log, "apply", stores_key(b"k")) < applied < replied


def test_sends_and_replies_are_held_while_the_commit_is_in_progress() -> None:
    """A replica's ReplicateAck and a coordinator's Replicates wait for the disk."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(3), storage, log)

    async def scenario() -> None:
        await runtime.start()
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"a", b"1", b"")))
        batch = asyncio.create_task(runtime.process_ready())
        await asyncio.to_thread(storage.applying.wait, 10)
        await asyncio.sleep(0.05)  # the loop is free while the storage thread holds the apply
        assert not [entry for entry in log if entry[0] in ("send", "reply")]
        storage.gate.set()
        await batch

    asyncio.run(scenario())
    replicates = [i for i, (kind, p) in enumerate(log) if kind == "send"]
    assert replicates, "the coordinator replicates the put"
    assert min(replicates) > position(log, "applied", stores_key(b"a"))


def test_a_replica_acks_only_after_storing() -> None:
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(3), storage, log, node_id="n2")
    coordinator = make_runtime(config(3), RecordingStorage([]), [], node_id="n1")

    async def scenario() -> None:
        await coordinator.start()
        coordinator.submit(Request(ClientPut(1, b"key", b"value", b"")))
        await coordinator.process_ready()
        await runtime.start()
        versions = coordinator.state.durable.data[b"key"]
        runtime.submit(Receive("n1", Replicate(99, b"key", versions, None)))
        await runtime.process_ready()

    asyncio.run(scenario())
    acked = position(log, "send", lambda p: p == ("n1", ReplicateAck(99, b"key")))
    assert position(log, "applied", stores_key(b"key")) < acked


def test_ready_events_share_one_commit() -> None:
    """Group commit: everything queued when a batch starts is written by one apply."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        for i in range(20):
            runtime.submit(Request(ClientPut(i, b"k%d" % i, b"v", b"")))
        await runtime.process_ready()

    asyncio.run(scenario())
    applies = [payload for kind, payload in log if kind == "apply"]
    assert len(applies) == 2  # the boot's StoreMeta, then the whole batch
    assert len(applies[1]) == 20  # type: ignore[arg-type]
    replies = [p for kind, p in log if kind == "reply"]
    assert len(replies) == 20
    assert position(log, "applied", stores_key(b"k19")) < position(log, "reply")


def test_events_arriving_during_a_commit_go_to_the_next_batch() -> None:
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"first", b"v", b"")))
        batch = asyncio.create_task(runtime.process_ready())
        await asyncio.to_thread(storage.applying.wait, 10)
        runtime.submit(Request(ClientGet(2, b"first")))
        storage.gate.set()
        await batch
        assert [p for kind, p in log if kind == "reply"] == [(1, PutOk())]
        await runtime.process_ready()

    asyncio.run(scenario())
    (_first, second) = [p for kind, p in log if kind == "reply"]
    assert isinstance(second[1], GetOk) and second[1].values == (b"v",)  # type: ignore[index]


def test_a_failed_commit_releases_nothing_but_errors_and_stops_the_node() -> None:
    """REQ-DUR-3: the put's client gets an error reply, not silence; no Send leaves."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(3), storage, log)

    async def scenario() -> None:
        await runtime.start()
        storage.fail = True
        runtime.submit(Request(ClientPut(1, b"k", b"v", b"")))
        with pytest.raises(StoreFailure, match=r"the store cannot be written.*disk on fire"):
            await runtime.run()

    asyncio.run(scenario())
    assert not [entry for entry in log if entry[0] == "send"]
    ((request_id, result),) = [p for kind, p in log if kind == "reply"]
    assert request_id == 1 and isinstance(result, Unavailable)
    assert "disk on fire" in result.reason
    assert b"k" not in storage.inner.load().data  # type: ignore[union-attr]


def test_ticks_drive_the_core_clock_and_timeouts() -> None:
    """A put whose replicas never answer gets QuorumNotReached once ticks pass its deadline."""
    log: Log = []
    clock = ManualClock()
    runtime = NodeRuntime(
        config(3, request_timeout=50),
        "n1",
        lambda: RecordingStorage(log),
        RecordingOutbox(log),
        clock=clock,
        tick_interval=10,
        log=lambda line: None,
    )

    async def scenario() -> None:
        await runtime.start()
        runtime.submit(Request(ClientPut(1, b"k", b"v", b"")))
        await runtime.process_ready()
        for _ in range(10):
            clock.now += 10
            await runtime.process_ready()

    asyncio.run(scenario())
    (reply,) = [p for kind, p in log if kind == "reply"]
    assert reply[1].needed == 2 and reply[1].seen == 1  # type: ignore[index]
    assert runtime.state.volatile.now == clock.now
    assert set(runtime.state.volatile.down) == {"n2", "n3"}


def test_status_is_flat_for_the_wire() -> None:
    log: Log = []
    runtime = make_runtime(config(3), RecordingStorage(log), log)
    asyncio.run(runtime.start())
    status = node_status(runtime.state)
    assert status["node_id"] == "n1" and status["keys"] == 0 and status["down"] == ""
    assert all(isinstance(value, int | str) for value in status.values())


def test_run_returns_after_stop() -> None:
    log: Log = []
    runtime = make_runtime(config(1, n=1, r=1, w=1), RecordingStorage(log), log)

    async def scenario() -> None:
        await runtime.start()
        task = asyncio.create_task(runtime.run())
        await asyncio.sleep(0.02)
        runtime.stop()
        await asyncio.wait_for(task, 2)
        await runtime.close()

    asyncio.run(scenario())
    assert log[-1] == ("close", None)


def test_a_full_queue_makes_readers_wait_for_the_next_batch() -> None:
    log: Log = []
    runtime = make_runtime(config(1, n=1, r=1, w=1), RecordingStorage(log), log)

    async def scenario() -> None:
        await runtime.start()
        for i in range(MAX_QUEUED_EVENTS):
            runtime.submit(Request(ClientGet(i, b"k")))
        waiting = asyncio.create_task(runtime.wait_for_room())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await runtime.process_ready()
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())
    assert len([entry for entry in log if entry[0] == "reply"]) == MAX_QUEUED_EVENTS
