"""The `dynref node` process: one node's server (and HTTP API, if asked) over its SQLite store,
with the data directory locked, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dynref.membership import Status
from dynref.messages import AdminOk, JoinCluster

from dynref_io.http.server import HttpApi
from dynref_io.node.basics import NodeFailure, run_event_loop, with_traceback
from dynref_io.node.config_file import ClusterFile
from dynref_io.node.runtime import log_line
from dynref_io.node.server import LOCK_FILE, STORAGE_FILE, NodeServer
from dynref_io.storage.stores import SqliteStorage, Storage, StorageError


def open_sqlite(data_dir: Path) -> Callable[[], Storage]:
    return lambda: SqliteStorage(data_dir / STORAGE_FILE)


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory: two processes on one store corrupt it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_FILE).open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"{data_dir} is in use by another dynref node") from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


async def serve_node(
    cluster: ClusterFile,
    node_id: str,
    data_dir: Path,
    host: str,
    http_port: int | None = None,
    join: str | None = None,
) -> None:
    """Run one node until SIGTERM or SIGINT; then close its connections and its storage. With
    `join` (a seed's id), a node that is no member yet first asks to join through that seed."""
    server = NodeServer(cluster, node_id, open_sqlite(data_dir), host=host)
    http: HttpApi | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: log_loop_exception(node_id, context))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        if join is not None:
            await join_through(server, cluster, node_id, join)
        if http_port is not None:
            http = await HttpApi.start(server, cluster.config, host, http_port)
        await server.wait(stop)
    finally:
        if http is not None:
            await http.close()
        await server.stop()
        log_line(f"{node_id}: stopped")


async def join_through(server: NodeServer, cluster: ClusterFile, node_id: str, seed: str) -> None:
    """Join the cluster through `seed` unless this node is a member already (a restart of a
    node started with --join); a refusal stops the node."""
    own = server.runtime.state.membership.get(node_id)
    if own is not None and own.status is not Status.EXITING:
        log_line(f"{node_id}: already a member ({own.status.name.lower()}): not joining again")
        return
    capacity = cluster.address_of(node_id).capacity
    result = await server.admin(JoinCluster(0, seed, capacity))
    if not isinstance(result, AdminOk):
        raise NodeFailure(f"the join through {seed} was refused: {result}")
    log_line(f"{node_id}: joining the cluster through {seed}")


def log_loop_exception(node_id: str, context: dict[str, Any]) -> None:
    """What the event loop caught and nobody awaited (a connection handler's defect, say):
    logged with its traceback; the node goes on serving the other connections."""
    error = context.get("exception")
    message = f"{node_id}: internal error: {context.get('message', 'in the event loop')}"
    log_line(with_traceback(message, error) if error is not None else message)


def run_node(
    cluster: ClusterFile,
    node_id: str,
    data_dir: Path,
    host: str,
    http_port: int | None = None,
    join: str | None = None,
) -> int:
    """The `dynref node` process: 0 after a clean shutdown, 1 when the node failed."""
    cluster.address_of(node_id)  # a clear error before anything touches the disk
    lock = lock_data_dir(data_dir)
    try:
        run_event_loop(serve_node(cluster, node_id, data_dir, host, http_port, join))
    except (NodeFailure, StorageError) as exc:
        log_line(f"{node_id}: failed: {exc}")
        return 1
    except Exception as exc:
        log_line(with_traceback(f"{node_id}: failed: internal error: {exc!r}", exc))
        return 1
    finally:
        lock.close()
    return 0
