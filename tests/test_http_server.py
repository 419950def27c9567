"""The HTTP listener in-process over real sockets: framing, limits, keep-alive, and the node path.

Nodes run with memory stores on a background loop (tests/test_server_inprocess.py); the end-to-end
tests with real processes and curl are in tests/e2e/test_e2e_http.py.
"""

from __future__ import annotations

import base64
import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from dynref.causality import Mode, VersionVector
from dynref.causality.context import encode_context
from dynref_io.http.server import HttpApi
from dynref_io.node.config_file import ClusterFile
from dynref_io.node.server import NodeServer
from dynref_io.storage.stores import MemoryStorage

from tests.test_server_inprocess import BackgroundLoop, cluster_file, wait_until


@contextmanager
def http_api(cluster: ClusterFile) -> Iterator[tuple[list[NodeServer], int]]:
    """The cluster's nodes in-process, with the first one serving HTTP on a free port."""
    background = BackgroundLoop()
    servers = [
        NodeServer(cluster, address.node_id, MemoryStorage, log=lambda _line: None)
        for address in cluster.addresses
    ]
    try:
        for server in servers:
            background.run(server.start())
        everyone = {address.node_id for address in cluster.addresses}
        for server in servers:
            others = everyone - {server.node_id}
            assert wait_until(lambda s=server, o=others: connected(s) == o)
        api = background.run(
            HttpApi.start(servers[0], cluster.config, "127.0.0.1", 0, log=lambda _line: None)
        )
        try:
            yield servers, api.port
        finally:
            background.run(api.close())
    finally:
        for server in servers:
            background.run(server.stop())
        background.close()


def connected(server: NodeServer) -> set[str]:
    return {peer for peer in str(server.status()["connected"]).split(",") if peer}


def call(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_keep_alive_connection_serves_a_read_modify_write() -> None:
    """REQ-HTTP-5: several requests on one connection, each through the node."""
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (servers, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("PUT", "/buckets/cart/keys/42", body=b"book")
        first = connection.getresponse()
        assert (first.status, first.read()) == (204, b"")
        connection.request("GET", "/buckets/cart/keys/42")
        read = connection.getresponse()
        assert (read.status, read.read()) == (200, b"book")
        context = read.getheader("X-Riak-Vclock")
        assert context is not None
        connection.request(
            "PUT", "/buckets/cart/keys/42?returnbody=true", b"pen", {"X-Riak-Vclock": context}
        )
        written = connection.getresponse()
        assert (written.status, written.read()) == (200, b"pen")  # superseded, no sibling
        connection.close()
        stats = servers[0].status()
        assert stats["coordinated_puts"] == 2 and stats["coordinated_gets"] == 2


def test_head_answers_the_headers_of_a_get_without_its_body() -> None:
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (_, port):
        assert call(port, "PUT", "/buckets/b/keys/k", b"12345")[0] == 204
        status, headers, body = call(port, "HEAD", "/buckets/b/keys/k")
        assert (status, headers["Content-Length"], body) == (200, "5", b"")


def test_bodies_above_the_value_limit_get_413_before_and_while_they_are_read() -> None:
    """REQ-HTTP-4: a declared length is refused unread; a chunked body as soon as it passes."""
    with http_api(cluster_file(1, n=1, r=1, w=1, max_value_bytes=100)) as (_, port):
        declared = raw(port, b"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 101\r\n\r\n")  # fmt: skip
        assert declared.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in declared
        chunks = b"".join(b"%x\r\n%s\r\n" % (40, b"v" * 40) for _ in range(3))
        chunked = raw(port, b"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")  # fmt: skip
        assert chunked.startswith(b"HTTP/1.1 413 ")
        assert call(port, "PUT", "/buckets/b/keys/k", b"v" * 100)[0] == 204
        assert call(port, "GET", "/buckets/b/keys/k", b"x")[0] == 413  # a GET has no body


def test_a_waiting_client_gets_100_continue_then_its_answer() -> None:
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (_, port):
        answer = raw(port, b"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\nok")  # fmt: skip
        assert answer.startswith(b"HTTP/1.1 100 ") and b"HTTP/1.1 204 " in answer


def test_protocol_errors_methods_and_unsupported_headers_are_refused() -> None:
    """REQ-HTTP-4: malformed requests never reach the node; unimplemented headers are 400."""
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (servers, port):
        assert raw(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        huge = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        assert raw(port, huge).startswith(b"HTTP/1.1 431 ")
        status, headers, _ = call(port, "PATCH", "/buckets/b/keys/k", b"x")
        assert (status, headers["Allow"]) == (405, "GET, HEAD, PUT, POST, DELETE")
        assert call(port, "GET", "/buckets/b/keys")[:2][0] == 405
        assert call(port, "POST", "/ping")[0] == 405
        meta = call(port, "PUT", "/buckets/b/keys/k", b"x", **{"X-Riak-Meta-Color": "red"})
        assert meta[0] == 400 and b"x-riak-meta-color" in meta[2]
        assert call(port, "GET", "/buckets/b/keys/k", **{"If-None-Match": "x"})[0] == 400
        assert servers[0].status()["coordinated_puts"] == 0


def test_contexts_of_another_mode_and_bad_quorums_are_400_from_the_node() -> None:
    """REQ-HTTP-2: the node's own validation (REQ-COORD-1) decides, and its reason is shown."""
    with http_api(cluster_file(3, n=3, r=2, w=2)) as (_, port):
        foreign = encode_context(Mode.VCLOCK, VersionVector((("n1#1", 1),)))
        header = base64.b64encode(foreign).decode()
        status, _, body = call(port, "PUT", "/buckets/b/keys/k", b"x", **{"X-Riak-Vclock": header})
        assert status == 400 and b"foreign mode" in body
        status, _, body = call(port, "GET", "/buckets/b/keys/k?r=4")
        assert status == 400 and b"R=4 must be between 1 and N=3" in body
        status, _, body = call(port, "PUT", "/buckets/b/keys/k?w=all", b"x")
        assert status == 204


def test_a_quorum_not_reached_is_503() -> None:
    """REQ-HTTP-4: with the peers silent, R=3 cannot be met."""
    cluster = cluster_file(3, n=3, r=2, w=2)
    with http_api(cluster) as (servers, port):
        for server in servers[1:]:
            server.runtime.stop()  # the node's loop ends: it answers nothing from now on
        status, _, body = call(port, "GET", "/buckets/b/keys/k?r=all")
        assert status == 503 and body.startswith(b"R-value unsatisfied: 3/")


def test_post_without_a_key_creates_one_and_says_where() -> None:
    """REQ-HTTP-4: 201 with Location, in the form the request used."""
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (_, port):
        status, headers, _ = call(port, "POST", "/types/default/buckets/my%20b/keys", b"new")
        assert status == 201 and headers["Location"].startswith("/types/default/buckets/my%20b/")
        assert call(port, "GET", headers["Location"])[2] == b"new"
        status, headers, body = call(port, "POST", "/buckets/b/keys?returnbody=true", b"v2")
        assert (status, body) == (201, b"v2") and "Location" in headers


def test_ping_stats_and_metrics_count_the_requests() -> None:
    """REQ-HTTP-6."""
    with http_api(cluster_file(1, n=1, r=1, w=1)) as (_, port):
        assert call(port, "GET", "/ping")[::2] == (200, b"OK\n")
        call(port, "GET", "/buckets/b/keys/none")
        status, headers, body = call(port, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b'dynref_http_requests_total{method="GET",code="404"} 1' in body
        status, headers, body = call(port, "GET", "/stats")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert b'"node_id": "n1"' in body
