"""The cluster config file: parsed strictly, rendered back to an equal value."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from dynref.causality import Mode
from dynref.ring import Strategy
from dynref_io.node.config_file import (
    ConfigError,
    ConnectionLimits,
    NodeAddress,
    Security,
    build_cluster_file,
    load_cluster_file,
    parse_cluster_toml,
    render_cluster_toml,
)

EXAMPLE = """
[cluster]
n = 3
r = 1
w = 3
mode = "lww"

[timers]
request_timeout = 250
tick_interval = 5

[ring]
strategy = "equal-partitions"
partitions = 16

[[nodes]]
id = "a"
host = "10.0.0.1"
port = 7001

[[nodes]]
id = "b"
host = "10.0.0.2"
port = 7001
capacity = 2

[[nodes]]
id = "c"
host = "10.0.0.3"
port = 7001
"""


def test_a_file_sets_the_core_config_and_the_addresses() -> None:
    cluster = parse_cluster_toml(EXAMPLE)
    config = cluster.config
    assert (config.n, config.r, config.w, config.mode) == (3, 1, 3, Mode.LWW)
    assert config.request_timeout == 250 and config.handoff_interval == 500  # a default
    assert config.ring.strategy is Strategy.EQUAL_PARTITIONS and config.ring.partitions == 16
    assert [spec.capacity for spec in config.nodes] == [1, 2, 1]
    assert cluster.tick_interval == 5
    assert cluster.address_of("b") == NodeAddress("b", "10.0.0.2", 7001, 2)


def test_joining_and_left_nodes_and_the_cluster_name_read_back_equal() -> None:
    """REQ-MEMBER-13: the cluster's name (peers of another are refused); a node with
    `joins = true` is in the address book but not the initial membership."""
    joining = '\n[[nodes]]\nid = "d"\nhost = "10.0.0.4"\nport = 7001\njoins = true\n'
    text = EXAMPLE.replace("[cluster]", '[cluster]\nname = "shop"') + joining
    cluster = parse_cluster_toml(text.replace('id = "a"', 'id = "a"\nleft = true'))
    assert cluster.name == "shop"
    assert [spec.node_id for spec in cluster.config.nodes] == ["a", "b", "c"]
    assert cluster.address_of("d").joins and cluster.address_of("a").left
    assert cluster.node_at("10.0.0.4:7001").node_id == "d"
    with pytest.raises(ConfigError, match=r"no node of the cluster file listens at 10\.0\.0\.9:1"):
        cluster.node_at("10.0.0.9:1")
    assert parse_cluster_toml(render_cluster_toml(cluster)) == cluster
    assert parse_cluster_toml(EXAMPLE).name == "dynref"


def test_rendering_reads_back_equal() -> None:
    cluster = parse_cluster_toml(EXAMPLE)
    assert parse_cluster_toml(render_cluster_toml(cluster)) == cluster
    defaults = build_cluster_file((NodeAddress("n1", "127.0.0.1", 7001),), {"n": 1, "r": 1, "w": 1})
    assert parse_cluster_toml(render_cluster_toml(defaults)) == defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cluster]\nn = 3\n", "at least one \\[\\[nodes\\]\\]"),
        (EXAMPLE.replace("request_timeout", "request_timout"), "unknown key.*request_timout"),
        (EXAMPLE + "\n[clustr]\n", "unknown section"),
        (EXAMPLE.replace('"lww"', '"causal"'), "'causal' is not a valid Mode"),
        (EXAMPLE.replace("w = 3", "w = 4"), "must not exceed N=3"),
        (EXAMPLE.replace("port = 7001\ncapacity", 'port = "x"\ncapacity'), "port must be"),
        (EXAMPLE.replace('id = "c"', 'id = "a"'), "distinct"),
        (EXAMPLE.replace("request_timeout = 250", "request_timeout = 0"), "at least 1"),
        (EXAMPLE.replace("request_timeout = 250", 'request_timeout = "1s"'), "integer"),
        ("[[nodes]\n", "not valid TOML"),
        (EXAMPLE + "\n[limits]\nread_deadline = 0\n", "read_deadline must be a positive"),
        (EXAMPLE + "\n[limits]\nmax_connections = true\n", "max_connections must be a positive"),
        (EXAMPLE + '\n[security]\nsecret = "short"\n', "secret must be at least 16"),
        (EXAMPLE + '\n[security]\nclient_token = "short"\n', "client_token must be at least"),
        (EXAMPLE + "\n[security]\nsecret = 12345678901234567\n", "secret must be a non-empty"),
        (EXAMPLE + '\n[security]\nsecret = "x"\nsecret_file = "f"\n', "not both"),
        (EXAMPLE + '\n[security]\nsecret_file = "no-such-file"\n', "cannot read secret_file"),
        (EXAMPLE + '\n[security]\ntls_cert = "c.pem"\n', "tls_cert and tls_key go together"),
        (EXAMPLE + '\n[security]\ntls_ca = "ca.pem"\n', "tls_ca needs tls_cert"),
        (EXAMPLE + '\n[security]\npassword = "x"\n', "unknown key.*password"),
        (EXAMPLE.replace("[cluster]", '[cluster]\nname = ""'), "name must be a string"),
        (EXAMPLE.replace("[cluster]", "[cluster]\nname = 7"), "name must be a string"),
        (EXAMPLE + "joins = 1\n", "joins must be true or false"),
        (EXAMPLE + 'left = "yes"\n', "left must be true or false"),
        (EXAMPLE.replace("port = 7001\n", "port = 7001\njoins = true\n"), "does not join"),
    ],
)
def test_bad_files_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_cluster_toml(text)


def test_security_and_connection_limits_read_back_equal(tmp_path: Path) -> None:
    """Paths are relative to the file's directory; the secret of a secret_file stays there."""
    (tmp_path / "secret.txt").write_text("a-secret-kept-in-its-own-file\n")
    text = EXAMPLE + (
        '\n[security]\nsecret_file = "secret.txt"\nclient_token = "a-token-of-the-clients"\n'
        'tls_cert = "certs/node.pem"\ntls_key = "certs/node.key"\n'
        "\n[limits]\nmax_connections = 64\nread_deadline = 2000\n"
    )
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    cluster = load_cluster_file(path)
    assert cluster.security == Security(
        secret="a-secret-kept-in-its-own-file",
        secret_file=tmp_path / "secret.txt",
        client_token="a-token-of-the-clients",
        tls_cert=tmp_path / "certs" / "node.pem",
        tls_key=tmp_path / "certs" / "node.key",
    )
    assert cluster.security.tls_trust == tmp_path / "certs" / "node.pem"
    assert cluster.connection_limits == ConnectionLimits(max_connections=64, read_deadline=2000)
    rendered = render_cluster_toml(cluster)
    assert "a-secret-kept-in-its-own-file" not in rendered
    assert parse_cluster_toml(rendered) == cluster
    inline = attrs.evolve(cluster, security=Security(secret="an-inline-secret-0123"))
    assert parse_cluster_toml(render_cluster_toml(inline)) == inline


def test_unknown_node_and_missing_file(tmp_path: Path) -> None:
    cluster = parse_cluster_toml(EXAMPLE)
    with pytest.raises(ConfigError, match="node 'z' is not in the cluster \\(nodes: a, b, c\\)"):
        cluster.address_of("z")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_cluster_file(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("n = 3", "n = 4"), "n: N=4 exceeds the 3 node\\(s\\)"),
        (('host = "10.0.0.2"', 'host = "10.0.0.1"'), "node b: port 10.0.0.1:7001 is already"),
        (("capacity = 2", "capacity = 2\nhttp_port = 7001"), "node b: http_port 10.0.0.2:7001 is"),
        (("partitions = 16", "partitions = 2"), "partitions: 2 partitions cannot cover 3 nodes"),
        (("partitions = 16", "partitions = 20000"), "partitions must be between 1 and 16384"),
        (("partitions = 16", "partitions = 16\ntokens_per_capacity = 5000"), "tokens_per_capacity"),
        (
            ("[ring]", "[limits]\nmerkle_depth = 21\n[ring]"),
            r"merkle_depth must be 0 \(chosen per range\) or between 1 and 20",
        ),
        (("[ring]", "[limits]\nmax_value_bytes = 4194304\n[ring]"), r"max_value_bytes\W+4194304"),
        (("port = 7001\ncapacity", "port = 7001\nhttp_port = 0\ncapacity"), "http_port 0 is out"),
        (("port = 7001\ncapacity", 'port = 7001\nhttp_port = "x"\ncapacity'), "http_port must be"),
    ],
)
def test_config_values_out_of_range_are_refused_at_load_naming_the_field(
    change: tuple[str, str], message: str
) -> None:
    """REQ-CONF-1: checked when the file is loaded, never first noticed by a running node."""
    old, new = change
    assert old in EXAMPLE
    with pytest.raises(ConfigError, match=message):
        parse_cluster_toml(EXAMPLE.replace(old, new, 1))


def test_http_ports_read_back_and_flags_are_validated_alike() -> None:
    """REQ-CONF-1: the same checks hold for a cluster described by flags."""
    text = EXAMPLE.replace("port = 7001\ncapacity", "port = 7001\nhttp_port = 8098\ncapacity")
    cluster = parse_cluster_toml(text)
    assert cluster.address_of("b").http_port == 8098 and cluster.address_of("a").http_port is None
    assert parse_cluster_toml(render_cluster_toml(cluster)) == cluster
    twins = (NodeAddress("a", "127.0.0.1", 7001), NodeAddress("b", "127.0.0.1", 7001))
    with pytest.raises(ConfigError, match="already the address of a's port"):
        build_cluster_file(twins, {"n": 2, "r": 1, "w": 1})
    with pytest.raises(ConfigError, match="n: N=3 exceeds the 1 node"):
        build_cluster_file(twins[:1])
