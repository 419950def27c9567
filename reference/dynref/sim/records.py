"""The audit records a cluster keeps beside its trace: what an auditor of the disks would see.

The checkers read these and the client history, never the simulator's internals:

- `DurableRecord`: a durable write a node made (StoreVersions, StoreHint, DeleteHint, StoreMeta).
- `HandoffAckRecord`: a HandoffAck delivered to a hint holder (INV-HINT-1 pairs these with
  DeleteHint records).
- `ExecutionRecord`: a coordinator applied a client's put or delete (once per execution: a
  duplicated ForwardPut or a forward retry executes one request more than once), with the
  actor and timestamp of the new version and whether it survived the coordinator's own merge.
- `ForwardDeliveryRecord`: the network delivered a forwarded client write (a ForwardPut) to a
  live node: the second and later deliveries of one write are the `redeliver` faults of the
  black-box history (`dynref.sim.observed`), since each may run the write again.
- `DiskLossRecord`: a node lost its disk and booted a new incarnation.
- `DegradedRecord`: whether some live node believes some peer down changed (fallback nodes may
  be in use while it does), with the nodes that do.
- `QuiescenceRecord`: the verdict of a quiesce (a run may quiesce more than once).
- `ProtocolErrorRecord`: a ProtocolError effect, which a correct cluster never produces.
- `AdminRecord`: an admin request (join, leave) and the node's answer.
- `DropRecord`: a node dropped a key after its transfer, with the nodes whose versions covered
  the dropped ones at that moment (INV-MEMBER-4 wants at least one, or custodians that stored
  them and lost their disk since).
"""

from __future__ import annotations

import attrs

from dynref.causality import AnyVersions, DvvSet, LwwRegister, LwwVersion, VclockSiblings
from dynref.messages import AdminRequest, ClientResult, DurableWrite, ProtocolError


@attrs.frozen
class DurableRecord:
    step: int
    node: str
    write: DurableWrite


@attrs.frozen
class HandoffAckRecord:
    step: int
    node: str
    sender: str
    key: bytes
    digest: bytes


@attrs.frozen
class ExecutionRecord:
    step: int
    node: str
    operation: int | None
    key: bytes
    value: bytes | None
    actor: str
    timestamp: int
    applied: bool

    def lww_rank(self) -> tuple[int, str, bool, bytes]:
        """The rank lww orders this write's version by (REQ-CAUS-6)."""
        return LwwVersion(self.timestamp, self.actor, self.value).rank()


@attrs.frozen
class ForwardDeliveryRecord:
    step: int
    node: str
    operation: int


@attrs.frozen
class DiskLossRecord:
    step: int
    node: str
    incarnation: int


@attrs.frozen
class DegradedRecord:
    step: int
    degraded: bool
    nodes: tuple[str, ...]


@attrs.frozen
class QuiescenceRecord:
    """The verdict of one quiesce: converged within its bound, or what stayed unsettled."""

    step: int
    began: int
    rounds: int
    bound: int
    converged: bool
    unsettled: tuple[str, ...]


@attrs.frozen
class ProtocolErrorRecord:
    step: int
    node: str
    error: ProtocolError

    @property
    def internal(self) -> bool:
        """An exception escaped a handler (the node turns those into errors with no peer)."""
        return self.error.peer is None and self.error.reason.startswith("internal error")


@attrs.frozen
class AdminRecord:
    step: int
    node: str
    request: AdminRequest
    result: ClientResult


@attrs.frozen
class DropRecord:
    step: int
    node: str
    key: bytes
    covered_by: tuple[str, ...]
    lost_with: tuple[str, ...] = ()
    """When no node covers the drop: the nodes that had stored covering versions (and
    acknowledged them) and lost their disk since."""


Record = (
    DurableRecord
    | HandoffAckRecord
    | ExecutionRecord
    | ForwardDeliveryRecord
    | DiskLossRecord
    | DegradedRecord
    | QuiescenceRecord
    | ProtocolErrorRecord
    | AdminRecord
    | DropRecord
)


def holds_write(versions: AnyVersions, actor: str, timestamp: int, value: bytes | None) -> bool:
    """Whether `versions` holds the version a write by `actor` at `timestamp` created."""
    if isinstance(versions, DvvSet):
        return any(
            s.actor == actor and s.timestamp == timestamp and s.value == value
            for s in versions.siblings
        )
    if isinstance(versions, VclockSiblings):
        return any(
            v.value == value
            and v.timestamp == timestamp
            and any(entry[0] == actor and entry[2] == timestamp for entry in v.clock)
            for v in versions.versions
        )
    if isinstance(versions, LwwRegister):
        return versions.winner == LwwVersion(timestamp, actor, value)
    raise TypeError(f"not a sibling set: {type(versions).__name__}")


__all__ = [
    "AdminRecord",
    "DegradedRecord",
    "DiskLossRecord",
    "DropRecord",
    "DurableRecord",
    "ExecutionRecord",
    "ForwardDeliveryRecord",
    "HandoffAckRecord",
    "ProtocolErrorRecord",
    "QuiescenceRecord",
    "Record",
    "holds_write",
]
