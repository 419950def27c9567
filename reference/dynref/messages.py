"""Every value that crosses the node's boundary: node-to-node messages, client requests and
results, the events `step` consumes and the effects it produces.

All are small frozen attrs classes. Request ids are ints the issuer chooses; a node's own ids
embed its boot count so that a reply to a request from before a restart can never be mistaken
for a reply to a new one.
"""

from __future__ import annotations

import attrs

from dynref.causality import AnyVersions
from dynref.membership import Membership

RangeIndex = int
NodeHash = tuple[int, bytes]
"""(node index within a Merkle level, that node's hash)."""
KeyDigest = tuple[bytes, bytes]
"""(key, digest of the key's versions)."""
KeyVersions = tuple[bytes, AnyVersions]

# ---------------------------------------------------------------- node-to-node messages


@attrs.frozen
class ForwardPut:
    """A put or delete (value None) from a node outside the key's preference list to one in it."""

    forward_id: int
    key: bytes
    value: bytes | None
    context: bytes
    w: int | None


@attrs.frozen
class ForwardReply:
    """The coordinator's result for a forwarded put, sent back to the forwarding node."""

    forward_id: int
    result: ClientResult


@attrs.frozen
class Replicate:
    """Store these versions (merged with what is held), as a primary or as a hint for `hint_for`."""

    request_id: int
    key: bytes
    versions: AnyVersions
    hint_for: str | None


@attrs.frozen
class ReplicateAck:
    """The versions of `request_id` are durably stored."""

    request_id: int
    key: bytes


@attrs.frozen
class Fetch:
    """Send back the versions held for `key` (as primary or in hints)."""

    request_id: int
    key: bytes


@attrs.frozen
class FetchReply:
    request_id: int
    key: bytes
    versions: AnyVersions


@attrs.frozen
class Handoff:
    """A hint's versions, delivered to the node they were meant for."""

    key: bytes
    versions: AnyVersions


@attrs.frozen
class HandoffAck:
    """The owner durably stored a handed-off hint whose versions had this digest."""

    key: bytes
    digest: bytes


@attrs.frozen
class Probe:
    nonce: int


@attrs.frozen
class ProbeAck:
    nonce: int


@attrs.frozen
class MerkleCompare:
    """The sender's hashes of some nodes at `level` of its tree for `range_index`, in an
    exchange that descends to `depth` (SPEC REQ-AE-3)."""

    range_index: RangeIndex
    depth: int
    level: int
    hashes: tuple[NodeHash, ...]


@attrs.frozen
class MerkleLeaves:
    """The sender's (key, digest) entries below the differing nodes `buckets` at level `depth`."""

    range_index: RangeIndex
    depth: int
    buckets: tuple[int, ...]
    entries: tuple[KeyDigest, ...]


@attrs.frozen
class SyncKeys:
    """Versions of differing keys, and the keys whose versions the sender wants back."""

    range_index: RangeIndex
    items: tuple[KeyVersions, ...]
    wanted: tuple[bytes, ...]


@attrs.frozen
class Gossip:
    """The sender's membership, and a digest of the parameters every node must share."""

    config_digest: bytes
    membership: Membership


@attrs.frozen
class Transfer:
    """A batch of keys whose owners changed: store them (merged) as a primary."""

    batch_id: int
    items: tuple[KeyVersions, ...]


@attrs.frozen
class TransferDigests:
    """The sender holds these keys with these digests: acknowledge those held exactly so, and
    the versions need not cross the wire."""

    batch_id: int
    digests: tuple[KeyDigest, ...]


@attrs.frozen
class TransferAck:
    """The keys of a batch durably stored, each with the digest of the versions received (or,
    for `TransferDigests`, of the versions already held)."""

    batch_id: int
    acked: tuple[KeyDigest, ...]


@attrs.frozen
class TransferOffered:
    """To a joining node: every key it gains that the sender holds, it acknowledged, under the
    membership with this digest."""

    membership_digest: bytes


Message = (
    ForwardPut
    | ForwardReply
    | Replicate
    | ReplicateAck
    | Fetch
    | FetchReply
    | Handoff
    | HandoffAck
    | Probe
    | ProbeAck
    | MerkleCompare
    | MerkleLeaves
    | SyncKeys
    | Gossip
    | Transfer
    | TransferDigests
    | TransferAck
    | TransferOffered
)
MESSAGE_TYPES: tuple[type, ...] = (
    ForwardPut,
    ForwardReply,
    Replicate,
    ReplicateAck,
    Fetch,
    FetchReply,
    Handoff,
    HandoffAck,
    Probe,
    ProbeAck,
    MerkleCompare,
    MerkleLeaves,
    SyncKeys,
    Gossip,
    Transfer,
    TransferDigests,
    TransferAck,
    TransferOffered,
)

# ---------------------------------------------------------------- client requests and results


@attrs.frozen
class ClientGet:
    request_id: int
    key: bytes
    r: int | None = None


@attrs.frozen
class ClientPut:
    request_id: int
    key: bytes
    value: bytes
    context: bytes
    w: int | None = None


@attrs.frozen
class ClientDelete:
    request_id: int
    key: bytes
    context: bytes
    w: int | None = None


ClientRequest = ClientGet | ClientPut | ClientDelete


@attrs.frozen
class JoinCluster:
    """Admin: this node joins the cluster, announcing itself to `seed` (SPEC section 12)."""

    request_id: int
    seed: str
    capacity: int = 1
    endpoint: str = ""


@attrs.frozen
class LeaveCluster:
    """Admin: this node leaves the cluster once its keys are held by their new owners."""

    request_id: int


AdminRequest = JoinCluster | LeaveCluster


@attrs.frozen
class GetOk:
    """The visible siblings (empty when not found or deleted) and the context to write with."""

    values: tuple[bytes, ...]
    context: bytes


@attrs.frozen
class PutOk:
    """W nodes durably stored the write (or the tombstone, for a delete). In lww, `context`
    names the version written, for the client's next write; empty in dvv and vclock."""

    context: bytes = b""


@attrs.frozen
class QuorumNotReached:
    needed: int
    seen: int


@attrs.frozen
class InvalidContext:
    reason: str


@attrs.frozen
class TooLarge:
    what: str
    size: int
    limit: int


@attrs.frozen
class InvalidRequest:
    reason: str


@attrs.frozen
class Unavailable:
    reason: str


@attrs.frozen
class AdminOk:
    """An admin request was accepted; `status` is the node's status in its membership now."""

    status: str


ClientResult = (
    GetOk
    | PutOk
    | QuorumNotReached
    | InvalidContext
    | TooLarge
    | InvalidRequest
    | Unavailable
    | AdminOk
)
CLIENT_RESULT_TYPES: tuple[type, ...] = (
    GetOk,
    PutOk,
    QuorumNotReached,
    InvalidContext,
    TooLarge,
    InvalidRequest,
    Unavailable,
    AdminOk,
)

# ---------------------------------------------------------------- events


@attrs.frozen
class Receive:
    sender: str
    message: Message


@attrs.frozen
class Request:
    """A client request arriving at this node."""

    request: ClientRequest


@attrs.frozen
class Admin:
    """An administrator's request to this node (join or leave the cluster)."""

    request: AdminRequest


@attrs.frozen
class Tick:
    """Time has passed: `now` is this node's clock in milliseconds (it never goes backwards)."""

    now: int


@attrs.frozen
class Restart:
    """The node comes back after a crash with only its durable state."""

    now: int


Event = Receive | Request | Admin | Tick | Restart

# ---------------------------------------------------------------- effects


@attrs.frozen
class Send:
    to: str
    message: Message


@attrs.frozen
class Reply:
    request_id: int
    result: ClientResult


@attrs.frozen
class StoreVersions:
    """Durably store the key's versions (replacing what was stored)."""

    key: bytes
    versions: AnyVersions


@attrs.frozen
class StoreHint:
    """Durably store versions held for `target` until it acknowledges them."""

    target: str
    key: bytes
    versions: AnyVersions


@attrs.frozen
class DeleteHint:
    target: str
    key: bytes


@attrs.frozen
class StoreMeta:
    """Durably store the node's identity: incarnation and boot count."""

    node_id: str
    incarnation: int
    boots: int


@attrs.frozen
class DropVersions:
    """Durably forget the key: every new owner of it acknowledged these versions."""

    key: bytes


@attrs.frozen
class StoreMembership:
    """Durably store the membership this node knows (it survives a restart)."""

    membership: Membership


@attrs.frozen
class ProtocolError:
    """Input the node rejected: malformed, inconsistent or unexpected. The state is unchanged."""

    peer: str | None
    reason: str


DurableWrite = StoreVersions | StoreHint | DeleteHint | StoreMeta | DropVersions | StoreMembership
Effect = Send | Reply | DurableWrite | ProtocolError
DURABLE_WRITE_TYPES: tuple[type, ...] = (
    StoreVersions,
    StoreHint,
    DeleteHint,
    StoreMeta,
    DropVersions,
    StoreMembership,
)
