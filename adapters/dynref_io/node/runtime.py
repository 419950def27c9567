"""The loop that drives one node's core: events in, effects out, persist before send, pipelined.

`NodeRuntime` owns the node's state and its storage. Events (client requests, peer messages)
are queued by the transport; the runtime steps everything that is ready and acts on each step's
`Ready` value (dynref.ready): the step's durable writes are encoded at once (`Storage.prepare`),
its sends and replies join the batch, its protocol errors go to the log.

Batches are pipelined (etcd raft's `Ready` rule, the spec's REQ-NODE-2):

- one commit at a time runs on the storage thread, ONE `Storage.commit` (one transaction) for
  every step stepped since the previous commit began (group commit);
- while it runs, the event loop goes on stepping the next events into the next batch;
- a batch's sends and replies are released only once its own commit returned, and only after
  every earlier batch's were. A batch without writes waits all the same: its steps may have read
  what an earlier, still uncommitted step wrote (a `PutOk` whose local write is in the batch
  before, a `GetOk` or `FetchReply` showing it), and nothing that depends on an uncommitted write
  may leave the node.

Failures (REQ-DUR-3): a step whose writes cannot be encoded is refused alone: the state stays as
it was before that step, its client request is answered with an error, and the node goes on. A
commit that fails means the store cannot be written (disk full, read-only, I/O error): the
transaction left the store as it was, every request still owed an answer gets an error reply,
nothing else of the uncommitted batches leaves, and `run` raises `StoreFailure` so that the
node stops.

No protocol logic lives here: which message goes where, and when, is the core's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
from dynref.config import ClusterConfig
from dynref.messages import Event, Reply, Request, Send, Tick, Unavailable
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
from dynref_io.storage.stores import PreparedWrites, Storage, UnstorableWriteError

T = TypeVar("T")

MAX_QUEUED_EVENTS = 10_000
"""Beyond this many queued events, connections pause reading until the next batch takes them."""
MAX_STEPPED_EVENTS = 10_000
"""Beyond this many events stepped but not yet committing, stepping waits for the commit."""


class StoreFailure(NodeFailure):
    """The store could not be written; the node must stop. Nothing of the failed commit, nor of
    any batch after it, was persisted or released."""


@attrs.define
class _Batch:
    """Steps whose sends and replies wait for their writes (and every earlier batch's)."""

    prepared: list[PreparedWrites] = attrs.Factory(list)
    sends: list[Send] = attrs.Factory(list)
    replies: list[Reply] = attrs.Factory(list)
    events: int = 0


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
        # this one thread, so that a commit's fsync never blocks the event loop, and commits
        # run one after another in the order they were handed over.
        self._storage_thread = ThreadPoolExecutor(1, thread_name_prefix=f"{node_id}-storage")
        self._storage: Storage | None = None
        self._state: NodeState | None = None
        self._inbox: list[Event] = []
        self._room = asyncio.Event()
        self._room.set()
        self._next_tick = 0
        # While `run` runs, stepping is a callback: scheduled once per loop turn by the first
        # event queued (after the readers of that turn, so a batch takes all they read), and
        # by a timer when the next tick is due.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._stopping = False
        self._step_scheduled = False
        self._tick_timer: asyncio.TimerHandle | None = None
        self._ended: asyncio.Future[None] | None = None  # done on `stop` or a failure
        self._stepped: _Batch | None = None  # stepped, waiting for the commit in progress
        self._committing: asyncio.Task[None] | None = None  # commits, then releases, a batch
        # Why the runtime cannot go on: a StoreFailure, or a defect raised while committing.
        self._failure: BaseException | None = None
        self._owed: set[int] = set()  # client request ids submitted and not yet answered
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
                raise NodeFailure(
                    f"the data directory belongs to node {durable.node_id!r}, not {self._node_id!r}"
                )
            started = recover(self._config, durable, now)
            self._log(
                f"{self._node_id}: recovered incarnation {durable.incarnation}, "
                f"boot {durable.boots + 1}, {len(durable.data)} keys"
            )
        self._next_tick = now + self._tick_interval
        batch = _Batch(prepared=[self._storage.prepare(started.ready.writes)])
        self._state = started.state
        await self._commit_and_release(batch)
        self._raise_failure()

    def submit(self, event: Event) -> None:
        """Queue an event for the next batch."""
        if isinstance(event, Request):
            request_id = event.request.request_id
            if self._failure is not None:
                self._answer_with_error(request_id, str(self._failure))
                return
            self._owed.add(request_id)
        self._inbox.append(event)
        if self._running and not self._step_scheduled:
            self._schedule_step()
        if len(self._inbox) >= MAX_QUEUED_EVENTS:
            self._room.clear()

    async def wait_for_room(self) -> None:
        """Wait while the queue is full: connections stop reading, and TCP pushes back on the
        senders instead of the queue growing without bound."""
        await self._room.wait()

    def stop(self) -> None:
        """Let `run` return once what was stepped is committed and released."""
        self._stopping = True
        self._end(None)

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
            self._raise_failure()
            await self.drain()
        except BaseException as error:
            self._fail_owed(f"{self._node_id} failed: {type(error).__name__}: {error}")
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
        and start that commit unless one is running."""
        self._raise_failure()
        events, self._inbox = self._inbox, []
        self._room.set()
        now = self._clock()
        if now >= self._next_tick:
            # The tick goes first so that the batch's puts are stamped with the fresh time.
            events.insert(0, Tick(now))
            self._next_tick = now + self._tick_interval
        if not events:
            return
        batch = self._stepped if self._stepped is not None else _Batch()
        state = self.state
        for event in events:
            state = self._step_one(state, event, batch)
        self._state = state
        self.steps += len(events)
        batch.events += len(events)
        if self._committing is None and not batch.prepared:
            self._stepped = None
            self._release(batch)  # nothing to persist, nothing before it: out at once
        else:
            self._stepped = batch
            self._start_next_commit()

    async def drain(self) -> None:
        """Wait until everything stepped is committed and released (or the store failed)."""
        while self._committing is not None:
            await asyncio.shield(self._committing)
        self._raise_failure()

    async def close(self) -> None:
        """Close the storage (on its own thread) and the thread itself."""
        if self._storage is not None:
            await self._in_storage_thread(self._storage.close)
            self._storage = None
        self._storage_thread.shutdown(wait=True)

    # ------------------------------------------------------------ stepping

    def _schedule_step(self) -> None:
        assert self._loop is not None, "running"
        self._step_scheduled = True
        self._loop.call_soon(self._step_scheduled_batch)

    def _step_scheduled_batch(self) -> None:
        self._step_scheduled = False
        self._step_now()

    def _step_now(self) -> None:
        if not self._running:
            return
        if self._stepped is not None and self._stepped.events >= MAX_STEPPED_EVENTS:
            return  # the commit in progress ends first; its end schedules stepping again
        try:
            self.step_ready()
        except BaseException as error:  # a defect: `run` raises it
            self._end(error)

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

    def _end(self, failure: BaseException | None) -> None:
        """Make `run` return: on `stop` (failure None), or raise the first failure."""
        if failure is not None and self._failure is None:
            self._failure = failure
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    def _step_one(self, state: NodeState, event: Event, batch: _Batch) -> NodeState:
        result: Step = step(state, event)
        ready = result.ready
        if ready.writes:
            storage = self._storage
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

    def _refuse(self, event: Event, error: UnstorableWriteError, batch: _Batch) -> None:
        """A step whose writes cannot be stored: dropped, and its client request answered."""
        kind = type(event.request if isinstance(event, Request) else event).__name__
        message = f"{self._node_id}: refused a {kind}: its writes cannot be stored: {error}"
        self._log(with_traceback(message, error))
        if isinstance(event, Request):
            reason = f"{self._node_id} cannot store this write: {error}"
            batch.replies.append(Reply(event.request.request_id, Unavailable(reason)))

    # ------------------------------------------------------------ committing and releasing

    def _start_next_commit(self) -> None:
        if self._committing is None and self._stepped is not None and self._failure is None:
            batch, self._stepped = self._stepped, None
            self._committing = asyncio.create_task(self._commit_then_next(batch))

    async def _commit_then_next(self, batch: _Batch) -> None:
        try:
            await self._commit_and_release(batch)
        except Exception as error:  # a defect, not the store's: `run` raises it
            self._end(error)
        finally:
            self._committing = None
            self._start_next_commit()
            if self._running and self._inbox and not self._step_scheduled:
                self._schedule_step()  # stepping may have waited for this commit

    async def _commit_and_release(self, batch: _Batch) -> None:
        if batch.prepared:
            storage = self._storage
            assert storage is not None, "started"
            try:
                await self._in_storage_thread(storage.commit, batch.prepared)
            except Exception as error:
                self._on_store_failure(error)
                return
            self.commits += 1
        self._release(batch)

    def _release(self, batch: _Batch) -> None:
        outbox = self._outbox
        for send in batch.sends:
            outbox.send(send.to, send.message)
        owed = self._owed
        for reply in batch.replies:
            owed.discard(reply.request_id)
            outbox.reply(reply.request_id, reply.result)
        if batch.sends or batch.replies:
            outbox.flush()

    def _on_store_failure(self, error: Exception) -> None:
        message = f"{self._node_id}: the store cannot be written, stopping: {error}"
        self._log(with_traceback(message, error))
        failure = StoreFailure(message)
        failure.__cause__ = error
        self._end(failure)
        self._stepped = None  # stepped on top of what failed: none of it may leave
        self._fail_owed(message)

    def _fail_owed(self, reason: str) -> None:
        """Answer every request still owed an answer with an error, so no client hangs."""
        owed, self._owed = self._owed, set()
        for request_id in sorted(owed):
            self._outbox.reply(request_id, Unavailable(reason))
        if owed:
            self._outbox.flush()

    def _answer_with_error(self, request_id: int, reason: str) -> None:
        self._outbox.reply(request_id, Unavailable(reason))
        self._outbox.flush()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _in_storage_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._storage_thread, function, *args)


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
