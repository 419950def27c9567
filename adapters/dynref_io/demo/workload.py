"""The demo's clients: concurrent readers and writers of a few shared keys, every request logged.

Each client holds its own connection to every node and, until told to stop, picks a key and a
node at random and does what its role says:

- `careful`: reads the key, then writes a new value (rarely a delete) with that read's context:
  Dynamo's read-modify-write, which supersedes exactly the siblings it saw;
- `stale`: writes with the context of an older read of the key, so concurrent writes it never
  saw survive as siblings beside its own;
- `blind`: writes with an empty context, a sibling of everything already there.

Every value written is unique (`<client>-<sequence>`), so a value names the put that wrote it.
A request that fails (an error answer, a timeout, a dead node) is recorded as unacknowledged.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
from dynref.sim import OperationKind

from dynref_io.client.native import AsyncClient, DynrefError, NodeConnectionError, QuorumError
from dynref_io.demo.checks import HistoryRecorder

T = TypeVar("T")

ROLES = ("careful", "careful", "stale", "blind")
"""Client i takes ROLES[i % len(ROLES)]."""
REMEMBERED_READS = 6
"""How many of its latest reads of a key a client keeps (a stale writer uses the oldest)."""
CLIENT_TIMEOUT_S = 3.0
"""Longer than any node's request and forward timeouts: a reply is normally never cut short."""
THINK_S = (0.01, 0.04)
"""A client's pause between iterations, drawn uniformly: it keeps the history checkable."""
RETRY_PAUSE_S = 0.05
"""After a failed connection: a dead node refuses at once, and a client must not spin."""


@attrs.frozen
class ReadMemo:
    op_id: int
    context: bytes


@attrs.frozen
class NodeEndpoint:
    node_id: str
    host: str
    port: int


class DemoClient:
    """One client of the demo: a role, its own connections, and its memory of reads."""

    def __init__(
        self,
        name: str,
        role: str,
        endpoints: Sequence[NodeEndpoint],
        keys: Sequence[bytes],
        recorder: HistoryRecorder,
        rng: random.Random,
    ) -> None:
        self.name, self.role = name, role
        self._connections = {
            e.node_id: AsyncClient(e.host, e.port, timeout=CLIENT_TIMEOUT_S) for e in endpoints
        }
        self._nodes = [e.node_id for e in endpoints]
        self._keys = list(keys)
        self._recorder = recorder
        self._rng = rng
        self._reads: dict[bytes, list[ReadMemo]] = {}
        self._sequence = 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                key = self._rng.choice(self._keys)
                await self._iteration(key)
                await asyncio.sleep(self._rng.uniform(*THINK_S))
        finally:
            for connection in self._connections.values():
                await connection.close()

    async def _iteration(self, key: bytes) -> None:
        if self.role == "careful":
            read = await self.get(key)
            if read is not None:
                if self._rng.random() < 0.06:
                    await self.delete(key, read)
                elif self._rng.random() < 0.9:
                    await self.put(key, read)
        elif self.role == "stale":
            if self._rng.random() < 0.5:
                await self.get(key)
            remembered = self._reads.get(key)
            await self.put(key, remembered[0] if remembered else None)
        else:  # blind
            if self._rng.random() < 0.3:
                await self.get(key)
            await self.put(key, None)

    def _node(self) -> str:
        return self._rng.choice(self._nodes)

    async def get(self, key: bytes) -> ReadMemo | None:
        node = self._node()
        op_id = self._recorder.invoke(self.name, OperationKind.GET, node, key)
        answered, found = await self._attempt(op_id, node, lambda client: client.get(key))
        if not answered or found is None:
            return None
        self._recorder.read_ok(op_id, found.values, found.context)
        memo = ReadMemo(op_id, found.context)
        remembered = self._reads.setdefault(key, [])
        remembered.append(memo)
        del remembered[:-REMEMBERED_READS]
        return memo

    async def put(self, key: bytes, read: ReadMemo | None) -> None:
        self._sequence += 1
        value = f"{self.name}-{self._sequence}".encode()
        context, read_from = (b"", None) if read is None else (read.context, read.op_id)
        node = self._node()
        op_id = self._recorder.invoke(
            self.name, OperationKind.PUT, node, key, value, context, read_from
        )
        answered, _ = await self._attempt(
            op_id, node, lambda client: client.put(key, value, context)
        )
        if answered:
            self._recorder.write_ok(op_id)

    async def delete(self, key: bytes, read: ReadMemo) -> None:
        node = self._node()
        op_id = self._recorder.invoke(
            self.name, OperationKind.DELETE, node, key, None, read.context, read.op_id
        )
        answered, _ = await self._attempt(
            op_id, node, lambda client: client.delete(key, read.context)
        )
        if answered:
            self._recorder.write_ok(op_id)

    async def _attempt(
        self, op_id: int, node: str, request: Callable[[AsyncClient], Awaitable[T]]
    ) -> tuple[bool, T | None]:
        """Send a request; (True, its answer) on success. A failure is recorded here.

        The client connects first, so that a request that could not be sent is known not to
        have been: the checkers may then rule out that it took effect."""
        connection = self._connections[node]
        try:
            await connection.connect()
        except DynrefError as exc:
            self._recorder.not_sent(op_id, str(exc))
            await asyncio.sleep(RETRY_PAUSE_S)
            return False, None
        try:
            return True, await request(connection)
        except DynrefError as exc:
            await self._failed(op_id, exc)
            return False, None

    async def _failed(self, op_id: int, error: DynrefError) -> None:
        if isinstance(error, QuorumError):  # the coordinator stored it: it took effect
            self._recorder.quorum_not_reached(op_id, error.needed, error.seen)
            return
        self._recorder.failed(op_id, f"{type(error).__name__}: {error}")
        if isinstance(error, NodeConnectionError):
            await asyncio.sleep(RETRY_PAUSE_S)


def demo_clients(
    count: int,
    endpoints: Sequence[NodeEndpoint],
    keys: Sequence[bytes],
    recorder: HistoryRecorder,
    seed: int,
) -> list[DemoClient]:
    return [
        DemoClient(
            f"c{i + 1}",
            ROLES[i % len(ROLES)],
            endpoints,
            keys,
            recorder,
            random.Random(f"{seed}/c{i + 1}"),
        )
        for i in range(count)
    ]
