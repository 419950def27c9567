"""Parts of a stored put's CPU cost in the nodes, each timed alone (thread CPU time):

    .venv/bin/python benchmarks/bench_node_parts.py [--runs 5]

- merkle: `MerkleTree.update` while a tree grows to 20,000 keys (16-byte digests), the root read
  every 500 updates as anti-entropy would; each put updates the tree on all three replicas;
- versions: encoding a key's versions (one-sibling dvv set, a 100-byte value) for the store,
  and a `Replicate` body holding it; a put encodes its versions for the store on all three
  replicas and in one `Replicate`;
- put: a whole put on three nodes in one process (N=3, R=W=2, dvv, 20,000 fresh keys): the
  coordinator steps the `ClientPut` and prepares its write, each `Replicate` is encoded and
  decoded and stepped at its replica, which prepares its write, and each `ReplicateAck` is
  encoded, decoded and stepped at the coordinator. No sockets, no SQLite, no event loop: what
  the node's CPU per put cannot go below, and the share of it that is the core's `step`.

Each figure is the median of `--runs` runs. docs/benchmarks.md ("The speed targets") has the
method and the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable

from dynref.causality import AnyVersions, DvvSet, DvvSibling, VersionVector
from dynref.config import ClusterConfig
from dynref.merkle_tree import empty_tree
from dynref.messages import ClientPut, Receive, Replicate, Request
from dynref.node import Step, boot, step
from dynref.ring import NodeSpec
from dynref_io.storage.stores import prepare
from dynref_io.wire.codec import SCHEMA, decode_body, encode

TREE_KEYS = 20_000
READ_EVERY = 500
ENCODINGS = 20_000


def merkle_update_us() -> float:
    keys = [b"bench-%012d" % i for i in range(TREE_KEYS)]
    digests = [hashlib.md5(key).digest() for key in keys]
    tree = empty_tree()
    started = time.thread_time()
    for index, (key, digest) in enumerate(zip(keys, digests, strict=True)):
        tree = tree.update(key, digest)
        if index % READ_EVERY == READ_EVERY - 1:
            tree.root()
    return (time.thread_time() - started) / TREE_KEYS * 1e6


def put_us() -> tuple[float, float]:
    """CPU microseconds per put in all, and in the core's `step` alone."""
    nodes = tuple(NodeSpec(f"n{i}") for i in range(1, 4))
    config = ClusterConfig(nodes=nodes, n=3, r=2, w=2)
    states = {spec.node_id: boot(config, spec.node_id, 1, 0).state for spec in nodes}
    stepping = 0.0

    def stepped(node: str, event: Request | Receive) -> Step:
        nonlocal stepping
        started = time.thread_time()
        result = step(states[node], event)
        stepping += time.thread_time() - started
        states[node] = result.state
        prepare(result.ready.writes)
        return result

    started = time.thread_time()
    for index in range(TREE_KEYS):
        coordinator = nodes[index % 3].node_id
        key = b"bench-%012d" % index
        put = stepped(coordinator, Request(ClientPut(index, key, b"v" * 100, b"")))
        for send in put.ready.sends:
            message = decode_body(encode(send.message)[4:])
            replicated = stepped(send.to, Receive(coordinator, message))  # type: ignore[arg-type]
            for ack in replicated.ready.sends:
                answer = decode_body(encode(ack.message)[4:])
                stepped(ack.to, Receive(send.to, answer))  # type: ignore[arg-type]
    total = time.thread_time() - started
    return total / TREE_KEYS * 1e6, stepping / TREE_KEYS * 1e6


def per_call_us(call: Callable[[], object]) -> float:
    started = time.thread_time()
    for _ in range(ENCODINGS):
        call()
    return (time.thread_time() - started) / ENCODINGS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    actor = "n1#1733349000123456"
    versions = DvvSet(VersionVector(((actor, 5),)), (DvvSibling(actor, 5, b"v" * 100, 1),))
    message = Replicate(7, b"bench-000000000001", versions, None)
    puts = [put_us() for _ in range(runs)]
    figures_of: dict[str, list[float]] = {
        "put on three nodes, in all": [total for total, _ in puts],
        "put on three nodes, the core's step alone": [core for _, core in puts],
        "merkle update, 20,000-key tree": [merkle_update_us() for _ in range(runs)],
        "versions for the store": [
            per_call_us(lambda: SCHEMA.encode_value(AnyVersions, versions)) for _ in range(runs)
        ],
        "Replicate body": [per_call_us(lambda: SCHEMA.encode_body(message)) for _ in range(runs)],
    }
    print(f"median of {runs} runs, thread CPU time")
    for name, figures in figures_of.items():
        print(
            f"  {name:<42} {statistics.median(figures):6.1f} us "
            f"({min(figures):.1f} - {max(figures):.1f})"
        )


if __name__ == "__main__":
    main()
