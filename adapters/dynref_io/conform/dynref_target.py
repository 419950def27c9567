"""The adapter of a real dynref cluster, written against the target protocol like any other.

    python -m dynref_io.conform.dynref_target [--mode dvv|vclock|lww] [--nodes 5] [--dir DIR]

`dynref conform --target dynref` runs this program. On `init` it creates a local cluster of
node processes (N=3, R=2, W=2, SQLite, the demo's short timers) in a fresh temporary directory
(or DIR) and starts it; client requests go to the node each names, through dynref's own client
(`DynrefStore` maps its errors to the protocol's codes). Hooks:

- `kill` SIGKILLs a node's process; `restart` starts it again on the same disk;
- `partition` cuts the links between nodes of different groups, at the nodes (dynref's fault
  injection: a node drops traffic to and from the peers it is told to); `heal` restores them.
  Clients still reach every node;
- `read_replica` reads a key with R=1 at each node of its preference list: the coordinator
  answers from its own replica first;
- `status` is settled when every node answers, holds no hint, believes nobody down and is cut
  off from nobody.

At the end of stdin, or on SIGTERM, it stops the cluster and removes the temporary directory.
Capabilities are those the simulator declares for the same configuration
(`dynref.sim.observed.capabilities_of`): no strict quorum (sloppy quorum may use fallbacks).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from dynref.causality import Mode
from dynref.ring import Ring, build_ring
from dynref.sim.observed import capabilities_of

from dynref_io.client.native import DynrefError
from dynref_io.conform.dynref_store import DynrefStore, unsettled_statuses
from dynref_io.conform.protocol import HOOKS, Answer, b64
from dynref_io.conform.serve import error_reply, serve
from dynref_io.node.local_cluster import ClusterError, LocalCluster, create_cluster

TIMERS = {
    "request_timeout": 300,
    "forward_timeout": 300,
    "handoff_interval": 200,
    "antientropy_interval": 200,
    "probe_interval": 200,
    "tokens_per_capacity": 2,  # few ranges: anti-entropy visits each of them often
}
CLIENT_TIMEOUT_S = 3.0
"""Longer than any node's request and forward timeouts: a reply is normally never cut short."""


def _answer(answer: Answer) -> dict[str, Any]:
    if not answer.ok:
        return error_reply(answer.code or "other", answer.definite, answer.message)
    reply: dict[str, Any] = {"ok": True}
    if answer.values is not None:
        reply["values"] = list(answer.values)
    if answer.context is not None:
        reply["context"] = b64(answer.context)
    if answer.may_repeat:
        reply["may_repeat"] = True
    return reply


class DynrefTarget:
    def __init__(self, mode: Mode, nodes: int, directory: Path | None) -> None:
        self.mode, self.node_count = mode, nodes
        self.keep = directory is not None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="dynref-conform-"))
        self.cluster: LocalCluster | None = None
        self.store: DynrefStore | None = None
        self.ring: Ring | None = None

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "init":
            return await self.init()
        if self.store is None or self.cluster is None:
            return error_reply("invalid-request", True, "init first")
        if op in {"get", "put", "delete"}:
            return _answer(await self.client_op(op, request))
        if op in HOOKS:
            hook: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] = getattr(self, str(op))
            return await hook(request)
        return error_reply("unsupported", True, f"unknown op {op!r}")

    async def init(self) -> dict[str, Any]:
        settings = {"n": 3, "r": 2, "w": 2, "mode": self.mode.value, **TIMERS}
        self.cluster = create_cluster(self.directory, self.node_count, settings=settings)
        await asyncio.to_thread(self.cluster.start)
        config = self.cluster.cluster.config
        self.ring = build_ring(config.nodes, config.ring)
        endpoints = {a.node_id: (a.host, a.port) for a in self.cluster.cluster.addresses}
        self.store = DynrefStore(endpoints, CLIENT_TIMEOUT_S)
        caps = capabilities_of(config)
        return {
            "ok": True,
            "target": f"dynref {self.mode.value}, {self.node_count} nodes",
            "nodes": list(self.cluster.node_ids),
            "capabilities": {
                "causality": caps.causality.value,
                "contexts": caps.contexts,
                "siblings": caps.siblings,
                "deletes": caps.deletes,
                "per_request_rw": caps.per_request_rw,
                "strict_quorum": caps.strict_quorum,
                "coordinators": True,
                "n": caps.n,
                "r": caps.r,
                "w": caps.w,
                "hooks": list(HOOKS),
            },
        }

    async def client_op(self, op: str, request: dict[str, Any]) -> Answer:
        assert self.store is not None
        node, key = request.get("node"), str(request["key"])
        if op == "get":
            return await self.store.get("", node, key, request.get("r"))
        context = base64.b64decode(request.get("context") or "")
        if op == "put":
            value = str(request["value"])
            return await self.store.put("", node, key, value, context, request.get("w"))
        return await self.store.delete("", node, key, context, request.get("w"))

    # ------------------------------------------------------------ hooks

    async def kill(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None
        await asyncio.to_thread(self.cluster.kill, str(request["node"]))
        return {"ok": True}

    async def restart(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None
        await asyncio.to_thread(self.cluster.start, [str(request["node"])])
        return {"ok": True}

    async def partition(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None and self.store is not None
        nodes = self.cluster.node_ids
        groups = [set(group) for group in request["groups"]]
        listed = set().union(*groups)
        groups.append(set(nodes) - listed)
        for node in nodes:
            own = next(group for group in groups if node in group)
            await self.store.isolate(node, [peer for peer in nodes if peer not in own])
        return {"ok": True}

    async def heal(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None and self.store is not None
        for node in self.cluster.node_ids:
            await self.store.isolate(node, [])
        return {"ok": True}

    async def read_replica(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.store is not None and self.ring is not None and self.cluster is not None
        key = str(request["key"])
        n = self.cluster.cluster.config.n
        replicas = []
        for node in self.ring.preference_list(key.encode(), n):
            answer = await self.store.get("", node, key, 1)
            if answer.ok:
                replicas.append({"node": node, "values": list(answer.values or ())})
            else:
                replicas.append({"node": node, "error": answer.describe_error()})
        return {"ok": True, "replicas": replicas}

    async def status(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.store is not None and self.cluster is not None
        statuses = {node: await self.store.status(node) for node in self.cluster.node_ids}
        problem = unsettled_statuses(statuses)
        return {"ok": True, "settled": problem is None, "detail": problem or "settled"}


async def run(target: DynrefTarget) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await target.handle(request)
        except (ClusterError, DynrefError, OSError) as exc:
            return error_reply("other", False, str(exc))

    try:
        await serve(handle, stop)
    finally:
        await target.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynref_io.conform.dynref_target",
        description="The target-protocol adapter of a local dynref cluster (docs/conformance.md).",
    )
    parser.add_argument("--mode", choices=[mode.value for mode in Mode], default="dvv")
    parser.add_argument("--nodes", type=int, default=5, help="node processes (default 5)")
    parser.add_argument("--dir", type=Path, help="keep the cluster here (default: a temporary one)")
    arguments = parser.parse_args(argv)
    if arguments.nodes < 3:
        parser.error("--nodes must be at least 3 (N=3)")
    asyncio.run(run(DynrefTarget(Mode(arguments.mode), arguments.nodes, arguments.dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
