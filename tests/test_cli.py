"""The `dynref` command's parsing and error reporting (no processes: see tests/e2e for those)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dynref_io import cli
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
