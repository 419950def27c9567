"""Where a node's released effects go: sends to the peer links, replies to the client
connections that asked (with the clients' own request ids restored)."""

from __future__ import annotations

import asyncio

from dynref.messages import ClientResult, Message

from dynref_io.node.peers import PeerLinks
from dynref_io.wire.codec import encode
from dynref_io.wire.frames import ClientReplyFrame

# A client that stops reading its replies is cut off rather than allowed to fill our memory.
MAX_CLIENT_PENDING_BYTES = 64 * 1024 * 1024


class ClientConnection:
    """One client's connection: its writer and the node request ids still owed an answer."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.outstanding: set[int] = set()
        self._unflushed: list[bytes] = []

    def queue(self, frame: bytes) -> None:
        self._unflushed.append(frame)

    def flush(self) -> None:
        frames, self._unflushed = self._unflushed, []
        if not frames or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_CLIENT_PENDING_BYTES:
            self.writer.close()
            return
        self.writer.write(b"".join(frames))


class Outbox:
    """Released effects to their connections: sends to peer links, replies to clients."""

    def __init__(self, peers: PeerLinks) -> None:
        self._peers = peers
        self._next_request_id = 1
        # node request id -> (connection, the client's own id for that request)
        self._waiting: dict[int, tuple[ClientConnection, int]] = {}
        self._to_flush: set[ClientConnection] = set()
        # node request id -> the future of an in-process caller (the HTTP API)
        self._calls: dict[int, asyncio.Future[ClientResult]] = {}

    def register(self, connection: ClientConnection, client_request_id: int) -> int:
        """A node-unique id for a client's request: clients choose theirs independently."""
        request_id = self._next_request_id
        self._next_request_id += 1
        self._waiting[request_id] = (connection, client_request_id)
        connection.outstanding.add(request_id)
        return request_id

    def register_call(self) -> tuple[int, asyncio.Future[ClientResult]]:
        """A node-unique id for an in-process request, and the future its result will settle."""
        request_id = self._next_request_id
        self._next_request_id += 1
        self._calls[request_id] = asyncio.get_running_loop().create_future()
        return request_id, self._calls[request_id]

    def forget_call(self, request_id: int) -> None:
        self._calls.pop(request_id, None)

    def forget(self, connection: ClientConnection) -> None:
        for request_id in connection.outstanding:
            self._waiting.pop(request_id, None)
        connection.outstanding.clear()

    def send(self, to: str, message: Message) -> None:
        self._peers.send(to, message)

    def reply(self, request_id: int, result: ClientResult) -> None:
        call = self._calls.pop(request_id, None)
        if call is not None:
            if not call.done():
                call.set_result(result)
            return
        waiting = self._waiting.pop(request_id, None)
        if waiting is None:
            return  # the client hung up before its answer
        connection, client_request_id = waiting
        connection.outstanding.discard(request_id)
        connection.queue(encode(ClientReplyFrame(client_request_id, result)))
        self._to_flush.add(connection)

    def flush(self) -> None:
        """Write what a batch released: one write per connection, not one per message."""
        self._peers.flush()
        for connection in self._to_flush:
            connection.flush()
        self._to_flush.clear()
