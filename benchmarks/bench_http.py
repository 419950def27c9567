"""Puts and gets per second over the HTTP API beside the native protocol, same cluster, same load.

    .venv/bin/python benchmarks/bench_http.py [--runs 3] [--seconds 5] [--in-flight 96]

Each run starts a fresh 3-node cluster (`bench_cluster.py`'s settings: N=3, R=2, W=2, dvv,
SQLite, group commit) with the HTTP API on, then measures the two phases of `bench_cluster.py`
(puts of fresh 16-byte keys with a 100-byte value, then gets of random written keys), first
over the native protocol, then over HTTP, from this one load generator. Runs alternate so both
protocols meet the same machine load.

- native: `AsyncClient`, 4 connections per node, requests pipelined on them, as in
  `bench_cluster.py`.
- http: one keep-alive HTTP/1.1 connection per worker (HTTP/1.1 has one request outstanding per
  connection), spread evenly over the nodes; `PUT /buckets/bench/keys/K` and
  `GET /buckets/bench/keys/K`, written and parsed by a minimal client in this file so that the
  generator's own cost stays small.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench_cluster import (
    CLIENT_TIMEOUT_S,
    CLUSTER_SETTINGS,
    VALUE,
    WARM_UP_S,
    PhaseResult,
    cpu_seconds,
    median_row,
    phase,
)
from dynref_io.node.local_cluster import LocalCluster, create_cluster

BUCKET = "bench"


class HttpConnection:
    """One keep-alive connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes = b"") -> int:
        self.writer.write(head + body)
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split(b" ", 2)[1])


async def http_phase(
    endpoints: Sequence[tuple[str, int]],
    pids: Sequence[int],
    kind: str,
    seconds: float,
    in_flight: int,
    written: list[bytes],
) -> PhaseResult:
    connections = []
    for index in range(in_flight):
        host, port = endpoints[index % len(endpoints)]
        connections.append(HttpConnection(*await asyncio.open_connection(host, port)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    counting_from, ending_at = started + WARM_UP_S, started + WARM_UP_S + seconds
    latencies: list[float] = []
    errors = 0
    sequence = itertools.count()
    rng = random.Random(0)
    put_head = b"PUT /buckets/%s/keys/%s HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n"
    get_head = b"GET /buckets/%s/keys/%s HTTP/1.1\r\nHost: b\r\n\r\n"

    async def worker(connection: HttpConnection) -> None:
        nonlocal errors
        while (now := loop.time()) < ending_at:
            async with asyncio.timeout(CLIENT_TIMEOUT_S):
                if kind == "put":
                    key = b"bench-%012d" % next(sequence)
                    head = put_head % (BUCKET.encode(), key, len(VALUE))
                    status = await connection.request(head, VALUE)
                    if status == 204:
                        written.append(key)
                else:
                    status = await connection.request(
                        get_head % (BUCKET.encode(), rng.choice(written))
                    )
            if status not in (200, 204):
                errors += 1
                continue
            if now >= counting_from:
                latencies.append(loop.time() - now)

    async def meter() -> tuple[float, float]:
        await asyncio.sleep(counting_from - loop.time())
        nodes, driver = cpu_seconds(pids), time.process_time()
        await asyncio.sleep(ending_at - loop.time())
        return cpu_seconds(pids) - nodes, time.process_time() - driver

    metering = asyncio.create_task(meter())
    await asyncio.gather(*(worker(connection) for connection in connections))
    node_cpu, driver_cpu = await metering
    for connection in connections:
        connection.writer.close()
    return PhaseResult(
        answered=len(latencies),
        errors=errors,
        seconds=seconds,
        latencies=tuple(latencies),
        node_cpu_s=node_cpu,
        driver_cpu_s=driver_cpu,
        commits=None,
        steps=None,
        load_average=os.getloadavg()[0],
    )


def one_run(
    directory: Path, protocol: str, seconds: float, in_flight: int
) -> dict[str, PhaseResult]:
    cluster = create_cluster(directory, 3, settings=CLUSTER_SETTINGS, http=True)
    cluster.start()
    try:
        pids = [pid for node in cluster.node_ids if (pid := cluster.pid(node)) is not None]
        addresses = [cluster.address(node) for node in cluster.node_ids]
        written: list[bytes] = []
        results = {}
        for kind in ("put", "get"):
            if protocol == "native":
                endpoints = [(a.host, a.port) for a in addresses]
                found = asyncio.run(
                    phase(endpoints, pids, False, kind, seconds, in_flight, written)
                )
            else:
                endpoints = [(a.host, a.http_port or 0) for a in addresses]
                found = asyncio.run(http_phase(endpoints, pids, kind, seconds, in_flight, written))
            results[kind] = found
        return results
    finally:
        LocalCluster(directory).stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per protocol (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--in-flight", type=int, default=96, help="requests outstanding")
    arguments = parser.parse_args()
    if arguments.runs < 1 or arguments.seconds <= 0 or arguments.in_flight < 1:
        parser.error("--runs, --seconds and --in-flight must be positive")
    print(
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; {arguments.in_flight} requests in flight, "
        f"{arguments.seconds:g} s per phase, median of {arguments.runs} runs",
        flush=True,
    )
    results: dict[tuple[str, str], list[PhaseResult]] = {}
    with tempfile.TemporaryDirectory(prefix="dynref-bench-http-") as scratch:
        for run in range(arguments.runs):
            for protocol in ("native", "http"):
                started = time.monotonic()
                directory = Path(scratch) / f"{protocol}{run}"
                measured = one_run(directory, protocol, arguments.seconds, arguments.in_flight)
                for kind, result in measured.items():
                    results.setdefault((protocol, kind), []).append(result)
                    print(
                        f"  run {run + 1} {protocol} {kind}: {result.per_second:,.0f}/s, p50 "
                        f"{result.percentile(0.5) * 1000:.1f} ms, node CPU "
                        f"{result.cpu_us_per_request(result.node_cpu_s):.0f} us/op, driver CPU "
                        f"{result.cpu_us_per_request(result.driver_cpu_s):.0f} us/op, "
                        f"{result.errors} errors, load {result.load_average:.1f} "
                        f"({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    header = (
        "protocol", "op", "per second", "range", "p50 ms", "p99 ms",
        "node CPU us/op", "driver CPU us/op", "errors",
    )  # fmt: skip
    rows = [header] + [median_row(name, kind, found) for (name, kind), found in results.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    for kind in ("put", "get"):
        native = statistics.median(r.per_second for r in results[("native", kind)])
        over_http = statistics.median(r.per_second for r in results[("http", kind)])
        print(f"http/native {kind} throughput: {over_http / native:.2f}")


if __name__ == "__main__":
    main()
