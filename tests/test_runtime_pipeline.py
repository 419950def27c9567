"""The pipelined runtime: the next batch is stepped while the previous one commits, and still
nothing of a batch leaves before its own commit returned and every earlier batch was released.

REQ-NODE-2 (persist, then send, in batch order) and REQ-DUR-3 (a step that cannot be stored is
refused alone; a store that cannot be written stops the node, every owed request answered with
an error). Slow commits are held by the recording store's gate; failing ones raise in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from dynref.messages import (
    ClientGet,
    ClientPut,
    Fetch,
    GetOk,
    PutOk,
    Replicate,
    Request,
    Unavailable,
)
from dynref_io.node import runtime as runtime_module
from dynref_io.node.runtime import NodeRuntime, StoreFailure

from tests.runtime_harness import (
    Log,
    RecordingStorage,
    config,
    make_runtime,
    position,
    released,
    stores_key,
)


def about(key: bytes) -> Callable[[Any], bool]:
    """A released send or reply that concerns `key` (by its message) or request id `key`."""

    def matches(payload: Any) -> bool:
        _to, message = payload
        return getattr(message, "key", None) == key

    return matches


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until the condition holds (a hang fails the test's own timeout)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def test_the_next_batch_is_stepped_while_the_previous_one_commits() -> None:
    """REQ-NODE-2: with a commit held, `run` steps the events that arrive meanwhile but
    releases none of their effects; released, each batch's sends follow its own commit, and
    batch 1's all precede batch 2's."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(3), storage, log)

    async def scenario() -> None:
        await runtime.start()
        task = asyncio.create_task(runtime.run())
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"first", b"1", b"")))
        await asyncio.to_thread(storage.applying.wait, 10)
        stepped = runtime.steps
        runtime.submit(Request(ClientPut(2, b"second", b"2", b"")))
        runtime.submit(Request(ClientGet(3, b"third")))
        await until(lambda: runtime.steps >= stepped + 2)
        assert len(runtime.state.volatile.puts) == 2 and len(runtime.state.volatile.gets) == 1
        assert not released(log), "nothing leaves while the first commit is held"
        assert [kind for kind, _ in log].count("apply") == 2  # the boot's, then the first batch's
        storage.gate.set()
        await until(lambda: [kind for kind, _ in log].count("applied") == 3)
        await until(lambda: any(about(b"third")(p) for _, kind, p in released(log)))
        runtime.stop()
        await task

    asyncio.run(scenario())
    first_commit = position(log, "applied", stores_key(b"first"))
    second_apply = position(log, "apply", stores_key(b"second"))
    second_commit = position(log, "applied", stores_key(b"second"))
    first_sends = [i for i, kind, p in released(log) if kind == "send" and about(b"first")(p)]
    second_sends = [
        i
        for i, kind, p in released(log)
        if kind == "send" and (about(b"second")(p) or about(b"third")(p))
    ]
    assert len(first_sends) == 2 and len(second_sends) == 4  # Replicate x2; Replicate, Fetch x2
    assert first_commit < min(first_sends) and max(first_sends) < second_apply
    assert second_commit < min(second_sends)
    kinds = {type(p[1]) for i, kind, p in released(log) if i in second_sends}
    assert kinds == {Replicate, Fetch}


def test_a_batch_without_writes_waits_for_the_commit_before_it() -> None:
    """REQ-NODE-2: a get stepped after an uncommitted put reads its value, so its reply waits
    for that put's commit although the get's own batch writes nothing."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"k", b"v", b"")))
        runtime.step_ready()
        await asyncio.to_thread(storage.applying.wait, 10)
        runtime.submit(Request(ClientGet(2, b"k")))
        runtime.step_ready()
        await asyncio.sleep(0.01)
        assert not released(log)
        storage.gate.set()
        await runtime.drain()

    asyncio.run(scenario())
    committed = position(log, "applied", stores_key(b"k"))
    put_ok = position(log, "reply", lambda p: p == (1, PutOk()))
    get_ok = position(log, "reply", lambda p: p[0] == 2)
    assert committed < put_ok < get_ok
    assert log[get_ok][1][1] == GetOk((b"v",), log[get_ok][1][1].context)


def test_a_failed_commit_fails_the_requests_of_every_uncommitted_batch() -> None:
    """REQ-DUR-3: the failed batch's requests and those stepped after it get error replies;
    no Send of either leaves; the store holds none of them; later requests are refused."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(3), storage, log)

    async def scenario() -> None:
        await runtime.start()
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"first", b"1", b"")))
        runtime.step_ready()
        await asyncio.to_thread(storage.applying.wait, 10)
        runtime.submit(Request(ClientPut(2, b"second", b"2", b"")))
        runtime.submit(Request(ClientGet(3, b"third")))
        runtime.step_ready()
        storage.fail = True
        storage.gate.set()
        with pytest.raises(StoreFailure, match="disk on fire"):
            await runtime.drain()
        runtime.submit(Request(ClientGet(4, b"fourth")))

    asyncio.run(scenario())
    assert not [entry for entry in log if entry[0] == "send"]
    replies = dict(p for kind, p in log if kind == "reply")
    assert sorted(replies) == [1, 2, 3, 4]
    assert all(isinstance(result, Unavailable) for result in replies.values())
    assert [kind for kind, _ in log].count("apply") == 2  # the second batch was never committed
    stored = storage.inner.load()
    assert stored is not None and not stored.data


def test_a_step_whose_writes_cannot_be_stored_is_refused_alone() -> None:
    """REQ-DUR-3: the poisoned put is answered with an error and leaves no trace in memory or
    on disk; the puts before and after it in the same batch succeed; the node goes on."""
    log: Log = []
    storage = RecordingStorage(log)
    storage.poisoned.add(b"bad")
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        runtime.submit(Request(ClientPut(1, b"good", b"1", b"")))
        runtime.submit(Request(ClientPut(2, b"bad", b"2", b"")))
        runtime.submit(Request(ClientPut(3, b"after", b"3", b"")))
        await runtime.process_ready()
        runtime.submit(Request(ClientGet(4, b"good")))
        await runtime.process_ready()

    asyncio.run(scenario())
    replies = dict(p for kind, p in log if kind == "reply")
    assert replies[1] == PutOk() and replies[3] == PutOk()
    assert isinstance(replies[2], Unavailable) and "cannot store" in replies[2].reason
    assert isinstance(replies[4], GetOk) and replies[4].values == (b"1",)
    assert set(runtime.state.durable.data) == {b"good", b"after"}
    stored = storage.inner.load()
    assert stored is not None and set(stored.data) == {b"good", b"after"}
    (refusal,) = [line for kind, line in log if kind == "log" and "refused" in line]
    assert "ClientPut" in refusal and "Traceback" in refusal


def test_a_context_whose_counter_overflows_storage_gets_an_error_and_the_node_goes_on() -> None:
    """Issue 13's `--context 0101010178ffffffffffffffffff01`: a counter of 2^64 - 1 decodes,
    but the put's next dot does not fit the store's 64-bit integers. The client gets an error
    (whichever layer refuses it) and the node keeps serving."""
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)
    overflowing = bytes.fromhex("0101010178ffffffffffffffffff01")

    async def scenario() -> None:
        await runtime.start()
        task = asyncio.create_task(runtime.run())
        runtime.submit(Request(ClientPut(1, b"k", b"x", overflowing)))
        runtime.submit(Request(ClientPut(2, b"other", b"y", b"")))
        await until(lambda: len([entry for entry in log if entry[0] == "reply"]) == 2)
        runtime.stop()
        await task

    asyncio.run(scenario())
    replies = dict(p for kind, p in log if kind == "reply")
    assert not isinstance(replies[1], PutOk)
    assert replies[2] == PutOk()
    assert b"k" not in runtime.state.durable.data


def test_start_fails_when_the_store_cannot_be_written() -> None:
    log: Log = []
    storage = RecordingStorage(log)
    storage.fail = True
    runtime: NodeRuntime = make_runtime(config(1, n=1, r=1, w=1), storage, log)
    with pytest.raises(StoreFailure, match="disk on fire"):
        asyncio.run(runtime.start())


def test_stepping_waits_for_the_commit_once_enough_is_stepped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded under a slow disk: past MAX_STEPPED_EVENTS stepped and uncommitted,
    the runtime steps nothing more until the commit in progress ends, then takes the rest."""
    monkeypatch.setattr(runtime_module, "MAX_STEPPED_EVENTS", 2)
    log: Log = []
    storage = RecordingStorage(log)
    runtime = make_runtime(config(1, n=1, r=1, w=1), storage, log)

    async def scenario() -> None:
        await runtime.start()
        task = asyncio.create_task(runtime.run())
        storage.gate.clear()
        storage.applying.clear()
        runtime.submit(Request(ClientPut(1, b"k1", b"v", b"")))
        await asyncio.to_thread(storage.applying.wait, 10)
        stepped = runtime.steps
        for request_id in range(2, 7):
            runtime.submit(Request(ClientPut(request_id, b"k%d" % request_id, b"v", b"")))
            await asyncio.sleep(0.005)
        assert runtime.steps == stepped + 2, "two stepped, three wait in the queue"
        storage.gate.set()
        await until(lambda: len([entry for entry in log if entry[0] == "reply"]) == 6)
        runtime.stop()
        await task

    asyncio.run(scenario())
    replies = dict(p for kind, p in log if kind == "reply")
    assert all(replies[request_id] == PutOk() for request_id in range(1, 7))
