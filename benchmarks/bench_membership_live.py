"""A join and a leave on a real local cluster: keys and bytes moved against the ideal, and the
time until the nodes agree on the new ring.

    python benchmarks/bench_membership_live.py                 # 5 nodes, 2,000 keys, 3 rounds
    python benchmarks/bench_membership_live.py --keys 5000 --value-bytes 1000 --rounds 5

Each round starts a fresh 5-node cluster of node processes (N=3, R=2, W=2, dvv, SQLite, the
tests' short timers), writes `--keys` keys of `--value-bytes` bytes with W=3 (every replica holds
each key), then `dynref cluster add` (n6 joins through a seed) and, once the transfers are
over, `dynref cluster remove n2`. Per change it prints: the ideal (key copies whose owner is new
in the final ring, summed over keys), the copies offered by digest and moved in full with their
bytes (the nodes' `keys_offered`, `keys_transferred`, `bytes_transferred` counters, summed over
the nodes, the leaver's read just before it stops), the time from the request until every
running node held the same membership with the newcomer valid (or the leaver exiting), and the
time until the counters stood still for a second. Method and figures: docs/benchmarks.md
(Membership on a real cluster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dynref.membership import MemberEntry, Membership, Status, current_ring
from dynref.ring import Ring
from dynref_io.node.local_cluster import LocalCluster, create_cluster
from dynref_io.node.local_membership import add_node, remove_node

SETTINGS = {
    "request_timeout": 300,
    "forward_timeout": 300,
    "handoff_interval": 200,
    "antientropy_interval": 200,
    "probe_interval": 200,
}
COUNTERS = ("keys_offered", "keys_transferred", "bytes_transferred")
QUIET_S = 1.0


def totals(cluster: LocalCluster, banked: dict[str, int]) -> dict[str, int]:
    found = dict(banked)
    for node in cluster.node_ids:
        status = cluster.status(node) or {}
        for name in COUNTERS:
            found[name] = found.get(name, 0) + int(status.get(name, 0))
    return found


def settle(cluster: LocalCluster, banked: dict[str, int]) -> tuple[dict[str, int], float]:
    """The counters once they stood still for QUIET_S, and how long that took."""
    started = time.monotonic()
    last, last_change = totals(cluster, banked), time.monotonic()
    while time.monotonic() - last_change < QUIET_S:
        time.sleep(0.1)
        now = totals(cluster, banked)
        if now != last:
            last, last_change = now, time.monotonic()
    return last, last_change - started


def ring_of(cluster: LocalCluster) -> Ring:
    """The current ring of the membership the first answering node reports (capacities 1)."""
    for node in cluster.node_ids:
        status = cluster.status(node)
        if status is not None:
            break
    else:
        raise RuntimeError("no node answers")
    pairs = (item.split(":") for item in str(status["members"]).split(",") if item)
    membership = Membership.of(
        MemberEntry(node, 1, "", Status[state.upper()], 0) for node, state in pairs
    )
    return current_ring(membership, cluster.cluster.config.ring)


def ideal(before: Ring, after: Ring, keys: list[bytes], n: int) -> int:
    return sum(
        len(set(after.preference_list(key, n)) - set(before.preference_list(key, n)))
        for key in keys
    )


def one_round(directory: Path, key_count: int, value_bytes: int) -> list[dict[str, Any]]:
    cluster = create_cluster(directory, 5, settings=SETTINGS)
    rows = []
    try:
        cluster.start()
        keys = [f"key-{i:06d}".encode() for i in range(key_count)]
        value = b"v" * value_bytes
        with cluster.client("n1") as client:
            for key in keys:
                client.put(key, value, w=3)
        n = cluster.cluster.config.n
        banked: dict[str, int] = {}
        before_counts, _ = settle(cluster, banked)
        ring_before = ring_of(cluster)
        added = add_node(cluster)
        after_counts, quiet = settle(cluster, banked)
        ring_after = ring_of(cluster)
        rows.append(row("n6 joins", ring_before, ring_after, keys, n, before_counts,
                        after_counts, added.seconds, quiet))  # fmt: skip
        started = totals(cluster, banked)
        removed = remove_node(cluster, "n2")
        for name in COUNTERS:  # the leaver's counters, read just before it stopped
            banked[name] = banked.get(name, 0) + int((removed.last_status or {}).get(name, 0))
        left_counts, quiet = settle(cluster, banked)
        rows.append(row("n2 leaves", ring_after, ring_of(cluster), keys, n, started,
                        left_counts, removed.seconds, quiet))  # fmt: skip
    finally:
        cluster.stop()
    return rows


def row(
    name: str,
    before: Ring,
    after: Ring,
    keys: list[bytes],
    n: int,
    start: dict[str, int],
    end: dict[str, int],
    agreed: float,
    quiet: float,
) -> dict[str, Any]:
    wanted = ideal(before, after, keys, n)
    moved = end["keys_transferred"] - start["keys_transferred"]
    return {
        "change": name,
        "ideal": wanted,
        "offered": end["keys_offered"] - start["keys_offered"],
        "moved": moved,
        "ratio": moved / wanted if wanted else 0.0,
        "bytes": end["bytes_transferred"] - start["bytes_transferred"],
        "agreed": agreed,
        "quiet": quiet,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    for index in range(arguments.rounds):
        with tempfile.TemporaryDirectory(prefix="dynref-membership-") as scratch:
            for result in one_round(Path(scratch) / "c", arguments.keys, arguments.value_bytes):
                results.setdefault(result["change"], []).append(result)
                print(
                    f"round {index + 1}: {result['change']}: ideal {result['ideal']}, offered "
                    f"{result['offered']}, moved {result['moved']} ({result['ratio']:.2f}x), "
                    f"{result['bytes']:,} bytes, agreed in {result['agreed']:.2f} s, "
                    f"transfers quiet {result['quiet']:.2f} s later",
                    flush=True,
                )
    print("\nmedians:")
    for change, rows in results.items():
        moved = statistics.median(r["moved"] for r in rows)
        print(
            f"  {change}: ideal {statistics.median(r['ideal'] for r in rows):.0f}, moved "
            f"{moved:.0f} ({statistics.median(r['ratio'] for r in rows):.2f}x), "
            f"{statistics.median(r['bytes'] for r in rows):,.0f} bytes, agreed in "
            f"{statistics.median(r['agreed'] for r in rows):.2f} s"
        )


if __name__ == "__main__":
    main()
