"""Cluster parameters: replication, quorums, causality mode, timers and limits.

Every timeout, retry interval and period is a parameter here, in milliseconds of node time.
Every size limit is in bytes; docs/operations.md ("Limits") explains each default.
"""

from __future__ import annotations

import attrs

from dynref.causality import Mode
from dynref.merkle import MAX_DEPTH
from dynref.ring import NodeSpec, RingConfig

VERSION_OVERHEAD_BYTES = 32
"""What the size measure (REQ-BOUND-4) adds per version and per vector or clock entry: at least
what the wire format spends on one beside its value and actor name (tags, headers, integers)."""
ENVELOPE_BYTES = 1_024
"""Room a message keeps beside one key and its versions: ids, tags, headers, a Merkle range."""
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _merkle_depth(_instance: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= MAX_DEPTH:
        raise ValueError(
            f"merkle_depth must be 0 (chosen per range) or a depth up to {MAX_DEPTH}, got {value}"
        )


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
    # The depth anti-entropy exchanges descend to: 0 lets each exchange choose it from the
    # range's key count (SPEC REQ-AE-3); a positive value pins it. Trees do not depend on it.
    merkle_depth: int = attrs.field(default=0, validator=_merkle_depth)
    max_key_bytes: int = attrs.field(default=1_024, validator=_positive)
    max_value_bytes: int = attrs.field(default=1_048_576, validator=_positive)
    max_context_bytes: int = attrs.field(default=65_536, validator=_positive)
    max_context_actors: int = attrs.field(default=1_024, validator=_positive)
    max_siblings: int = attrs.field(default=100, validator=_positive)
    max_object_bytes: int = attrs.field(default=1_179_648, validator=_positive)
    max_frame_bytes: int = attrs.field(default=DEFAULT_MAX_FRAME_BYTES, validator=_positive)
    seed: int = 0
    # Membership (SPEC section 12): the nodes every node may gossip with and a joining node
    # announces itself to (empty: every configured node), how often a node gossips once the
    # membership has changed, and how many keys one transfer batch carries.
    seeds: tuple[str, ...] = ()
    gossip_interval: int = attrs.field(default=500, validator=_positive)
    transfer_batch: int = attrs.field(default=64, validator=_positive)

    def seed_ids(self) -> tuple[str, ...]:
        return self.seeds or tuple(sorted(spec.node_id for spec in self.nodes))

    def __attrs_post_init__(self) -> None:
        if self.r > self.n or self.w > self.n:
            raise ValueError(f"R={self.r} and W={self.w} must not exceed N={self.n}")
        ids = [spec.node_id for spec in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be distinct")
        self._check_limits()

    def _check_limits(self) -> None:
        """REQ-BOUND-1: the limits leave a value at its limit room in an object, an object room
        in a reply frame, and a put at every limit room in a request frame."""
        if self.max_object_bytes <= self.max_value_bytes:
            raise ValueError(
                f"max_object_bytes={self.max_object_bytes} must exceed "
                f"max_value_bytes={self.max_value_bytes} (a value needs room for its metadata)"
            )
        # One object must fit a reply; how many coordinators' merged objects fit is for the
        # operator to weigh against N (docs/operations.md, "Limits").
        largest_reply = self.max_object_bytes + self.max_key_bytes + ENVELOPE_BYTES
        if largest_reply > self.max_frame_bytes:
            raise ValueError(
                f"an object of max_object_bytes={self.max_object_bytes} with a key of "
                f"max_key_bytes={self.max_key_bytes} needs {largest_reply} bytes in a reply, "
                f"more than max_frame_bytes={self.max_frame_bytes}"
            )
        request = self.max_value_bytes + self.max_context_bytes + self.max_key_bytes
        if request + ENVELOPE_BYTES > self.max_frame_bytes:
            raise ValueError(
                f"a put at the limits (value, context and key: {request} bytes) does not fit "
                f"max_frame_bytes={self.max_frame_bytes}"
            )
