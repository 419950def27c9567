"""Cluster parameters: replication, quorums, causality mode, timers and limits.

Every timeout, retry interval and period is a parameter here, in milliseconds of node time.
"""

from __future__ import annotations

import attrs

from dynref.causality import Mode
from dynref.ring import NodeSpec, RingConfig


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class ClusterConfig:
    nodes: tuple[NodeSpec, ...]
    mode: Mode = Mode.DVV
    ring: RingConfig = RingConfig()
    n: int = attrs.field(default=3, validator=_positive)
    r: int = attrs.field(default=2, validator=_positive)
    w: int = attrs.field(default=2, validator=_positive)
    request_timeout: int = attrs.field(default=200, validator=_positive)
    forward_timeout: int = attrs.field(default=400, validator=_positive)
    handoff_interval: int = attrs.field(default=500, validator=_positive)
    antientropy_interval: int = attrs.field(default=1_000, validator=_positive)
    probe_interval: int = attrs.field(default=300, validator=_positive)
    merkle_depth: int = attrs.field(default=6, validator=_positive)
    max_key_bytes: int = attrs.field(default=1_024, validator=_positive)
    max_value_bytes: int = attrs.field(default=1_048_576, validator=_positive)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.r > self.n or self.w > self.n:
            raise ValueError(f"R={self.r} and W={self.w} must not exceed N={self.n}")
        ids = [spec.node_id for spec in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be distinct")
