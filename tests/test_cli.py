"""The `dynref` command's parsing and error reporting (no processes: see tests/e2e for those)."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from dynref_io import cli
from dynref_io.node.config_file import Security, load_cluster_file, render_cluster_toml
from dynref_io.node.local_cluster import free_ports

from tests.test_server_inprocess import cluster_file, serving


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    try:
        status = cli.main(list(arguments))
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_store_subcommands_are_registered() -> None:
    names = [command.name for command in cli.subcommands()]
    assert {"node", "cluster", "put", "get", "delete"} <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "required: COMMAND"),
        (("put", "k"), "required: value"),
        (("get", "k"), "one of the arguments --node --dir is required"),
        (("get", "k", "--node", "localhost"), "expected HOST:PORT"),
        (("put", "k", "v", "--context", "xyz", "--node", "h:1"), "--context is not hex"),
        (("delete", "k", "--node", "h:1"), "required: --context"),
        (("node", "--id", "n1", "--data-dir", "d"), "give --config FILE, or --port"),
        (("node", "--id", "n1", "--data-dir", "d", "--port", "1", "--peer", "n2"), "ID=HOST:PORT"),
        (("node", "--id", "n1", "--data-dir", "d", "--port", "1", "--w", "5"), "must not exceed"),
        (("cluster", "start", "--dir", "d", "--mode", "causal"), "invalid choice"),
        (("cluster", "kill", "--dir", "d"), "required: node"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], message: str
) -> None:
    status, _, err = run(capsys, *arguments)
    assert status == 2
    assert message in err


def test_node_with_a_bad_config_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text('[[nodes]]\nid = "n1"\nport = 7001\n[cluster]\nn = 0\n')
    status, _, err = run(
        capsys, "node", "--config", str(config), "--id", "n1", "--data-dir", str(tmp_path)
    )
    assert status == 2 and "n must be at least 1" in err
    config.write_text('[cluster]\nn = 1\nr = 1\nw = 1\n[[nodes]]\nid = "n1"\nport = 7001\n')
    status, _, err = run(
        capsys, "node", "--config", str(config), "--id", "n9", "--data-dir", str(tmp_path)
    )
    assert status == 2 and "node 'n9' is not in the cluster" in err


def test_unreachable_node_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_ports(1)
    status, _, err = run(capsys, "get", "k", "--node", f"127.0.0.1:{port}", "--timeout", "1")
    assert status == 1 and "cannot connect" in err


class FakeStdin:
    """What `sys.stdin` offers a command: `buffer`, the raw bytes."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_put_dash_reads_the_values_bytes_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value too long for an argument list (or not UTF-8) is written from standard input."""
    cluster = cluster_file(1, n=1, r=1, w=1)
    node = f"127.0.0.1:{cluster.addresses[0].port}"
    value = bytes(range(256)) * 2_000
    monkeypatch.setattr("sys.stdin", FakeStdin(value))
    with serving(cluster):
        assert run(capsys, "put", "k", "-", "--node", node)[:2] == (0, "ok\n")
        status, out, _ = run(capsys, "get", "k", "--json", "--node", node)
    assert status == 0 and json.loads(out)["values"] == [value.hex()]


def test_an_lww_put_prints_the_context_to_write_on_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQ-CTX-4 at the command line: put "zzz", then put "aaa" with the context it printed,
    through the same node: "aaa" wins although it ranks lower as a value."""
    cluster = cluster_file(1, n=1, r=1, w=1, mode="lww")
    node = f"127.0.0.1:{cluster.addresses[0].port}"
    with serving(cluster):
        status, out, _ = run(capsys, "put", "k", "zzz", "--node", node)
        assert status == 0 and out.startswith("ok\ncontext: ")
        written = out.splitlines()[1].removeprefix("context: ")
        assert run(capsys, "put", "k", "aaa", "--context", written, "--node", node)[0] == 0
        assert run(capsys, "get", "k", "--node", node)[1].splitlines()[0] == "value: aaa"


def test_cluster_commands_without_a_cluster_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "cluster", "status", "--dir", str(tmp_path))
    assert status == 1 and "no cluster in" in err


def test_put_get_delete_print_values_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_file(1, n=1, r=1, w=1)
    node = f"127.0.0.1:{cluster.addresses[0].port}"
    with serving(cluster):
        assert run(capsys, "put", "k", "one", "--node", node)[:2] == (0, "ok\n")
        assert run(capsys, "put", "k", "two", "--node", node)[0] == 0
        status, out, _ = run(capsys, "get", "k", "--node", node)
        lines = out.splitlines()
        assert status == 0 and sorted(lines[:2]) == ["value: one", "value: two"]
        context = lines[2].removeprefix("context: ")
        assert run(capsys, "put", "k", "\u00e9", "--context", context, "--node", node)[0] == 0
        assert run(capsys, "get", "k", "--node", node)[1].splitlines()[0] == "value: \u00e9"
        context = run(capsys, "get", "k", "--node", node)[1].splitlines()[-1][len("context: ") :]
        assert run(capsys, "delete", "k", "--context", context, "--node", node)[0] == 0
        assert run(capsys, "get", "k", "--node", node)[1].startswith("not found\n")
        status, _, err = run(capsys, "get", "k", "--r", "2", "--node", node)
        assert status == 1 and "R=2 must be between 1 and N=1" in err


def test_cluster_create_writes_a_private_file_with_a_fresh_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-AUTH-2: a cluster created by the command has a secret, so it may leave loopback."""
    directory = tmp_path / "made"
    status, out, err = run(capsys, "cluster", "create", "--dir", str(directory), "--nodes", "3")
    assert status == 0, err
    path = directory / "cluster.toml"
    assert "keep it private" in out and stat.S_IMODE(path.stat().st_mode) == 0o600
    security = load_cluster_file(path).security
    assert security.secret is not None and len(bytes.fromhex(security.secret)) == 32
    assert security.client_token is None
    other = tmp_path / "other"
    status, _, err = run(capsys, "cluster", "create", "--dir", str(other), "--client-token")
    assert status == 0, err
    made = load_cluster_file(other / "cluster.toml").security
    assert made.client_token is not None and made.secret not in (None, security.secret)
    status, _, err = run(capsys, "cluster", "create", "--dir", str(directory))
    assert status == 2 and "holds a cluster already" in err


def test_a_node_without_a_secret_refuses_a_public_address(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-AUTH-2: refused before anything touches the disk, with one clear line."""
    arguments = ("node", "--id", "n1", "--data-dir", str(tmp_path / "d"), "--port", "7001")
    arguments += ("--n", "1", "--r", "1", "--w", "1")
    status, _, err = run(capsys, *arguments, "--host", "0.0.0.0")
    assert status == 2 and "refusing to listen on 0.0.0.0: without a cluster secret" in err
    assert not (tmp_path / "d").exists()


def test_put_and_get_present_the_client_token_from_a_flag_the_environment_or_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """REQ-AUTH-1: the command line finds the token where the operator keeps it."""
    token = "the-client-token-of-this-test"
    cluster = cluster_file(1, Security(secret="s" * 16, client_token=token), n=1, r=1, w=1)
    config = tmp_path / "cluster.toml"
    config.write_text(render_cluster_toml(cluster))
    node = ("--node", f"127.0.0.1:{cluster.addresses[0].port}")
    with serving(cluster):
        status, _, err = run(capsys, "put", "k", "v", *node)
        assert status == 1 and "requires a client token" in err
        status, _, err = run(capsys, "put", "k", "v", *node, "--token", "a-wrong-token-0123")
        assert status == 1 and "the client token is wrong" in err
        assert run(capsys, "put", "k", "flag", *node, "--token", token)[0] == 0
        assert run(capsys, "get", "k", *node, "--config", str(config))[0] == 0
        monkeypatch.setenv("DYNREF_CLIENT_TOKEN", token)
        status, out, _ = run(capsys, "get", "k", *node)
        assert status == 0 and "value: flag" in out


def test_the_http_api_is_refused_where_it_would_bypass_the_token_or_tls(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """REQ-AUTH-1: the HTTP API has no client token, so a node that requires one keeps it shut."""
    cluster = cluster_file(1, Security(secret="s" * 16, client_token="t" * 16), n=1, r=1, w=1)
    config = tmp_path / "cluster.toml"
    config.write_text(render_cluster_toml(cluster))
    node = ("node", "--config", str(config), "--id", "n1", "--data-dir", str(tmp_path / "d"))
    status, _, err = run(capsys, *node, "--http", "8098")
    assert status == 2 and "the HTTP API has neither client tokens nor TLS" in err
    arguments = ("cluster", "create", "--dir", str(tmp_path / "c"), "--http", "--client-token")
    status, _, err = run(capsys, *arguments)
    assert status == 2 and "the HTTP API would bypass the client token" in err
