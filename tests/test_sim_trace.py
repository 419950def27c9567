"""Traces: JSON lines that round-trip, and replay that is bit for bit, even in another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dynref.causality import Mode
from dynref.sim import (
    Cluster,
    Trace,
    explorer_config,
    fingerprint,
    from_jsonl,
    observe,
    replay,
    to_jsonl,
    trace_of,
)
from dynref.sim.jsonvalues import JsonShapeError

ROOT = Path(__file__).resolve().parent.parent


def eventful_run(mode: Mode = Mode.DVV) -> Cluster:
    """Writes, a read, a crash, a partition, hints and handoff, drift, a delete, then quiesce."""
    cluster = Cluster.start(explorer_config(mode, nodes=4))
    a, b, c = cluster.preference_list(b"k0")
    cluster = cluster.client_put("c1", a, b"k0").client_put("c2", b, b"k0")
    for message_id in cluster.message_ids()[:3]:
        cluster = cluster.deliver(message_id)
    cluster = cluster.crash(c).tick(a, 250).partition([[a, b]])
    cluster = cluster.client_get("c3", a, b"k0")
    for _ in range(3):
        for message_id in cluster.message_ids():
            cluster = cluster.deliver(message_id)
        cluster = cluster.tick_all(100)
    cluster = cluster.heal().client_delete("c3", b, b"k0").client_put("c1", a, b"k1")
    return cluster.quiesce()


def test_a_trace_round_trips_through_json_lines() -> None:
    cluster = eventful_run()
    trace = trace_of(cluster, seed=42, violations=("INV-ACK-1",))
    text = to_jsonl(trace)
    assert from_jsonl(text) == trace
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["kind"] == "header" and lines[0]["seed"] == 42
    assert lines[0]["config"]["mode"] == "dvv"
    kinds = [line["kind"] for line in lines]
    assert kinds.count("action") == len(trace.actions) == cluster.step
    assert kinds[-4:] == ["counters", "quiescence", "fingerprint", "violations"]
    first_action = lines[1]["action"]
    assert first_action == {
        "type": "Put",
        "client": "c1",
        "node": "n2",
        "key": "6b30",
    }
    operation = next(line["operation"] for line in lines if line["kind"] == "operation")
    assert operation["value"] == b"c1:1".hex()  # bytes are lowercase hex


@pytest.mark.parametrize("mode", list(Mode))
def test_replay_reproduces_the_run_bit_for_bit(mode: Mode) -> None:
    cluster = eventful_run(mode)
    trace = from_jsonl(to_jsonl(trace_of(cluster)))
    again = replay(trace)
    assert fingerprint(again) == fingerprint(cluster) == trace.observations.fingerprint
    assert observe(again) == trace.observations
    assert again.audit_records() == cluster.audit_records()


def test_replay_in_another_process_gives_the_same_fingerprint(tmp_path: Path) -> None:
    """Nothing depends on the interpreter's string hashing (PYTHONHASHSEED)."""
    cluster = eventful_run()
    path = tmp_path / "run.jsonl"
    path.write_text(to_jsonl(trace_of(cluster)))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dynref.sim import fingerprint, from_jsonl, replay\n"
        "print(fingerprint(replay(from_jsonl(Path(sys.argv[1]).read_text()))).hex())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "reference"), env.get("PYTHONPATH", "")])
    completed = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert completed.stdout.strip() == fingerprint(cluster).hex()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty trace"),
        ('{"kind": "action", "step": 0}\n', "header"),
        ('{"kind": "header", "format": 99}\n', "header"),
        ("not json\n", "line 1"),
    ],
)
def test_a_malformed_trace_is_refused_with_the_line_named(text: str, problem: str) -> None:
    with pytest.raises(JsonShapeError, match=problem):
        from_jsonl(text)


def test_a_trace_with_a_bad_action_names_its_line() -> None:
    lines = to_jsonl(trace_of(eventful_run())).splitlines()
    lines[1] = json.dumps({"kind": "action", "step": 0, "action": {"type": "Teleport"}})
    with pytest.raises(JsonShapeError, match="trace line 2"):
        from_jsonl("\n".join(lines))
    lines[1] = json.dumps({"kind": "action", "step": 5, "action": {"type": "Heal"}})
    with pytest.raises(JsonShapeError, match="expected step 0"):
        from_jsonl("\n".join(lines))


def test_a_trace_value_is_plain_data() -> None:
    trace = trace_of(eventful_run(), seed=None)
    assert isinstance(trace, Trace) and trace.seed is None
    assert hash(trace.actions) == hash(trace_of(eventful_run()).actions)
