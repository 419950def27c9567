"""The demo's judgement: its History under the black-box checks, and the stopped cluster's state.

The demo records what its clients saw as a `dynref.history.History` (the recorder and the
workload of `dynref_io.conform`, the same as `dynref conform` uses): every operation with its
times and outcome, the faults, and final reads once the cluster settled (each preference-list
replica of every key, and a read with R=N). `judge_history` runs `dynref.check.check_history`
on it, the checks that would judge any store's history: no lost acknowledged write
(INV-ACK-1), no invented or resurrected value (INV-READ-1), per-client and per-coordinator
order (INV-ORDER-1), dvv's sibling bound, the replicas' agreement (INV-CONV-1); strict-quorum
read-your-writes (INV-READ-2) is skipped, as dynref's sloppy quorum declares no strict quorum.

Beside them, checks of the final state that only a dynref cluster offers, on every node's
SQLite file after the cluster stopped: `replica_disagreements` (the stored versions of every
key's preference-list replicas differ, or a hint is left) and `final_read_mismatches` (a final
R=N read did not show what the replicas hold).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs
from dynref.causality import AnyVersions, empty_versions, merge_versions
from dynref.check import CheckStatus, Violation, check_history
from dynref.config import ClusterConfig
from dynref.history import FinalRead, History, Outcome
from dynref.membership import current_ring, initial_membership
from dynref.ring import Ring
from dynref.sim.settle import describe_versions
from dynref.state import DurableState

from dynref_io.node.local_cluster import LOG_FILE, LocalCluster
from dynref_io.node.server import STORAGE_FILE
from dynref_io.storage.stores import SqliteStorage

LOST_WRITE = "INV-ACK-1"


@attrs.frozen
class HistoryVerdict:
    violations: tuple[Violation, ...]
    operations: int
    acknowledged_writes: int
    reads_with_siblings: int
    largest_sibling_set: int
    writes_without_effect: int
    """Unacknowledged writes that certainly took no effect (outcome fail)."""
    skipped: tuple[str, ...]
    """Each skipped check, with why."""

    @property
    def lost_writes(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.invariant == LOST_WRITE)


def judge_history(history: History) -> HistoryVerdict:
    """The black-box checks' verdict on the demo's History, with its figures."""
    report = check_history(history)
    writes = [op for op in history.ops if op.is_write]
    sibling_counts = [len(set(op.values)) for op in history.ops if op.values is not None]
    return HistoryVerdict(
        violations=report.violations,
        operations=len(history.ops),
        acknowledged_writes=sum(1 for op in writes if op.ok),
        reads_with_siblings=sum(1 for count in sibling_counts if count >= 2),
        largest_sibling_set=max(sibling_counts, default=0),
        writes_without_effect=sum(1 for op in writes if op.outcome is Outcome.FAIL),
        skipped=tuple(
            f"{result.check} ({result.note})"
            for result in report.results
            if result.status is CheckStatus.SKIP
        ),
    )


def describe_violation(found: Violation) -> str:
    """A violation with its excerpt of the History (times are monotonic nanoseconds)."""
    return found.describe()


# ---------------------------------------------------------------- the final state


def replica_disagreements(
    config: ClusterConfig,
    ring: Ring,
    states: Mapping[str, DurableState],
    keys: Iterable[bytes],
) -> list[str]:
    """Hints left anywhere, and keys whose preference-list replicas store different versions
    (a replica missing the key counts as holding nothing)."""
    problems = [
        f"{node} still holds hints for {target}"
        for node, state in sorted(states.items())
        for target in sorted(state.hints)
    ]
    missing = [node for node in ring.node_ids() if node not in states]
    problems += [f"{node} has no stored state" for node in missing]
    every_key = set(keys).union(*(state.data.keys() for state in states.values()))
    for key in sorted(every_key):
        replicas = [node for node in ring.preference_list(key, config.n) if node in states]
        held = [states[node].data.get(key) for node in replicas]
        if any(versions != held[0] for versions in held[1:]):
            shown = "; ".join(
                f"{node} {'-' if v is None else describe_versions(v)}"
                for node, v in zip(replicas, held, strict=True)
            )
            problems.append(f"replicas of {key!r} store different versions: {shown}")
    return problems


def final_read_mismatches(
    final_reads: Sequence[FinalRead], stored: Callable[[bytes], AnyVersions]
) -> list[str]:
    """Final reads that failed, or whose values are not those the replicas store."""
    problems = []
    for read in final_reads:
        held = stored(read.key.encode())
        if read.values is None:
            problems.append(f"the {read.describe()} failed: {read.error}")
        elif sorted(read.values) != sorted(v.decode() for v in held.values()):
            problems.append(f"the {read.describe()}; stored {describe_versions(held)}")
    return problems


# ---------------------------------------------------------------- reading a stopped cluster


def final_ring(config: ClusterConfig, states: Mapping[str, DurableState]) -> Ring:
    """The current ring of the membership the nodes stored, joined: the ring a settled
    cluster serves from (the configuration's while no membership change happened)."""
    membership = initial_membership(config.nodes)
    for state in states.values():
        membership = membership.merge(state.membership)
    return current_ring(membership, config.ring)


def load_durable_states(cluster: LocalCluster) -> dict[str, DurableState]:
    """Every node's durable state from its SQLite file, those that left the cluster too (the
    cluster must be stopped)."""
    states = {}
    for node in (address.node_id for address in cluster.cluster.addresses):
        storage = SqliteStorage(cluster.data_dir(node) / STORAGE_FILE)
        try:
            state = storage.load()
        finally:
            storage.close()
        if state is not None:
            states[node] = state
    return states


def logged_protocol_errors(cluster: LocalCluster) -> int:
    """Protocol errors the nodes logged, over every lifetime (logs outlive the processes)."""
    count = 0
    for node in (address.node_id for address in cluster.cluster.addresses):
        log = cluster.data_dir(node) / LOG_FILE
        text = log.read_text(errors="replace") if log.exists() else ""
        count += sum(1 for line in text.splitlines() if "protocol error" in line)
    return count


def final_versions(
    states: dict[str, DurableState], key: bytes, config: ClusterConfig
) -> AnyVersions:
    merged = empty_versions(config.mode)
    for state in states.values():
        held = state.data.get(key)
        if held is not None:
            merged = merge_versions(merged, held)
    return merged
