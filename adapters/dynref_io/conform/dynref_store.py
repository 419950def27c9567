"""A dynref cluster as the workload's `Store`: one pipelined client per node.

Every failure becomes an `Answer` with a protocol error code and whether the operation
certainly took no effect (docs/conformance.md):

| what happened | code | definite |
| --- | --- | --- |
| no connection could be made (the request never left) | unavailable | yes |
| `InvalidContext`, `TooLarge`, `InvalidRequest` (refused first) | invalid-context, ... | yes |
| `QuorumNotReached` (a write: its coordinator stored it) | unavailable | no (a get: yes) |
| `Unavailable` (a forwarded write: a forward may have run) | unavailable | no |
| no answer in time | timeout | no |
| the connection broke with the request in flight | crash | no |

A get has no effect, so each of its failures is definite.

A write sent to a node outside the key's top N is forwarded once, never retried at another
node (SPEC REQ-COORD-2): so every acknowledged write took effect once, and none is answered
with `may_repeat`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from dynref_io.client.native import (
    AsyncClient,
    DynrefError,
    GetResult,
    InvalidContextError,
    InvalidRequestError,
    NodeConnectionError,
    RequestTimeoutError,
    TooLargeError,
)
from dynref_io.conform.protocol import Answer, failure

T = TypeVar("T")

REFUSALS: tuple[tuple[type[DynrefError], str], ...] = (
    (InvalidContextError, "invalid-context"),
    (TooLargeError, "too-large"),
    (InvalidRequestError, "invalid-request"),
)


def answer_of_error(error: DynrefError, is_write: bool) -> Answer:
    """The protocol's view of a failed request that was sent."""
    for kind, code in REFUSALS:
        if isinstance(error, kind):
            return failure(code, True, str(error))
    if isinstance(error, RequestTimeoutError):
        code = "timeout"
    elif isinstance(error, NodeConnectionError):
        code = "crash"
    else:  # QuorumError, UnavailableError
        code = "unavailable"
    return failure(code, not is_write, str(error))


class DynrefStore:
    """Requests to the nodes of a dynref cluster, each through the node it names."""

    def __init__(self, endpoints: Mapping[str, tuple[str, int]], timeout: float) -> None:
        self.nodes = tuple(endpoints)
        self.timeout = timeout
        self.clients = {
            node: AsyncClient(host, port, timeout=timeout)
            for node, (host, port) in endpoints.items()
        }

    def add_node(self, node: str, host: str, port: int) -> None:
        """Reach a node that joined the cluster after this store was made."""
        self.clients[node] = AsyncClient(host, port, timeout=self.timeout)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def _call(
        self,
        node: str | None,
        is_write: bool,
        request: Callable[[AsyncClient], Awaitable[T]],
    ) -> T | Answer:
        client = self.clients[node or self.nodes[0]]
        try:  # connecting first tells a request that never left from one that was lost
            await client.connect()
        except DynrefError as exc:
            return failure("unavailable", True, str(exc))
        try:
            return await request(client)
        except DynrefError as exc:
            return answer_of_error(exc, is_write)

    async def get(self, client: str, node: str | None, key: str, r: int | None) -> Answer:
        found = await self._call(node, False, lambda c: c.get(key, r))
        if isinstance(found, Answer):
            return found
        assert isinstance(found, GetResult)
        values = tuple(value.decode("utf-8", "surrogateescape") for value in found.values)
        return Answer(True, values, found.context)

    async def put(
        self, client: str, node: str | None, key: str, value: str, context: bytes, w: int | None
    ) -> Answer:
        done = await self._call(node, True, lambda c: c.put(key, value, context, w))
        return done if isinstance(done, Answer) else Answer(True, context=done or None)

    async def delete(
        self, client: str, node: str | None, key: str, context: bytes, w: int | None
    ) -> Answer:
        done = await self._call(node, True, lambda c: c.delete(key, context, w))
        return done if isinstance(done, Answer) else Answer(True, context=done or None)

    async def status(self, node: str) -> dict[str, Any] | None:
        try:
            return await self.clients[node].status()
        except DynrefError:
            return None

    async def isolate(self, node: str, peers: Iterable[str]) -> None:
        await self.clients[node].isolate(peers)


def unsettled_statuses(statuses: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    """What the nodes' status shows is not settled yet, or None."""
    for node, status in sorted(statuses.items()):
        if status is None:
            return f"{node} does not answer"
        if status["hints"]:
            return f"{node} holds {status['hints']} hints"
        if status["down"]:
            return f"{node} believes {', '.join(status['down'])} down"
        if status["isolated"]:
            return f"{node} is cut off from {', '.join(status['isolated'])}"
    return None


__all__ = ["DynrefStore", "answer_of_error", "unsettled_statuses"]
