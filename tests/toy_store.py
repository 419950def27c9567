"""A toy Dynamo behind the target protocol, with a flag per classic defect.

    python tests/toy_store.py [--mode dvv|lww] [--defect NAME]

One process holds three replicas (N=3, R=2, W=2: strict quorum) built on dynref's causality
types. A write runs at its coordinator, is copied at once to one more replica (W=2), and is
sent to the third as a message that arrives later; a read merges two replicas drawn at random.
Each request delivers a pending message or two and now and then lets two replicas exchange a
key (anti-entropy); `status` is settled once nothing is pending and every replica agrees, and
each `status` request runs a round of anti-entropy, so polling it converges the store.

Without `--defect` the toy keeps every promise the checks judge. Each defect breaks one:

- `stale-context-overwrites`: a coordinator's write drops every sibling, not only those its
  context saw (INV-ACK-1);
- `delete-one-copy`: a delete removes the coordinator's copy only, so the value comes back
  from the other replicas (INV-READ-1, resurrection);
- `replica-overwrites`: a replica takes an incoming version instead of merging it (INV-ACK-1);
- `lww-stamps-backwards` (with `--mode lww`): a coordinator's stamps can go back in time, so a
  later write through it may lose to an earlier one (INV-ORDER-1);
- `invented-read`: a read now and then returns a value nobody wrote (INV-READ-1).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
from typing import Any

from dynref.causality import (
    AnyVersions,
    ContextError,
    DvvSet,
    LwwRegister,
    LwwVersion,
    Mode,
    decode_context,
    empty_versions,
    merge_versions,
    read_context,
    write_versions,
)
from dynref_io.conform.serve import error_reply, serve

NODES = ("n1", "n2", "n3")
DEFECTS = (
    "stale-context-overwrites",
    "delete-one-copy",
    "replica-overwrites",
    "lww-stamps-backwards",
    "invented-read",
)


class ToyStore:
    def __init__(self, mode: Mode, defect: str | None) -> None:
        self.mode, self.defect = mode, defect
        self.rng = random.Random(0)
        self.replicas: dict[str, dict[str, AnyVersions]] = {node: {} for node in NODES}
        self.clock = dict.fromkeys(NODES, 0)
        self.pending: list[tuple[str, str, AnyVersions]] = []
        self.ghosts = 0

    # ------------------------------------------------------------ the store

    def held(self, node: str, key: str) -> AnyVersions:
        return self.replicas[node].get(key, empty_versions(self.mode))

    def receive(self, node: str, key: str, versions: AnyVersions) -> None:
        if self.defect == "replica-overwrites":
            self.replicas[node][key] = versions
        else:
            self.replicas[node][key] = merge_versions(self.held(node, key), versions)

    def background(self) -> None:
        for _ in range(min(len(self.pending), self.rng.randint(0, 2))):
            self.receive(*self.pending.pop(self.rng.randrange(len(self.pending))))
        keys = sorted({key for held in self.replicas.values() for key in held})
        if keys and self.rng.random() < 0.1:
            self.exchange(self.rng.choice(keys), *self.rng.sample(NODES, 2))

    def exchange(self, key: str, first: str, second: str) -> None:
        self.receive(first, key, self.held(second, key))
        self.receive(second, key, self.held(first, key))

    def write(self, node: str, key: str, value: bytes | None, raw: bytes) -> dict[str, Any]:
        context = decode_context(self.mode, raw)
        if isinstance(context, ContextError):
            return error_reply("invalid-context", True, context.reason)
        self.clock[node] += 1
        if self.defect == "delete-one-copy" and value is None:
            self.replicas[node].pop(key, None)
            return {"ok": True}
        current = self.held(node, key)
        actor = f"{node}#0"
        if self.defect == "lww-stamps-backwards" and isinstance(current, LwwRegister):
            stamp = self.clock[node] - self.rng.randint(0, 30)
            written: AnyVersions = current.merge(LwwRegister(LwwVersion(stamp, actor, value)))
        else:
            written = write_versions(current, value, context, actor, self.clock[node])
        if self.defect == "stale-context-overwrites" and isinstance(written, DvvSet):
            newest = max((s for s in written.siblings if s.actor == actor), key=lambda s: s.counter)
            written = DvvSet(written.vv, (newest,))
        self.replicas[node][key] = written
        others = [other for other in NODES if other != node]
        self.rng.shuffle(others)
        self.receive(others[0], key, written)  # W = 2: acknowledged once two replicas hold it
        self.pending.append((others[1], key, written))
        if isinstance(written, LwwRegister):  # lww: the stamp written, to write on with
            return {"ok": True, "context": _b64(read_context(written))}
        return {"ok": True}

    def read(self, key: str) -> dict[str, Any]:
        merged = empty_versions(self.mode)
        for node in self.rng.sample(NODES, 2):
            merged = merge_versions(merged, self.held(node, key))
        values = [value.decode() for value in merged.values()]
        if self.defect == "invented-read" and self.rng.random() < 0.1:
            self.ghosts += 1
            values.append(f"ghost-{self.ghosts}")
        return {"ok": True, "values": values, "context": _b64(read_context(merged))}

    # ------------------------------------------------------------ the protocol

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "init":
            self.rng = random.Random(request.get("seed", 0))
            return self.init()
        self.background()
        key = request.get("key", "")
        if op == "get":
            return self.read(key)
        if op in {"put", "delete"}:
            node = request.get("node") or NODES[0]
            raw = base64.b64decode(request.get("context") or "")
            value = request["value"].encode() if op == "put" else None
            return self.write(node, key, value, raw)
        if op == "read_replica":
            replicas = [
                {"node": node, "values": [v.decode() for v in self.held(node, key).values()]}
                for node in NODES
            ]
            return {"ok": True, "replicas": replicas}
        if op == "status":
            return self.status()
        return error_reply("unsupported", True, f"no {op}")

    def status(self) -> dict[str, Any]:
        keys = sorted({key for held in self.replicas.values() for key in held})
        if not self.pending:
            for key in keys:
                self.exchange(key, "n1", "n2")
                self.exchange(key, "n2", "n3")
                self.exchange(key, "n1", "n3")
        agree = all(len({self.held(node, key).digest() for node in NODES}) == 1 for key in keys)
        return {"ok": True, "settled": not self.pending and agree}

    def init(self) -> dict[str, Any]:
        return {
            "ok": True,
            "target": f"toy {self.mode.value}" + (f" ({self.defect})" if self.defect else ""),
            "nodes": list(NODES),
            "capabilities": {
                "causality": self.mode.value,
                "contexts": True,  # lww's name a stamp; a write is stamped above it
                "siblings": self.mode is not Mode.LWW,
                "deletes": True,
                "per_request_rw": False,
                "strict_quorum": True,
                "coordinators": True,
                "n": 3,
                "r": 2,
                "w": 2,
                "hooks": ["read_replica", "status"],
            },
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["dvv", "lww"], default="dvv")
    parser.add_argument("--defect", choices=DEFECTS)
    arguments = parser.parse_args()
    asyncio.run(serve(ToyStore(Mode(arguments.mode), arguments.defect).handle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
