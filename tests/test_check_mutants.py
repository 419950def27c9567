"""The checkers find real bugs: each mutant of the core below, a one-line defect of the kind a
Dynamo clone could ship, is caught by the swarm within a few seeds: by the black-box checks over
what clients saw where the defect is visible to clients, else by the simulator's white-box
extras (an acknowledgement on fewer than W copies, a hint deleted too early and a stale read
under sloppy quorum show nowhere in a client history that ends with a settled cluster; an owner
that acknowledges a handoff without storing it loses the write only after the disk losses that
excuse it in a client history, judged by INV-ACK-2's custody; a put timeout that never marks a
replica down shows only in the states between actions, judged by INV-AVAIL-1's monitor).

Each mutant is a copy of reference/ with one source edit, run in a child process (first on its
PYTHONPATH) for up to SEED_BUDGET swarm seeds, stopping at the first violation. The unmutated
copy, run the same way, must pass: so a mutant's verdict comes from its edit alone. An edit
whose text is no longer found fails its test loudly, so that a refactoring cannot turn a mutant
silently into the original.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED_BUDGET = 30

CHILD = """
import json, sys
import dynref
from dynref.causality import Mode
from dynref.explore.swarm import SwarmSettings, run_seed
mode, budget, disk_loss, w = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
membership = sys.argv[5] == "1"
settings = SwarmSettings(mode=Mode(mode), disk_loss=disk_loss, w=w, membership=membership)
seed, found, black_box_seed, black_box = None, [], None, []
for candidate in range(budget):
    outcome = run_seed(candidate, settings)
    if outcome.invariants and seed is None:
        seed, found = candidate, sorted(set(outcome.invariants))
    if outcome.black_box_invariants and black_box_seed is None:
        black_box_seed, black_box = candidate, sorted(set(outcome.black_box_invariants))
    if seed is not None and black_box_seed is not None:
        break
print(json.dumps({"module": dynref.__file__, "seed": seed, "invariants": found,
                  "black_box_seed": black_box_seed, "black_box": black_box}))
"""


@attrs.frozen
class Mutant:
    name: str
    path: str
    """Under reference/dynref/."""
    original: str
    mutated: str
    expected: str
    """The invariant that must report it in the first violating seed."""
    black_box: str | None
    """The black-box invariant that must report it within the budget; None when only the
    white-box extras can see it."""
    mode: str = "dvv"
    disk_loss: bool = False
    w: int = 2
    """W of the swarm's cluster (N is 3)."""
    membership: bool = False
    """Swarm runs with a join and a leave (SPEC section 12)."""


MUTANTS = (
    Mutant(
        "the coordinator acknowledges a put before any replica stored it",
        "coordinator.py",
        "answered = needed <= 1",
        "answered = needed <= 2",
        "ACK-QUORUM",
        None,
    ),
    Mutant(
        "a replica overwrites its versions instead of merging",
        "local.py",
        "    merged = join(current, incoming)\n    if merged == current:\n        return False",
        "    merged = incoming\n    if merged == current:\n        return False",
        "INV-ACK-1",
        "INV-ACK-1",
    ),
    Mutant(
        "a get answers with the first reply instead of merging the R replies",
        "coordinator.py",
        "merged = join(pending.merged, message.versions)",
        "merged = pending.merged",
        "INV-READ-2",
        None,
    ),
    Mutant(
        "a put supersedes every sibling, not only those its context saw",
        "causality/dvv.py",
        "    survivors = tuple(old for old in dots if not covered(context, old))",
        "    survivors = ()",
        "INV-ACK-1",
        "INV-ACK-1",
    ),
    Mutant(
        "a hint is deleted when it is handed off, before the owner acknowledged it",
        "handoff.py",
        "            out.append(Send(target, Handoff(key, held[key])))\n",
        "            out.append(Send(target, Handoff(key, held[key])))\n"
        "            drop_hint(node, target, key, out)\n",
        "INV-HINT-1",
        None,
    ),
    Mutant(
        "a HandoffAck deletes a hint that grew since the handoff was sent",
        "handoff.py",
        "if versions is None or versions.digest() != message.digest:",
        "if versions is None:",
        "INV-HINT-1",
        None,
    ),
    Mutant(
        "a node that lost its disk reuses its old actor id (riak_kv issue 679)",
        "state.py",
        'return f"{node_id}#{incarnation}"',
        'return f"{node_id}#0"',
        "INV-ACK-2",
        "INV-ACK-1",
        disk_loss=True,
    ),
    Mutant(
        "an owner acknowledges a handoff without storing it",
        "handoff.py",
        "    merge_into_store(node, message.key, message.versions, out)\n"
        "    out.append(Send(sender, HandoffAck",
        "    out.append(Send(sender, HandoffAck",
        "INV-ACK-2",
        None,
        disk_loss=True,
    ),
    Mutant(
        "a put's timeout never marks its silent replicas down",
        "coordinator.py",
        "mark_down(node, [target for target in put.targets if target not in put.acked])",
        "mark_down(node, [])",
        "INV-AVAIL-1",
        None,
        w=3,
    ),
    Mutant(
        "a node drops the keys it transfers before their new owners acknowledged them",
        "transfer.py",
        "    if all(_acknowledged(node, owner, key, digest) for owner in future):",
        "    if True:",
        "INV-MEMBER-4",
        None,
        membership=True,
    ),
)


def run_copy(
    tmp_path: Path,
    mutant: Mutant | None,
    mode: str,
    disk_loss: bool,
    w: int = 2,
    membership: bool = False,
) -> dict[str, object]:
    copy = tmp_path / "reference"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is not None:
        source = copy / "dynref" / mutant.path
        text = source.read_text()
        assert text.count(mutant.original) == 1, f"{mutant.name}: the edit no longer applies"
        source.write_text(text.replace(mutant.original, mutant.mutated))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    args = [mode, str(SEED_BUDGET), "1" if disk_loss else "0", str(w), "1" if membership else "0"]
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert str(result["module"]).startswith(str(copy)), result  # the copy ran, not the project
    return result


@pytest.mark.parametrize(
    ("disk_loss", "w", "membership"),
    [(False, 2, False), (True, 2, False), (False, 3, False), (False, 2, True)],
    ids=["plain", "disk-loss", "w3", "membership"],
)
def test_the_unmutated_copy_passes(
    tmp_path: Path, disk_loss: bool, w: int, membership: bool
) -> None:
    """INV-MEMBER-1: the unmutated copy passes, joins and leaves included."""
    result = run_copy(tmp_path, None, "dvv", disk_loss, w, membership)
    assert result["seed"] is None and result["black_box_seed"] is None, result


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_swarm_catches_the_mutant(tmp_path: Path, mutant: Mutant) -> None:
    result = run_copy(tmp_path, mutant, mutant.mode, mutant.disk_loss, mutant.w, mutant.membership)
    assert result["seed"] is not None, f"{mutant.name}: survived {SEED_BUDGET} seeds"
    invariants = result["invariants"]
    assert isinstance(invariants, list) and mutant.expected in invariants, result
    if mutant.black_box is not None:
        assert result["black_box_seed"] is not None, f"{mutant.name}: clients never saw it"
        assert mutant.black_box in result["black_box"], result
