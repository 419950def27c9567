"""The store's subcommands: `node`, `put`, `get` and `delete` (`cluster` is in `cli.cluster`)."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from dynref.causality import Mode

from dynref_io.cli import EXIT_NOT_FOUND, CommandError, Subcommand, UsageError
from dynref_io.client.answers import TOKEN_ENVIRONMENT_VARIABLE
from dynref_io.client.native import (
    Client,
    DynrefError,
    GetResult,
    NodeConnectionError,
    tls_context,
)
from dynref_io.node.auth import check_node_security
from dynref_io.node.config_file import (
    ClusterFile,
    ConfigError,
    NodeAddress,
    build_cluster_file,
    load_cluster_file,
)
from dynref_io.node.local_cluster import (
    ClusterError,
    LocalCluster,
)
from dynref_io.node.process import run_node

# Cluster parameters settable by flag: (flag, key in the config file, help).
SETTING_FLAGS = (
    ("--n", "n", "replicas per key (N, default 3)"),
    ("--r", "r", "read quorum (R, default 2)"),
    ("--w", "w", "write quorum (W, default 2)"),
    ("--request-timeout", "request_timeout", "ms a coordinator waits for R or W answers"),
    ("--forward-timeout", "forward_timeout", "ms a node waits on a forwarded put"),
    ("--handoff-interval", "handoff_interval", "ms between hinted-handoff rounds"),
    ("--antientropy-interval", "antientropy_interval", "ms between Merkle exchanges"),
    ("--probe-interval", "probe_interval", "ms between probes of peers believed down"),
    ("--tick-interval", "tick_interval", "ms between the runtime's clock ticks (default 10)"),
    ("--seed", "seed", "seed of the nodes' generators"),
)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster parameters")
    for flag, key, text in SETTING_FLAGS:
        group.add_argument(flag, dest=f"setting_{key}", type=int, metavar="INT", help=text)
    group.add_argument(
        "--mode",
        dest="setting_mode",
        choices=[mode.value for mode in Mode],
        help="causality mode (default dvv)",
    )


def settings_from(arguments: argparse.Namespace) -> dict[str, Any]:
    prefix = "setting_"
    return {
        name[len(prefix) :]: value
        for name, value in vars(arguments).items()
        if name.startswith(prefix) and value is not None
    }


def host_port(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def port_number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, got {text!r}")
    return int(text)


def peer_address(text: str) -> NodeAddress:
    node_id, separator, where = text.partition("=")
    if not separator or not node_id:
        raise argparse.ArgumentTypeError(f"expected ID=HOST:PORT, got {text!r}")
    host, port = host_port(where)
    return NodeAddress(node_id, host, port)


def timeout_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return seconds


ENCODINGS = ("hex", "base64")


def encode_bytes(raw: bytes, encoding: str) -> str:
    return raw.hex() if encoding == "hex" else base64.b64encode(raw).decode("ascii")


def decode_bytes(text: str, encoding: str, what: str) -> bytes:
    """`text` as `encoding` (hex or base64, strictly); a usage error names `what` otherwise."""
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise UsageError(f"{what} is not {encoding}: {text!r}") from None


def add_encoding_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--encoding", choices=ENCODINGS, default="hex", help=f"how {what} (default hex)"
    )


# ---------------------------------------------------------------- node


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the cluster's TOML file")
    parser.add_argument("--id", required=True, help="this node's id (e.g. n1)")
    parser.add_argument("--data-dir", type=Path, required=True, help="where the node's store lives")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; bind a real one deliberately)",
    )
    parser.add_argument("--port", type=int, help="port to listen on (without --config)")
    parser.add_argument(
        "--http",
        type=port_number,
        metavar="PORT",
        help="also serve the HTTP API on this port of --host (default: the file's http_port "
        "for this node, else no HTTP API; see docs/http.md)",
    )
    parser.add_argument(
        "--join",
        type=host_port,
        metavar="HOST:PORT",
        help="join the cluster through the seed node at this address (a node of the cluster "
        "file); ignored once this node is a member (see docs/operations.md)",
    )
    parser.add_argument(
        "--peer",
        type=peer_address,
        action="append",
        default=[],
        metavar="ID=HOST:PORT",
        help="another node of the cluster (without --config; repeat for each)",
    )
    add_setting_flags(parser)


def node_cluster(arguments: argparse.Namespace) -> ClusterFile:
    settings = settings_from(arguments)
    try:
        if arguments.config is not None:
            if settings or arguments.peer or arguments.port is not None:
                raise UsageError("with --config, the file sets ports, peers and parameters")
            return load_cluster_file(arguments.config)
        if arguments.port is None:
            raise UsageError("give --config FILE, or --port and a --peer for each other node")
        own = NodeAddress(arguments.id, arguments.host, arguments.port)
        return build_cluster_file((own, *arguments.peer), settings)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def join_seed(cluster: ClusterFile, node_id: str, address: tuple[str, int]) -> str:
    """The id of the seed node at `address`: a node of the file, among the cluster's seeds, and
    not this node (a UsageError naming the problem otherwise)."""
    endpoint = f"{address[0]}:{address[1]}"
    try:
        seed = cluster.node_at(endpoint).node_id
    except ConfigError as exc:
        raise UsageError(f"--join {endpoint}: unknown seed: {exc}") from None
    seeds = cluster.config.seed_ids()
    if seed == node_id:
        raise UsageError(f"--join {endpoint} is this node's own address: give a seed's")
    if seed not in seeds:
        raise UsageError(f"--join {endpoint}: {seed} is not a seed (seeds: {', '.join(seeds)})")
    return seed


def run_node_command(arguments: argparse.Namespace) -> int:
    cluster = node_cluster(arguments)
    try:
        own = cluster.address_of(arguments.id)
        http_port = arguments.http if arguments.http is not None else own.http_port
        check_node_security(arguments.host, cluster.security, http=http_port is not None)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if http_port is not None and http_port == own.port:
        raise UsageError(f"--http {http_port} is the node's own port")
    seed = None if arguments.join is None else join_seed(cluster, arguments.id, arguments.join)
    try:
        return run_node(
            cluster, arguments.id, arguments.data_dir, arguments.host, http_port, join=seed
        )
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--data-dir {arguments.data_dir}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- put, get, delete


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--node", type=host_port, metavar="HOST:PORT", help="the node to ask")
    target.add_argument("--dir", type=Path, help="ask a live node of this local cluster")
    parser.add_argument(
        "--timeout", type=timeout_seconds, default=10.0, help="seconds to wait (default 10)"
    )
    add_security_arguments(parser, "with --dir, read from the cluster file unless given")


def add_security_arguments(parser: argparse.ArgumentParser, defaults: str) -> None:
    security = parser.add_argument_group(f"security ({defaults})")
    security.add_argument(
        "--config", type=Path, help="read the client token and TLS settings from this file"
    )
    security.add_argument(
        "--token", help=f"the cluster's client token (default: ${TOKEN_ENVIRONMENT_VARIABLE})"
    )
    security.add_argument(
        "--tls-ca", type=Path, metavar="FILE", help="use TLS, trusting the certificates in FILE"
    )


def connect(arguments: argparse.Namespace) -> Client:
    try:
        if arguments.node is not None:
            host, port = arguments.node
            return client_for(host, port, arguments)
        local = LocalCluster(arguments.dir)
    except (ClusterError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    for node_id in local.node_ids:
        if local.pid(node_id) is not None:
            address = local.address(node_id)
            return client_for(address.host, address.port, arguments, local.cluster)
    raise CommandError(f"no node of the cluster in {arguments.dir} is running")


def client_for(
    host: str, port: int, arguments: argparse.Namespace, cluster: ClusterFile | None = None
) -> Client:
    """A client with the token and TLS trust of the flags, else the environment, else the
    cluster file (`cluster`, or the one --config names). ConfigError for a bad --config."""
    if cluster is None and arguments.config is not None:
        cluster = load_cluster_file(arguments.config)
    security = None if cluster is None else cluster.security
    token = arguments.token or os.environ.get(TOKEN_ENVIRONMENT_VARIABLE) or None
    if token is None and security is not None:
        token = security.client_token
    trust = arguments.tls_ca or (None if security is None else security.tls_trust)
    try:
        tls = None if trust is None else tls_context(trust)
    except OSError as exc:
        raise UsageError(f"cannot load the TLS trust file {trust}: {exc}") from None
    return Client(host, port, timeout=arguments.timeout, token=token, tls=tls)


def add_put_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", help="the key (UTF-8)")
    parser.add_argument(
        "value", help="the value (UTF-8); - reads the value's bytes from standard input"
    )
    parser.add_argument("--context", default="", help="the context of a get (see --encoding)")
    add_encoding_argument(parser, "--context is written")
    parser.add_argument("--w", type=int, help="write quorum for this request")
    add_target_arguments(parser)


def add_get_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", help="the key (UTF-8)")
    parser.add_argument("--r", type=int, help="read quorum for this request")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: every value and the context in --encoding, never "
        "guessed as text",
    )
    add_encoding_argument(parser, "values (with --json) and the context are printed")
    parser.add_argument(
        "--require",
        action="store_true",
        help=f"exit {EXIT_NOT_FOUND} when the key has no value (not found or deleted)",
    )
    add_target_arguments(parser)


def add_delete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", help="the key (UTF-8)")
    parser.add_argument("--context", required=True, help="the context of a get (see --encoding)")
    add_encoding_argument(parser, "--context is written")
    parser.add_argument("--w", type=int, help="write quorum for this request")
    add_target_arguments(parser)


def _call(arguments: argparse.Namespace, operation: str) -> GetResult | bytes:
    """A get's result, or a write's acknowledgement context."""
    context = b""
    if operation != "get":
        context = decode_bytes(arguments.context, arguments.encoding, "--context")
    value: str | bytes = b""
    if operation == "put":  # read before connecting: a node's idle timeout is not spent on it
        value = sys.stdin.buffer.read() if arguments.value == "-" else arguments.value
    try:
        with connect(arguments) as client:
            if operation == "get":
                return client.get(arguments.key, r=arguments.r)
            if operation == "put":
                return client.put(arguments.key, value, context, w=arguments.w)
            return client.delete(arguments.key, context, w=arguments.w)
    except NodeConnectionError as exc:
        raise CommandError(str(exc)) from None
    except DynrefError as exc:
        raise CommandError(str(exc)) from None


def show_value(value: bytes) -> str:
    try:
        return f"value: {value.decode('utf-8')}"
    except UnicodeDecodeError:
        return f"value (hex): {value.hex()}"


def show_written(arguments: argparse.Namespace, operation: str) -> int:
    """`ok`, and the acknowledgement's context when it has one (lww's names the stamp written,
    REQ-CTX-4), to write on with."""
    written = _call(arguments, operation)
    assert isinstance(written, bytes), "a write returns its acknowledgement's context"
    print("ok")
    if written:
        print(f"context: {encode_bytes(written, arguments.encoding)}")
    return 0


def run_put(arguments: argparse.Namespace) -> int:
    return show_written(arguments, "put")


def run_get(arguments: argparse.Namespace) -> int:
    found = _call(arguments, "get")
    assert isinstance(found, GetResult), "a get returns its result"
    encoding = arguments.encoding
    if arguments.json:
        document = {
            "key": arguments.key,
            "found": bool(found.values),
            "encoding": encoding,
            "values": [encode_bytes(value, encoding) for value in found.values],
            "context": encode_bytes(found.context, encoding),
        }
        print(json.dumps(document))
    else:
        if not found.values:
            print("not found")
        for value in found.values:
            print(show_value(value))
        print(f"context: {encode_bytes(found.context, encoding)}")
    return EXIT_NOT_FOUND if arguments.require and not found.values else 0


def run_delete(arguments: argparse.Namespace) -> int:
    return show_written(arguments, "delete")


SUBCOMMANDS = (
    Subcommand(
        "node",
        "run one node in the foreground",
        add_node_arguments,
        run_node_command,
        description="Run one dynref node until SIGTERM or SIGINT: the cluster comes from "
        "--config FILE (every node reads the same file) or from --port and --peer flags. "
        "With --http (or http_port in the file) it also serves the HTTP API.",
    ),
    Subcommand(
        "put",
        "write a value (with the context of a get)",
        add_put_arguments,
        run_put,
        description="Write KEY=VALUE through one node (VALUE - reads it from standard input). "
        "Pass the context of a get to supersede exactly the siblings it saw; without one the "
        "write stands beside them. In lww the acknowledgement's context is printed too.",
    ),
    Subcommand(
        "get",
        "read every sibling of a key, and its context",
        add_get_arguments,
        run_get,
        description="Read every sibling of KEY and the context to write with. Values print "
        "as text when they are UTF-8 (`value (hex):` otherwise); --json prints every value "
        "and the context in --encoding. Exit 4 with --require when the key has no value.",
    ),
    Subcommand(
        "delete",
        "delete a key (with the context of a get)",
        add_delete_arguments,
        run_delete,
        description="Delete KEY through one node: a tombstone that supersedes the siblings "
        "the context saw.",
    ),
)
