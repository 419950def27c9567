"""Put and get throughput and latency of a 3-node loopback dynref cluster, beside its floor.

    .venv/bin/python benchmarks/bench_cluster.py [--runs 3] [--seconds 5] [--in-flight 96]
        [--only dynref|floor] [--phase put|get] [--profile DIR] [--security none|secret|tls]

Each run starts a fresh system of three processes on 127.0.0.1, then measures two phases:

1. puts: `--in-flight` workers, each with one request outstanding at a time, spread evenly over
   the three nodes, write fresh keys (a 100-byte value, empty context) for `--seconds`;
2. gets: the same workers read random keys of those written, for `--seconds`.

`--phase put` runs the first phase only (`--phase get` still writes, uncounted, what it reads).

Each phase starts with a one-second warm-up that is not counted. Throughput is requests
answered per second; latencies are from sending a request to its answer, in the client. The
two systems:

- dynref: `dynref node` processes (N=3, R=2, W=2, dvv), durable (SQLite WAL, synchronous=FULL,
  group commit); with N=3 on 3 nodes every node is in every preference list, so each put is
  coordinated where it lands: stored, replicated to both peers, answered after one ack.
- floor: `floor_cluster.py`, the same frames between the same processes over the same kind of
  sockets, with no store and no logic.

`--security` chooses what the dynref cluster file holds: `secret` (the default, what
`dynref cluster create` writes: peers prove the cluster secret when they connect), `none` (no
secret: peers prove nothing), or `tls` (the secret, and TLS on every connection with a
self-signed certificate made by the `openssl` command; the clients present no certificate but
check the node's).

`--profile DIR` runs each dynref node under cProfile (its event-loop thread) and leaves one
`nodeN.prof` per node and run in DIR. The client driver is this one process; it shares the
machine's cores with the nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
from dynref_io.client.native import AsyncClient, DynrefError, tls_context
from dynref_io.node.config_file import Security
from dynref_io.node.local_cluster import (
    PID_FILE,
    LocalCluster,
    create_cluster,
    free_ports,
    generated_security,
)

HOST = "127.0.0.1"
FLOOR_PROGRAM = Path(__file__).resolve().parent / "floor_cluster.py"
CLUSTER_SETTINGS = {
    "n": 3,
    "r": 2,
    "w": 2,
    "mode": "dvv",
    # Generous: a loaded 2-core machine queues requests for long; a timeout here would mark
    # peers down and turn the benchmark into one of hinted handoff.
    "request_timeout": 5_000,
    "forward_timeout": 5_000,
}
VALUE = b"v" * 100
WARM_UP_S = 1.0
CONNECTIONS_PER_NODE = 4
CLIENT_TIMEOUT_S = 30.0


@attrs.frozen
class PhaseResult:
    answered: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]
    node_cpu_s: float
    """CPU time the three node processes used while the phase was counted (all threads)."""
    driver_cpu_s: float
    commits: int | None
    """Group commits of the three nodes while counted (dynref only: from their status)."""
    steps: int | None
    load_average: float
    """The machine's 1-minute load average at the end of the phase."""

    def batching(self) -> str:
        if self.commits is None or self.steps is None:
            return ""
        if not self.commits:
            return f", {self.steps / 3 / self.seconds:,.0f} steps/s per node, no commits"
        per_node = self.commits / 3 / self.seconds
        steps_per_commit = self.steps / self.commits
        return f", {per_node:,.0f} commits/s per node, {steps_per_commit:.1f} steps/commit"

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds

    def cpu_us_per_request(self, cpu_s: float) -> float:
        return cpu_s / max(1, self.answered) * 1e6

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# ---------------------------------------------------------------- the systems under test

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time of these processes, every thread included (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / CLOCK_TICKS


def security_of(kind: str, directory: Path) -> Security:
    """The [security] table of a benchmark cluster: none, a secret, or a secret and TLS."""
    if kind == "none":
        return Security()
    secret = generated_security().secret
    if kind == "secret":
        return Security(secret=secret)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("--security tls makes its certificate with the openssl command: not found")
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "node.pem", directory / "node.key"
    command = [
        openssl, "req", "-x509", "-nodes", "-days", "2",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(key), "-out", str(certificate), "-subj", "/CN=dynref bench",
        "-addext", f"subjectAltName=IP:{HOST}",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return Security(secret=secret, tls_cert=certificate, tls_key=key)


class DynrefSystem:
    """Three `dynref node` processes in a fresh cluster directory."""

    name = "dynref"

    def __init__(self, directory: Path, profile: Path | None, run: int, security: str) -> None:
        self._cluster = create_cluster(
            directory,
            3,
            settings=CLUSTER_SETTINGS,
            security=security_of(security, directory / "tls"),
        )
        trust = self._cluster.cluster.security.tls_trust
        self.tls = None if trust is None else tls_context(trust)
        self._profile, self._run = profile, run
        self._processes: list[subprocess.Popen[bytes]] = []

    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def start(self) -> list[tuple[str, int]]:
        cluster = self._cluster
        for node in cluster.node_ids:
            data_dir = cluster.data_dir(node)
            data_dir.mkdir(parents=True)
            wrapper: list[str] = []
            if self._profile is not None:
                out = self._profile / f"{node}-run{self._run}.prof"
                wrapper = ["-m", "cProfile", "-o", str(out)]
            command = [
                sys.executable, *wrapper, "-m", "dynref_io.cli", "node",
                "--config", str(cluster.config_path.resolve()),
                "--id", node, "--data-dir", str(data_dir.resolve()),
            ]  # fmt: skip
            with (data_dir / "node.log").open("ab") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            (data_dir / PID_FILE).write_text(f"{process.pid}\n")
            self._processes.append(process)
        cluster.wait_ready(cluster.node_ids)
        cluster.wait_connected()
        return [(cluster.address(n).host, cluster.address(n).port) for n in cluster.node_ids]

    def stop(self) -> None:
        LocalCluster(self._cluster.directory).stop()  # SIGTERM: cProfile writes its file
        for process in self._processes:
            process.wait()


class FloorSystem:
    """Three floor_cluster.py processes."""

    name = "floor"
    tls: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[str]] = []

    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def start(self) -> list[tuple[str, int]]:
        ports = free_ports(3)
        listed = ",".join(str(port) for port in ports)
        for index in range(1, 4):
            command = [sys.executable, str(FLOOR_PROGRAM), "--id", str(index), "--ports", listed]
            self._processes.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
            )
        for process in self._processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a floor node did not start")
        return [(HOST, port) for port in ports]

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.wait()


# ---------------------------------------------------------------- the load


async def phase(
    endpoints: Sequence[tuple[str, int]],
    pids: Sequence[int],
    has_status: bool,
    kind: str,
    seconds: float,
    in_flight: int,
    written: list[bytes],
    tls: ssl.SSLContext | None,
) -> PhaseResult:
    """Keep `in_flight` requests outstanding for WARM_UP_S + `seconds`; count the last part."""
    connections = [
        AsyncClient(host, port, timeout=CLIENT_TIMEOUT_S, tls=tls)
        for host, port in endpoints
        for _ in range(CONNECTIONS_PER_NODE)
    ]
    for connection in connections:
        await connection.connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    counting_from, ending_at = started + WARM_UP_S, started + WARM_UP_S + seconds
    latencies: list[float] = []
    errors = 0
    sequence = itertools.count()
    rng = random.Random(0)

    async def worker(index: int) -> None:
        nonlocal errors
        connection = connections[index % len(connections)]
        while (now := loop.time()) < ending_at:
            try:
                if kind == "put":
                    key = b"bench-%012d" % next(sequence)
                    await connection.put(key, VALUE)
                    written.append(key)
                else:
                    await connection.get(rng.choice(written))
            except DynrefError:
                errors += 1
                continue
            if now >= counting_from:
                latencies.append(loop.time() - now)

    async def batching() -> tuple[int, int]:
        statuses = [await connections[i].status() for i in range(0, len(connections), 4)]
        return sum(s["commits"] for s in statuses), sum(s["steps"] for s in statuses)

    async def meter() -> tuple[float, float, int | None, int | None]:
        await asyncio.sleep(counting_from - loop.time())
        nodes, driver = cpu_seconds(pids), time.process_time()
        commits, steps = await batching() if has_status else (0, 0)
        await asyncio.sleep(ending_at - loop.time())
        node_cpu, driver_cpu = cpu_seconds(pids) - nodes, time.process_time() - driver
        if not has_status:
            return node_cpu, driver_cpu, None, None
        commits_after, steps_after = await batching()
        return node_cpu, driver_cpu, commits_after - commits, steps_after - steps

    metering = asyncio.create_task(meter())
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    node_cpu, driver_cpu, commits, steps = await metering
    for connection in connections:
        await connection.close()
    return PhaseResult(
        answered=len(latencies),
        errors=errors,
        seconds=seconds,
        latencies=tuple(latencies),
        node_cpu_s=node_cpu,
        driver_cpu_s=driver_cpu,
        commits=commits,
        steps=steps,
        load_average=os.getloadavg()[0],
    )


def one_run(
    system: DynrefSystem | FloorSystem, seconds: float, in_flight: int, only_phase: str | None
) -> dict[str, PhaseResult]:
    endpoints = system.start()
    try:
        written: list[bytes] = []
        pids, has_status, tls = system.pids(), system.name == "dynref", system.tls
        puts = asyncio.run(
            phase(endpoints, pids, has_status, "put", seconds, in_flight, written, tls)
        )
        if only_phase == "put":
            return {"put": puts}
        gets = asyncio.run(
            phase(endpoints, pids, has_status, "get", seconds, in_flight, written, tls)
        )
    finally:
        system.stop()
    return {"get": gets} if only_phase == "get" else {"put": puts, "get": gets}


def median_row(name: str, kind: str, results: list[PhaseResult]) -> tuple[str, ...]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    return (
        name,
        kind,
        f"{median([r.per_second for r in results]):,.0f}",
        f"{min(r.per_second for r in results):,.0f}-{max(r.per_second for r in results):,.0f}",
        f"{median([r.percentile(0.50) for r in results]) * 1000:.1f}",
        f"{median([r.percentile(0.99) for r in results]) * 1000:.1f}",
        f"{median([r.cpu_us_per_request(r.node_cpu_s) for r in results]):.0f}",
        f"{median([r.cpu_us_per_request(r.driver_cpu_s) for r in results]):.0f}",
        str(sum(r.errors for r in results)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per system (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--in-flight", type=int, default=96, help="requests outstanding")
    parser.add_argument("--only", choices=("dynref", "floor"), help="measure one system")
    parser.add_argument("--phase", choices=("put", "get"), help="report one phase")
    parser.add_argument("--profile", type=Path, help="cProfile the dynref nodes into DIR")
    parser.add_argument(
        "--security",
        choices=("none", "secret", "tls"),
        default="secret",
        help="the dynref cluster's [security]: no secret, a secret (default), a secret and TLS",
    )
    arguments = parser.parse_args()
    if arguments.runs < 1 or arguments.seconds <= 0 or arguments.in_flight < 1:
        parser.error("--runs, --seconds and --in-flight must be positive")
    if arguments.profile is not None:
        arguments.profile.mkdir(parents=True, exist_ok=True)
    names = [arguments.only] if arguments.only else ["dynref", "floor"]
    print(
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; {arguments.in_flight} requests in flight, "
        f"{arguments.seconds:g} s per phase, median of {arguments.runs} runs, "
        f"security {arguments.security}",
        flush=True,
    )
    results: dict[tuple[str, str], list[PhaseResult]] = {}
    with tempfile.TemporaryDirectory(prefix="dynref-bench-") as scratch:
        for run in range(arguments.runs):
            for name in names:
                system: DynrefSystem | FloorSystem = (
                    DynrefSystem(
                        Path(scratch) / f"run{run}", arguments.profile, run, arguments.security
                    )
                    if name == "dynref"
                    else FloorSystem()
                )
                started = time.monotonic()
                measured = one_run(system, arguments.seconds, arguments.in_flight, arguments.phase)
                for kind, result in measured.items():
                    results.setdefault((name, kind), []).append(result)
                    print(
                        f"  run {run + 1} {name} {kind}: {result.per_second:,.0f}/s, p50 "
                        f"{result.percentile(0.5) * 1000:.1f} ms, p99 "
                        f"{result.percentile(0.99) * 1000:.1f} ms, node CPU "
                        f"{result.cpu_us_per_request(result.node_cpu_s):.0f} us/op, "
                        f"{result.errors} errors{result.batching()}, load "
                        f"{result.load_average:.1f} ({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    header = (
        "system", "op", "per second", "range", "p50 ms", "p99 ms",
        "node CPU us/op", "driver CPU us/op", "errors",
    )  # fmt: skip
    rows = [header] + [median_row(name, kind, found) for (name, kind), found in results.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    for kind in ("put", "get"):
        if ("dynref", kind) in results and ("floor", kind) in results:
            ours = statistics.median(r.per_second for r in results[("dynref", kind)])
            floor = statistics.median(r.per_second for r in results[("floor", kind)])
            print(f"dynref/floor {kind} throughput: {ours / floor:.2f}")


if __name__ == "__main__":
    main()
