"""The small, fast configuration the explorers use unless told otherwise.

Few tokens per node (few ranges, so anti-entropy's random pick of a range finds a divergent one
quickly), shallow Merkle trees, and timer periods close together so that a `quiesce` reaches its
fixed point in a few dozen tick rounds. Time is in milliseconds of node clock.
"""

from __future__ import annotations

from typing import Any

import attrs

from dynref.causality import Mode
from dynref.config import ClusterConfig
from dynref.ring import NodeSpec, RingConfig

EXPLORER_KEYS = (b"k0", b"k1")
EXPLORER_TIMERS = {
    "request_timeout": 200,
    "forward_timeout": 400,
    "handoff_interval": 100,
    "antientropy_interval": 100,
    "probe_interval": 100,
}


def node_specs(count: int) -> tuple[NodeSpec, ...]:
    """Nodes named n1..n<count>."""
    return tuple(NodeSpec(f"n{index}") for index in range(1, count + 1))


def explorer_config(
    mode: Mode = Mode.DVV,
    nodes: int = 5,
    n: int = 3,
    r: int = 2,
    w: int = 2,
    *,
    tokens_per_node: int = 2,
    merkle_depth: int = 2,
    seed: int = 0,
    **timers: int,
) -> ClusterConfig:
    config = ClusterConfig(
        nodes=node_specs(nodes),
        mode=mode,
        ring=RingConfig(tokens_per_capacity=tokens_per_node),
        n=n,
        r=r,
        w=w,
        merkle_depth=merkle_depth,
        seed=seed,
    )
    changes: dict[str, Any] = {**EXPLORER_TIMERS, **timers}
    return attrs.evolve(config, **changes)
