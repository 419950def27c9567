"""What travels on dynref's connections: the adapter-level frames, the registry of type tags and
the invariants a decoded value must hold (docs/wire-format.md).

The core's messages, client requests and results are defined in `dynref.messages`; this module
adds the frames only the adapters speak (greeting a peer, wrapping a reply, status and fault
injection, reporting a bad frame, the peer handshake, refusing work under overload) and gives
every type that crosses the wire a stable tag.
Adding a message to the protocol takes one line in `FRAME_TAGS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import attrs
from dynref.causality import (
    ClockedVersion,
    DvvSet,
    DvvSibling,
    LwwRegister,
    LwwVersion,
    VclockSiblings,
    VersionVector,
)
from dynref.causality.dvv import dots_canonical
from dynref.causality.vclock import clock_canonical
from dynref.causality.vv import is_canonical
from dynref.membership import MemberEntry, Membership
from dynref.messages import (
    AdminOk,
    AdminRequest,
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ClientResult,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    GetOk,
    Gossip,
    Handoff,
    HandoffAck,
    InvalidContext,
    InvalidRequest,
    JoinCluster,
    LeaveCluster,
    MerkleCompare,
    MerkleLeaves,
    Message,
    Probe,
    ProbeAck,
    PutOk,
    QuorumNotReached,
    Replicate,
    ReplicateAck,
    SyncKeys,
    TooLarge,
    Transfer,
    TransferAck,
    TransferDigests,
    TransferOffered,
    Unavailable,
)

PROTOCOL_VERSION = 1

# ---------------------------------------------------------------- adapter-level frames


@attrs.frozen
class PeerHello:
    """The first frame a node sends on a node-to-node connection: which node is speaking, a
    fresh random challenge for the node it connects to (REQ-WIRE-6), the cluster's name and the
    digest of the parameters every node of it must share (REQ-MEMBER-13)."""

    node_id: str
    nonce: bytes
    cluster: str
    params: bytes


@attrs.frozen
class PeerChallenge:
    """The accepting node's answer to `PeerHello`: its id, its own fresh challenge, and its proof
    of the cluster secret over both ids and both challenges."""

    node_id: str
    nonce: bytes
    proof: bytes


@attrs.frozen
class PeerProof:
    """The connecting node's proof of the cluster secret over both ids and both challenges."""

    proof: bytes


@attrs.frozen
class PeerAccepted:
    """The accepting node checked the proof: node messages may flow from now on."""


@attrs.frozen
class ClientHello:
    """The first frame of a client connection to a node that requires a client token."""

    token: str


@attrs.frozen
class ClientReplyFrame:
    """A node's answer to the client request with the same `request_id`."""

    request_id: int
    result: ClientResult


@attrs.frozen
class StatusRequest:
    """Ask a node for its status counters."""

    request_id: int


@attrs.frozen
class StatusReply:
    """A node's status: names to counters or short texts (the node id, its mode, ...)."""

    request_id: int
    status: dict[str, int | str]


@attrs.frozen
class FaultRequest:
    """Fault injection for the demo: drop all traffic to and from these peers; () heals."""

    request_id: int
    isolate: tuple[str, ...]


@attrs.frozen
class FaultReply:
    """The fault of `request_id` is in force."""

    request_id: int


@attrs.frozen
class RingRequest:
    """Ask a node for its view of the ring; with a `key`, also where that key lives."""

    request_id: int
    key: bytes | None


@attrs.frozen
class RingReply:
    """A node's view of the ring, for remote administration (`dynref ring`, `dynref status`).

    `ranges` lists the ranges the node replicates as (range index, first and last key position
    as 32 hex digits, the range's preference list, keys the node holds there); `hints` counts the
    keys it holds as hints, by owner. For a requested key: its range index, its preference list
    and its sloppy targets as this node would choose them now, each (node, the down node it
    stands in for or "").
    """

    request_id: int
    node_id: str
    nodes: tuple[str, ...]
    n: int
    ranges: tuple[tuple[int, str, str, tuple[str, ...], int], ...]
    hints: dict[str, int]
    key_range: int | None
    preference_list: tuple[str, ...]
    targets: tuple[tuple[str, str], ...]


@attrs.frozen
class Overloaded:
    """The node's queue is over its byte budget: the request `request_id` was not taken, at all.
    Retrying later is safe."""

    request_id: int
    reason: str


@attrs.frozen
class ErrorFrame:
    """Why the sender is about to close the connection (a bad frame, an unexpected one)."""

    reason: str


AdapterFrame = (
    PeerHello
    | PeerChallenge
    | PeerProof
    | PeerAccepted
    | ClientHello
    | Overloaded
    | ClientReplyFrame
    | StatusRequest
    | StatusReply
    | FaultRequest
    | FaultReply
    | ErrorFrame
    | RingRequest
    | RingReply
)
WireObject = Message | ClientRequest | AdminRequest | ClientResult | AdapterFrame
"""Everything that may be the whole body of a frame."""

# ---------------------------------------------------------------- type tags

# Tags are part of the protocol: never renumber or reuse one; retire it instead.
FRAME_TAGS: tuple[tuple[int, type], ...] = (
    # node-to-node messages
    (1, ForwardPut),
    (2, ForwardReply),
    (3, Replicate),
    (4, ReplicateAck),
    (5, Fetch),
    (6, FetchReply),
    (7, Handoff),
    (8, HandoffAck),
    (9, Probe),
    (10, ProbeAck),
    (11, MerkleCompare),
    (12, MerkleLeaves),
    (13, SyncKeys),
    (14, Gossip),
    (15, Transfer),
    (16, TransferAck),
    (17, TransferOffered),
    (18, TransferDigests),
    # client requests, then admin requests
    (20, ClientGet),
    (21, ClientPut),
    (22, ClientDelete),
    (23, JoinCluster),
    (24, LeaveCluster),
    # client results
    (30, GetOk),
    (31, PutOk),
    (32, QuorumNotReached),
    (33, InvalidContext),
    (34, TooLarge),
    (35, InvalidRequest),
    (36, Unavailable),
    (37, AdminOk),
    # adapter-level frames; 40 was PeerHello(node_id), the greeting before the handshake
    # proved the cluster secret: retired, so that an old node's greeting is refused plainly.
    (41, ClientReplyFrame),
    (42, StatusRequest),
    (43, StatusReply),
    (44, FaultRequest),
    (45, FaultReply),
    (46, ErrorFrame),
    (47, RingRequest),
    (48, RingReply),
    # 49 was PeerHello(node_id, nonce), without the cluster's name and parameters: retired.
    (50, PeerChallenge),
    (51, PeerProof),
    (52, PeerAccepted),
    (53, ClientHello),
    (54, Overloaded),
    (55, PeerHello),
)
"""Types that may form a whole frame body."""

PART_TAGS: tuple[tuple[int, type], ...] = (
    (60, VersionVector),
    (61, DvvSibling),
    (62, DvvSet),
    (63, ClockedVersion),
    (64, VclockSiblings),
    (65, LwwVersion),
    (66, LwwRegister),
    (67, MemberEntry),
    (68, Membership),
)
"""Types that travel only inside a frame (the parts of a key's versions)."""

# ---------------------------------------------------------------- invariants of decoded values
#
# The causality types document invariants that their constructors do not check (sorted entries,
# covered dots). The core's merge and write rely on them, and a peer is not trusted to keep them,
# so the decoder checks them on every value it builds. Each check returns why the value is not
# well formed, or None. They run bottom-up, so a check may assume its parts were checked.


def _version_vector_problem(vv: VersionVector) -> str | None:
    if is_canonical(vv.entries):
        return None
    return "entries must ascend strictly by actor, each counter at least 1"


def _dvv_set_problem(versions: DvvSet) -> str | None:
    dots = versions.dots()
    if not dots_canonical(dots):
        return "siblings must ascend strictly by dot, each counter at least 1"
    # One pass over a dict rather than `covered` per dot: a hostile frame may hold many of both.
    seen = dict(versions.vv.entries)
    for actor, counter in dots:
        if counter > seen.get(actor, 0):
            return f"the version vector does not cover the dot ({actor!r}, {counter})"
    return None


def _clocked_version_problem(version: ClockedVersion) -> str | None:
    if clock_canonical(version.clock):
        return None
    return "clock entries must ascend strictly by actor, each counter at least 1"


def _vclock_siblings_problem(versions: VclockSiblings) -> str | None:
    for earlier, later in itertools.pairwise(versions.versions):
        if not earlier.clock < later.clock:
            return "versions must ascend strictly by clock"
    return None


def _membership_problem(membership: Membership) -> str | None:
    ids = [entry.node_id for entry in membership.entries]
    if any(a >= b for a, b in itertools.pairwise(ids)):
        return "members must ascend strictly by node id"
    if any(entry.capacity < 1 or entry.version < 0 for entry in membership.entries):
        return "capacities must be at least 1 and versions not negative"
    return None


WELL_FORMED: dict[type, Callable[[Any], str | None]] = {
    Membership: _membership_problem,
    VersionVector: _version_vector_problem,
    DvvSet: _dvv_set_problem,
    ClockedVersion: _clocked_version_problem,
    VclockSiblings: _vclock_siblings_problem,
}

__all__ = [
    "FRAME_TAGS",
    "PART_TAGS",
    "PROTOCOL_VERSION",
    "WELL_FORMED",
    "AdapterFrame",
    "ClientHello",
    "ClientReplyFrame",
    "ErrorFrame",
    "FaultReply",
    "FaultRequest",
    "Overloaded",
    "PeerAccepted",
    "PeerChallenge",
    "PeerHello",
    "PeerProof",
    "RingReply",
    "RingRequest",
    "StatusReply",
    "StatusRequest",
    "WireObject",
]
