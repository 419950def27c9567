"""The Python client of a dynref node: `AsyncClient` (pipelined) and the blocking `Client`.

    with Client("127.0.0.1", 7001) as client:
        client.put("cart", "apple")
        found = client.get("cart")            # GetResult(values=(b"apple",), context=b"...")
        client.put("cart", "pear", context=found.context)

Keys and values are bytes, or str (sent as UTF-8). A get answers every sibling and a context;
writing with that context supersedes exactly the siblings it saw. Failures are exceptions: the
node's answers (`QuorumError`, `InvalidContextError`, `OverloadedError`, ...) and the
connection's (`NodeConnectionError`, `RequestTimeoutError`), all `DynrefError`s.

A cluster whose file sets `client_token` wants it first on every connection: pass
`token=...` (the command line reads it from the cluster file, `--token` or the
`DYNREF_CLIENT_TOKEN` environment variable). A cluster with TLS wants `tls=tls_context(ca)`,
with `ca` the certificate (or authority) the nodes' certificates are checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from dynref.messages import (
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ClientResult,
    JoinCluster,
    LeaveCluster,
)

from dynref_io.client.answers import (
    ANSWER_TYPES,
    DEFAULT_TIMEOUT_S,
    Data,
    GetResult,
    admin_status,
    answer_id,
    check_result,
    request_result,
    status_dict,
    tls_context,
    to_bytes,
    unexpected,
    written_context,
)
from dynref_io.client.errors import (
    DynrefError,
    InvalidContextError,
    InvalidRequestError,
    NodeConnectionError,
    OverloadedError,
    QuorumError,
    RequestTimeoutError,
    TooLargeError,
    UnavailableError,
)
from dynref_io.wire.codec import DecodeError, FrameReader, encode, read_frames
from dynref_io.wire.frames import (
    ClientHello,
    FaultReply,
    FaultRequest,
    RingReply,
    RingRequest,
    StatusReply,
    StatusRequest,
    WireObject,
)

AdminRequest = (
    ClientRequest | JoinCluster | LeaveCluster | StatusRequest | FaultRequest | RingRequest
)
"""Every frame a client sends; each is answered by one frame with its request id."""


class AsyncClient:
    """A connection to one node; many requests may be in flight on it at once."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        token: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._token, self._tls = token, tls
        self._where = f"node {host}:{port}"
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[WireObject]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        # Requests made in one turn of the event loop go out in one write at its end.
        self._unsent: list[bytes] = []

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        async with self._connecting:
            if self._writer is not None:
                return
            tls: dict[str, Any] = {}
            if self._tls is not None:
                tls = {"ssl": self._tls, "server_hostname": self.host}
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(self.host, self.port, **tls)
            except (OSError, TimeoutError) as exc:
                raise NodeConnectionError(f"cannot connect to {self._where}: {exc}") from exc
            if self._token is not None:
                writer.write(encode(ClientHello(self._token)))
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read_answers(reader))

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
            self._reader_task = None
        self._fail_waiting(NodeConnectionError(f"the client of {self._where} was closed"))

    async def get(self, key: Data, r: int | None = None) -> GetResult:
        result = await self._request(lambda rid: ClientGet(rid, to_bytes(key), r))
        assert result is not None, "a get answers GetOk or fails"
        return result

    async def put(
        self, key: Data, value: Data, context: bytes = b"", w: int | None = None
    ) -> bytes:
        """Store `value`; the context the acknowledgement carries (REQ-CTX-4: lww's names the
        stamp written, so a next write can build on it; empty in dvv and vclock)."""
        request = ClientPut(next(self._ids), to_bytes(key), to_bytes(value), context, w)
        return written_context(request_result(await self._exchange(request), self._where))

    async def delete(self, key: Data, context: bytes, w: int | None = None) -> bytes:
        """Delete what `context` saw; the acknowledgement's context, as for `put`."""
        request = ClientDelete(next(self._ids), to_bytes(key), context, w)
        return written_context(request_result(await self._exchange(request), self._where))

    async def status(self) -> dict[str, Any]:
        reply = await self._exchange(StatusRequest(next(self._ids)))
        if not isinstance(reply, StatusReply):
            raise unexpected(reply, self._where)
        return status_dict(reply)

    async def isolate(self, peers: Iterable[str]) -> None:
        """Fault injection: the node drops all traffic to and from `peers`; () heals."""
        reply = await self._exchange(FaultRequest(next(self._ids), tuple(peers)))
        if not isinstance(reply, FaultReply):
            raise unexpected(reply, self._where)

    async def ring(self, key: Data | None = None) -> RingReply:
        """The node's view of the ring (and of `key`'s placement, when given)."""
        request = RingRequest(next(self._ids), None if key is None else to_bytes(key))
        reply = await self._exchange(request)
        if not isinstance(reply, RingReply):
            raise unexpected(reply, self._where)
        return reply

    async def _request(self, make: Callable[[int], ClientRequest]) -> GetResult | None:
        request: ClientRequest = make(next(self._ids))
        reply = await self._exchange(request)
        return check_result(request_result(reply, self._where))

    async def _exchange(self, frame: AdminRequest) -> WireObject:
        await self.connect()
        writer = self._writer
        assert writer is not None, "connected"
        answer: asyncio.Future[WireObject] = asyncio.get_running_loop().create_future()
        self._waiting[frame.request_id] = answer
        try:
            if not self._unsent:
                asyncio.get_running_loop().call_soon(self._send_unsent)
            self._unsent.append(encode(frame))
            async with asyncio.timeout(self.timeout):
                return await answer
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self._where} did not answer {type(frame).__name__} within {self.timeout} s"
            ) from None
        finally:
            self._waiting.pop(frame.request_id, None)

    def _send_unsent(self) -> None:
        frames, self._unsent = self._unsent, []
        if frames and self._writer is not None:
            self._writer.write(b"".join(frames))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        frames = FrameReader()
        try:
            while True:
                batch = await read_frames(reader, frames)
                if not batch:
                    self._fail_waiting(unexpected(None, self._where))
                    return
                for frame in batch:
                    if not isinstance(frame, ANSWER_TYPES):  # an ErrorFrame, or garbage
                        self._fail_waiting(unexpected(frame, self._where))
                        return
                    waiting = self._waiting.get(frame.request_id)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(frame)
        except (ConnectionError, OSError) as exc:
            self._fail_waiting(NodeConnectionError(f"lost the connection to {self._where}: {exc}"))

    def _fail_waiting(self, failure: NodeConnectionError) -> None:
        """Every request in flight fails; the next one reconnects."""
        self._unsent.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(failure)
        self._waiting.clear()


class Client:
    """A blocking client over a plain socket: one request at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        token: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._token, self._tls = token, tls
        self._where = f"node {host}:{port}"
        self._ids = itertools.count(1)
        self._socket: socket.socket | None = None
        self._frames = FrameReader()
        self._ready: list[WireObject | DecodeError] = []

    def __enter__(self) -> Self:
        self._connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def get(self, key: Data, r: int | None = None) -> GetResult:
        result = check_result(self._result(ClientGet(next(self._ids), to_bytes(key), r)))
        assert result is not None, "a get answers GetOk or fails"
        return result

    def put(self, key: Data, value: Data, context: bytes = b"", w: int | None = None) -> bytes:
        """Store `value`; the acknowledgement's context, as `AsyncClient.put` returns it."""
        request = ClientPut(next(self._ids), to_bytes(key), to_bytes(value), context, w)
        return written_context(self._result(request))

    def delete(self, key: Data, context: bytes, w: int | None = None) -> bytes:
        """Delete what `context` saw; the acknowledgement's context, as for `put`."""
        request = ClientDelete(next(self._ids), to_bytes(key), context, w)
        return written_context(self._result(request))

    def status(self) -> dict[str, Any]:
        reply = self._exchange(StatusRequest(next(self._ids)))
        if not isinstance(reply, StatusReply):
            raise unexpected(reply, self._where)
        return status_dict(reply)

    def join(self, seed: str, capacity: int = 1) -> str:
        """Ask the node to join the cluster through the seed node `seed` (an id); its status
        after the request (`joining`). Refusals raise `InvalidRequestError` (SPEC section 12)."""
        request = JoinCluster(next(self._ids), seed, capacity)
        return admin_status(request_result(self._exchange(request), self._where))

    def leave(self) -> str:
        """Ask the node to leave the cluster; its status after the request (`leaving`): it
        exits once its keys are held by their new owners."""
        request = LeaveCluster(next(self._ids))
        return admin_status(request_result(self._exchange(request), self._where))

    def isolate(self, peers: Iterable[str]) -> None:
        reply = self._exchange(FaultRequest(next(self._ids), tuple(peers)))
        if not isinstance(reply, FaultReply):
            raise unexpected(reply, self._where)

    def ring(self, key: Data | None = None) -> RingReply:
        request = RingRequest(next(self._ids), None if key is None else to_bytes(key))
        reply = self._exchange(request)
        if not isinstance(reply, RingReply):
            raise unexpected(reply, self._where)
        return reply

    def _result(self, request: ClientRequest) -> ClientResult:
        return request_result(self._exchange(request), self._where)

    def _connect(self) -> socket.socket:
        if self._socket is None:
            try:
                sock = socket.create_connection((self.host, self.port), self.timeout)
            except OSError as exc:
                raise NodeConnectionError(f"cannot connect to {self._where}: {exc}") from exc
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._tls is not None:
                    sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                if self._token is not None:
                    sock.sendall(encode(ClientHello(self._token)))
            except OSError as exc:
                sock.close()
                raise NodeConnectionError(f"cannot connect to {self._where}: {exc}") from exc
            self._socket = sock
            self._frames, self._ready = FrameReader(), []
        return self._socket

    def _exchange(self, frame: AdminRequest) -> WireObject:
        sock = self._connect()
        try:
            sock.sendall(encode(frame))
            # One request at a time, and the socket is closed after any failure: the next
            # frame answers this request, or it is an ErrorFrame before the node hangs up.
            answer = self._next_frame(sock)
            if isinstance(answer, DecodeError) or answer_id(answer) != frame.request_id:
                raise unexpected(answer, self._where)
            return answer
        except TimeoutError:
            self.close()
            raise RequestTimeoutError(
                f"{self._where} did not answer {type(frame).__name__} within {self.timeout} s"
            ) from None
        except OSError as exc:
            self.close()
            raise NodeConnectionError(f"lost the connection to {self._where}: {exc}") from exc
        except NodeConnectionError:
            self.close()
            raise

    def _next_frame(self, sock: socket.socket) -> WireObject | DecodeError:
        while not self._ready:
            data = sock.recv(65536)
            if not data:
                raise unexpected(None, self._where)
            self._ready.extend(self._frames.feed(data))
        return self._ready.pop(0)


# The errors live in `errors`; clients import them from here with the clients.
__all__ = [
    "AsyncClient",
    "Client",
    "DynrefError",
    "GetResult",
    "InvalidContextError",
    "InvalidRequestError",
    "NodeConnectionError",
    "OverloadedError",
    "QuorumError",
    "RequestTimeoutError",
    "TooLargeError",
    "UnavailableError",
    "tls_context",
]
