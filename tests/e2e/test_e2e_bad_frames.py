"""Malformed and oversized frames from a raw socket: an ErrorFrame, a closed connection, and a
node that goes on serving its other clients."""

from __future__ import annotations

import socket

import pytest
from dynref.messages import ClientGet, Probe
from dynref_io.node.auth import cluster_params
from dynref_io.node.local_cluster import LocalCluster
from dynref_io.wire.codec import MAX_FRAME_BYTES, FrameReader, encode
from dynref_io.wire.frames import ErrorFrame, PeerChallenge, PeerHello

from tests.e2e.conftest import StartCluster


def frame_of(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def answer_to(cluster: LocalCluster, node_id: str, data: bytes) -> tuple[list[object], bool]:
    """Send raw bytes on a fresh connection; return the frames received and whether the node
    closed the connection."""
    address = cluster.address(node_id)
    reader = FrameReader()
    frames: list[object] = []
    with socket.create_connection((address.host, address.port), timeout=5) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                frames.extend(reader.feed(chunk))
        except TimeoutError:
            return frames, False
    return frames, True


NONCE = bytes(32)


def bad_inputs(params: bytes) -> dict[str, bytes]:
    """Bad openings of a connection to a node whose shared parameters digest to `params`."""

    def hello(node_id: str, cluster: str = "dynref", digest: bytes = params) -> bytes:
        return encode(PeerHello(node_id, NONCE, cluster, digest))

    return {
        "not msgpack": frame_of(b"\xc1" * 10),
        "unknown frame tag": frame_of(b"\x93\x01\x7f\x00"),
        "oversized": (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"\x00" * 64,
        "a node message opening a client connection": encode(Probe(1)),
        "a peer of another configuration": hello("intruder", digest=bytes(16)),
        "a peer of another cluster": hello("intruder", cluster="other"),
        "a peer impersonating the node itself": hello("n1"),
        "the old greeting, which proved nothing": frame_of(b"\x93\x01\x28\xa2n2"),
        "the hello without the cluster's name": frame_of(b"\x94\x01\x31\xa2n2\xc4\x00"),
        "garbage after a hello": hello("n2") + frame_of(b"\xc1"),
        "a client request after a hello": hello("n2") + encode(ClientGet(1, b"k")),
        "a second hello": hello("n2") + hello("n2"),
        "a node message after a hello": hello("n2") + encode(Probe(1)),
    }


TRUNCATED = b"\x00\x00\x01\x00" + b"\x01" * 10
"""A length prefix announcing 256 bytes, then 10 of them and the end of the stream."""


@pytest.mark.e2e
def test_bad_frames_close_only_their_connection(start_cluster: StartCluster) -> None:
    """REQ-WIRE-6: a bad or unexpected frame gets an ErrorFrame and closes that connection only."""
    cluster = start_cluster(2, n=2, r=1, w=1)
    with cluster.client("n1") as bystander:
        bystander.put("before", "1")
        for name, data in bad_inputs(cluster_params(cluster.cluster.config)).items():
            frames, closed = answer_to(cluster, "n1", data)
            assert closed, f"{name}: the connection stays open"
            # A hello may be answered with the node's challenge before the refusal.
            assert frames and isinstance(frames[-1], ErrorFrame), f"{name}: {frames}"
            assert all(isinstance(f, PeerChallenge) for f in frames[:-1]), f"{name}: {frames}"
            bystander.put("during", name)  # the same client connection, still served
        assert bystander.get("before").values == (b"1",)
        assert bystander.status()["protocol_errors"] == 0  # rejected before reaching the core


@pytest.mark.e2e
def test_a_truncated_frame_gets_an_error_at_end_of_stream(start_cluster: StartCluster) -> None:
    cluster = start_cluster(1, n=1, r=1, w=1)
    address = cluster.address("n1")
    with socket.create_connection((address.host, address.port), timeout=5) as sock:
        sock.sendall(TRUNCATED)
        sock.shutdown(socket.SHUT_WR)
        reader = FrameReader()
        frames: list[object] = []
        while chunk := sock.recv(65536):
            frames.extend(reader.feed(chunk))
    assert len(frames) == 1 and isinstance(frames[0], ErrorFrame)
    assert "stream ended" in frames[0].reason
    with cluster.client("n1") as client:
        client.put("after", "ok")
        assert client.get("after").values == (b"ok",)
