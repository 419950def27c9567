"""Remote administration of any running node: `status`, `ring`, `isolate`, `heal`, `leave`.

    dynref status 127.0.0.1:7001              # counters, peers down, hints, keys per range
    dynref ring 127.0.0.1:7001 --key cart:42  # the key's preference list and targets
    dynref isolate 127.0.0.1:7001 n2          # drop all traffic with n2 (a fault drill)
    dynref heal 127.0.0.1:7001                # end every isolation
    dynref leave --node 127.0.0.1:7003 --wait 60   # the node leaves the cluster

Each speaks the native protocol to the node's one port, so it works on a node started by hand
as well as on one of `dynref cluster`; `--json` prints one JSON document instead of text.
Exit status: 0 done, 1 the node could not be reached, 2 bad arguments (an unknown peer).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from dynref.ring import key_position

from dynref_io.cli import CommandError, Subcommand, UsageError
from dynref_io.cli.store import add_security_arguments, client_for, host_port, timeout_seconds
from dynref_io.client.native import Client, DynrefError, InvalidRequestError
from dynref_io.node.config_file import ConfigError
from dynref_io.wire.frames import RingReply

LIST_FIELDS = ("down", "isolated", "connected")
POLL_S = 0.2
IDENTITY_FIELDS = ("node_id", "mode", "pid", "incarnation", "boots", "keys", "hints")


def add_node_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", type=host_port, metavar="HOST:PORT", help="the node's address")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--timeout", type=timeout_seconds, default=5.0, help="seconds to wait (default 5)"
    )
    add_security_arguments(parser, "as the cluster file given by --config says, unless given")


def add_peer_arguments(parser: argparse.ArgumentParser) -> None:
    add_node_argument(parser)
    parser.add_argument("peers", nargs="*", metavar="PEER", help="node ids (default: all)")


def _client(arguments: argparse.Namespace) -> Client:
    host, port = arguments.node
    try:
        return client_for(host, port, arguments)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _ranges_json(ring: RingReply) -> list[dict[str, Any]]:
    return [
        {"range": index, "first": first, "last": last, "preference_list": list(nodes), "keys": keys}
        for index, first, last, nodes, keys in ring.ranges
    ]


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _ranges_table(ring: RingReply) -> str:
    rows = [("range", "first position", "last position", "preference list", "keys")]
    rows += [
        (str(index), first, last, ",".join(nodes), str(keys))
        for index, first, last, nodes, keys in ring.ranges
    ]
    return _table(rows)


def run_status(arguments: argparse.Namespace) -> int:
    try:
        with _client(arguments) as client:
            status, ring = client.status(), client.ring()
    except DynrefError as exc:
        raise CommandError(str(exc)) from None
    if arguments.json:
        document = {"status": status, "hints_by_owner": ring.hints, "ranges": _ranges_json(ring)}
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    rows = [(name, str(status.get(name, "-"))) for name in IDENTITY_FIELDS]
    rows += [(name, ",".join(status.get(name, [])) or "-") for name in LIST_FIELDS]
    held = ", ".join(f"{owner}: {count}" for owner, count in ring.hints.items())
    rows.append(("hints by owner", held or "-"))
    shown = {*IDENTITY_FIELDS, *LIST_FIELDS}
    rows += [(name, str(value)) for name, value in sorted(status.items()) if name not in shown]
    print(_table(rows))
    print(f"\nkeys per range ({len(ring.ranges)} ranges replicated, N={ring.n}):")
    print(_ranges_table(ring))
    return 0


def add_ring_arguments(parser: argparse.ArgumentParser) -> None:
    add_node_argument(parser)
    parser.add_argument("--key", help="also show where this key lives (UTF-8)")


def run_ring(arguments: argparse.Namespace) -> int:
    try:
        with _client(arguments) as client:
            ring = client.ring(arguments.key)
    except DynrefError as exc:
        raise CommandError(str(exc)) from None
    key = None
    if arguments.key is not None:
        key = {
            "key": arguments.key,
            "position": f"{key_position(arguments.key.encode()):032x}",
            "range": ring.key_range,
            "preference_list": list(ring.preference_list),
            "targets": [{"node": node, "hint_for": hint or None} for node, hint in ring.targets],
        }
    if arguments.json:
        document = {
            "node_id": ring.node_id,
            "nodes": list(ring.nodes),
            "n": ring.n,
            "ranges": _ranges_json(ring),
            "key": key,
        }
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(f"nodes: {', '.join(ring.nodes)} (N={ring.n}); as seen by {ring.node_id}")
    if key is not None:
        targets = ", ".join(
            node + (f" (for {hint})" if hint else "") for node, hint in ring.targets
        )
        print(f"key {arguments.key!r} at position {key['position']}, range {ring.key_range}")
        print(f"  preference list: {', '.join(ring.preference_list)}")
        print(f"  a put now goes to: {targets}")
    print(f"ranges {ring.node_id} replicates:")
    print(_ranges_table(ring))
    return 0


def _change_isolation(arguments: argparse.Namespace, isolate: bool) -> int:
    try:
        with _client(arguments) as client:
            ring, status = client.ring(), client.status()
            others = set(ring.nodes) - {ring.node_id}
            unknown = sorted(set(arguments.peers) - others)
            if unknown:
                raise UsageError(
                    f"{', '.join(unknown)} not among the other nodes ({', '.join(sorted(others))})"
                )
            chosen = set(arguments.peers) or others
            current = set(status["isolated"])
            wanted = current | chosen if isolate else current - chosen
            client.isolate(sorted(wanted))
            now = client.status()["isolated"]
    except DynrefError as exc:
        raise CommandError(str(exc)) from None
    if arguments.json:
        print(json.dumps({"node_id": ring.node_id, "isolated": now}))
    else:
        print(f"{ring.node_id} isolated from: {', '.join(now) or 'nobody'}")
    return 0


def add_leave_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node", type=host_port, metavar="HOST:PORT", required=True, help="the node that leaves"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--timeout", type=timeout_seconds, default=5.0, help="seconds to wait for each answer"
    )
    parser.add_argument(
        "--wait",
        type=timeout_seconds,
        metavar="SECONDS",
        help="then wait up to this long for the node to exit (its keys held by their new "
        "owners); exit 1 if it has not",
    )
    add_security_arguments(parser, "as the cluster file given by --config says, unless given")


def run_leave(arguments: argparse.Namespace) -> int:
    try:
        with _client(arguments) as client:
            node_id = client.status()["node_id"]
            try:
                status = client.leave()
            except InvalidRequestError as refused:
                raise CommandError(f"{node_id} refused to leave: {refused}") from None
            if arguments.wait is not None:
                status = wait_for_member_status(client, "exiting", arguments.wait)
    except DynrefError as exc:
        raise CommandError(str(exc)) from None
    if arguments.json:
        print(json.dumps({"node_id": node_id, "member": status}))
    elif status == "exiting":
        print(f"{node_id} has left: every key it held is held by its new owners; stop it now")
    else:
        print(
            f"{node_id} is {status}: it exits once every key it holds is held by its new "
            "owners (`dynref status` then shows member: exiting)"
        )
    if arguments.wait is not None and status != "exiting":
        raise CommandError(f"{node_id} is still {status} after {arguments.wait:g} s")
    return 0


def wait_for_member_status(client: Client, wanted: str, seconds: float) -> str:
    """Poll the node's status until its own membership status is `wanted`; the last seen."""
    deadline = time.monotonic() + seconds
    while True:
        status = str(client.status()["member"])
        if status == wanted or time.monotonic() >= deadline:
            return status
        time.sleep(POLL_S)


def run_isolate(arguments: argparse.Namespace) -> int:
    return _change_isolation(arguments, isolate=True)


def run_heal(arguments: argparse.Namespace) -> int:
    return _change_isolation(arguments, isolate=False)


SUBCOMMANDS = (
    Subcommand(
        "status",
        "a running node's counters, peers believed down, hints and keys per range",
        add_node_argument,
        run_status,
        description="Ask any running node (started by hand or by `dynref cluster`) for its "
        "status: identity, keys and hints held, peers believed down, isolated and connected, "
        "its counters since it started, and the keys it holds in each range it replicates.",
    ),
    Subcommand(
        "ring",
        "a node's view of the ring, and where a key lives",
        add_ring_arguments,
        run_ring,
        description="Show the ranges a node replicates with their preference lists; with "
        "--key, the key's position, preference list, and the nodes a put would go to now "
        "given the peers this node believes down (sloppy quorum).",
    ),
    Subcommand(
        "leave",
        "a node leaves the cluster, handing its keys to their new owners",
        add_leave_arguments,
        run_leave,
        description="Ask a running node to leave the cluster (Dynamo's explicit leave): it "
        "marks itself leaving, the change spreads by gossip, it streams every key of the ranges "
        "it loses to their new owners, and it exits once each is acknowledged by them (none of "
        "its data is held by it alone). Refused, changing nothing, when fewer than N valid "
        "nodes would remain. With --wait, wait for the exit; then stop the node's process.",
    ),
    Subcommand(
        "isolate",
        "cut a node off from some or all of its peers (a fault drill)",
        add_peer_arguments,
        run_isolate,
        description="The node drops every message to and from the given peers (all of them "
        "when none is named) until `dynref heal`. Isolations add up.",
    ),
    Subcommand(
        "heal",
        "end a node's isolation from some or all of its peers",
        add_peer_arguments,
        run_heal,
        description="The node talks again to the given peers (all of them when none is named).",
    ),
)
