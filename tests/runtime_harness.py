"""Fakes around a `NodeRuntime`: a store that logs, holds and fails commits, and an outbox that
logs what is released, in one shared log, so tests can compare the order of the two."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from dynref.config import ClusterConfig
from dynref.messages import ClientResult, DurableWrite, Message, StoreVersions
from dynref.ring import NodeSpec
from dynref.state import DurableState
from dynref_io.node.runtime import NodeRuntime
from dynref_io.storage.stores import MemoryStorage, PreparedWrites, UnstorableWriteError

Log = list[tuple[str, Any]]


class RecordingStorage:
    """A memory store that logs when each commit starts and returns (with the writes it holds),
    can hold a commit until released (`gate`), fail it (`fail`), or refuse to encode the writes
    of some keys (`poisoned`)."""

    def __init__(self, log: Log, inner: MemoryStorage | None = None) -> None:
        self.log = log
        self.inner = inner or MemoryStorage()
        self.gate = threading.Event()
        self.gate.set()
        self.applying = threading.Event()
        self.fail = False
        self.poisoned: set[bytes] = set()

    def load(self) -> DurableState | None:
        return self.inner.load()

    def prepare(self, writes: Sequence[DurableWrite]) -> PreparedWrites:
        for write in writes:
            if isinstance(write, StoreVersions) and write.key in self.poisoned:
                raise UnstorableWriteError(f"OverflowError: key {write.key!r} is poisoned")
        return self.inner.prepare(writes)

    def commit(self, batches: Sequence[PreparedWrites]) -> None:
        writes = tuple(write for batch in batches for write in batch.writes)
        self.log.append(("apply", writes))
        self.applying.set()
        self.gate.wait(timeout=10)
        if self.fail:
            raise OSError("disk on fire")
        self.inner.commit(batches)
        self.log.append(("applied", writes))

    def close(self) -> None:
        self.log.append(("close", None))


class RecordingOutbox:
    def __init__(self, log: Log) -> None:
        self.log = log

    def send(self, to: str, message: Message) -> None:
        self.log.append(("send", (to, message)))

    def reply(self, request_id: int, result: ClientResult) -> None:
        self.log.append(("reply", (request_id, result)))

    def flush(self) -> None:
        self.log.append(("flush", None))


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def config(count: int, **overrides: Any) -> ClusterConfig:
    nodes = tuple(NodeSpec(f"n{i}") for i in range(1, count + 1))
    return ClusterConfig(nodes=nodes, **overrides)


def make_runtime(
    cluster: ClusterConfig, storage: RecordingStorage, log: Log, node_id: str = "n1"
) -> NodeRuntime:
    return NodeRuntime(
        cluster,
        node_id,
        lambda: storage,
        RecordingOutbox(log),
        clock=ManualClock(),
        tick_interval=10,
        log=lambda line: log.append(("log", line)),
    )


def position(log: Log, kind: str, predicate: Callable[[Any], bool] | None = None) -> int:
    for index, (entry_kind, payload) in enumerate(log):
        if entry_kind == kind and (predicate is None or predicate(payload)):
            return index
    raise AssertionError(f"no {kind} entry matching in {log}")


def stores_key(key: bytes) -> Callable[[Any], bool]:
    return lambda writes: any(isinstance(w, StoreVersions) and w.key == key for w in writes)


def released(log: Log) -> list[tuple[int, str, Any]]:
    """(position, kind, payload) of every send and reply in the log."""
    return [(i, kind, p) for i, (kind, p) in enumerate(log) if kind in ("send", "reply")]
