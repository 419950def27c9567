"""The loop that drives one node's core: events in, effects out, persist before send.

`NodeRuntime` owns the node's state and its storage. Events (client requests, peer messages)
are queued by the transport; the runtime drains everything that is ready in one go, steps each
event, writes all the batch's durable writes with ONE `storage.apply` call (group commit), and
only after that call returned releases the batch's sends and replies to the transport — etcd
raft's Ready rule, and the spec's REQ-NODE-2. Messages and replies that carry no write wait for
the commit too: a later step of the batch may read what an earlier one wrote, and nothing that
depends on an uncommitted write may leave the node.

No protocol logic lives here: which message goes where, and when, is the core's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import attrs
from dynref.config import ClusterConfig
from dynref.messages import (
    ClientResult,
    DeleteHint,
    DurableWrite,
    Effect,
    Event,
    Message,
    ProtocolError,
    Reply,
    Send,
    StoreHint,
    StoreMeta,
    StoreVersions,
    Tick,
)
from dynref.node import Step, boot, recover, step
from dynref.state import NodeState

from dynref_io.storage.stores import Storage

T = TypeVar("T")

MAX_QUEUED_EVENTS = 10_000
"""Beyond this many queued events, connections pause reading until the next batch takes them."""


class Outbox(Protocol):
    """Where released effects go: the peer links and the client connections."""

    def send(self, to: str, message: Message) -> None: ...

    def reply(self, request_id: int, result: ClientResult) -> None: ...

    def flush(self) -> None:
        """The batch's effects are all released: write them out."""


Clock = Callable[[], int]
"""Milliseconds; successive calls never go backwards."""


def wall_anchored_clock() -> Clock:
    """Wall-clock milliseconds read once, then advanced by the monotonic clock.

    Node time stamps versions (lww mode, vclock pruning), so it should be comparable across
    nodes and restarts like a wall clock; within a process it must never go backwards, which a
    wall clock alone does not promise (NTP steps).
    """
    wall_start = time.time_ns() // 1_000_000
    monotonic_start = time.monotonic_ns() // 1_000_000
    return lambda: wall_start + time.monotonic_ns() // 1_000_000 - monotonic_start


def fresh_incarnation() -> int:
    """An incarnation for a node booting without a disk: never one this node used before.

    The boot's wall-clock milliseconds, then three random digits: readable, ordered by boot
    time, and still distinct if the clock was set back or two boots share a millisecond. Kept
    short because `node#incarnation` is the actor named in every version the node writes.
    """
    return (time.time_ns() // 1_000_000) * 1_000 + secrets.randbelow(1_000)


def log_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def node_status(state: NodeState) -> dict[str, int | str]:
    """What `dynref cluster status` and the tests observe of a node, flat as StatusReply wants.

    Lists of peers travel as comma-separated text ("" for none).
    """
    durable = state.durable
    status: dict[str, int | str] = {
        "node_id": durable.node_id,
        "mode": state.config.mode.value,
        "incarnation": durable.incarnation,
        "boots": durable.boots,
        "keys": len(durable.data),
        "hints": sum(len(held) for held in durable.hints.values()),
        "down": ",".join(sorted(state.volatile.down)),
        "now": state.volatile.now,
    }
    status.update(attrs.asdict(state.volatile.stats))
    return status


class NodeRuntime:
    """One node's core, storage and event queue. Use from a single asyncio event loop."""

    def __init__(
        self,
        config: ClusterConfig,
        node_id: str,
        open_storage: Callable[[], Storage],
        outbox: Outbox,
        *,
        clock: Clock | None = None,
        tick_interval: int = 10,
        log: Callable[[str], None] = log_line,
    ) -> None:
        self._config = config
        self._node_id = node_id
        self._open_storage = open_storage
        self._outbox = outbox
        self._clock = clock or wall_anchored_clock()
        self._tick_interval = tick_interval
        self._log = log
        # SQLite connections belong to the thread that opened them: every storage call runs on
        # this one thread, so that a commit's fsync never blocks the event loop.
        self._storage_thread = ThreadPoolExecutor(1, thread_name_prefix=f"{node_id}-storage")
        self._storage: Storage | None = None
        self._state: NodeState | None = None
        self._inbox: list[Event] = []
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._stopping = False
        self._next_tick = 0
        self.commits = 0
        self.steps = 0

    @property
    def state(self) -> NodeState:
        if self._state is None:
            raise RuntimeError("the runtime has not started")
        return self._state

    async def start(self) -> None:
        """Load durable state (or boot a fresh incarnation), persist the start's writes."""
        self._storage = await self._in_storage_thread(self._open_storage)
        durable = await self._in_storage_thread(self._storage.load)
        now = self._clock()
        if durable is None:
            incarnation = fresh_incarnation()
            started = boot(self._config, self._node_id, incarnation, now)
            self._log(f"{self._node_id}: empty disk, booting incarnation {incarnation}")
        else:
            if durable.node_id != self._node_id:
                raise RuntimeError(
                    f"the data directory belongs to node {durable.node_id!r}, not {self._node_id!r}"
                )
            started = recover(self._config, durable, now)
            self._log(
                f"{self._node_id}: recovered incarnation {durable.incarnation}, "
                f"boot {durable.boots + 1}, {len(durable.data)} keys"
            )
        self._next_tick = now + self._tick_interval
        self._state = started.state
        await self._commit_and_release([started])

    def submit(self, event: Event) -> None:
        """Queue an event for the next batch."""
        self._inbox.append(event)
        self._wakeup.set()
        if len(self._inbox) >= MAX_QUEUED_EVENTS:
            self._room.clear()

    async def wait_for_room(self) -> None:
        """Wait while the queue is full: connections stop reading, and TCP pushes back on the
        senders instead of the queue growing without bound."""
        await self._room.wait()

    def stop(self) -> None:
        """Let `run` return after the batch in progress (whose effects it still releases)."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Process batches until `stop`. A storage failure propagates: the node must crash."""
        while not self._stopping:
            if not self._inbox:
                delay = (self._next_tick - self._clock()) / 1000
                if delay > 0:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wakeup.wait()
            await self.process_ready()

    async def process_ready(self) -> None:
        """One group commit: step every queued event (and a due Tick), persist, then release."""
        events, self._inbox = self._inbox, []
        self._room.set()
        now = self._clock()
        if now >= self._next_tick:
            # The tick goes first so that the batch's puts are stamped with the fresh time.
            events.insert(0, Tick(now))
            self._next_tick = now + self._tick_interval
        if not events:
            return
        steps = []
        state = self.state
        for event in events:
            result = step(state, event)
            state = result.state
            steps.append(result)
        self._state = state
        self.steps += len(steps)
        await self._commit_and_release(steps)

    async def _commit_and_release(self, steps: Sequence[Step]) -> None:
        writes: list[DurableWrite] = []
        released: list[Effect] = []
        for result in steps:
            for effect in result.effects:
                if isinstance(effect, StoreVersions | StoreHint | DeleteHint | StoreMeta):
                    writes.append(effect)
                elif isinstance(effect, ProtocolError):
                    peer = effect.peer or "-"
                    self._log(f"{self._node_id}: protocol error from {peer}: {effect.reason}")
                else:
                    released.append(effect)
        if writes:
            storage = self._storage
            assert storage is not None, "started"
            await self._in_storage_thread(storage.apply, writes)
            self.commits += 1
        for effect in released:
            if isinstance(effect, Send):
                self._outbox.send(effect.to, effect.message)
            elif isinstance(effect, Reply):
                self._outbox.reply(effect.request_id, effect.result)
        if released:
            self._outbox.flush()

    async def close(self) -> None:
        """Close the storage (on its own thread) and the thread itself."""
        if self._storage is not None:
            await self._in_storage_thread(self._storage.close)
            self._storage = None
        self._storage_thread.shutdown(wait=True)

    async def _in_storage_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._storage_thread, function, *args)
