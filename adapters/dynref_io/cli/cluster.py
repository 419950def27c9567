"""`dynref cluster`: create, start, inspect, crash, grow, shrink and stop a local cluster of
node processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynref_io.cli import CommandError, Subcommand, UsageError
from dynref_io.cli.store import add_setting_flags, settings_from
from dynref_io.node.config_file import ConfigError
from dynref_io.node.local_cluster import (
    CLUSTER_FILE,
    ClusterError,
    LocalCluster,
    create_cluster,
    generated_security,
)
from dynref_io.node.local_membership import add_node, remove_node


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="write DIR/cluster.toml with a fresh cluster secret, start nothing",
        description="Write DIR/cluster.toml (mode 0600) for a new cluster, with a fresh cluster "
        "secret the nodes prove to each other, and a client token with --client-token. Copy it "
        "to every machine of a cluster, or start it here with `cluster start --dir DIR`.",
    )
    start = actions.add_parser(
        "start",
        help="create (or restart) a local cluster",
        description="Create DIR/cluster.toml and start one node process per node, or start "
        "the stopped nodes of an existing cluster. Returns once every node answers as the "
        "process started for it (node id and pid) and all are connected; exits 1 when a node "
        "failed to start (its log is shown), after stopping the others.",
    )
    for action in (create, start):
        action.add_argument(
            "--nodes", type=int, help="number of nodes of a new cluster (default 5)"
        )
        action.add_argument("--base-port", type=int, help="port of n1; the others follow")
        action.add_argument(
            "--http",
            action="store_true",
            help="give every node of a new cluster an HTTP API port (written to cluster.toml)",
        )
        action.add_argument(
            "--client-token",
            action="store_true",
            help="also generate a token every client must present",
        )
        add_setting_flags(action)
    actions.add_parser(
        "status",
        help="a table of the nodes",
        description="One row per node: address, pid, whether it answers, keys and hints "
        "held, peers it believes down or is isolated from.",
    )
    actions.add_parser(
        "stop",
        help="stop every node (SIGTERM, then SIGKILL)",
        description="SIGTERM every running node, SIGKILL those still running after 10 s; no "
        "node process is left behind. The data stays in DIR.",
    )
    add = actions.add_parser(
        "add",
        help="add a node to the running cluster (it joins and takes its share of keys)",
        description="Write a new node into DIR/cluster.toml (next free id, a free port, "
        "`joins = true`), start it joining through a seed, and return once it is valid and "
        "every running node holds the same membership: the keys of the ranges it gained were "
        "offered to it by their old owners and acknowledged.",
    )
    add.add_argument("--capacity", type=int, default=1, help="its capacity (default 1)")
    remove = actions.add_parser(
        "remove",
        help="remove a node from the running cluster (it hands its keys over, then stops)",
        description="Ask the node to leave, wait until it exited (every key it held is "
        "acknowledged by its new owners) and every other running node knows, then stop its "
        "process and mark it `left = true` in DIR/cluster.toml. Refused, changing nothing, "
        "when fewer than N valid nodes would remain.",
    )
    remove.add_argument("node", help="node id, e.g. n2")
    for action in (add, remove):
        action.add_argument(
            "--timeout",
            type=float,
            default=120.0,
            help="seconds to wait for the cluster to agree (default 120)",
        )
    for name, text, description in (
        ("kill", "SIGKILL one node (a crash)", "Kill one node with SIGKILL, as a crash would."),
        ("restart", "restart one node", "Stop one node (if running) and start it again."),
    ):
        action = actions.add_parser(name, help=text, description=description)
        action.add_argument("node", help="node id, e.g. n2")
    for action in actions.choices.values():
        action.add_argument("--dir", type=Path, required=True, help="the cluster's directory")


def run_cluster_command(arguments: argparse.Namespace) -> int:
    try:
        if arguments.action == "create":
            _create_cluster(arguments)
            print(f"wrote {arguments.dir / CLUSTER_FILE} (keep it private: it holds the secret)")
            return 0
        if arguments.action == "start":
            return _start_cluster(arguments)
        cluster = LocalCluster(arguments.dir)
        if arguments.action == "status":
            print(cluster.status_table())
        elif arguments.action == "stop":
            cluster.stop()
            print(f"stopped the cluster in {arguments.dir}")
        elif arguments.action == "kill":
            cluster.kill(_known_node(cluster, arguments.node))
            print(f"killed {arguments.node}")
        elif arguments.action == "restart":
            cluster.restart(_known_node(cluster, arguments.node))
            print(f"restarted {arguments.node}")
        elif arguments.action == "add":
            if arguments.timeout <= 0:
                raise UsageError("--timeout must be positive")
            if arguments.capacity < 1:
                raise UsageError("--capacity must be at least 1")
            added = add_node(cluster, arguments.capacity, arguments.timeout)
            print(f"added {added.node_id}: valid, membership agreed in {added.seconds:.1f} s")
        elif arguments.action == "remove":
            if arguments.timeout <= 0:
                raise UsageError("--timeout must be positive")
            node_id = _known_node(cluster, arguments.node)
            removed = remove_node(cluster, node_id, arguments.timeout)
            print(
                f"removed {node_id}: its keys are held by their new owners "
                f"({removed.seconds:.1f} s); its process is stopped, its data kept in "
                f"{cluster.data_dir(node_id)}"
            )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ClusterError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--dir {arguments.dir}: {exc.strerror or exc}") from None
    return 0


def _known_node(cluster: LocalCluster, node_id: str) -> str:
    if node_id not in cluster.node_ids:
        raise UsageError(f"unknown node {node_id!r}; the cluster has {', '.join(cluster.node_ids)}")
    return node_id


def _create_cluster(arguments: argparse.Namespace) -> LocalCluster:
    if (arguments.dir / CLUSTER_FILE).exists():
        raise UsageError(f"{arguments.dir} holds a cluster already")
    nodes = 5 if arguments.nodes is None else arguments.nodes
    if nodes < 1:
        raise UsageError("--nodes must be at least 1")
    if arguments.http and arguments.client_token:
        raise UsageError("--http and --client-token: the HTTP API would bypass the client token")
    security = generated_security(client_token=arguments.client_token)
    return create_cluster(
        arguments.dir,
        nodes,
        arguments.base_port,
        settings_from(arguments),
        http=arguments.http,
        security=security,
    )


def _start_cluster(arguments: argparse.Namespace) -> int:
    settings = settings_from(arguments)
    creating = (
        arguments.nodes is not None
        or arguments.base_port is not None
        or settings
        or arguments.http
        or arguments.client_token
    )
    if (arguments.dir / CLUSTER_FILE).exists():
        if creating:
            raise UsageError(f"{arguments.dir} holds a cluster already; start it with --dir only")
        cluster = LocalCluster(arguments.dir)
    else:
        cluster = _create_cluster(arguments)
    print(
        f"starting {len(cluster.node_ids)} nodes in {arguments.dir} (logs in DIR/<node>/node.log)",
        file=sys.stderr,
        flush=True,
    )
    try:
        cluster.start()
    except ClusterError:
        cluster.stop()
        raise
    print(cluster.status_table())
    return 0


SUBCOMMANDS = (
    Subcommand(
        "cluster",
        "manage a local cluster of node processes",
        add_cluster_arguments,
        run_cluster_command,
        description="Create, start, inspect, crash and stop a cluster of node processes on "
        "this machine, all described by DIR/cluster.toml.",
    ),
)
