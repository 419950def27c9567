"""What a node grants its connections (REQ-CONN-1 to REQ-CONN-6), over real sockets against
in-process nodes: deadlines for started frames and silent clients, a connection cap, a byte
budget that stops reading a peer and answers clients `Overloaded`, and status under load."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import pytest
from dynref.causality import DvvSet, VersionVector
from dynref.messages import ClientPut, Probe, PutOk, Replicate
from dynref_io.client.native import AsyncClient, Client, OverloadedError, RequestTimeoutError
from dynref_io.http.server import HttpApi
from dynref_io.node.config_file import ClusterFile
from dynref_io.node.runtime import MAX_QUEUED_EVENTS
from dynref_io.node.server import NodeServer
from dynref_io.storage.stores import MemoryStorage, PreparedWrites
from dynref_io.wire.codec import encode
from dynref_io.wire.frames import (
    ClientReplyFrame,
    ErrorFrame,
    Overloaded,
    PeerAccepted,
    StatusReply,
    StatusRequest,
)

from tests.test_http_server import call as http_call
from tests.test_node_auth import KEY, RawConnection, connected, handshake_as_n2, hello
from tests.test_server_inprocess import (
    BackgroundLoop,
    secured_cluster_file,
    serving,
    wait_until,
)

HALF_A_FRAME = (100).to_bytes(4, "big") + b"\x00" * 10
"""A length prefix announcing 100 bytes, then only 10 of them."""


def closed_with_error(connection: RawConnection) -> str:
    """The reason of the ErrorFrame the node sent before closing (waits for the close)."""
    answer = connection.receive()
    assert isinstance(answer, ErrorFrame), answer
    assert connection.receive() is None
    return answer.reason


def test_half_frames_held_open_are_closed_after_the_read_deadline() -> None:
    """REQ-CONN-2: a started frame must be complete within the read deadline; the node keeps
    serving."""
    cluster = secured_cluster_file(1, n=1, r=1, w=1, read_deadline=300)
    with serving(cluster) as (node,), ExitStack() as stack:
        holders = [stack.enter_context(connected(node.port)) for _ in range(20)]
        for holder in holders:
            holder.sock.sendall(HALF_A_FRAME)
        for holder in holders:
            assert "read deadline" in closed_with_error(holder)
        with Client("127.0.0.1", node.port) as client:
            client.put("k", "still serving")
        assert node.status()["timed_out_connections"] == 20
        assert wait_until(lambda: node.status()["connections"] == 0)


def test_the_deadline_counts_from_the_start_of_a_frame_not_its_last_byte() -> None:
    """REQ-CONN-2: a frame trickled in, each byte well within the deadline of the one before,
    is cut off all the same once the deadline of its first byte passed."""
    cluster = secured_cluster_file(1, n=1, r=1, w=1, read_deadline=300)
    with serving(cluster) as (node,), connected(node.port) as trickler:
        trickler.send(StatusRequest(1))
        assert isinstance(trickler.receive(), StatusReply)
        frame = encode(ClientPut(2, b"key", b"a value of some length", b""))
        with contextlib.suppress(OSError):  # the node may reset us mid-trickle
            for byte in frame:
                trickler.sock.sendall(bytes([byte]))
                time.sleep(0.1)
        assert "read deadline" in closed_with_error(trickler)
        assert node.status()["timed_out_connections"] == 1 and node.status()["keys"] == 0


def test_the_time_the_node_does_not_read_does_not_count_against_the_deadline() -> None:
    """REQ-CONN-2: a peer whose frame the node stopped reading midway (its budget full,
    REQ-CONN-1) is not cut off for the node's own delay."""
    limits = {"queue_bytes": 1, "connection_bytes": 1, "read_deadline": 300}
    with stalled_node(**limits) as (port, gate, _, cluster), connected(port) as peer:
        handshake_as_n2(peer, KEY, cluster)
        assert isinstance(peer.receive(), PeerAccepted)
        second = encode(Probe(2))
        peer.sock.sendall(encode(Probe(1)) + second[:3])  # a frame, and the start of the next
        time.sleep(1.0)  # the node, its budget full behind the stalled commit, reads no more
        gate.set()
        time.sleep(0.1)
        peer.sock.sendall(second[3:])
        time.sleep(0.6)  # two deadlines
        with Client("127.0.0.1", port) as observer:
            status = observer.status()
        assert status["timed_out_connections"] == 0 and status["connections"] == 2


@pytest.mark.parametrize("opening", [b"", b"peer"], ids=["silent", "handshake stalled"])
def test_a_connection_must_open_within_the_read_deadline(opening: bytes) -> None:
    """REQ-CONN-2: a connection that sends no first frame, or stalls in the handshake, is closed."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1, read_deadline=300)
    with serving(cluster, ["n1"]) as (node,), connected(node.port) as connection:
        if opening:
            connection.send(hello("n2", secrets.token_bytes(32), cluster))
            assert connection.receive() is not None  # the challenge, never answered
        assert "nothing received" in closed_with_error(connection)


def test_idle_clients_are_closed() -> None:
    """REQ-CONN-3: a client silent past the idle timeout is closed."""
    cluster = secured_cluster_file(1, n=1, r=1, w=1, idle_timeout=300)
    with serving(cluster) as (node,), connected(node.port) as idle:
        idle.send(StatusRequest(1))
        assert isinstance(idle.receive(), StatusReply)
        assert "nothing received" in closed_with_error(idle)
        assert node.status()["timed_out_connections"] == 1


def test_a_client_waiting_for_an_answer_is_not_idle() -> None:
    """REQ-CONN-3: the idle timeout runs only while no request of the client is pending."""
    with stalled_node(idle_timeout=300) as (port, gate, _, _cluster), connected(port) as waiting:
        waiting.send(ClientPut(1, b"k", b"v", b""))
        time.sleep(1.0)  # three idle timeouts, with the put pending behind the stalled commit
        gate.set()
        answer = waiting.receive()
        assert isinstance(answer, ClientReplyFrame) and answer.result == PutOk()
        assert "nothing received" in closed_with_error(waiting)


def test_the_connection_cap_refuses_the_excess_and_the_node_still_serves() -> None:
    """REQ-CONN-4: beyond max_connections a connection gets an ErrorFrame at once."""
    cluster = secured_cluster_file(1, n=1, r=1, w=1, max_connections=5)
    with (
        serving(cluster) as (node,),
        Client("127.0.0.1", node.port) as client,
        ExitStack() as stack,
    ):
        client.put("k", "before")  # the client holds one of the five
        holders = [stack.enter_context(connected(node.port)) for _ in range(4)]
        assert wait_until(lambda: node.status()["connections"] == 5)
        excess = [stack.enter_context(connected(node.port)) for _ in range(10)]
        for connection in excess:
            assert "too many connections (the limit is 5)" in closed_with_error(connection)
        client.put("k", "during")
        assert node.status()["rejected_connections"] == 10
        holders[0].close()
        assert wait_until(lambda: node.status()["connections"] == 4)
        with Client("127.0.0.1", node.port) as newcomer:
            assert b"during" in newcomer.get("k").values


class GatedStorage(MemoryStorage):
    """A memory store whose commits after the first (the boot's) wait for the gate: the runtime
    stalls in its commit, and nothing stepped meanwhile is released."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self._gate = gate
        self._commits = 0
        self.stalled = threading.Event()

    def commit(self, batches: Sequence[PreparedWrites]) -> None:
        self._commits += 1
        if self._commits > 1:
            self.stalled.set()
            self._gate.wait(30)
        super().commit(batches)


@contextmanager
def stalled_node(
    **limits: int,
) -> Iterator[tuple[int, threading.Event, GatedStorage, ClusterFile]]:
    """A one-node cluster whose runtime stalls in the commit of the first put."""
    gate = threading.Event()
    storage = GatedStorage(gate)
    cluster = secured_cluster_file(2, n=2, r=1, w=1, **limits)
    try:
        with serving(cluster, ["n1"], open_storage=lambda: storage) as (node,):
            with (
                Client("127.0.0.1", node.port, timeout=0.5) as client,
                pytest.raises(RequestTimeoutError),
            ):
                client.put("first", "stalls the runtime")
            assert storage.stalled.wait(10)
            yield node.port, gate, storage, cluster
            gate.set()
    finally:
        gate.set()


def test_bytes_count_until_their_batch_is_released() -> None:
    """REQ-CONN-1: a frame's bytes count against the budget until the batch that stepped it is
    released, not merely until it is stepped: the put stuck in the stalled commit holds its
    bytes, and gives them back once its batch is committed and released."""
    with stalled_node() as (port, gate, _, cluster):
        held = queued_bytes(port)
        assert held > 0
        with connected(port) as peer:
            handshake_as_n2(peer, KEY, cluster)
            assert isinstance(peer.receive(), PeerAccepted)
            peer.send(Probe(1))  # stepped while the commit stalls, released after it
            assert wait_until(lambda: queued_bytes(port) > held)
            gate.set()
            assert wait_until(lambda: queued_bytes(port) == 0)


def queued_bytes(port: int) -> int:
    with Client("127.0.0.1", port) as observer:
        return int(observer.status()["queued_bytes"])


def test_a_flood_gets_overloaded_while_status_answers() -> None:
    """REQ-CONN-5, REQ-CONN-6: with the runtime stalled and its queue over budget, requests are
    answered Overloaded at once, and status answers on a fresh connection all the same."""
    budget, count = 4096, 500
    with stalled_node(queue_bytes=budget) as (port, gate, _, _cluster), connected(port) as flooder:
        held = queued_bytes(port)  # the put stuck in the stalled commit
        # Request ids from 1000 on, so that every frame has the same size.
        frames = [encode(ClientPut(1000 + i, b"k%03d" % i, b"v" * 100, b"")) for i in range(count)]
        assert len({len(frame) for frame in frames}) == 1
        queued = -(-(budget - held) // len(frames[0]))  # taken until the budget is reached
        flooder.sock.sendall(b"".join(frames))
        answers = [flooder.receive() for _ in range(count - queued)]
        assert all(isinstance(a, Overloaded) for a in answers), answers[:3]
        with Client("127.0.0.1", port) as observer:
            status = observer.status()
            assert status["overloaded"] == count - queued and status["queued_bytes"] >= budget
            with pytest.raises(OverloadedError, match="retry later"):
                observer.put("more", "v")
        gate.set()
        rest = [flooder.receive() for _ in range(queued)]
        assert all(isinstance(a, ClientReplyFrame) and a.result == PutOk() for a in rest), rest


def test_status_is_answered_ahead_of_a_full_queue() -> None:
    """REQ-CONN-6: a status request behind more requests than the runtime's queue holds is
    answered at once; the requests that did not fit are answered Overloaded."""
    with stalled_node() as (port, gate, _, _cluster), connected(port) as connection:
        # The put stuck in the stalled commit is one of the events the node holds.
        count = MAX_QUEUED_EVENTS - 1 + 2000
        puts = [ClientPut(i, b"k%d" % i, b"v", b"") for i in range(count)]
        connection.sock.sendall(b"".join(encode(put) for put in puts) + encode(StatusRequest(0)))
        before_status = []
        while not isinstance(answer := connection.receive(), StatusReply):
            before_status.append(answer)
        assert len(before_status) == 2000
        assert all(isinstance(a, Overloaded) for a in before_status)
        gate.set()


def test_a_peer_is_not_read_while_the_queue_is_over_budget() -> None:
    """REQ-CONN-1: a peer flooding a stalled node is pushed back by TCP: the node stops reading
    it instead of queueing without bound."""
    budget = 1024 * 1024
    with (
        stalled_node(queue_bytes=budget, connection_bytes=budget) as (port, gate, _, cluster),
        connected(port) as peer,
    ):
        handshake_as_n2(peer, KEY, cluster)
        assert isinstance(peer.receive(), PeerAccepted)
        versions = DvvSet().write(b"x" * 60_000, VersionVector(), "n2#0", 1)
        frame = encode(Replicate(1, b"k", versions, None))
        accepted = push_until_stuck(peer.sock, frame, limit=128 * 1024 * 1024)
        # Loopback's kernel buffers may grow to tens of MiB (about 10 taken here); without the
        # budget the node read all 128 into its queue.
        assert accepted < 48 * 1024 * 1024, accepted
        with Client("127.0.0.1", port) as observer:
            assert observer.status()["queued_bytes"] <= 2 * budget + 256 * 1024 + len(frame)
        gate.set()


def push_until_stuck(sock: socket.socket, frame: bytes, limit: int) -> int:
    """Send `frame` over and over without blocking until `limit` bytes went out or the socket
    took nothing for a second; the bytes sent (whole frames, the stream kept in step)."""
    sock.setblocking(False)
    sent, stuck_since = 0, None
    pending = memoryview(frame * 16)
    while sent < limit:
        try:
            written = sock.send(pending)
        except BlockingIOError:
            now = time.monotonic()
            stuck_since = stuck_since or now
            if now - stuck_since > 1.0:
                break
            time.sleep(0.01)
            continue
        sent, stuck_since = sent + written, None
        pending = pending[written:] or memoryview(frame * 16)
    sock.setblocking(True)
    return sent


def test_an_async_client_sees_overloaded_as_an_error() -> None:
    """REQ-CONN-5: the client library raises OverloadedError, a DynrefError."""
    with stalled_node(queue_bytes=1) as (port, _, _, _):
        assert queued_bytes(port) > 0  # the put stuck in the stalled commit fills the budget

        async def put() -> None:
            async with AsyncClient("127.0.0.1", port, timeout=5) as client:
                await client.put("k", "v")

        with pytest.raises(OverloadedError):
            asyncio.run(put())


def test_the_http_api_shares_the_budget_and_answers_503_when_over_it() -> None:
    """REQ-CONN-5: a request through the HTTP API is refused at once, like a native client's,
    while the queue is over its budget, rather than waiting behind a queue that does not move."""
    gate = threading.Event()
    storage = GatedStorage(gate)
    cluster = secured_cluster_file(2, n=2, r=1, w=1, queue_bytes=1)
    background = BackgroundLoop()
    node = NodeServer(cluster, "n1", lambda: storage, log=lambda _line: None)
    try:
        background.run(node.start())
        api = background.run(
            HttpApi.start(node, cluster.config, "127.0.0.1", 0, log=lambda _line: None)
        )
        try:
            with (
                Client("127.0.0.1", node.port, timeout=0.5) as client,
                pytest.raises(RequestTimeoutError),
            ):
                client.put("first", "stalls the runtime")
            # The put stuck in the stalled commit holds its bytes: the budget of 1 is full.
            assert queued_bytes(node.port) > 0
            status, _, body = http_call(api.port, "PUT", "/buckets/b/keys/k", b"v")
            assert status == 503 and b"overloaded" in body, (status, body)
            assert node.status()["overloaded"] == 1
        finally:
            gate.set()
            background.run(api.close())
    finally:
        gate.set()
        background.run(node.stop())
        background.close()
