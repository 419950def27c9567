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
  still has the disk it acknowledged from (it lost no disk since the holder first stored the
  acknowledged content), or else if it holds the put on its present disk. The owner's
  acknowledgement is trusted, not its store records, so an owner that acknowledges a handoff
  without storing it is caught when the write is then lost. A custodian that drops the key after
  its transfer (`DropRecord`, SPEC section 12) hands custody to the nodes whose present disks
  held versions covering the dropped ones at that step. The write must survive while some
  custodian remains.
"""

from __future__ import annotations

from dynref.causality import LwwRegister
from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.messages import DeleteHint, StoreHint, StoreVersions
from dynref.sim.history import Operation
from dynref.sim.records import DiskLossRecord, DropRecord, DurableRecord, HandoffAckRecord


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

    Custody passes from a hint holder to the owner when the holder deletes the hint after the
    owner's HandoffAck of that very content: the ack is the owner's promise that the disk it
    sent it from holds the put, whether or not the owner's store records show the write (an
    owner that acknowledges without storing is what this must catch). The owner sent the ack
    after the holder first stored a hint with the acknowledged digest; if the owner lost its
    disk since then, the ack may come from the lost disk and no node can tell (the ack was true
    when sent), so custody passes only if the owner holds the put on its present disk.
    """
    assert op.completed is not None
    custodians: dict[str, str | None] = {
        node: target for node, (_, target) in holders(view, op, forget_lost_disks=True).items()
    }
    on_disk: set[str] = set()
    """Nodes that durably stored the put since they last lost their disk."""
    last_disk_loss: dict[str, int] = {}
    hint_digest: dict[tuple[str, str], bytes] = {}
    """(holder, target) -> the digest of the holder's hint of the put's key."""
    first_held: dict[tuple[str, str, bytes], int] = {}
    """(holder, target, digest) -> the step the holder first stored a hint with that digest."""
    acked: set[tuple[str, str, bytes]] = set()
    """(holder, target, digest) of the HandoffAcks of the put's key delivered so far."""
    for record in view.records:
        if isinstance(record, DiskLossRecord):
            on_disk.discard(record.node)
            last_disk_loss[record.node] = record.step
            if record.step > op.completed:
                custodians.pop(record.node, None)
        elif isinstance(record, HandoffAckRecord):
            if record.key == op.key:
                acked.add((record.node, record.sender, record.digest))
        elif isinstance(record, DropRecord):
            if (
                record.key == op.key
                and record.step > op.completed
                and (record.node in custodians and custodians[record.node] is None)
            ):
                del custodians[record.node]
                for node in record.covered_by:
                    custodians.setdefault(node, None)
        elif isinstance(record, DurableRecord):
            write = record.write
            if isinstance(write, StoreVersions | StoreHint):
                if write.key != op.key:
                    continue
                if _holds(view, op, write):
                    on_disk.add(record.node)
                if isinstance(write, StoreHint):
                    digest = write.versions.digest()
                    hint_digest[(record.node, write.target)] = digest
                    first_held.setdefault((record.node, write.target, digest), record.step)
            elif (
                record.step > op.completed
                and isinstance(write, DeleteHint)
                and write.key == op.key
                and custodians.get(record.node, "") == write.target
            ):
                del custodians[record.node]
                digest = hint_digest.get((record.node, write.target), b"")
                since = first_held.get((record.node, write.target, digest), record.step)
                promised = (record.node, write.target, digest) in acked and (
                    last_disk_loss.get(write.target, -1) < since
                )
                if promised or write.target in on_disk:
                    custodians.setdefault(write.target, None)
    return bool(custodians)
