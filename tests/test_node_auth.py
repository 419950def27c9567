"""The peer handshake (REQ-WIRE-6), client tokens (REQ-AUTH-1), loopback-only nodes without a
secret (REQ-AUTH-2), over real sockets against in-process nodes."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import pytest
from dynref.causality import DvvSet, VersionVector
from dynref.messages import Message, Replicate
from dynref_io.client.native import AsyncClient, Client, NodeConnectionError
from dynref_io.node.auth import ACCEPTOR, CONNECTOR, NONCE_BYTES, cluster_params, peer_proof
from dynref_io.node.config_file import ClusterFile, ConfigError, Security
from dynref_io.node.server import NodeServer
from dynref_io.storage.stores import MemoryStorage
from dynref_io.wire.codec import FrameReader, encode
from dynref_io.wire.frames import (
    ErrorFrame,
    PeerAccepted,
    PeerChallenge,
    PeerHello,
    PeerProof,
    WireObject,
)

from tests.test_server_inprocess import (
    SECRET,
    cluster_file,
    secured_cluster_file,
    serving,
    wait_until,
)

KEY = SECRET.encode()
TOKEN = "a-client-token-of-the-tests-0123456789"


class RawConnection:
    """A socket speaking frames by hand, as a stranger (or a test posing as a node) would."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._reader = FrameReader()
        self._ready: list[object] = []

    def send(self, *frames: WireObject) -> None:
        self.sock.sendall(b"".join(encode(frame) for frame in frames))

    def receive(self) -> object | None:
        """The next frame, or None once the node closed the connection."""
        while not self._ready:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self._ready.extend(self._reader.feed(chunk))
        return self._ready.pop(0)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def connected(port: int) -> Iterator[RawConnection]:
    connection = RawConnection(port)
    try:
        yield connection
    finally:
        connection.close()


def injected(value: bytes) -> Message:
    return Replicate(1, b"k", DvvSet().write(value, VersionVector(), "n2#0", 1), None)


def hello(node_id: str, nonce: bytes, cluster: ClusterFile) -> PeerHello:
    """A greeting as `node_id` to a node of `cluster` (its name and shared parameters)."""
    return PeerHello(node_id, nonce, cluster.name, cluster_params(cluster.config))


def handshake_as_n2(connection: RawConnection, key: bytes, cluster: ClusterFile) -> PeerChallenge:
    """Greet n1 as n2 and return its challenge, after checking n1 proved the secret."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    connection.send(hello("n2", nonce, cluster))
    challenge = connection.receive()
    assert isinstance(challenge, PeerChallenge), challenge
    assert challenge.node_id == "n1"
    expected = peer_proof(KEY, ACCEPTOR, "n2", "n1", nonce, challenge.nonce)
    assert challenge.proof == expected  # the acceptor proved the secret first
    proof = peer_proof(key, CONNECTOR, "n2", "n1", nonce, challenge.nonce)
    connection.send(PeerProof(proof))
    return challenge


def test_nodes_sharing_the_secret_connect_and_replicate() -> None:
    """REQ-WIRE-6: the handshake succeeds between nodes of one cluster."""
    cluster = secured_cluster_file(3)
    with serving(cluster) as servers:
        assert wait_until(lambda: all(s.status()["connected"].count(",") == 1 for s in servers))
        with Client("127.0.0.1", servers[0].port) as client:
            client.put("k", "v")
        assert wait_until(lambda: all(s.status()["keys"] == 1 for s in servers))
        assert all(s.status()["failed_handshakes"] == 0 for s in servers)


def test_a_peer_that_proves_the_secret_is_served() -> None:
    """REQ-WIRE-6: the proof computed as the protocol says is accepted (the positive control of
    the refusals below)."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    with serving(cluster, ["n1"]) as (node,), connected(node.port) as connection:
        handshake_as_n2(connection, KEY, cluster)
        assert isinstance(connection.receive(), PeerAccepted)
        connection.send(injected(b"from n2"))
        assert wait_until(lambda: node.status()["keys"] == 1)


def wrong_proofs() -> dict[str, bytes]:
    """Proofs a stranger might try: each binds the wrong key, role, ids or nonces."""
    nonce, other = b"\x01" * NONCE_BYTES, b"\x02" * NONCE_BYTES
    return {
        "another secret": peer_proof(b"another secret!!", CONNECTOR, "n2", "n1", nonce, other),
        "the acceptor's role": peer_proof(KEY, ACCEPTOR, "n2", "n1", nonce, other),
        "zeros": bytes(32),
        "empty": b"",
    }


@pytest.mark.parametrize("proof_kind", ["another secret", "the acceptor's role", "zeros", "empty"])
def test_a_wrong_proof_is_refused_and_nothing_it_sent_is_stepped(proof_kind: str) -> None:
    """REQ-WIRE-6: a connection that fails the handshake gets an ErrorFrame and is closed, and
    the node messages sent with its proof never reach the core."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    with serving(cluster, ["n1"]) as (node,), connected(node.port) as connection:
        nonce = secrets.token_bytes(NONCE_BYTES)
        connection.send(hello("n2", nonce, cluster))
        challenge = connection.receive()
        assert isinstance(challenge, PeerChallenge)
        if proof_kind == "the acceptor's role":  # reflect the node's own proof back at it
            proof = challenge.proof
        elif proof_kind == "another secret":
            proof = peer_proof(b"x" * 32, CONNECTOR, "n2", "n1", nonce, challenge.nonce)
        else:
            proof = wrong_proofs()[proof_kind]
        connection.send(PeerProof(proof), injected(b"stranger"))
        answer = connection.receive()
        assert (
            isinstance(answer, ErrorFrame) and "did not prove the cluster secret" in answer.reason
        )
        assert connection.receive() is None
        assert node.status()["keys"] == 0 and node.status()["failed_handshakes"] == 1


SECURED = secured_cluster_file(2, n=2, r=1, w=1)
ZEROS = bytes(NONCE_BYTES)
OTHER_PARAMS = cluster_params(attrs.evolve(SECURED.config, n=1))


@pytest.mark.parametrize(
    ("opening", "reason"),
    [
        ((hello("n2", ZEROS, SECURED), injected(b"early")), "before the handshake"),
        ((hello("n1", ZEROS, SECURED),), "'n1' is this node's own id"),
        ((PeerHello("n2", b"short", SECURED.name, cluster_params(SECURED.config)),), "32 bytes"),
        ((PeerHello("n2", ZEROS, "other", cluster_params(SECURED.config)),), "cluster 'other'"),
        (
            (
                PeerHello(
                    "n2", ZEROS, SECURED.name, cluster_params(attrs.evolve(SECURED.config, n=1))
                ),
            ),
            "another configuration: N, mode, ring",
        ),
        ((injected(b"no hello"),), "expected PeerHello, ClientHello or a request"),
    ],
    ids=[
        "messages before the proof",
        "the node's own id",
        "short nonce",
        "another cluster's name",
        "another configuration",
        "none",
    ],
)
def test_a_bad_opening_is_refused_before_any_proof(
    opening: tuple[WireObject, ...], reason: str
) -> None:
    """REQ-WIRE-6, REQ-MEMBER-13: a hello from another cluster, or from a node whose N, mode,
    ring or Merkle depth differ, or in this node's own name, is refused with the reason, and
    nothing may travel before the handshake completes."""
    with serving(SECURED, ["n1"]) as (node,), connected(node.port) as connection:
        connection.send(*opening)
        answer = connection.receive()
        assert isinstance(answer, ErrorFrame) and reason in answer.reason, answer
        assert connection.receive() is None
        assert node.status()["keys"] == 0


def test_a_node_the_file_does_not_name_is_admitted_by_the_secret_alone() -> None:
    """REQ-MEMBER-13: a joining node is in no peer's cluster file yet: the handshake admits any
    id that proves the secret (the core then refuses what a non-member sends)."""
    with serving(SECURED, ["n1"]) as (node,), connected(node.port) as connection:
        nonce = secrets.token_bytes(NONCE_BYTES)
        connection.send(hello("n9", nonce, SECURED))
        challenge = connection.receive()
        assert isinstance(challenge, PeerChallenge)
        connection.send(PeerProof(peer_proof(KEY, CONNECTOR, "n9", "n1", nonce, challenge.nonce)))
        assert isinstance(connection.receive(), PeerAccepted)


def test_a_second_connection_of_a_peer_replaces_its_first() -> None:
    """REQ-CONN-3: one inbound connection per peer; the older one is closed."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    with serving(cluster, ["n1"]) as (node,), connected(node.port) as first:
        handshake_as_n2(first, KEY, cluster)
        assert isinstance(first.receive(), PeerAccepted)
        with connected(node.port) as second:
            handshake_as_n2(second, KEY, cluster)
            assert isinstance(second.receive(), PeerAccepted)
            assert first.receive() is None


class FakeAcceptor:
    """A listener on a node's port that answers the handshake with a proof it cannot make, and
    records what the connecting node sends it."""

    def __init__(self, port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))
        self.received: list[object] = []
        self._thread = threading.Thread(target=self._serve_one, daemon=True)
        self._thread.start()

    def _serve_one(self) -> None:
        sock, _ = self._listener.accept()
        with sock:
            reader = FrameReader()
            hello = None
            while hello is None and (chunk := sock.recv(65536)):
                frames = reader.feed(chunk)
                hello = frames[0] if frames else None
            forged = PeerChallenge("n2", bytes(NONCE_BYTES), bytes(32))
            sock.sendall(encode(forged))
            while chunk := sock.recv(65536):
                self.received.extend(reader.feed(chunk))

    def close(self) -> None:
        self._listener.close()
        self._thread.join(10)


def test_the_connecting_node_checks_the_acceptor_before_proving_anything() -> None:
    """REQ-WIRE-6 is mutual: a node that reaches an impostor refuses it and never sends the
    impostor a proof of its own."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    impostor = FakeAcceptor(cluster.address_of("n2").port)
    try:
        with serving(cluster, ["n1"]) as (node,):
            assert wait_until(lambda: bool(impostor.received))
            assert node.status()["connected"] == ""
    finally:
        impostor.close()
    assert impostor.received == [ErrorFrame("n2 did not prove the cluster secret")]


def test_nodes_with_different_secrets_never_connect() -> None:
    """REQ-WIRE-6: two clusters on the same addresses but with different secrets stay apart,
    each side logging why."""
    ours = secured_cluster_file(2, n=2, r=1, w=1)
    theirs = type(ours)(ours.config, ours.addresses, security=Security(secret="another-secret-xyz"))
    lines: list[str] = []
    with (
        serving(ours, ["n1"], log=lines.append) as (first,),
        serving(theirs, ["n2"], log=lines.append) as (second,),
    ):
        assert wait_until(
            lambda: (
                first.status()["failed_handshakes"] > 0 and second.status()["failed_handshakes"] > 0
            )
        )
        assert first.status()["connected"] == "" and second.status()["connected"] == ""
    assert any("n1: peer n2 refused" in line for line in lines), lines
    assert any("did not prove the cluster secret" in line for line in lines), lines


# ---------------------------------------------------------------- client tokens


def test_clients_must_present_the_token_when_one_is_configured() -> None:
    """REQ-AUTH-1: no token, or a wrong one, is refused before any request reaches the core."""
    security = Security(secret=SECRET, client_token=TOKEN)
    cluster = cluster_file(1, security, n=1, r=1, w=1)
    port = cluster.addresses[0].port
    with serving(cluster) as (node,):
        with pytest.raises(NodeConnectionError, match="requires a client token"):
            Client("127.0.0.1", port).put("k", "without")
        with pytest.raises(NodeConnectionError, match="the client token is wrong"):
            Client("127.0.0.1", port, token="a-wrong-token-of-enough-length").status()
        assert node.status()["keys"] == 0 and node.status()["failed_handshakes"] == 2
        with Client("127.0.0.1", port, token=TOKEN) as client:
            client.put("k", "with")
            assert client.get("k").values == (b"with",)

        async def pipelined() -> list[object]:
            async with AsyncClient("127.0.0.1", port, token=TOKEN) as client:
                return await asyncio.gather(client.put("a", "1"), client.status())

        assert asyncio.run(pipelined())[1]["node_id"] == "n1"
        assert wait_until(lambda: node.status()["keys"] == 2)


def test_a_token_is_harmless_where_none_is_required() -> None:
    """REQ-AUTH-1: a client configured with a token may talk to a node that requires none."""
    cluster = cluster_file(1, n=1, r=1, w=1)
    with serving(cluster), Client("127.0.0.1", cluster.addresses[0].port, token=TOKEN) as client:
        client.put("k", "v")
        assert client.get("k").values == (b"v",)


# ---------------------------------------------------------------- nodes without a secret


def test_a_node_without_a_secret_refuses_to_listen_beyond_loopback() -> None:
    """REQ-AUTH-2: without a secret anyone who reaches the port could be a peer."""
    cluster = cluster_file(1, n=1, r=1, w=1)
    for host in ("0.0.0.0", "10.0.0.1", "::", "example.com"):
        with pytest.raises(ConfigError, match=f"refusing to listen on {host}: without a cluster"):
            NodeServer(cluster, "n1", MemoryStorage, host=host)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        NodeServer(cluster, "n1", MemoryStorage, host=host)
    secured = secured_cluster_file(1, n=1, r=1, w=1)
    NodeServer(secured, "n1", MemoryStorage, host="0.0.0.0")  # constructed, never started


def test_a_node_without_a_secret_says_so_on_start() -> None:
    """REQ-AUTH-2: the operator is told, in the log, that peers are not authenticated."""
    lines: list[str] = []
    with serving(cluster_file(1, n=1, r=1, w=1), log=lines.append):
        pass
    assert any("no cluster secret" in line and "loopback only" in line for line in lines)
    lines.clear()
    with serving(secured_cluster_file(1, n=1, r=1, w=1), log=lines.append):
        pass
    assert not any("no cluster secret" in line for line in lines)
