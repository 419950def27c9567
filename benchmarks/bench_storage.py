"""Durable batches per second and writes per second of `SqliteStorage`, by batch size.

    .venv/bin/python benchmarks/bench_storage.py [--runs 5] [--batches 200] [--dir PATH]

Each run opens a fresh store and times `apply` of `--batches` batches, each of `size`
`StoreVersions` writes of distinct 16-byte keys holding a dvv set with one 100-byte value (what a
put stores), every batch one durable transaction (WAL, synchronous=FULL). It prints the median of
the runs. `--dir` picks the file system to measure (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from dynref.causality import DvvSet, VersionVector
from dynref.messages import StoreMeta, StoreVersions
from dynref_io.storage.stores import SqliteStorage

BATCH_SIZES = (1, 10, 100)
VALUE = b"x" * 100


def one_run(path: Path, size: int, batches: int) -> float:
    """Seconds to apply `batches` batches of `size` writes to a fresh store at `path`."""
    storage = SqliteStorage(path)
    storage.apply([StoreMeta("bench", 0, 0)])
    versions = DvvSet().write(VALUE, VersionVector(), "bench#0", 1)
    work = [
        [StoreVersions(b"key-%011d" % (batch * size + i), versions) for i in range(size)]
        for batch in range(batches)
    ]
    started = time.perf_counter()
    for batch in work:
        storage.apply(batch)
    elapsed = time.perf_counter() - started
    storage.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    system = f"{platform.system()} {platform.machine()}"
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {system}")
    print(f"{args.batches} batches per run, median of {args.runs} runs")
    print(f"{'batch size':>10} {'batches/s':>12} {'writes/s':>12} {'ms/batch':>10}")
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for size in BATCH_SIZES:
            times = [
                one_run(Path(directory) / f"bench-{size}-{run}.sqlite3", size, args.batches)
                for run in range(args.runs)
            ]
            median = statistics.median(times)
            per_second = args.batches / median
            print(
                f"{size:>10} {per_second:>12.0f} {per_second * size:>12.0f}"
                f" {1000 * median / args.batches:>10.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
