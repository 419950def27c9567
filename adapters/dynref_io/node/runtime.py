"""The loop that drives one node's core: events in, effects out, persist before send, pipelined.

`NodeRuntime` owns the node's state. Events (client requests, peer messages) are queued by the
transport; the runtime steps everything that is ready and acts on each step's `Ready` value
(dynref.ready): the step's durable writes are encoded at once (`Storage.prepare`), its sends and
replies join the batch, its protocol errors go to the log. Batches go to the commit pipeline
(`pipeline`), which commits one while the runtime steps the next, and releases each batch's
sends and replies only after its own commit and every earlier batch's (etcd raft's `Ready` rule,
the spec's REQ-NODE-2).

While `run` runs, stepping is a loop callback, scheduled once per loop turn by the first event
queued (so a batch takes everything the connections read in that turn), and by a timer when the
next tick is due.

Failures (REQ-DUR-3): a step whose writes cannot be encoded is refused alone: the state stays as
it was before that step, its client request is answered with an error, and the node goes on. A
commit that fails means the store cannot be written: the pipeline answers every owed request
with an error and `run` raises `StoreFailure`, so that the node stops.

No protocol logic lives here: which message goes where, and when, is the core's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dynref.config import ClusterConfig
from dynref.messages import Event, Reply, Request, Tick, Unavailable
from dynref.node import Step, boot, recover, step
from dynref.state import NodeState

from dynref_io.node.basics import (
    Clock,
    NodeFailure,
    Outbox,
    fresh_incarnation,
    log_line,
    node_status,
    wall_anchored_clock,
    with_traceback,
)
from dynref_io.node.pipeline import Batch, CommitPipeline, StoreFailure
from dynref_io.storage.stores import Storage, UnstorableWriteError

MAX_QUEUED_EVENTS = 10_000
"""Beyond this many queued events, connections pause reading until the next batch takes them."""
MAX_STEPPED_EVENTS = 10_000
"""Beyond this many events stepped but not yet committing, stepping waits for the commit."""


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
        self._clock = clock or wall_anchored_clock()
        self._tick_interval = tick_interval
        self._log = log
        self._pipeline = CommitPipeline(
            node_id,
            outbox,
            log,
            on_commit_end=self._after_commit,
            on_failure=self._end,
            on_release=self._on_release,
        )
        self._state: NodeState | None = None
        self._inbox: list[Event] = []
        self._held = 0  # events submitted whose batch is not yet released
        self._room = asyncio.Event()
        self._room.set()
        self._next_tick = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._stopping = False
        self._step_scheduled = False
        self._tick_timer: asyncio.TimerHandle | None = None
        self._ended: asyncio.Future[None] | None = None  # done on `stop` or a failure
        self.steps = 0

    @property
    def state(self) -> NodeState:
        if self._state is None:
            raise RuntimeError("the runtime has not started")
        return self._state

    @property
    def commits(self) -> int:
        return self._pipeline.commits

    async def start(self) -> None:
        """Load durable state (or boot a fresh incarnation), persist the start's writes."""
        pipeline = self._pipeline
        storage = await pipeline.in_storage_thread(self._open_storage)
        pipeline.storage = storage
        durable = await pipeline.in_storage_thread(storage.load)
        now = self._clock()
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # asyncio or uvloop
        if durable is None:
            incarnation = fresh_incarnation()
            started = boot(self._config, self._node_id, incarnation, now)
            self._log(
                f"{self._node_id}: empty disk, booting incarnation {incarnation} ({loop} loop)"
            )
        else:
            if durable.node_id != self._node_id:
                raise NodeFailure(
                    f"the data directory belongs to node {durable.node_id!r}, not {self._node_id!r}"
                )
            started = recover(self._config, durable, now)
            self._log(
                f"{self._node_id}: recovered incarnation {durable.incarnation}, "
                f"boot {durable.boots + 1}, {len(durable.data)} keys ({loop} loop)"
            )
        self._next_tick = now + self._tick_interval
        self._state = started.state
        await pipeline.commit_now(Batch(prepared=[storage.prepare(started.ready.writes)]))
        self._raise_failure()

    def submit(self, event: Event) -> bool:
        """Queue an event for the next batch. False when the node has failed: a client request
        is then answered with an error at once, and the runtime holds nothing of the event."""
        if self._pipeline.failure is not None:
            if isinstance(event, Request):
                request_id = event.request.request_id
                self._pipeline.answer_with_error(request_id, str(self._pipeline.failure))
            return False
        if isinstance(event, Request):
            self._pipeline.owe(event.request.request_id)
        self._inbox.append(event)
        self._held += 1
        if self._running and not self._step_scheduled:
            self._schedule_step()
        if len(self._inbox) >= MAX_QUEUED_EVENTS:
            self._room.clear()
        return True

    @property
    def held_events(self) -> int:
        """Events submitted whose batch is not yet released: queued, stepped into a batch
        waiting for its commit, or committing. They leave the node in the order submitted (a
        batch takes the whole queue, and batches are released in order); the server's byte
        budget counts their bytes until then."""
        return self._held

    async def wait_for_room(self) -> None:
        """Wait while the queue is full: connections stop reading, and TCP pushes back on the
        senders instead of the queue growing without bound."""
        await self._room.wait()

    def stop(self) -> None:
        """Let `run` return once what was stepped is committed and released."""
        self._stopping = True
        self._end()

    async def run(self) -> None:
        """Step batches until `stop`, committing each while the next is stepped. Raises
        StoreFailure when the store cannot be written; every request owed an answer then got an
        error reply. Any other exception is a defect: it propagates, after the same replies."""
        self._loop = asyncio.get_running_loop()
        self._ended = self._loop.create_future()
        self._running = not self._stopping
        try:
            if self._running:
                self._arm_tick_timer()
                self._schedule_step()
                await self._ended
            self._running = False
            await self.drain()
        except BaseException as error:
            self._pipeline.fail_owed(f"{self._node_id} failed: {type(error).__name__}: {error}")
            raise
        finally:
            self._running = False
            if self._tick_timer is not None:
                self._tick_timer.cancel()

    async def process_ready(self) -> None:
        """Step what is queued, then wait until it is committed and released (tests, tools)."""
        self.step_ready()
        await self.drain()

    def step_ready(self) -> None:
        """Step every queued event (and a due Tick) into the batch waiting for the next commit,
        and hand it to the pipeline."""
        self._raise_failure()
        events, self._inbox = self._inbox, []
        taken = len(events)
        self._room.set()
        now = self._clock()
        if now >= self._next_tick:
            # The tick goes first so that the batch's puts are stamped with the fresh time.
            events.insert(0, Tick(now))
            self._next_tick = now + self._tick_interval
        if not events:
            return
        batch = self._pipeline.batch_to_fill()
        state = self.state
        for event in events:
            state = self._step_one(state, event, batch)
        self._state = state
        self.steps += len(events)
        batch.events += len(events)
        batch.submitted += taken
        self._pipeline.hand_over(batch)

    async def drain(self) -> None:
        """Wait until everything stepped is committed and released (or the store failed)."""
        await self._pipeline.drain()
        self._raise_failure()

    async def close(self) -> None:
        """Close the storage (on its own thread) and the thread itself."""
        await self._pipeline.close()

    # ------------------------------------------------------------ stepping

    def _step_one(self, state: NodeState, event: Event, batch: Batch) -> NodeState:
        result: Step = step(state, event)
        ready = result.ready
        if ready.writes:
            storage = self._pipeline.storage
            assert storage is not None, "started"
            try:
                prepared = storage.prepare(ready.writes)
            except UnstorableWriteError as error:
                self._refuse(event, error, batch)
                return state  # as if the event never arrived: nothing of it is kept
            batch.prepared.append(prepared)
        if ready.sends:
            batch.sends.extend(ready.sends)
        if ready.replies:
            batch.replies.extend(ready.replies)
        for problem in ready.errors:
            peer = problem.peer or "-"
            self._log(f"{self._node_id}: protocol error from {peer}: {problem.reason}")
        return result.state

    def _refuse(self, event: Event, error: UnstorableWriteError, batch: Batch) -> None:
        """A step whose writes cannot be stored: dropped, and its client request answered."""
        kind = type(event.request if isinstance(event, Request) else event).__name__
        message = f"{self._node_id}: refused a {kind}: its writes cannot be stored: {error}"
        self._log(with_traceback(message, error))
        if isinstance(event, Request):
            reason = f"{self._node_id} cannot store this write: {error}"
            batch.replies.append(Reply(event.request.request_id, Unavailable(reason)))

    # ------------------------------------------------------------ scheduling

    def _schedule_step(self) -> None:
        assert self._loop is not None, "running"
        self._step_scheduled = True
        self._loop.call_soon(self._step_scheduled_batch)

    def _step_scheduled_batch(self) -> None:
        self._step_scheduled = False
        self._step_now()

    def _step_now(self) -> None:
        if not self._running or self._pipeline.stepped_events() >= MAX_STEPPED_EVENTS:
            return  # a full batch waits for the commit in progress, whose end steps again
        try:
            self.step_ready()
        except BaseException as error:  # a defect: `run` raises it
            self._pipeline.fail(error)

    def _on_release(self, batch: Batch) -> None:
        self._held -= batch.submitted

    def _after_commit(self) -> None:
        if self._running and self._inbox and not self._step_scheduled:
            self._schedule_step()  # stepping may have waited for this commit

    def _arm_tick_timer(self) -> None:
        assert self._loop is not None, "running"
        delay_ms = max(1, self._next_tick - self._clock())
        self._tick_timer = self._loop.call_later(delay_ms / 1000, self._on_tick_timer)

    def _on_tick_timer(self) -> None:
        if not self._running:
            return
        if self._clock() >= self._next_tick:
            self._step_now()  # steps the due Tick with whatever is queued
        self._arm_tick_timer()

    def _end(self) -> None:
        """Make `run` return: on `stop`, or on a failure (which `run` then raises)."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    def _raise_failure(self) -> None:
        if self._pipeline.failure is not None:
            raise self._pipeline.failure


__all__ = [
    "MAX_QUEUED_EVENTS",
    "Clock",
    "NodeFailure",
    "NodeRuntime",
    "Outbox",
    "StoreFailure",
    "log_line",
    "node_status",
]
