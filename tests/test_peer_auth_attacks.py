"""REQ-WIRE-6: a stranger who can connect to a node's port is not a peer.

The attacks a user found on a cluster started from the README, replayed over real sockets
against in-process nodes that share a cluster secret the attacker does not know: the
unauthenticated greeting of the old protocol (tag 40), then node messages that inject a value,
erase an acknowledged write, and drop a hint. Each is refused with an ErrorFrame and nothing the
connection sent reaches the core.
"""

from __future__ import annotations

import socket

import msgpack  # type: ignore[import-untyped]
from dynref.causality import DvvSet, VersionVector
from dynref.messages import HandoffAck, Message, Replicate
from dynref.ring import build_ring
from dynref_io.client.native import Client
from dynref_io.node.server import NodeServer
from dynref_io.wire.codec import FrameReader, encode
from dynref_io.wire.frames import ErrorFrame

from tests.test_server_inprocess import secured_cluster_file, serving, wait_until


def legacy_hello(node_id: str) -> bytes:
    """The old protocol's greeting, `PeerHello(node_id)` under tag 40, which proved nothing."""
    body = msgpack.packb([1, 40, node_id], use_bin_type=True)
    return len(body).to_bytes(4, "big") + body


def attack(port: int, *messages: Message) -> list[object]:
    """Greet as n2 the old way, send `messages`; the frames the node answered until it closed."""
    data = legacy_hello("n2") + b"".join(encode(message) for message in messages)
    reader, frames = FrameReader(), []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            frames.extend(reader.feed(chunk))
    return frames


def refused(frames: list[object]) -> bool:
    return len(frames) == 1 and isinstance(frames[0], ErrorFrame)


def test_a_stranger_greeting_as_a_peer_cannot_inject_a_value() -> None:
    """REQ-WIRE-6: `PeerHello("n2")` then `Replicate` used to store the stranger's value."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    with serving(cluster, ["n1"]) as (node,):
        versions = DvvSet().write(b"injected", VersionVector(), "n2#0", 1)
        frames = attack(node.port, Replicate(1, b"k", versions, None))
        with Client("127.0.0.1", node.port) as client:
            assert client.get("k", r=1).values == ()
        assert refused(frames), frames
        assert node.status()["keys"] == 0


def test_a_stranger_cannot_erase_an_acknowledged_write() -> None:
    """REQ-WIRE-6: an empty sibling set under a covering vector used to erase a write."""
    cluster = secured_cluster_file(2, n=2, r=1, w=1)
    with serving(cluster, ["n1"]) as (node,), Client("127.0.0.1", node.port) as client:
        client.put("k", "acknowledged")
        actor = f"n1#{node.status()['incarnation']}"
        covering = DvvSet(VersionVector(((actor, 1_000),)), ())
        frames = attack(node.port, Replicate(1, b"k", covering, None))
        assert client.get("k", r=1).values == (b"acknowledged",)
        assert refused(frames), frames


def test_a_stranger_cannot_drop_a_hint() -> None:
    """REQ-WIRE-6: a forged `HandoffAck` used to drop a hint held for a node that is down."""
    cluster = secured_cluster_file(3, n=2, r=1, w=1)
    ring = build_ring(cluster.config.nodes, cluster.config.ring)
    key = next(
        key
        for key in (b"key-%d" % i for i in range(10_000))
        if ring.preference_list(key, 2) == ("n1", "n2")
    )
    with serving(cluster, ["n1", "n3"]) as (first, third):
        with Client("127.0.0.1", first.port) as client:
            # n2 never answers: once n1 believes it down, writes go to n3 as hints for n2.
            assert wait_until(lambda: _put_then_hints(client, key, third) > 0, timeout=20)
        digest = hint_digest(third, key)
        frames = attack(third.port, HandoffAck(key, digest))
        assert third.status()["hints"] == 1
        assert refused(frames), frames


def _put_then_hints(client: Client, key: bytes, holder: NodeServer) -> int:
    client.put(key, "v")
    return int(holder.status()["hints"])


def hint_digest(holder: NodeServer, key: bytes) -> bytes:
    return holder.runtime.state.durable.hints["n2"][key].digest()
