"""Who durably held an acknowledged write: the premise of INV-ACK-2, and the W copies an
acknowledgement promises (checker id ACK-QUORUM, from REQ-COORD-3 and REQ-NODE-2).

A node *holds* a put when a durable write it made (StoreVersions, or StoreHint for another
node) contained the put's value; in lww, a version of at least the lowest rank among the put's
executions (`HistoryView.lww_floor`): a retried put that lost at the coordinator that
acknowledged it is held by the copies of the version that outranked it there.

- ACK-QUORUM: an acknowledged put was held by at least W distinct nodes by the step that
  acknowledged it (acks follow durable writes, and the coordinator counts W distinct ackers).
  Puts that a write which had seen them superseded before the acknowledgement are skipped: a
  replica may then hold the successor instead. A holder that lost its disk before the ack still
  counts: its acknowledgement was true when it was sent. lww puts that lost at their own
  coordinator are skipped too.
- custody (INV-ACK-2): the custodians of an acknowledged put are the nodes that held it by the
  acknowledgement. Afterwards a custodian that loses its disk stops being one, and a hint holder
  that deletes its hint after the owner's HandoffAck hands custody to the owner, if the owner
  still has the disk it stored the handoff on. The write must survive while some custodian
  remains.
"""

from __future__ import annotations

from dynref.causality import LwwRegister
from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.messages import DeleteHint, StoreHint, StoreVersions
from dynref.sim.history import Operation
from dynref.sim.records import DiskLossRecord, DurableRecord


def _holds(view: HistoryView, op: Operation, write: StoreVersions | StoreHint) -> bool:
    versions = write.versions
    if isinstance(versions, LwwRegister):
        rank = view.lww_floor(op)
        return rank is not None and versions.winner is not None and versions.winner.rank() >= rank
    return op.value is not None and op.value in versions.values()


def holders(
    view: HistoryView, op: Operation, *, forget_lost_disks: bool
) -> dict[str, tuple[int, str | None]]:
    """Node -> (step of its last durable write holding the put by its ack, hint target or None).

    With `forget_lost_disks`, a node that lost its disk after holding the put (still before the
    ack) no longer counts; without, it does (its acknowledgement was true when it was sent).
    """
    assert op.completed is not None
    found: dict[str, tuple[int, str | None]] = {}
    for record in view.records:
        if record.step > op.completed:
            break
        if isinstance(record, DiskLossRecord) and forget_lost_disks:
            found.pop(record.node, None)
        elif isinstance(record, DurableRecord):
            write = record.write
            if (
                isinstance(write, StoreVersions | StoreHint)
                and write.key == op.key
                and _holds(view, op, write)
            ):
                target = write.target if isinstance(write, StoreHint) else None
                found[record.node] = (record.step, target)
    return found


def check_acknowledged_copies(view: HistoryView) -> list[Violation]:
    needed = view.config.w
    found = []
    for op in view.acknowledged():
        if op.value is None or op.completed is None:
            continue
        if view.mode.value == "lww" and view.lww_rank(op) is None:
            continue
        if view.superseded_by(op.value, op.completed):
            continue
        held = holders(view, op, forget_lost_disks=False)
        if len(held) < needed:
            shown = ", ".join(f"{node} (step {step})" for node, (step, _) in sorted(held.items()))
            found.append(
                violation(
                    "ACK-QUORUM",
                    f"acknowledged {op.describe()} was durably held by {len(held)} node(s) when "
                    f"acknowledged, fewer than W={needed}",
                    [op.invoked, op.completed, *(step for step, _ in held.values())],
                    [("held by", shown or "nobody")],
                )
            )
    return found


def kept_by_a_surviving_disk(view: HistoryView, op: Operation) -> bool:
    """Whether some custodian of the acknowledged put still holds its disk at the end.

    Custody passes from a hint holder to the owner only if the owner still holds the put on
    the disk it acknowledged with: a HandoffAck may arrive after its sender lost that disk, and
    no node can tell (the ack was true when sent), so the put then has one custodian fewer.
    """
    assert op.completed is not None
    custodians: dict[str, str | None] = {
        node: target for node, (_, target) in holders(view, op, forget_lost_disks=True).items()
    }
    on_disk: set[str] = set()
    """Nodes that durably stored the put since they last lost their disk."""
    for record in view.records:
        if isinstance(record, DiskLossRecord):
            on_disk.discard(record.node)
            if record.step > op.completed:
                custodians.pop(record.node, None)
        elif isinstance(record, DurableRecord):
            write = record.write
            if isinstance(write, StoreVersions | StoreHint):
                if write.key == op.key and _holds(view, op, write):
                    on_disk.add(record.node)
            elif (
                record.step > op.completed
                and isinstance(write, DeleteHint)
                and write.key == op.key
                and custodians.get(record.node, "") == write.target
            ):
                del custodians[record.node]
                if write.target in on_disk:
                    custodians.setdefault(write.target, None)
    return bool(custodians)
