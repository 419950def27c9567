"""Outbound node-to-node links: one connection per peer, reconnecting with capped backoff.

A node sends to a peer only on its own outbound connection to it, and receives from a peer only
on the connection that peer opened; the server handles those. A link counts as connected once
the handshake of `auth` succeeded: both sides proved the cluster secret. A message
for a peer that is unreachable, isolated or too far behind is dropped: the core's timeouts,
probes, handoff and anti-entropy are built for lost messages, and queueing them here would only
deliver stale traffic late.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Callable, Iterable

from dynref.messages import Message

from dynref_io.node.auth import HandshakeError, PeerCredentials, enable_keepalive, greet_peer
from dynref_io.node.config_file import NodeAddress
from dynref_io.wire.codec import DecodeError, encode, read_frame
from dynref_io.wire.frames import ErrorFrame

INITIAL_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0
# A connection that lived this long was healthy: the next failure starts the backoff afresh.
HEALTHY_CONNECTION_S = 2.0
# Beyond this many unsent bytes a peer is not keeping up; further messages to it are dropped.
MAX_PENDING_BYTES = 32 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0
"""To connect, agree on TLS when it is configured, and complete the handshake."""


class PeerLink:
    """The outbound connection to one peer, kept open by a background task."""

    def __init__(
        self,
        self_id: str,
        peer: NodeAddress,
        log: Callable[[str], None],
        credentials: PeerCredentials,
    ) -> None:
        self._self_id = self_id
        self.peer = peer
        self._log = log
        self._credentials = credentials
        self._refusal: str | None = None
        """The last handshake failure logged, so that a retry loop logs it once."""
        self._writer: asyncio.StreamWriter | None = None
        self._unflushed: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        # None until the first connection: peers starting together are not an outage.
        self._reachable: bool | None = None
        self.sent = 0
        self.dropped = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._keep_connected(), name=f"peer-{self.peer.node_id}"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._close_writer()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def send_frame(self, frame: bytes) -> None:
        """Queue a frame for the next `flush` (or drop it when the peer is unreachable)."""
        writer = self._writer
        if writer is None or writer.transport.get_write_buffer_size() > MAX_PENDING_BYTES:
            self.dropped += 1
            return
        self._unflushed.append(frame)
        self.sent += 1

    def flush(self) -> None:
        """Write the queued frames at once: one system call per batch rather than per frame."""
        if self._unflushed and self._writer is not None:
            self._writer.write(b"".join(self._unflushed))
        self._unflushed.clear()

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = INITIAL_BACKOFF_S
        while True:
            started = loop.time()
            try:
                await self._connect_and_wait()
            except (HandshakeError, ssl.SSLError) as failure:
                # A misconfiguration, not an outage: said even before any success, once per cause.
                if str(failure) != self._refusal:
                    self._log(f"{self._self_id}: peer {self.peer.node_id} refused: {failure}")
                    self._refusal = str(failure)
            except (OSError, TimeoutError) as exc:
                if self._reachable is True:  # one line per outage, not one per retry
                    self._log(f"{self._self_id}: peer {self.peer.node_id} unreachable: {exc}")
                    self._reachable = False
            finally:
                self._close_writer()
            if loop.time() - started > HEALTHY_CONNECTION_S:
                backoff = INITIAL_BACKOFF_S
            # Jitter keeps the nodes of a restarted cluster from reconnecting in lockstep.
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _connect_and_wait(self) -> None:
        """Connect, complete the handshake, and return when the connection closes."""
        peer, tls = self.peer, self._credentials.tls
        # asyncio.timeout rather than wait_for: in 3.11 wait_for may swallow a cancellation
        # that races with the connection completing, and `stop` would wait forever.
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            if tls is None:
                reader, writer = await asyncio.open_connection(peer.host, peer.port)
            else:
                reader, writer = await asyncio.open_connection(
                    peer.host, peer.port, ssl=tls, server_hostname=peer.host
                )
            try:
                enable_keepalive(writer)
                await greet_peer(reader, writer, self._self_id, peer.node_id, self._credentials)
            except BaseException:
                writer.close()
                raise
        self._writer = writer
        self._refusal = None
        if self._reachable is False:
            self._log(f"{self._self_id}: peer {self.peer.node_id} reachable again")
        self._reachable = True
        # Peers never answer on this connection except to say why they close it.
        while True:
            frame = await read_frame(reader)
            if frame is None or isinstance(frame, DecodeError):
                return
            if isinstance(frame, ErrorFrame):
                self._log(f"{self._self_id}: peer {self.peer.node_id} closed: {frame.reason}")
                return

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


class PeerLinks:
    """All outbound links of a node, and the fault injection that cuts some of them."""

    def __init__(
        self,
        self_id: str,
        peers: Iterable[NodeAddress],
        log: Callable[[str], None],
        credentials: PeerCredentials,
        resolve: Callable[[str], NodeAddress | None] = lambda _node_id: None,
    ) -> None:
        self._self_id, self._log, self._credentials = self_id, log, credentials
        self._resolve = resolve
        self._started = False
        self._links = {
            peer.node_id: PeerLink(self_id, peer, log, credentials)
            for peer in peers
            if peer.node_id != self_id
        }
        self.isolated: frozenset[str] = frozenset()
        # The last message encoded and its frame: a coordinator sends the same Replicate or
        # Fetch to each peer in turn, and the frame need only be encoded once.
        self._last_sent: tuple[Message, bytes] | None = None

    def start(self) -> None:
        self._started = True
        for link in self._links.values():
            link.start()

    def _learn(self, node_id: str) -> PeerLink | None:
        """A link to a member the cluster file does not name (one that joined later), at the
        address its membership entry gives; None while that is unknown."""
        address = self._resolve(node_id) if node_id != self._self_id else None
        if address is None:
            return None
        link = PeerLink(self._self_id, address, self._log, self._credentials)
        self._links[node_id] = link
        if self._started:
            link.start()
        self._log(f"{self._self_id}: learnt peer {node_id} at {address.endpoint}")
        return link

    async def stop(self) -> None:
        for link in self._links.values():
            await link.stop()

    def send(self, to: str, message: Message) -> None:
        link = self._links.get(to) or self._learn(to)
        if link is None or to in self.isolated:
            return
        last = self._last_sent
        # Equal messages share their parts (the versions), so this costs a few identity checks.
        if last is not None and last[0] == message:
            frame = last[1]
        else:
            frame = encode(message)
            self._last_sent = (message, frame)
        link.send_frame(frame)

    async def isolate(self, peers: Iterable[str]) -> None:
        """Cut the links to these peers (and heal the others); () heals everything."""
        isolated = frozenset(peers) & set(self._links)
        for node_id in isolated - self.isolated:
            await self._links[node_id].stop()
        for node_id in self.isolated - isolated:
            self._links[node_id].start()
        self.isolated = isolated

    def flush(self) -> None:
        for link in self._links.values():
            link.flush()

    def connected(self) -> list[str]:
        return sorted(node_id for node_id, link in self._links.items() if link.connected)

    def dropped(self) -> int:
        return sum(link.dropped for link in self._links.values())
