"""The HTTP listener of a node: HTTP/1.1 through h11 (sans-IO) over asyncio streams.

Each request is parsed and checked here (`routes`), then handed to the node as a client
request through `Node.call`, the path a native client connection's frames take (the same
runtime queue, request ids and released replies), and the result becomes a response
(`responses`). Nothing here knows the protocol beyond that: the core decides everything.

Bounds: a request head above `MAX_HEAD_BYTES` gets 431; a body above the cluster's
`max_value_bytes` gets 413 before it is read (its declared length) or as soon as it passes the
limit (chunked), and the connection is closed; an idle connection is closed after
`IDLE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
import h11
from dynref.config import ClusterConfig
from dynref.messages import ClientDelete, ClientGet, ClientPut, ClientRequest, ClientResult, PutOk

from dynref_io.http.metrics import PROMETHEUS_CONTENT_TYPE, prometheus_text, stats_json
from dynref_io.http.responses import (
    Response,
    decode_context_header,
    error_response,
    read_response,
    text_response,
    write_response,
)
from dynref_io.http.routes import (
    Endpoint,
    HttpError,
    ObjectPath,
    accepts_multipart,
    flag_parameter,
    parse_target,
    quorum_parameter,
    store_key,
)
from dynref_io.node.runtime import log_line

SERVER_HEADER = "dynref"
MAX_HEAD_BYTES = 16 * 1024
IDLE_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0
"""A safety net only: the core answers every request by its own deadlines."""
READ_CHUNK = 65536
LINGER_S = 1.0
LINGER_BYTES = 16 * 1024 * 1024
GENERATED_KEY_BYTES = 18
METADATA_PREFIXES = (b"x-riak-meta-", b"x-riak-index-")
METADATA_HEADERS = (b"link",)
CONDITIONAL_HEADERS = (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since")
OBJECT_METHODS = "GET, HEAD, PUT, POST, DELETE"


class Node(Protocol):
    """What the HTTP API needs of a node (`NodeServer` provides it)."""

    node_id: str

    async def call(self, request: ClientRequest) -> ClientResult: ...

    def status(self) -> dict[str, int | str]: ...


class _ConnectionOverError(Exception):
    """The connection is over: the peer left, or a response was sent that ends it."""


class HttpApi:
    """A node's HTTP listener; `start` binds it, `close` stops it and its connections."""

    def __init__(
        self, node: Node, config: ClusterConfig, log: Callable[[str], None] = log_line
    ) -> None:
        self._node = node
        self._config = config
        self._log = log
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.port = 0

    @classmethod
    async def start(
        cls,
        node: Node,
        config: ClusterConfig,
        host: str,
        port: int,
        log: Callable[[str], None] = log_line,
    ) -> HttpApi:
        api = cls(node, config, log)
        api._server = await asyncio.start_server(api._on_connection, host, port)
        api.port = api._server.sockets[0].getsockname()[1]
        log(f"{node.node_id}: HTTP API listening on {host}:{api.port}")
        return api

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ connections

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None, "a connection runs in a task"
        self._tasks.add(task)
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                try:
                    event = await self._event(connection, reader)
                except h11.RemoteProtocolError as exc:
                    status = exc.error_status_hint
                    await self._send(connection, writer, b"GET", text_response(status, str(exc)))
                    return
                if not isinstance(event, h11.Request):
                    return
                response = await self._answer(connection, reader, writer, event)
                await self._send(connection, writer, event.method, response)
                if connection.their_state is not h11.DONE:
                    await linger(reader)
                    return
                if connection.our_state is not h11.DONE:
                    return
                connection.start_next_cycle()
        except (_ConnectionOverError, ConnectionError, OSError, TimeoutError, h11.ProtocolError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _event(self, connection: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                data = await reader.read(READ_CHUNK)
            connection.receive_data(data)

    async def _send(
        self,
        connection: h11.Connection,
        writer: asyncio.StreamWriter,
        method: bytes,
        response: Response,
    ) -> None:
        if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            raise _ConnectionOverError
        status = response.status
        self.requests[(method.decode("ascii", "replace"), status)] += 1
        headers = [("Server", SERVER_HEADER), *response.headers]
        if status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        if connection.their_state is not h11.DONE:
            headers.append(("Connection", "close"))  # their body was refused, not read
        reason = http.HTTPStatus(status).phrase.encode()
        data = connection.send(h11.Response(status_code=status, headers=headers, reason=reason))
        if response.body and method != b"HEAD":
            data = (data or b"") + (connection.send(h11.Data(data=response.body)) or b"")
        data = (data or b"") + (connection.send(h11.EndOfMessage()) or b"")
        writer.write(data)
        await writer.drain()

    async def _body(
        self,
        connection: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        limit: int,
    ) -> bytes | HttpError:
        """The request body, or 413 as soon as it is known to exceed `limit`."""
        too_large = HttpError(413, f"the body exceeds {limit} bytes")
        for name, value in request.headers:
            if name == b"content-length" and int(value) > limit:
                return too_large
        if connection.they_are_waiting_for_100_continue:
            informational = h11.InformationalResponse(status_code=100, headers=[])
            writer.write(connection.send(informational) or b"")
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._event(connection, reader)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    return too_large
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise _ConnectionOverError

    # ------------------------------------------------------------ requests

    async def _answer(
        self,
        connection: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
    ) -> Response:
        method = request.method
        head = len(request.target) + sum(len(name) + len(value) for name, value in request.headers)
        if head > MAX_HEAD_BYTES:  # h11 bounds a head that arrives in pieces; this, any head
            return text_response(431, f"the request head exceeds {MAX_HEAD_BYTES} bytes")
        # Refusals come before the body is read: an unread body closes the connection after
        # the answer (`_send`), so a refused request never costs its body's bytes.
        parsed = parse_target(request.target)
        if isinstance(parsed, HttpError):
            return error_response(parsed)
        route, parameters = parsed
        writes = method in (b"PUT", b"POST")
        if isinstance(route, Endpoint):
            if method not in (b"GET", b"HEAD"):
                return text_response(405, "method not allowed", (("Allow", "GET, HEAD"),))
        else:
            allowed = OBJECT_METHODS if route.key is not None else "POST"
            if method.decode("ascii", "replace") not in allowed.split(", "):
                return text_response(405, "method not allowed", (("Allow", allowed),))
            refused = refused_header(request.headers, writes)
            if refused is not None:
                return error_response(refused)
        limit = self._config.max_value_bytes if writes else 0
        body = await self._body(connection, reader, writer, request, limit)
        if isinstance(body, HttpError):
            return error_response(body)
        if isinstance(route, Endpoint):
            return self._endpoint(route)
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await self._object(method, route, parameters, request.headers, body)
        except TimeoutError:
            return text_response(503, "request timed out")

    def _endpoint(self, endpoint: Endpoint) -> Response:
        if endpoint.name == "ping":
            return text_response(200, "OK")
        status = self._node.status()
        if endpoint.name == "stats":
            body = stats_json(status, self.requests)
            return Response(200, (("Content-Type", "application/json"),), body)
        body = prometheus_text(status, self.requests)
        return Response(200, (("Content-Type", PROMETHEUS_CONTENT_TYPE),), body)

    async def _object(
        self,
        method: bytes,
        route: ObjectPath,
        parameters: dict[str, str],
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
    ) -> Response:
        n = self._config.n
        r, w = quorum_parameter(parameters, "r", n), quorum_parameter(parameters, "w", n)
        returnbody = flag_parameter(parameters, "returnbody")
        context = decode_context_header([v for k, v in headers if k == b"x-riak-vclock"])
        for checked in (r, w, returnbody, context):
            if isinstance(checked, HttpError):
                return error_response(checked)
        assert not isinstance(r, HttpError) and not isinstance(w, HttpError)
        assert isinstance(returnbody, bool) and isinstance(context, bytes)
        if returnbody and r is not None and not 1 <= r <= n:
            return text_response(400, f"R={r} must be between 1 and N={n}")
        created = route.key is None
        key = route.key if route.key is not None else generated_key()
        stored = store_key(route.bucket, key)
        if method in (b"GET", b"HEAD"):
            accept = b",".join(v for k, v in headers if k == b"accept") or None
            result = await self._node.call(ClientGet(0, stored, r))
            return self._read(result, accept, parameters.get("vtag"))
        if method == b"DELETE":
            return write_response(await self._node.call(ClientDelete(0, stored, context, w)), None)
        result = await self._node.call(ClientPut(0, stored, body, context, w))
        location = route.location(key) if created else None
        if not returnbody or not isinstance(result, PutOk):
            return write_response(result, location)
        found = await self._node.call(ClientGet(0, stored, r))
        response = self._read(found, b"multipart/mixed", None, 201 if created else 200)
        if response.status in (400, 503):
            failed = response.body.decode().strip()
            message = f"write acknowledged, but the read for returnbody failed: {failed}"
            return text_response(response.status, message)
        if location is None:
            return response
        return attrs.evolve(response, headers=(*response.headers, ("Location", location)))

    def _read(
        self, result: ClientResult, accept: bytes | None, chosen: str | None, one: int = 200
    ) -> Response:
        multipart = accepts_multipart(accept)
        return read_response(
            result, self._config.mode, multipart=multipart, chosen_vtag=chosen, status_of_one=one
        )


async def linger(reader: asyncio.StreamReader) -> None:
    """Drain a refused body for a moment before closing: closing a socket with unread input
    resets it, and the reset can destroy the answer before the client has read it."""
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while drained < LINGER_BYTES and (chunk := await reader.read(READ_CHUNK)):
                drained += len(chunk)


def generated_key() -> bytes:
    """A fresh key for `POST /buckets/B/keys`: random, and unreserved so its URL is itself."""
    return secrets.token_urlsafe(GENERATED_KEY_BYTES).encode("ascii")


def refused_header(headers: Sequence[tuple[bytes, bytes]], writes: bool) -> HttpError | None:
    """A header dynref does not implement, refused rather than silently ignored."""
    for name, _ in headers:
        metadata = name.startswith(METADATA_PREFIXES) or name in METADATA_HEADERS
        if (writes and metadata) or name in CONDITIONAL_HEADERS:
            shown = name.decode("ascii", "replace")
            why = "dynref stores values only" if metadata else "no conditional requests"
            return HttpError(400, f"the {shown} header is not supported: {why}")
    return None


__all__ = ["HttpApi", "Node"]
