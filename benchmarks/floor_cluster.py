"""The floor of bench_cluster.py: dynref's message pattern over the same sockets, with no store
and no logic. One floor node per process:

    .venv/bin/python benchmarks/floor_cluster.py --id 1 --ports 7001,7002,7003

(bench_cluster.py starts three and drives them like a cluster.) A floor node listens on one
loopback port like a dynref node: a connection that opens with `PeerHello` is a peer's, any
other is a client's. For each client request it does what a 3-node N=3, R=2, W=2 coordinator
does on the network, and nothing else:

- `ClientPut`: send `Replicate` (the value in a one-sibling dvv set) to both peers, answer
  `PutOk` at the first `ReplicateAck` (W=2 counting itself);
- `ClientGet`: send `Fetch` to both peers, answer `GetOk` at the first `FetchReply` (R=2).

A peer answers `Replicate` with `ReplicateAck` and `Fetch` with a `FetchReply` holding a fixed
one-sibling set. Every frame goes through dynref's codec (length prefix, msgpack, strict
decoding); like the node, it reads whatever a connection has buffered at once, and writes the
frames for one connection once per turn of the event loop rather than once each; it runs on the
event loop a node runs on (uvloop when installed). Prints "ready" once its links to both peers
are up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys

from dynref.causality import DvvSet, DvvSibling, VersionVector
from dynref.messages import (
    ClientGet,
    ClientPut,
    Fetch,
    FetchReply,
    GetOk,
    PutOk,
    Replicate,
    ReplicateAck,
)
from dynref_io.node.basics import run_event_loop
from dynref_io.wire.codec import FrameReader, encode, read_frame, read_frames
from dynref_io.wire.frames import ClientReplyFrame, PeerHello, WireObject

HOST = "127.0.0.1"
ACTOR = "floor#1"
STORED = DvvSet(VersionVector(((ACTOR, 1),)), (DvvSibling(ACTOR, 1, b"x" * 100, 0),))
CONTEXT = b"\x01" * 16
"""Stands in for an encoded context: a get answers GetOk(values, context)."""
FOUND = GetOk(STORED.values(), CONTEXT)


class BatchedWriter:
    """Frames for one connection, written together at the end of the event loop's turn."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._frames: list[bytes] = []

    def send(self, frame: WireObject) -> None:
        if not self._frames:
            asyncio.get_running_loop().call_soon(self._flush)
        self._frames.append(encode(frame))

    def _flush(self) -> None:
        frames, self._frames = self._frames, []
        if not self.writer.is_closing():
            self.writer.write(b"".join(frames))


class FloorNode:
    def __init__(self, node_id: str, ports: dict[str, int]) -> None:
        self.node_id = node_id
        self.ports = ports
        self.peers: dict[str, BatchedWriter] = {}
        self._ids = itertools.count(1)
        # request id sent to the peers -> (the client's connection, the client's request id)
        self._waiting: dict[int, tuple[BatchedWriter, int]] = {}

    async def serve(self) -> None:
        server = await asyncio.start_server(self._on_connection, HOST, self.ports[self.node_id])
        for peer in self.ports:
            if peer != self.node_id:
                self.peers[peer] = await self._connect(peer)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    async def _connect(self, peer: str) -> BatchedWriter:
        while True:
            try:
                _, writer = await asyncio.open_connection(HOST, self.ports[peer])
            except OSError:
                await asyncio.sleep(0.05)
                continue
            link = BatchedWriter(writer)
            # The greeting only names the peer: the floor proves nothing (a node's handshake
            # costs a round trip per connection, not per request).
            link.send(PeerHello(self.node_id, bytes(32)))
            return link

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = BatchedWriter(writer)
        first = await read_frame(reader)
        peer = first.node_id if isinstance(first, PeerHello) else None
        batch = [] if first is None else [first]
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while batch:
                for frame in batch:
                    if peer is None:
                        self._client_frame(connection, frame)
                    elif not isinstance(frame, PeerHello):
                        self._peer_frame(peer, frame)
                batch = await read_frames(reader, frames)
        writer.close()

    def _client_frame(self, client: BatchedWriter, frame: object) -> None:
        if isinstance(frame, ClientPut):
            request_id = next(self._ids)
            versions = DvvSet(STORED.vv, (DvvSibling(ACTOR, 1, frame.value, 0),))
            message: WireObject = Replicate(request_id, frame.key, versions, None)
        elif isinstance(frame, ClientGet):
            request_id = next(self._ids)
            message = Fetch(request_id, frame.key)
        else:
            raise SystemExit(f"the floor serves puts and gets only, not {frame!r}")
        self._waiting[request_id] = (client, frame.request_id)
        for link in self.peers.values():
            link.send(message)

    def _peer_frame(self, peer: str, frame: object) -> None:
        link = self.peers[peer]
        if isinstance(frame, Replicate):
            link.send(ReplicateAck(frame.request_id, frame.key))
        elif isinstance(frame, Fetch):
            link.send(FetchReply(frame.request_id, frame.key, STORED))
        elif isinstance(frame, ReplicateAck | FetchReply):
            waiting = self._waiting.pop(frame.request_id, None)
            if waiting is not None:  # the first answer completes it; the second is ignored
                client, client_request_id = waiting
                result = PutOk() if isinstance(frame, ReplicateAck) else FOUND
                client.send(ClientReplyFrame(client_request_id, result))
        else:
            raise SystemExit(f"unexpected peer frame {frame!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", type=int, required=True, help="this node's index, from 1")
    parser.add_argument("--ports", required=True, help="every node's port, comma-separated")
    arguments = parser.parse_args()
    ports = [int(port) for port in arguments.ports.split(",")]
    if not 1 <= arguments.id <= len(ports):
        parser.error(f"--id must be between 1 and {len(ports)}")
    node = FloorNode(f"f{arguments.id}", {f"f{i}": port for i, port in enumerate(ports, 1)})
    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(node.serve())  # the node's event loop: uvloop when installed
    sys.exit(0)


if __name__ == "__main__":
    main()
