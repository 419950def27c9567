"""One node as a process: a TCP listener for peers and clients around a `NodeRuntime`.

A single port serves both kinds of connection; the first frame tells which. A node connection
starts with the handshake of `auth` (the peer proves the cluster secret) and then carries
node-to-node messages one way (see `peers`); a client connection (opened by `ClientHello` when
the node requires a client token) carries requests (with the client's own request ids, remapped
here to node-unique ids and back), admin requests (join, leave), status and fault-injection
requests. Peers that joined after this node read its cluster file are reached at the address
their membership entry gives. A frame that fails to
decode, is too large or is not expected on its connection gets an `ErrorFrame` and the
connection is closed; so does a connection beyond the cap, or past a deadline of `connections`.
The node goes on serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import cast

import attrs
from dynref.messages import (
    MESSAGE_TYPES,
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ClientResult,
    JoinCluster,
    LeaveCluster,
    Message,
    Receive,
    Request,
    Unavailable,
)
from dynref.messages import Admin as AdminEvent

from dynref_io.node.admin import ring_reply
from dynref_io.node.auth import (
    accept_peer,
    check_bind_address,
    enable_keepalive,
    peer_credentials,
    server_tls,
    token_matches,
)
from dynref_io.node.config_file import ClusterFile, NodeAddress
from dynref_io.node.connections import (
    ConnectionReader,
    ConnectionTimeoutError,
    InboundBudget,
    RefusedError,
    rejection,
    usable_connections,
)
from dynref_io.node.outbox import ClientConnection, Outbox
from dynref_io.node.peers import PeerLinks
from dynref_io.node.runtime import MAX_QUEUED_EVENTS, NodeRuntime, log_line, node_status
from dynref_io.storage.stores import Storage
from dynref_io.wire.codec import DecodeError, encode
from dynref_io.wire.frames import (
    ClientHello,
    ErrorFrame,
    FaultReply,
    FaultRequest,
    Overloaded,
    PeerHello,
    RingRequest,
    StatusReply,
    StatusRequest,
    WireObject,
)

CLIENT_REQUEST_TYPES = (ClientGet, ClientPut, ClientDelete)
ADMIN_REQUEST_TYPES = (JoinCluster, LeaveCluster)
CLIENT_FRAME_TYPES = (
    *CLIENT_REQUEST_TYPES,
    *ADMIN_REQUEST_TYPES,
    StatusRequest,
    FaultRequest,
    RingRequest,
)
# How long, and how much, a refused connection's input is drained before closing it.
LINGER_S = 1.0
LINGER_BYTES = 16 * 1024 * 1024
STORAGE_FILE = "node.sqlite3"
LOCK_FILE = "node.lock"
CONNECTION_COUNTERS = (
    "rejected_connections",
    "timed_out_connections",
    "failed_handshakes",
    "overloaded",
)


class NodeServer:
    """A node's listener, peer links and runtime, started and stopped together."""

    def __init__(
        self,
        cluster: ClusterFile,
        node_id: str,
        open_storage: Callable[[], Storage],
        host: str = "127.0.0.1",
        port: int | None = None,
        log: Callable[[str], None] = log_line,
    ) -> None:
        check_bind_address(host, cluster.security)
        self.node_id = node_id
        self._cluster = cluster
        self._security = cluster.security
        self._limits = cluster.connection_limits
        self._tls = server_tls(cluster.security)
        self._host = host
        self.port = cluster.address_of(node_id).port if port is None else port
        self._log = log
        self._credentials = peer_credentials(cluster)
        self._peers = PeerLinks(
            node_id, cluster.addresses, log, self._credentials, resolve=self._member_address
        )
        self._outbox = Outbox(self._peers)
        self.runtime = NodeRuntime(
            cluster.config,
            node_id,
            open_storage,
            self._outbox,
            tick_interval=cluster.tick_interval,
            log=log,
        )
        self.budget = InboundBudget(
            self.runtime,
            self._limits.queue_bytes,
            self._limits.connection_bytes,
            MAX_QUEUED_EVENTS,
        )
        self._max_connections = self._limits.max_connections
        self._read_deadline_s = self._limits.read_deadline / 1000
        self._idle_timeout_s = self._limits.idle_timeout / 1000
        self._counters = dict.fromkeys(CONNECTION_COUNTERS, 0)
        self._server: asyncio.Server | None = None
        self._runtime_task: asyncio.Task[None] | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._peer_connections: dict[asyncio.StreamWriter, str] = {}

    async def start(self) -> None:
        """Recover or boot (persisting that first), then listen and connect to the peers."""
        await self.runtime.start()
        self._max_connections = usable_connections(self.node_id, self._limits, self._log)
        self._server = await asyncio.start_server(
            self._on_connection,
            self._host,
            self.port,
            ssl=self._tls,
            ssl_handshake_timeout=self._read_deadline_s if self._tls is not None else None,
        )
        self._peers.start()
        self._runtime_task = asyncio.create_task(self.runtime.run(), name="runtime")
        tls = " with TLS" if self._tls is not None else ""
        self._log(f"{self.node_id}: listening on {self._host}:{self.port}{tls}")
        if self._security.secret is None:
            self._log(
                f"{self.node_id}: no cluster secret: any local process may act as a peer, so "
                "this node listens on loopback only"
            )

    async def wait(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set or the runtime fails (a storage error crashes the node)."""
        assert self._runtime_task is not None, "started"
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, self._runtime_task}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if self._runtime_task.done():
            self._runtime_task.result()  # re-raise the failure

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.runtime.stop()
        if self._runtime_task is not None:
            with contextlib.suppress(Exception):
                await self._runtime_task
        await self._peers.stop()
        for writer in list(self._connections):
            writer.close()
        await self.runtime.close()

    async def call(self, request: ClientRequest) -> ClientResult:
        """Run one client request through the runtime as a client connection's would (the
        HTTP API's way in): the same queue and byte budget, the same request ids, the same
        released reply. Over budget it is answered at once, as a native client is answered
        `Overloaded` (REQ-CONN-5), with an `Unavailable` that says so."""
        if self.budget.overloaded():
            self._counters["overloaded"] += 1
            return Unavailable(self._overload_reason())
        request_id, result = self._outbox.register_call()
        try:
            event = Request(attrs.evolve(request, request_id=request_id))
            self.budget.submit(event, in_process_size(request), self)
            return await result
        finally:
            self._outbox.forget_call(request_id)

    async def admin(self, request: JoinCluster | LeaveCluster) -> ClientResult:
        """Run an admin request through the runtime, as `call` runs a client request."""
        request_id, result = self._outbox.register_call()
        try:
            self.runtime.submit(AdminEvent(self._admin_event(request, request_id)))
            return await result
        finally:
            self._outbox.forget_call(request_id)

    def _admin_event(
        self, request: JoinCluster | LeaveCluster, request_id: int
    ) -> JoinCluster | LeaveCluster:
        """The request with a node-unique id and, for a join, this node's own address (the one
        the cluster file gives it), which other members will reach it at."""
        if isinstance(request, JoinCluster):
            address = self._cluster.address_of(self.node_id)
            return attrs.evolve(
                request, request_id=request_id, endpoint=request.endpoint or address.endpoint
            )
        return attrs.evolve(request, request_id=request_id)

    def _member_address(self, node_id: str) -> NodeAddress | None:
        """Where a member the cluster file does not name listens, from its membership entry."""
        entry = self.runtime.state.membership.get(node_id)
        if entry is None:
            return None
        host, _, port = entry.endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return None
        return NodeAddress(node_id, host, int(port), entry.capacity)

    def status(self) -> dict[str, int | str]:
        status = node_status(self.runtime.state)
        status["pid"] = os.getpid()
        status["isolated"] = ",".join(sorted(self._peers.isolated))
        status["connected"] = ",".join(self._peers.connected())
        status["commits"] = self.runtime.commits
        status["steps"] = self.runtime.steps
        status["dropped_sends"] = self._peers.dropped()
        status["connections"] = len(self._connections)
        status["queued_bytes"] = self.budget.queued_bytes
        status.update(self._counters)
        return status

    async def _isolate(self, peers: tuple[str, ...]) -> None:
        await self._peers.isolate(peers)
        # Inbound traffic from them is dropped from now on; close what they already opened.
        for writer, peer in list(self._peer_connections.items()):
            if peer in self._peers.isolated:
                writer.close()
        self._log(f"{self.node_id}: isolated from {sorted(self._peers.isolated) or 'nobody'}")

    # ------------------------------------------------------------ connections

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if len(self._connections) >= self._max_connections:
            # Refusing must stay cheap: no linger, no log line per connection of a flood.
            self._counters["rejected_connections"] += 1
            reason = f"too many connections (the limit is {self._max_connections})"
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(encode(ErrorFrame(reason)))
            writer.close()
            return
        self._connections.add(writer)
        frames = ConnectionReader(reader, self._read_deadline_s)
        try:
            enable_keepalive(writer)
            # Whatever a connection is for, its first frame must come promptly.
            first = await frames.next_frame(self._read_deadline_s)
            if first is not None:
                await self._serve(first, frames, writer)
        except RefusedError as refused:
            if refused.authentication:
                self._counters["failed_handshakes"] += 1
            await self._refuse(reader, writer, refused.reason)
        except ConnectionTimeoutError as timeout:
            self._counters["timed_out_connections"] += 1
            self._log(f"{self.node_id}: closing a connection: {timeout}")
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(encode(ErrorFrame(str(timeout))))
        except (ConnectionError, OSError):
            pass  # the other side went away; nothing is owed to it
        finally:
            self._connections.discard(writer)
            self._peer_connections.pop(writer, None)
            writer.close()

    async def _serve(
        self,
        first: WireObject | DecodeError,
        frames: ConnectionReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Serve a connection by its first frame: a peer's (REQ-WIRE-6) or a client's
        (REQ-AUTH-1)."""
        token = self._security.client_token
        if isinstance(first, PeerHello):
            rest = await accept_peer(first, frames, writer, self.node_id, self._credentials)
            await self._serve_peer(first.node_id, rest, frames, writer)
        elif isinstance(first, ClientHello):
            if token is not None and not token_matches(token, first.token):
                raise RefusedError("the client token is wrong", authentication=True)
            await self._serve_client([], frames, writer)
        elif isinstance(first, CLIENT_FRAME_TYPES):
            if token is not None:
                raise RefusedError("this node requires a client token first", authentication=True)
            await self._serve_client([first], frames, writer)
        else:
            raise RefusedError(rejection(first, "PeerHello, ClientHello or a request"))

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reason: str
    ) -> None:
        """Say why, then close. The peer's unread bytes are drained for a moment first: closing
        a socket with unread input resets it, and the reset can destroy the ErrorFrame unread."""
        self._log(f"{self.node_id}: closing a connection: {reason}")
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            writer.write(encode(ErrorFrame(reason)))
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(LINGER_S):
                drained = 0
                while drained < LINGER_BYTES and (chunk := await reader.read(65536)):
                    drained += len(chunk)

    async def _serve_peer(
        self,
        peer: str,
        batch: list[WireObject | DecodeError],
        frames: ConnectionReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        # A peer that reconnects left its old connection behind: one inbound connection each.
        for other, other_peer in list(self._peer_connections.items()):
            if other_peer == peer:
                other.close()
        self._peer_connections[writer] = peer
        while True:
            for frame in batch:
                if not isinstance(frame, MESSAGE_TYPES):
                    raise RefusedError(rejection(frame, "a node message"))
                if peer not in self._peers.isolated:
                    event = Receive(peer, cast(Message, frame))
                    self.budget.submit(event, frames.frame_bytes, writer)
            await self.runtime.wait_for_room()
            await self.budget.wait_for_room(writer, whole_queue=True)
            batch = await frames.next_batch(None)  # peers may be quiet for long
            if not batch:
                return

    async def _serve_client(
        self,
        batch: list[WireObject | DecodeError],
        frames: ConnectionReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        connection = ClientConnection(writer)
        try:
            while True:
                for frame in batch:
                    if isinstance(frame, CLIENT_REQUEST_TYPES):
                        self._take_request(frame, connection, frames.frame_bytes)
                    elif isinstance(frame, ADMIN_REQUEST_TYPES):
                        request_id = self._outbox.register(connection, frame.request_id)
                        event = AdminEvent(self._admin_event(frame, request_id))
                        self.budget.submit(event, frames.frame_bytes, connection.writer)
                    elif isinstance(frame, StatusRequest):
                        # Answered here, never queued: status shows a node under load too.
                        connection.queue(encode(StatusReply(frame.request_id, self.status())))
                    elif isinstance(frame, RingRequest):
                        connection.queue(encode(ring_reply(self.runtime.state, frame)))
                    elif isinstance(frame, FaultRequest):
                        await self._isolate(frame.isolate)
                        connection.queue(encode(FaultReply(frame.request_id)))
                    else:
                        connection.flush()
                        raise RefusedError(rejection(frame, "a client request"))
                connection.flush()
                await self.budget.wait_for_room(writer, whole_queue=False)
                batch = await self._next_client_batch(frames, connection)
                if not batch:
                    return
        finally:
            self._outbox.forget(connection)

    async def _next_client_batch(
        self, frames: ConnectionReader, connection: ClientConnection
    ) -> list[WireObject | DecodeError]:
        """The client's next frames. A client that is silent while a request of it is pending
        waits for us, and is not idle: its idle timeout starts over."""
        while True:
            try:
                return await frames.next_batch(self._idle_timeout_s)
            except ConnectionTimeoutError as timeout:
                if not (timeout.idle and connection.outstanding):
                    raise

    def _overload_reason(self) -> str:
        return (
            f"overloaded: {self.node_id} has {self.budget.queued_bytes} bytes of requests "
            f"waiting, over its budget of {self.budget.queue_bytes}; retry later"
        )

    def _take_request(
        self, request: ClientGet | ClientPut | ClientDelete, connection: ClientConnection, size: int
    ) -> None:
        """Queue a client's request for the core, or answer at once that the node is too busy:
        a client waits for nothing rather than behind a queue that is not moving."""
        if self.budget.overloaded():
            self._counters["overloaded"] += 1
            connection.queue(encode(Overloaded(request.request_id, self._overload_reason())))
            return
        request_id = self._outbox.register(connection, request.request_id)
        event = Request(attrs.evolve(request, request_id=request_id))
        self.budget.submit(event, size, connection.writer)


def in_process_size(request: ClientRequest) -> int:
    """What an in-process request costs the byte budget: about its frame's size."""
    value = request.value if isinstance(request, ClientPut) else b""
    context = b"" if isinstance(request, ClientGet) else request.context
    return 32 + len(request.key) + len(value) + len(context)
