"""The cluster config file: TOML naming every node's address and the cluster's parameters.

The core knows nodes only by id and capacity (`ClusterConfig`); where each node listens is the
adapters' business, so the file maps ids to addresses as well. Every node of a cluster must read
the same file: ring, quorums, mode and timers have to agree across the cluster.

    [cluster]
    n = 3
    r = 2
    w = 2
    mode = "dvv"            # dvv | vclock | lww
    seed = 0

    [timers]                # milliseconds
    request_timeout = 200
    forward_timeout = 400
    handoff_interval = 500
    antientropy_interval = 1000
    probe_interval = 300
    tick_interval = 10      # how often the runtime feeds the core a Tick

    [limits]
    max_key_bytes = 1024
    max_value_bytes = 1048576
    max_context_bytes = 65536
    max_context_actors = 1024
    max_siblings = 100
    max_object_bytes = 1179648
    merkle_depth = 0        # anti-entropy exchange depth; 0 chooses it per range

    [ring]
    strategy = "random-tokens"   # random-tokens | equal-partitions
    tokens_per_capacity = 8
    partitions = 64

    [[nodes]]
    id = "n1"
    host = "127.0.0.1"
    port = 7001
    capacity = 1
    http_port = 8098        # optional: serve the HTTP API there (docs/http.md)

Unknown sections or keys are errors, so that a typo never silently falls back to a default.
Values are checked when the file is loaded, each error naming its field (REQ-CONF-1): quorums
within N, N within the number of nodes, no two listeners on one address, a value size that
fits in a frame, a Merkle depth and a ring size within range.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from dynref.causality import Mode
from dynref.config import ClusterConfig
from dynref.ring import NodeSpec, RingConfig, Strategy, build_ring

from dynref_io.wire.codec import MAX_FRAME_BYTES

DEFAULT_TICK_INTERVAL_MS = 10
FRAME_ENVELOPE_BYTES = 64 * 1024
"""Room a frame keeps beside a key and a value: the context, the other fields, msgpack."""
MAX_MERKLE_DEPTH = 20
"""REQ-MERKLE-7's largest depth: about a million leaf buckets per range."""
MAX_PARTITIONS = 16_384
MAX_TOKENS_PER_CAPACITY = 4_096

CLUSTER_KEYS = ("n", "r", "w", "mode", "seed")
TIMER_KEYS = (
    "request_timeout",
    "forward_timeout",
    "handoff_interval",
    "antientropy_interval",
    "probe_interval",
)
LIMIT_KEYS = (
    "max_key_bytes",
    "max_value_bytes",
    "max_context_bytes",
    "max_context_actors",
    "max_siblings",
    "max_object_bytes",
    "merkle_depth",
)
RING_KEYS = ("strategy", "tokens_per_capacity", "partitions")
NODE_KEYS = ("id", "host", "port", "capacity", "http_port")


class ConfigError(ValueError):
    """The config file (or the flags standing in for it) cannot describe a valid cluster."""


@attrs.frozen
class NodeAddress:
    node_id: str
    host: str
    port: int
    capacity: int = 1
    http_port: int | None = None
    """Where the node serves the HTTP API, on its host; None: no HTTP API."""


@attrs.frozen
class ClusterFile:
    """Everything a node process needs: the core's config plus addresses and runtime settings."""

    config: ClusterConfig
    addresses: tuple[NodeAddress, ...]
    tick_interval: int = DEFAULT_TICK_INTERVAL_MS

    def address_of(self, node_id: str) -> NodeAddress:
        for address in self.addresses:
            if address.node_id == node_id:
                return address
        known = ", ".join(a.node_id for a in self.addresses)
        raise ConfigError(f"node {node_id!r} is not in the cluster (nodes: {known})")


def build_cluster_file(
    addresses: tuple[NodeAddress, ...],
    settings: Mapping[str, Any] | None = None,
) -> ClusterFile:
    """Validate addresses and flat settings (any key of the file's sections) into a ClusterFile."""
    settings = dict(settings or {})
    tick_interval = settings.pop("tick_interval", DEFAULT_TICK_INTERVAL_MS)
    if type(tick_interval) is not int or tick_interval < 1:
        raise ConfigError(f"tick_interval must be a positive integer, got {tick_interval!r}")
    if not addresses:
        raise ConfigError("a cluster needs at least one node")
    check_addresses(addresses)
    ring_settings = {k: settings.pop(k) for k in RING_KEYS if k in settings}
    try:
        if "mode" in settings:
            settings["mode"] = Mode(settings["mode"])
        if "strategy" in ring_settings:
            ring_settings["strategy"] = Strategy(ring_settings["strategy"])
        for name, value in {**settings, **ring_settings}.items():
            if name not in ("mode", "strategy") and type(value) is not int:  # bool is no int here
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        config = ClusterConfig(
            nodes=tuple(NodeSpec(a.node_id, a.capacity) for a in addresses),
            ring=RingConfig(**ring_settings),
            **settings,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc
    check_ranges(config)
    return ClusterFile(config=config, addresses=addresses, tick_interval=tick_interval)


def check_addresses(addresses: tuple[NodeAddress, ...]) -> None:
    """REQ-CONF-1: ports in range, and no two listeners (node or HTTP) on one address."""
    taken: dict[tuple[str, int], str] = {}
    for address in addresses:
        listeners = [("port", address.port)]
        if address.http_port is not None:
            listeners.append(("http_port", address.http_port))
        for field, port in listeners:
            where = f"{address.host}:{port}"
            if not 0 < port < 65536:
                raise ConfigError(f"node {address.node_id}: {field} {port} is out of range")
            holder = taken.get((address.host, port))
            if holder is not None:
                raise ConfigError(
                    f"node {address.node_id}: {field} {where} is already the address of {holder}"
                )
            taken[(address.host, port)] = f"{address.node_id}'s {field}"


def check_ranges(config: ClusterConfig) -> None:
    """REQ-CONF-1: the limits the core's own constructors do not check, each field named."""
    if config.n > len(config.nodes):
        raise ConfigError(f"n: N={config.n} exceeds the {len(config.nodes)} node(s) of the cluster")
    largest_value = MAX_FRAME_BYTES - config.max_key_bytes - FRAME_ENVELOPE_BYTES
    if config.max_value_bytes > largest_value:
        raise ConfigError(
            f"max_value_bytes: {config.max_value_bytes} does not fit in a frame of "
            f"{MAX_FRAME_BYTES} bytes beside a key of max_key_bytes={config.max_key_bytes} "
            f"(at most {largest_value})"
        )
    if not 0 <= config.merkle_depth <= MAX_MERKLE_DEPTH:
        raise ConfigError(
            f"merkle_depth must be 0 (chosen per range) or between 1 and {MAX_MERKLE_DEPTH}, "
            f"got {config.merkle_depth}"
        )
    ring = config.ring
    if not 1 <= ring.partitions <= MAX_PARTITIONS:
        raise ConfigError(
            f"partitions must be between 1 and {MAX_PARTITIONS}, got {ring.partitions}"
        )
    if not 1 <= ring.tokens_per_capacity <= MAX_TOKENS_PER_CAPACITY:
        raise ConfigError(
            f"tokens_per_capacity must be between 1 and {MAX_TOKENS_PER_CAPACITY}, "
            f"got {ring.tokens_per_capacity}"
        )
    if ring.strategy is Strategy.EQUAL_PARTITIONS:
        try:
            build_ring(config.nodes, ring)
        except ValueError as exc:
            raise ConfigError(f"partitions: {exc}") from exc


def parse_cluster_toml(text: str, source: str = "<config>") -> ClusterFile:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    sections = {
        "cluster": CLUSTER_KEYS,
        "timers": (*TIMER_KEYS, "tick_interval"),
        "limits": LIMIT_KEYS,
        "ring": RING_KEYS,
    }
    unknown = set(document) - set(sections) - {"nodes"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}")
    settings: dict[str, Any] = {}
    for section, allowed in sections.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        extra = set(table) - set(allowed)
        if extra:
            raise ConfigError(f"{source}: unknown key(s) in [{section}]: {sorted(extra)}")
        settings.update(table)
    nodes = document.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ConfigError(f"{source}: at least one [[nodes]] entry is required")
    try:
        return build_cluster_file(tuple(_node_address(entry) for entry in nodes), settings)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _node_address(entry: object) -> NodeAddress:
    if not isinstance(entry, dict):
        raise ConfigError("each [[nodes]] entry must be a table")
    extra = set(entry) - set(NODE_KEYS)
    if extra:
        raise ConfigError(f"unknown key(s) in [[nodes]]: {sorted(extra)}")
    node_id, host, port = entry.get("id"), entry.get("host", "127.0.0.1"), entry.get("port")
    capacity = entry.get("capacity", 1)
    http_port = entry.get("http_port")
    if not isinstance(node_id, str) or not node_id:
        raise ConfigError(f"[[nodes]] entry needs a string id, got {node_id!r}")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"node {node_id}: host must be a string")
    if type(port) is not int:
        raise ConfigError(f"node {node_id}: port must be an integer, got {port!r}")
    if type(capacity) is not int or capacity < 1:
        raise ConfigError(f"node {node_id}: capacity must be a positive integer")
    if http_port is not None and type(http_port) is not int:
        raise ConfigError(f"node {node_id}: http_port must be an integer, got {http_port!r}")
    return NodeAddress(node_id, host, port, capacity, http_port)


def load_cluster_file(path: Path) -> ClusterFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    return parse_cluster_toml(text, source=str(path))


def render_cluster_toml(cluster: ClusterFile) -> str:
    """The TOML text of a ClusterFile; `parse_cluster_toml` reads it back to an equal value."""
    config = cluster.config
    lines = ["# dynref cluster configuration: every node of the cluster reads this same file.", ""]
    lines += ["[cluster]", *_assignments(config, ("n", "r", "w")), f'mode = "{config.mode.value}"']
    lines += [f"seed = {config.seed}", "", "[timers]  # milliseconds"]
    lines += _assignments(config, TIMER_KEYS)
    lines += [f"tick_interval = {cluster.tick_interval}", "", "[limits]"]
    lines += _assignments(config, LIMIT_KEYS)
    lines += ["", "[ring]", f'strategy = "{config.ring.strategy.value}"']
    lines += _assignments(config.ring, ("tokens_per_capacity", "partitions"))
    for address in cluster.addresses:
        lines += ["", "[[nodes]]", f"id = {_quoted(address.node_id)}"]
        lines += [f"host = {_quoted(address.host)}", f"port = {address.port}"]
        lines += [f"capacity = {address.capacity}"]
        if address.http_port is not None:
            lines += [f"http_port = {address.http_port}"]
    return "\n".join(lines) + "\n"


def _assignments(source: object, names: tuple[str, ...]) -> list[str]:
    return [f"{name} = {getattr(source, name)}" for name in names]


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
