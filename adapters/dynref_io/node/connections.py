"""What a node allows one inbound connection: how long a frame may take, how long a client may
stay silent, and how many of its bytes the node may hold (docs/operations.md, "Connection
limits").

`ConnectionReader` reads a connection's frames under two clocks: a frame that has started must
be complete within the read deadline (a peer that sends half a frame and stalls is cut off), and
a caller may bound the silence between frames (the idle timeout of clients, the steps of a
handshake). `InboundBudget` counts the bytes of the frames handed to the runtime whose batch it
has not yet released (queued, stepped and waiting for a commit, or committing), overall and per
connection; connections over their share are not read (TCP then pushes back on the sender) and
clients are answered `Overloaded` while the whole is over its budget.
"""

from __future__ import annotations

import asyncio
import resource
from collections import deque
from collections.abc import Callable
from typing import Protocol

from dynref.messages import Event

from dynref_io.node.config_file import ConnectionLimits
from dynref_io.wire.codec import MAX_FRAME_BYTES, READ_CHUNK_BYTES, DecodeError, FrameReader
from dynref_io.wire.frames import WireObject

RESERVED_FILES = 64
"""Descriptors kept back from the connection cap: the store, its journal, peer links, logs."""
BUDGET_POLL_S = 0.002
"""How often a connection waiting for room looks again; only connections over budget wait."""


class RefusedError(Exception):
    """The connection must end with an ErrorFrame saying `reason`."""

    def __init__(self, reason: str, *, authentication: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.authentication = authentication
        """Whether the other side failed to prove who it is (a peer's proof, a client token)."""


class ConnectionTimeoutError(Exception):
    """A deadline of the connection passed (the message says which)."""

    def __init__(self, reason: str, *, idle: bool) -> None:
        super().__init__(reason)
        self.idle = idle
        """Whether it was the silence between frames (not an unfinished frame) that lasted."""


def rejection(frame: WireObject | DecodeError, expected: str) -> str:
    """Why a frame ends its connection: it did not decode, or it is not what was expected."""
    if isinstance(frame, DecodeError):
        return f"bad frame: {frame.reason}"
    return f"expected {expected}, got {type(frame).__name__}"


def usable_connections(node_id: str, limits: ConnectionLimits, log: Callable[[str], None]) -> int:
    """`max_connections`, lowered (and said so) when the process may not open that many files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections
    if soft == resource.RLIM_INFINITY or wanted <= soft - RESERVED_FILES:
        return wanted
    usable = max(1, soft - RESERVED_FILES)
    log(f"{node_id}: max_connections {wanted} lowered to {usable}: {soft} open files at most")
    return usable


class ConnectionReader:
    """The frames of one inbound connection, read under the node's deadlines."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        read_deadline_s: float,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._reader = reader
        self.read_deadline_s = read_deadline_s
        self._frames = FrameReader(max_frame_bytes)
        self._frame_waited = 0.0
        """Seconds spent reading for the rest of the frame begun: time the node spends not
        reading (its budget full) is the node's delay, not the sender's, and does not count."""
        self.pending: list[WireObject | DecodeError] = []
        """Frames decoded and not yet handed out."""
        self.frame_bytes = 0
        """The mean size of the frames the last read decoded: what each costs the budget."""

    async def next_frame(self, idle_timeout_s: float | None) -> WireObject | DecodeError | None:
        """The next frame (None at a clean end); the others read with it stay pending."""
        if not self.pending:
            self.pending = await self._read(idle_timeout_s)
        return self.pending.pop(0) if self.pending else None

    async def next_batch(self, idle_timeout_s: float | None) -> list[WireObject | DecodeError]:
        """Every frame pending or completed by the next bytes: at least one, or none at a clean
        end of the stream. Raises `ConnectionTimeoutError` when a deadline passes first."""
        if not self.pending:
            self.pending = await self._read(idle_timeout_s)
        batch, self.pending = self.pending, []
        return batch

    async def _read(self, idle_timeout_s: float | None) -> list[WireObject | DecodeError]:
        loop = asyncio.get_running_loop()
        frames = self._frames
        while not frames.failed:
            before = frames.buffered
            if before:
                timeout: float | None = self.read_deadline_s - self._frame_waited
                why = f"a frame not completed within the read deadline ({self.read_deadline_s} s)"
            else:
                timeout, why = idle_timeout_s, f"nothing received for {idle_timeout_s} s"
            started = loop.time()
            try:
                async with asyncio.timeout(timeout):
                    chunk = await self._reader.read(READ_CHUNK_BYTES)
            except TimeoutError:
                raise ConnectionTimeoutError(why, idle=not before) from None
            self._frame_waited += loop.time() - started
            if not chunk:
                if before:
                    return [DecodeError(f"stream ended {before} bytes into a frame")]
                return []
            decoded = frames.feed(chunk)
            if frames.buffered and (decoded or not before):
                self._frame_waited = 0.0  # a new frame began with this chunk
            if decoded:
                consumed = before + len(chunk) - frames.buffered
                self.frame_bytes = max(1, consumed // len(decoded))
                return decoded
        return []


class Runtime(Protocol):
    """What the budget needs of the node's runtime."""

    def submit(self, event: Event) -> bool:
        """Queue the event; False if the runtime answered it at once and holds nothing of it."""

    @property
    def held_events(self) -> int:
        """Events submitted whose batch is not yet released; they are released oldest first."""


class InboundBudget:
    """Bytes of frames submitted to the runtime and not yet released, overall and per
    connection.

    The runtime releases events oldest first, so the sizes of the events it still holds are the
    newest `held_events` entries recorded here; whatever is older has been released. A frame's
    bytes count until its batch's sends and replies went out, not merely until it was stepped:
    with the commit pipeline a node steps while a commit runs, and what it stepped stays in its
    memory until that batch is released.
    """

    def __init__(
        self, runtime: Runtime, queue_bytes: int, connection_bytes: int, max_events: int
    ) -> None:
        self._runtime = runtime
        self.queue_bytes = queue_bytes
        self.connection_bytes = connection_bytes
        self._max_events = max_events
        self._entries: deque[tuple[int, object]] = deque()
        self._queued = 0
        self._by_connection: dict[object, int] = {}
        self.high_water = 0
        """The most bytes ever queued at once."""

    def submit(self, event: Event, size: int, connection: object) -> None:
        if not self._runtime.submit(event):
            return  # answered at once: nothing of it is held
        self._entries.append((size, connection))
        self._queued += size
        self._by_connection[connection] = self._by_connection.get(connection, 0) + size
        self.high_water = max(self.high_water, self._queued)

    @property
    def queued_bytes(self) -> int:
        self._settle()
        return self._queued

    def _settle(self) -> None:
        """Forget the entries of the events the runtime has released."""
        released = len(self._entries) - self._runtime.held_events
        for _ in range(max(0, released)):
            size, connection = self._entries.popleft()
            self._queued -= size
            left = self._by_connection[connection] - size
            if left:
                self._by_connection[connection] = left
            else:
                del self._by_connection[connection]

    def overloaded(self) -> bool:
        """Whether what the node holds is over its budget (in bytes or in events)."""
        return (
            self.queued_bytes >= self.queue_bytes or self._runtime.held_events >= self._max_events
        )

    def _connection_full(self, connection: object) -> bool:
        self._settle()
        return self._by_connection.get(connection, 0) >= self.connection_bytes

    async def wait_for_room(self, connection: object, *, whole_queue: bool) -> None:
        """Return once this connection (and, if asked, the whole queue) is under budget. While
        it waits nobody reads the connection, so its sender is pushed back by TCP."""
        while self._connection_full(connection) or (whole_queue and self.overloaded()):
            await asyncio.sleep(BUDGET_POLL_S)
