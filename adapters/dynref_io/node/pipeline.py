"""The node's commit pipeline: one commit at a time on the storage thread, batches released in
order, and what a failed commit does (REQ-NODE-2, REQ-DUR-3).

The runtime steps events into a `Batch` (each step's encoded writes, sends and replies) and
hands it over. The pipeline commits a batch's writes as ONE `Storage.commit` (one transaction)
on the storage thread and then releases the batch's sends and replies. While a commit runs, the
runtime goes on stepping into the next batch, which waits: it is committed when the running
commit ended, and released after it. So a batch is released only once its own commit returned
and after every earlier batch. A batch without writes waits all the same if a commit is running:
its steps may have read what an earlier, still uncommitted step wrote (a `PutOk` whose local
write is in the batch before, a `GetOk` or `FetchReply` showing it), and nothing that depends on
an uncommitted write may leave the node.

A commit that fails means the store cannot be written (disk full, read-only, I/O error): the
transaction left the store as it was, every client request still owed an answer gets an
`Unavailable` reply, nothing else of the uncommitted batches leaves, and the failure is a
`StoreFailure` the runtime raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
from dynref.messages import Reply, Send, Unavailable

from dynref_io.node.basics import NodeFailure, Outbox, with_traceback
from dynref_io.storage.stores import PreparedWrites, Storage

T = TypeVar("T")


class StoreFailure(NodeFailure):
    """The store could not be written; the node must stop. Nothing of the failed commit, nor of
    any batch after it, was persisted or released."""


@attrs.define
class Batch:
    """Steps whose sends and replies wait for their writes (and every earlier batch's)."""

    prepared: list[PreparedWrites] = attrs.Factory(list)
    sends: list[Send] = attrs.Factory(list)
    replies: list[Reply] = attrs.Factory(list)
    events: int = 0
    submitted: int = 0
    """Of `events`, those submitted to the runtime (not its own ticks)."""


class CommitPipeline:
    """Commits batches in order on one storage thread and releases each after its commit."""

    def __init__(
        self,
        node_id: str,
        outbox: Outbox,
        log: Callable[[str], None],
        on_commit_end: Callable[[], None],
        on_failure: Callable[[], None],
        on_release: Callable[[Batch], None] = lambda _batch: None,
    ) -> None:
        self._node_id = node_id
        self._outbox = outbox
        self._log = log
        self._on_commit_end = on_commit_end
        self._on_failure = on_failure
        self._on_release = on_release
        # SQLite connections belong to the thread that opened them: every storage call runs on
        # this one thread, so that a commit's fsync never blocks the event loop, and commits
        # run one after another in the order they were handed over.
        self._storage_thread = ThreadPoolExecutor(1, thread_name_prefix=f"{node_id}-storage")
        self.storage: Storage | None = None
        self.stepped: Batch | None = None  # handed over, waiting for the commit in progress
        self._committing: asyncio.Task[None] | None = None  # commits, then releases, a batch
        # Why the node cannot go on: a StoreFailure, or a defect raised while committing.
        self.failure: BaseException | None = None
        self._owed: set[int] = set()  # client request ids submitted and not yet answered
        self.commits = 0

    def owe(self, request_id: int) -> None:
        """A client request was accepted: it will get an answer, if only an error."""
        self._owed.add(request_id)

    def batch_to_fill(self) -> Batch:
        """The batch new steps join: the one waiting for the commit in progress, or a new one."""
        return self.stepped if self.stepped is not None else Batch()

    def stepped_events(self) -> int:
        return 0 if self.stepped is None else self.stepped.events

    def hand_over(self, batch: Batch) -> None:
        """Commit the batch, then release it, after every batch handed over before."""
        if self._committing is None and not batch.prepared:
            self.stepped = None
            self._release(batch)  # nothing to persist, nothing before it: out at once
        else:
            self.stepped = batch
            self._start_next_commit()

    async def commit_now(self, batch: Batch) -> None:
        """Commit and release a batch while nothing else is in flight (the start's writes)."""
        await self._commit_and_release(batch)

    async def drain(self) -> None:
        """Wait until every batch handed over is committed and released, or the store failed."""
        while self._committing is not None:
            await asyncio.shield(self._committing)

    def fail(self, error: BaseException) -> None:
        """Record the first failure; the runtime's `run` raises it."""
        if self.failure is None:
            self.failure = error
            self._on_failure()

    def fail_owed(self, reason: str) -> None:
        """Answer every request still owed an answer with an error, so no client hangs."""
        owed, self._owed = self._owed, set()
        for request_id in sorted(owed):
            self._outbox.reply(request_id, Unavailable(reason))
        if owed:
            self._outbox.flush()

    def answer_with_error(self, request_id: int, reason: str) -> None:
        self._outbox.reply(request_id, Unavailable(reason))
        self._outbox.flush()

    async def in_storage_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._storage_thread, function, *args)

    async def close(self) -> None:
        """Close the storage (on its own thread) and the thread itself."""
        if self.storage is not None:
            await self.in_storage_thread(self.storage.close)
            self.storage = None
        self._storage_thread.shutdown(wait=True)

    def _start_next_commit(self) -> None:
        if self._committing is None and self.stepped is not None and self.failure is None:
            batch, self.stepped = self.stepped, None
            self._committing = asyncio.create_task(self._commit_then_next(batch))

    async def _commit_then_next(self, batch: Batch) -> None:
        try:
            await self._commit_and_release(batch)
        except Exception as error:  # a defect, not the store's: `run` raises it
            self.fail(error)
        finally:
            self._committing = None
            self._start_next_commit()
            self._on_commit_end()

    async def _commit_and_release(self, batch: Batch) -> None:
        if batch.prepared:
            storage = self.storage
            assert storage is not None, "started"
            try:
                await self.in_storage_thread(storage.commit, batch.prepared)
            except Exception as error:
                self._on_store_failure(error)
                return
            self.commits += 1
        self._release(batch)

    def _release(self, batch: Batch) -> None:
        outbox = self._outbox
        for send in batch.sends:
            outbox.send(send.to, send.message)
        owed = self._owed
        for reply in batch.replies:
            owed.discard(reply.request_id)
            outbox.reply(reply.request_id, reply.result)
        if batch.sends or batch.replies:
            outbox.flush()
        self._on_release(batch)

    def _on_store_failure(self, error: Exception) -> None:
        message = f"{self._node_id}: the store cannot be written, stopping: {error}"
        self._log(with_traceback(message, error))
        failure = StoreFailure(message)
        failure.__cause__ = error
        self.fail(failure)
        self.stepped = None  # stepped on top of what failed: none of it may leave
        self.fail_owed(message)
