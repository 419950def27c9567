"""The cluster config file: TOML naming every node's address and the cluster's parameters.

The core knows nodes only by id and capacity (`ClusterConfig`); where each node listens is the
adapters' business, so the file maps ids to addresses as well. Every node of a cluster must read
the same file: ring, quorums, mode and timers have to agree across the cluster.

    [cluster]
    name = "dynref"         # peers of another cluster name are refused
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
    max_connections = 512   # each node's connections, peers' and clients' alike
    read_deadline = 10000   # ms to complete a frame once started (and each handshake step)
    idle_timeout = 300000   # ms a client connection may stay silent with nothing outstanding
    queue_bytes = 67108864  # bytes held until released; beyond, clients get Overloaded
    connection_bytes = 8388608  # bytes one connection may have held; beyond, it is not read

    [security]              # docs/operations.md, "Trust model"
    secret = "..."          # or secret_file = "path": the cluster secret peers must prove
    client_token = "..."    # optional: clients must present it
    tls_cert = "node.pem"   # optional TLS on every connection: certificate chain,
    tls_key = "node.key"    # its private key,
    tls_ca = "ca.pem"       # and what peers and clients verify it against (default: tls_cert)

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
    joins = true            # optional: not an initial member; it joins through a seed
    left = true             # optional: it left the cluster; local tools no longer start it

Unknown sections or keys are errors, so that a typo never silently falls back to a default.
Values are checked when the file is loaded, each error naming its field (REQ-CONF-1): quorums
within N, N within the number of nodes, no two listeners on one address, a value size that
fits in a frame, a Merkle depth and a ring size within range.
Relative paths in [security] are relative to the file's directory.

The initial membership is the nodes without `joins = true`; a node with it is in the address
book only, and becomes a member by joining (`dynref node --join`, `dynref cluster add`). Once
any membership change happened, the membership a node stored wins over the file's.
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

CLUSTER_KEYS = ("name", "n", "r", "w", "mode", "seed")
DEFAULT_CLUSTER_NAME = "dynref"
MAX_CLUSTER_NAME_CHARS = 64
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
CONNECTION_LIMIT_KEYS = (
    "max_connections",
    "read_deadline",
    "idle_timeout",
    "queue_bytes",
    "connection_bytes",
)
SECURITY_KEYS = ("secret", "secret_file", "client_token", "tls_cert", "tls_key", "tls_ca")
SECURITY_PATH_KEYS = ("secret_file", "tls_cert", "tls_key", "tls_ca")
MIN_SECRET_CHARS = 16
"""A shorter secret or client token is refused: it could be guessed."""
RING_KEYS = ("strategy", "tokens_per_capacity", "partitions")
NODE_KEYS = ("id", "host", "port", "capacity", "http_port", "joins", "left")


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
    joins: bool = False
    """Not an initial member: the node becomes one by joining through a seed."""
    left: bool = False
    """It left the cluster (`dynref cluster remove`): kept so that the file still describes
    the initial membership, but no longer started, stopped or listed by local tools."""

    @property
    def endpoint(self) -> str:
        """The address other members learn from the membership (`host:port`)."""
        return f"{self.host}:{self.port}"


@attrs.frozen
class ConnectionLimits:
    """What one node grants its connections (docs/operations.md, "Connection limits")."""

    max_connections: int = 512
    read_deadline: int = 10_000
    """Milliseconds to complete a frame once its first byte arrived, and each handshake step."""
    idle_timeout: int = 300_000
    """Milliseconds a client connection may send nothing while no request of it is pending."""
    queue_bytes: int = 64 * 1024 * 1024
    """Bytes of frames held until their batch is released, all connections together."""
    connection_bytes: int = 8 * 1024 * 1024
    """Bytes of frames of one connection held until their batch is released."""

    def __attrs_post_init__(self) -> None:
        for name in CONNECTION_LIMIT_KEYS:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@attrs.frozen
class Security:
    """Who may talk to the nodes (docs/operations.md, "Trust model"). Paths are absolute."""

    secret: str | None = None
    """The cluster secret a peer proves it knows; None: peers prove nothing, and the node may
    listen on loopback only."""
    secret_file: Path | None = None
    """Where `secret` was read from, when it is not written in the cluster file itself."""
    client_token: str | None = None
    """When set, every client connection opens by presenting it."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    def __attrs_post_init__(self) -> None:
        for name, value in (("secret", self.secret), ("client_token", self.client_token)):
            if value is not None and len(value) < MIN_SECRET_CHARS:
                raise ConfigError(f"{name} must be at least {MIN_SECRET_CHARS} characters long")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key go together")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ConfigError("tls_ca needs tls_cert and tls_key")

    @property
    def secret_key(self) -> bytes:
        """The key of the handshake's proofs: empty without a secret (proving nothing)."""
        return (self.secret or "").encode("utf-8")

    @property
    def tls_trust(self) -> Path | None:
        """What a node's certificate is verified against (None: no TLS)."""
        return self.tls_ca or self.tls_cert


@attrs.frozen
class ClusterFile:
    """Everything a node process needs: the core's config plus addresses and runtime settings."""

    config: ClusterConfig
    addresses: tuple[NodeAddress, ...]
    name: str = DEFAULT_CLUSTER_NAME
    tick_interval: int = DEFAULT_TICK_INTERVAL_MS
    connection_limits: ConnectionLimits = ConnectionLimits()
    security: Security = Security()

    def address_of(self, node_id: str) -> NodeAddress:
        for address in self.addresses:
            if address.node_id == node_id:
                return address
        known = ", ".join(a.node_id for a in self.addresses)
        raise ConfigError(f"node {node_id!r} is not in the cluster (nodes: {known})")

    def node_at(self, endpoint: str) -> NodeAddress:
        """The node listening at `host:port`, or a ConfigError naming the ones there are."""
        for address in self.addresses:
            if address.endpoint == endpoint:
                return address
        known = ", ".join(f"{a.node_id} at {a.endpoint}" for a in self.addresses)
        raise ConfigError(f"no node of the cluster file listens at {endpoint} ({known})")


def build_cluster_file(
    addresses: tuple[NodeAddress, ...],
    settings: Mapping[str, Any] | None = None,
    security: Security | None = None,
) -> ClusterFile:
    """Validate addresses and flat settings (any key of the file's sections but [security])
    into a ClusterFile."""
    settings = dict(settings or {})
    connection_limits = ConnectionLimits(
        **{k: settings.pop(k) for k in CONNECTION_LIMIT_KEYS if k in settings}
    )
    cluster_name = settings.pop("name", DEFAULT_CLUSTER_NAME)
    if not isinstance(cluster_name, str) or not 0 < len(cluster_name) <= MAX_CLUSTER_NAME_CHARS:
        raise ConfigError(f"name must be a string of 1 to {MAX_CLUSTER_NAME_CHARS} characters")
    tick_interval = settings.pop("tick_interval", DEFAULT_TICK_INTERVAL_MS)
    if type(tick_interval) is not int or tick_interval < 1:
        raise ConfigError(f"tick_interval must be a positive integer, got {tick_interval!r}")
    if not any(not a.joins for a in addresses):
        raise ConfigError("a cluster needs at least one node that does not join")
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
            nodes=tuple(NodeSpec(a.node_id, a.capacity) for a in addresses if not a.joins),
            ring=RingConfig(**ring_settings),
            **settings,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc
    check_ranges(config)
    return ClusterFile(
        config=config,
        addresses=addresses,
        name=cluster_name,
        tick_interval=tick_interval,
        connection_limits=connection_limits,
        security=security or Security(),
    )


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


def parse_cluster_toml(
    text: str, source: str = "<config>", base_dir: Path | None = None
) -> ClusterFile:
    """The ClusterFile `text` describes; relative paths in it are relative to `base_dir`
    (default: the working directory)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    sections = {
        "cluster": CLUSTER_KEYS,
        "timers": (*TIMER_KEYS, "tick_interval"),
        "limits": (*LIMIT_KEYS, *CONNECTION_LIMIT_KEYS),
        "ring": RING_KEYS,
        "security": SECURITY_KEYS,
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
        if section != "security":
            settings.update(table)
    nodes = document.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ConfigError(f"{source}: at least one [[nodes]] entry is required")
    try:
        security = _security(document.get("security", {}), base_dir or Path.cwd())
        addresses = tuple(_node_address(entry) for entry in nodes)
        return build_cluster_file(addresses, settings, security)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _security(table: dict[str, Any], base_dir: Path) -> Security:
    for name, value in table.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"[security] {name} must be a non-empty string")
    paths = {name: base_dir / table[name] for name in SECURITY_PATH_KEYS if name in table}
    secret = table.get("secret")
    secret_file = paths.get("secret_file")
    if secret_file is not None:
        if secret is not None:
            raise ConfigError("give secret or secret_file, not both")
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read secret_file {secret_file}: {exc}") from exc
    return Security(secret=secret, client_token=table.get("client_token"), **paths)


def _node_address(entry: object) -> NodeAddress:
    if not isinstance(entry, dict):
        raise ConfigError("each [[nodes]] entry must be a table")
    extra = set(entry) - set(NODE_KEYS)
    if extra:
        raise ConfigError(f"unknown key(s) in [[nodes]]: {sorted(extra)}")
    node_id, host, port = entry.get("id"), entry.get("host", "127.0.0.1"), entry.get("port")
    capacity = entry.get("capacity", 1)
    http_port = entry.get("http_port")
    joins, left = entry.get("joins", False), entry.get("left", False)
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
    for name, flag in (("joins", joins), ("left", left)):
        if not isinstance(flag, bool):
            raise ConfigError(f"node {node_id}: {name} must be true or false, got {flag!r}")
    return NodeAddress(node_id, host, port, capacity, http_port, joins, left)


def load_cluster_file(path: Path) -> ClusterFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    return parse_cluster_toml(text, source=str(path), base_dir=path.parent.absolute())


def render_cluster_toml(cluster: ClusterFile) -> str:
    """The TOML text of a ClusterFile; `parse_cluster_toml` reads it back to an equal value."""
    config = cluster.config
    lines = ["# dynref cluster configuration: every node of the cluster reads this same file.", ""]
    lines += [
        "[cluster]",
        f"name = {_quoted(cluster.name)}",
        *_assignments(config, ("n", "r", "w")),
        f'mode = "{config.mode.value}"',
    ]
    lines += [f"seed = {config.seed}", "", "[timers]  # milliseconds"]
    lines += _assignments(config, TIMER_KEYS)
    lines += [f"tick_interval = {cluster.tick_interval}", "", "[limits]"]
    lines += _assignments(config, LIMIT_KEYS)
    lines += _assignments(cluster.connection_limits, CONNECTION_LIMIT_KEYS)
    lines += _security_lines(cluster.security)
    lines += ["", "[ring]", f'strategy = "{config.ring.strategy.value}"']
    lines += _assignments(config.ring, ("tokens_per_capacity", "partitions"))
    for address in cluster.addresses:
        lines += ["", "[[nodes]]", f"id = {_quoted(address.node_id)}"]
        lines += [f"host = {_quoted(address.host)}", f"port = {address.port}"]
        lines += [f"capacity = {address.capacity}"]
        if address.http_port is not None:
            lines += [f"http_port = {address.http_port}"]
        if address.joins:
            lines += ["joins = true"]
        if address.left:
            lines += ["left = true"]
    return "\n".join(lines) + "\n"


def _security_lines(security: Security) -> list[str]:
    values = attrs.asdict(security, recurse=False)
    if security.secret_file is not None:
        del values["secret"]  # it stays in its own file
    assigned = [f"{name} = {_quoted(str(value))}" for name, value in values.items() if value]
    if not assigned:
        return []
    return ["", "[security]  # keep this file readable by the nodes' user only", *assigned]


def _assignments(source: object, names: tuple[str, ...]) -> list[str]:
    return [f"{name} = {getattr(source, name)}" for name in names]


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
