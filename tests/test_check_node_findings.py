"""Node defects the explorer and the checkers found, pinned as regression tests.

Each failed before its fix: a duplicated ForwardPut ran twice; request ids repeated after a disk
loss; the handoff timer's effects followed string hashing order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dynref.causality import Mode
from dynref.check import HistoryView, check_acknowledged_copies
from dynref.messages import ForwardPut, GetOk, ReplicateAck
from dynref.sim import Cluster, explorer_config

ROOT = Path(__file__).resolve().parent.parent
KEY = b"k0"


def drain(cluster: Cluster) -> Cluster:
    while cluster.in_flight:
        for message_id in cluster.message_ids():
            cluster = cluster.deliver(message_id)
    return cluster


def test_a_duplicated_forward_put_is_applied_once() -> None:
    """REQ-COORD-6, INV-CAUS-2: duplicates are normal events, to be handled idempotently."""
    cluster = Cluster.start(explorer_config(Mode.DVV, nodes=5))
    outsider = next(n for n in cluster.node_ids() if n not in cluster.preference_list(KEY))
    cluster = cluster.client_put("c1", outsider, KEY)
    (forward,) = cluster.message_ids()
    assert isinstance(cluster.in_flight[forward].message, ForwardPut)
    cluster = drain(cluster.duplicate(forward))
    cluster = drain(cluster.client_get("c2", cluster.preference_list(KEY)[0], KEY))
    read = cluster.history()[-1].result
    assert isinstance(read, GetOk)
    assert read.values == (b"c1:1",)  # before the fix: (b"c1:1", b"c1:1")


def test_a_new_incarnation_ignores_acks_meant_for_the_old_one() -> None:
    """REQ-COORD-6, INV-ACK-2: W=2 must mean two durable copies, even across a disk loss."""
    cluster = Cluster.start(explorer_config(Mode.DVV, nodes=3))
    a, b, c = cluster.preference_list(KEY)
    cluster = cluster.client_put("c1", a, KEY)
    to_b = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == b)
    to_c = next(i for i in cluster.message_ids() if cluster.in_flight[i].receiver == c)
    cluster = cluster.deliver(to_b).drop(to_c).lose_disk(a)
    stale = next(
        i for i in cluster.message_ids() if isinstance(cluster.in_flight[i].message, ReplicateAck)
    )
    cluster = cluster.client_put("c2", a, KEY).deliver(stale)
    assert not cluster.history()[-1].acknowledged  # before the fix: PutOk with one copy
    assert check_acknowledged_copies(HistoryView(cluster)) == []


HANDOFF_ORDER = """
import attrs, immutables
from dynref.causality import Mode, empty_versions
from dynref.messages import Handoff, Send, Tick
from dynref.node import boot, step
from dynref.sim import explorer_config

config = explorer_config(Mode.DVV, nodes=5)
state = boot(config, "n1", 0, 0).state
empty = empty_versions(Mode.DVV)
version = empty.write(b"x", empty.context(), "n1#0", 0)
keys = (b"k0", b"k1", b"k2", b"k3")
hints = immutables.Map({t: immutables.Map(dict.fromkeys(keys, version)) for t in ("n2", "n3")})
state = attrs.evolve(state, durable=attrs.evolve(state.durable, hints=hints))
effects = step(state, Tick(config.handoff_interval)).effects
handoffs = [e for e in effects if isinstance(e, Send) and isinstance(e.message, Handoff)]
print([(e.to, e.message.key) for e in handoffs])
"""


def test_handoff_effects_do_not_depend_on_string_hashing() -> None:
    """REQ-NODE-4: the same state and event give the same step, in every process."""
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "reference"), env.get("PYTHONPATH", "")])
        completed = subprocess.run(
            [sys.executable, "-c", HANDOFF_ORDER],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1, outputs
