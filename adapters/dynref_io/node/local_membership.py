"""Membership changes of a local cluster: `dynref cluster add` and `dynref cluster remove`.

Adding writes a new node into DIR/cluster.toml with `joins = true` (a free port, the next free
id), starts it with `--join` a seed, and waits until it is valid and every running node holds
the same membership. Removing asks the node to leave, waits until it exited and every other
running node knows it, then until it holds no key and no hint (an exiting node drops each key
once its new owners acknowledged it, SPEC REQ-MEMBER-7), stops its process and marks it
`left = true` in the file. Both return how long the cluster took
to agree on its new ring (docs/benchmarks.md, "Membership on a real cluster").
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from dynref_io.client.native import DynrefError, InvalidRequestError
from dynref_io.node.config_file import render_cluster_toml
from dynref_io.node.local_cluster import (
    READY_TIMEOUT_S,
    ClusterError,
    LocalCluster,
    free_ports,
    replace_private,
)

CHANGE_TIMEOUT_S = 120.0
POLL_S = 0.1


@attrs.frozen
class MembershipChange:
    node_id: str
    seconds: float
    """From the request until every running node held the new membership."""
    last_status: dict[str, Any] | None = None
    """A removed node's status read just before its process was stopped (its counters)."""


def add_node(
    local: LocalCluster, capacity: int = 1, timeout: float = CHANGE_TIMEOUT_S
) -> MembershipChange:
    """Write a new node into the cluster file, start it joining, and wait until it is valid
    and every running node agrees on the membership."""
    if capacity < 1:
        raise ClusterError(f"capacity must be at least 1, got {capacity}")
    if not any(local.pid(node) is not None for node in local.node_ids):
        raise ClusterError("no node of the cluster is running: start it first")
    cluster = local.cluster
    taken = {address.node_id for address in cluster.addresses}
    number = len(taken) + 1
    while f"n{number}" in taken:
        number += 1
    node_id = f"n{number}"
    model = cluster.addresses[0]
    # An HTTP API port too when the cluster's nodes serve one (`cluster start --http`).
    ports = free_ports(1 if model.http_port is None else 2, model.host)
    http_port = ports[1] if len(ports) > 1 else None
    added = attrs.evolve(
        model, node_id=node_id, port=ports[0], capacity=capacity, http_port=http_port
    )
    added = attrs.evolve(added, joins=True, left=False)
    updated = attrs.evolve(cluster, addresses=(*cluster.addresses, added))
    replace_private(local.config_path, render_cluster_toml(updated))
    local.reload()
    started = time.monotonic()
    local.start([node_id], min(timeout, READY_TIMEOUT_S))
    _wait_agreement(local, node_id, "valid", started + timeout)
    return MembershipChange(node_id, time.monotonic() - started)


def remove_node(
    local: LocalCluster, node_id: str, timeout: float = CHANGE_TIMEOUT_S
) -> MembershipChange:
    """Ask `node_id` to leave, wait until it exited and the others know, stop its process and
    mark it `left` in the cluster file. A refused leave (fewer than N valid nodes would
    remain) is a ClusterError with the node's reason, and changes nothing."""
    if local.pid(node_id) is None:
        raise ClusterError(f"{node_id} is not running: start it, then remove it")
    started = time.monotonic()
    try:
        with local.client(node_id) as client:
            client.leave()
    except InvalidRequestError as refused:
        raise ClusterError(f"{node_id} refused to leave: {refused}") from None
    except DynrefError as exc:
        raise ClusterError(f"cannot ask {node_id} to leave: {exc}") from None
    _wait_agreement(local, node_id, "exiting", started + timeout)
    seconds = time.monotonic() - started
    last_status = _wait_emptied(local, node_id, started + timeout)
    local.stop([node_id])
    cluster = local.cluster
    addresses = tuple(
        attrs.evolve(a, left=True) if a.node_id == node_id else a for a in cluster.addresses
    )
    replace_private(
        local.config_path, render_cluster_toml(attrs.evolve(cluster, addresses=addresses))
    )
    local.reload()
    return MembershipChange(node_id, seconds, last_status)


def _wait_emptied(local: LocalCluster, node_id: str, deadline: float) -> dict[str, Any]:
    """Until the exiting node holds no key and no hint: every key it held is acknowledged by
    its new owners. Its last status; a ClusterError at the deadline."""
    while True:
        status = local.status(node_id)
        if status is not None and status["keys"] == 0 and status["hints"] == 0:
            return status
        if time.monotonic() >= deadline:
            held = "no answer" if status is None else f"{status['keys']} keys"
            raise ClusterError(f"{node_id} still holds data after the wait ({held})")
        time.sleep(POLL_S)


def _wait_agreement(local: LocalCluster, node_id: str, wanted: str, deadline: float) -> None:
    """Until `node_id` reports `wanted` as its own status and every running node reports the
    same membership digest; a ClusterError naming what is missing at the deadline."""
    while True:
        running = [n for n in local.node_ids if local.pid(n) is not None]
        statuses = {n: local.status(n) for n in running}
        own = statuses.get(node_id)
        digests = {status["membership"] for status in statuses.values() if status is not None}
        answered = all(status is not None for status in statuses.values())
        if own is not None and own["member"] == wanted and answered and len(digests) == 1:
            return
        if time.monotonic() >= deadline:
            shown = "no answer" if own is None else own["member"]
            raise ClusterError(
                f"{node_id} is {shown}, not {wanted}, or the running nodes hold "
                f"{len(digests)} different memberships, after the wait"
            )
        time.sleep(POLL_S)
