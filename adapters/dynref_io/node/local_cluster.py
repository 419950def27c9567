"""A local cluster: one `dynref node` process per node, all described by DIR/cluster.toml.

Layout of a cluster directory:

    DIR/cluster.toml        the config every node reads, with the cluster secret (mode 0600)
    DIR/n1/node.sqlite3     n1's durable state (delete the directory to simulate disk loss)
    DIR/n1/node.log         n1's stdout and stderr
    DIR/n1/node.pid         the pid of n1's process while it runs

Node processes run in their own session, so they outlive the `dynref cluster start` command that
spawned them; `stop` finds them again through their pid files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dynref

import dynref_io
from dynref_io.client.native import Client, DynrefError, tls_context
from dynref_io.node.config_file import (
    ClusterFile,
    NodeAddress,
    Security,
    build_cluster_file,
    load_cluster_file,
    render_cluster_toml,
)

CLUSTER_FILE = "cluster.toml"
PID_FILE = "node.pid"
LOG_FILE = "node.log"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


class ClusterError(RuntimeError):
    """A local cluster could not be created, started or stopped as asked."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel says are free now (another process may still take one before us)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def generated_security(client_token: bool = False) -> Security:
    """A fresh cluster secret (and client token, if asked): 32 random bytes each, as hex."""
    token = secrets.token_hex(32) if client_token else None
    return Security(secret=secrets.token_hex(32), client_token=token)


def write_private(path: Path, text: str) -> None:
    """Create `path` readable and writable by its owner only: it holds the cluster secret."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_private(path: Path, text: str) -> None:
    """Replace `path` at once with `text`, owner-only: a reader sees the old file or the new
    one, never half of it."""
    staged = path.with_name(path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    write_private(staged, text)
    os.replace(staged, path)


def create_cluster(
    directory: Path,
    node_count: int,
    base_port: int | None = None,
    settings: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    http: bool = False,
    security: Security | None = None,
) -> LocalCluster:
    """Write DIR/cluster.toml for nodes n1..nN on consecutive ports (or free ones), with a
    fresh cluster secret unless `security` says otherwise; with `http`, each node also gets an
    HTTP API port (free ones, or those after the node ports)."""
    if node_count < 1:
        raise ClusterError("a cluster needs at least one node")
    config_path = directory / CLUSTER_FILE
    if config_path.exists():
        raise ClusterError(f"{config_path} exists: stop that cluster or choose another --dir")
    wanted = 2 * node_count if http else node_count
    if base_port is None:
        ports = free_ports(wanted, host)
    else:
        ports = [base_port + i for i in range(wanted)]
    http_ports: list[int | None] = list(ports[node_count:]) if http else [None] * node_count
    addresses = tuple(
        NodeAddress(f"n{i}", host, port, http_port=http_port)
        for i, (port, http_port) in enumerate(zip(ports, http_ports, strict=False), start=1)
    )
    cluster = build_cluster_file(addresses, settings, security or generated_security())
    directory.mkdir(parents=True, exist_ok=True)
    write_private(config_path, render_cluster_toml(cluster))
    return LocalCluster(directory)


def _child_environment() -> dict[str, str]:
    """The environment of node processes: this interpreter's packages importable from source."""
    roots = [str(Path(package.__path__[0]).parent) for package in (dynref, dynref_io)]
    existing = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*roots, *([existing] if existing else [])]),
    }


class LocalCluster:
    """The processes of a cluster directory: start, stop, kill, restart, status."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config_path = directory / CLUSTER_FILE
        if not self.config_path.exists():
            raise ClusterError(f"no cluster in {directory} (missing {CLUSTER_FILE})")
        self.cluster: ClusterFile = load_cluster_file(self.config_path)
        # Processes this object spawned: waited for, so that none lingers as a zombie.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def node_ids(self) -> list[str]:
        """The nodes this directory runs: every node of the file but those that left."""
        return [address.node_id for address in self.cluster.addresses if not address.left]

    def reload(self) -> None:
        """Read DIR/cluster.toml again (after `dynref cluster add` or `remove` changed it)."""
        self.cluster = load_cluster_file(self.config_path)

    def seed_endpoint(self) -> str:
        """The address of a seed a joining node announces itself to: the first seed of the
        file that has not left (a down one is retried by the joiner's gossip)."""
        left = {a.node_id for a in self.cluster.addresses if a.left}
        seeds = [s for s in self.cluster.config.seed_ids() if s not in left]
        if not seeds:
            raise ClusterError("no seed is left in the cluster file to join through")
        return self.address(seeds[0]).endpoint

    def address(self, node_id: str) -> NodeAddress:
        return self.cluster.address_of(node_id)

    def data_dir(self, node_id: str) -> Path:
        self.address(node_id)  # an unknown node is a clear error, not a stray directory
        return self.directory / node_id

    def client(self, node_id: str, timeout: float = 10.0) -> Client:
        """A client of the node, with the cluster's client token and TLS settings."""
        address = self.address(node_id)
        security = self.cluster.security
        tls = None if security.tls_trust is None else tls_context(security.tls_trust)
        return Client(
            address.host, address.port, timeout=timeout, token=security.client_token, tls=tls
        )

    # ------------------------------------------------------------ processes

    def pid(self, node_id: str) -> int | None:
        """The pid of the node's live process, or None."""
        child = self._children.get(node_id)
        if child is not None and child.poll() is None:
            return child.pid
        pid_file = self.data_dir(node_id) / PID_FILE
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_our_node(pid, self.data_dir(node_id)) else None

    def start(
        self, node_ids: Iterable[str] | None = None, timeout: float = READY_TIMEOUT_S
    ) -> None:
        """Start the given nodes (default: all that are not running) and wait until they answer."""
        chosen = list(self.node_ids if node_ids is None else node_ids)
        for node_id in chosen:
            if self.pid(node_id) is None:
                self._spawn(node_id)
        deadline = time.monotonic() + timeout
        self.wait_ready(chosen, timeout)
        self.wait_connected(max(0.0, deadline - time.monotonic()))

    def wait_connected(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until every running node has its links to the other running nodes up, so that
        the first requests after a start are not lost to connections still being made."""
        deadline = time.monotonic() + timeout
        while True:
            running = [node_id for node_id in self.node_ids if self.pid(node_id) is not None]
            statuses = {node_id: self.status(node_id) for node_id in running}
            lagging = [
                node_id
                for node_id, status in statuses.items()
                if status is None
                or not set(running) - {node_id} - set(status["isolated"])
                <= set(status["connected"])
            ]
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{', '.join(lagging)} not connected to their peers")
            time.sleep(POLL_S)

    def _spawn(self, node_id: str) -> None:
        data_dir = self.data_dir(node_id)
        data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "dynref_io.cli", "node",
            "--config", str(self.config_path.resolve()),
            "--id", node_id,
            "--data-dir", str(data_dir.resolve()),
            "--host", self.address(node_id).host,
        ]  # fmt: skip
        if self.address(node_id).joins:  # ignored by the node once it is a member
            command += ["--join", self.seed_endpoint()]
        with (data_dir / LOG_FILE).open("ab") as log:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `dynref cluster start`; no terminal signals
                env=_child_environment(),
            )
        self._children[node_id] = child
        (data_dir / PID_FILE).write_text(f"{child.pid}\n")

    def wait_ready(self, node_ids: Iterable[str], timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        for node_id in node_ids:
            while True:
                if self.pid(node_id) is None:
                    raise ClusterError(
                        f"{node_id} exited during startup:\n{self.log_tail(node_id)}"
                    )
                try:
                    with self.client(node_id, timeout=1.0) as client:
                        status = client.status()
                    self._check_identity(node_id, status)
                    break
                except DynrefError:
                    if time.monotonic() > deadline:
                        tail = self.log_tail(node_id)
                        raise ClusterError(
                            f"{node_id} did not answer within {timeout} s:\n{tail}"
                        ) from None
                    time.sleep(POLL_S)

    def _check_identity(self, node_id: str, status: dict[str, Any]) -> None:
        """REQ-ADMIN-2: the node answering at `node_id`'s address is the process started for
        it, not a stray one (another cluster's node, a previous run's) holding that port."""
        address, pid = self.address(node_id), self.pid(node_id)
        if status.get("node_id") != node_id or status.get("pid") != pid:
            raise ClusterError(
                f"{node_id}: {address.host}:{address.port} is answered by node "
                f"{status.get('node_id')!r} with pid {status.get('pid')}, not by the process "
                f"started for {node_id} (pid {pid})"
            )

    def kill(self, node_id: str, signum: int = signal.SIGKILL) -> None:
        """Signal the node's process (SIGKILL by default: a crash) and wait until it is gone."""
        pid = self.pid(node_id)
        if pid is None:
            raise ClusterError(f"{node_id} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        if not self._wait_gone(node_id, pid, STOP_TIMEOUT_S):
            raise ClusterError(f"{node_id} (pid {pid}) survived signal {signum}")

    def stop(self, node_ids: Iterable[str] | None = None, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL: no node process is left behind."""
        running = {}
        for node_id in self.node_ids if node_ids is None else node_ids:
            pid = self.pid(node_id)
            if pid is not None:
                running[node_id] = pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node_id, pid in running.items():
            if not self._wait_gone(node_id, pid, max(0.0, deadline - time.monotonic())):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not self._wait_gone(node_id, pid, STOP_TIMEOUT_S):
                    raise ClusterError(f"{node_id} (pid {pid}) survived SIGKILL")
        for node_id in running:
            with contextlib.suppress(OSError):
                (self.data_dir(node_id) / PID_FILE).unlink()

    def restart(self, node_id: str, timeout: float = READY_TIMEOUT_S) -> None:
        if self.pid(node_id) is not None:
            self.stop([node_id])
        self.start([node_id], timeout)

    def _wait_gone(self, node_id: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        child = self._children.get(node_id)
        while True:
            if child is not None and child.pid == pid:
                if child.poll() is not None:  # reaped: no zombie left
                    del self._children[node_id]
                    return True
            elif not _is_alive(pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)

    # ------------------------------------------------------------ observation

    def status(self, node_id: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer."""
        try:
            with self.client(node_id, timeout=timeout) as client:
                return client.status()
        except DynrefError:
            return None

    def status_table(self) -> str:
        header = ("node", "address", "pid", "alive", "keys", "hints", "down", "isolated")
        rows: list[tuple[str, ...]] = [header]
        for node_id in self.node_ids:
            address = self.address(node_id)
            pid = self.pid(node_id)
            status = self.status(node_id) if pid is not None else None
            alive = "yes" if status is not None else ("no answer" if pid is not None else "no")
            rows.append((
                node_id,
                f"{address.host}:{address.port}",
                str(pid) if pid is not None else "-",
                alive,
                str(status["keys"]) if status else "-",
                str(status["hints"]) if status else "-",
                ",".join(status["down"]) or "-" if status else "-",
                ",".join(status["isolated"]) or "-" if status else "-",
            ))  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    def log_tail(self, node_id: str, lines: int = 20) -> str:
        try:
            text = (self.data_dir(node_id) / LOG_FILE).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _is_our_node(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is alive and is the node of `data_dir`, so that a recycled pid is never
    signalled. Without /proc (macOS) liveness is all we can check."""
    if not _is_alive(pid):
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False
    return b"dynref_io.cli" in arguments and str(data_dir.resolve()).encode() in arguments
