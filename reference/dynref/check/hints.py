"""INV-HINT-1: a hint is deleted only after its target acknowledged the write.

Read from the audit records alone: the content of a hint (node X holding `key` for `target`) is
the versions of X's latest StoreHint for it (a disk loss empties X). Every DeleteHint(target,
key) at X must come after a HandoffAck(key, digest) from `target` delivered to X (in an earlier
step or in the same one) whose digest equals the digest of that content, or be a re-target
(REQ-MEMBER-8): in the same step X stored the key again, as a hint for another target or in its
own store, or (in a run whose membership changed) X still holds a hint of the key for another
target, which the re-target merged into.
"""

from __future__ import annotations

from dynref.check.view import HistoryView
from dynref.check.violation import Violation, violation
from dynref.messages import DeleteHint, StoreHint, StoreVersions
from dynref.sim.records import AdminRecord, DiskLossRecord, DurableRecord, HandoffAckRecord

HintId = tuple[str, str, bytes]
"""(holder, target, key)."""


def check_hints(view: HistoryView) -> list[Violation]:
    held: dict[HintId, tuple[bytes, int]] = {}  # hint -> (digest of its versions, stored at)
    acked: dict[HintId, dict[bytes, int]] = {}  # hint -> digest the target acked -> step
    found = []
    # (holder, key) -> the step of the holder's latest StoreHint or StoreVersions of the key.
    restored: dict[tuple[str, bytes], int] = {}
    membership_changed = any(isinstance(record, AdminRecord) for record in view.records)
    for record in view.records:
        if isinstance(record, DiskLossRecord):
            held = {hint: v for hint, v in held.items() if hint[0] != record.node}
            acked = {hint: v for hint, v in acked.items() if hint[0] != record.node}
        elif isinstance(record, HandoffAckRecord):
            hint = (record.node, record.sender, record.key)
            acked.setdefault(hint, {})[record.digest] = record.step
        elif isinstance(record, DurableRecord):
            write = record.write
            if isinstance(write, StoreHint):
                held[(record.node, write.target, write.key)] = (
                    write.versions.digest(),
                    record.step,
                )
                restored[(record.node, write.key)] = record.step
            elif isinstance(write, StoreVersions):
                restored[(record.node, write.key)] = record.step
            elif isinstance(write, DeleteHint):
                hint = (record.node, write.target, write.key)
                content = held.pop(hint, None)
                problem = _problem(content, acked.get(hint, {}))
                if problem is not None and content is not None:
                    kept = restored.get((record.node, write.key)) == record.step or (
                        membership_changed
                        and any(other[0] == record.node and other[2] == write.key for other in held)
                    )
                    problem = None if kept else problem
                if problem is not None:
                    stored_at = None if content is None else content[1]
                    found.append(
                        violation(
                            "INV-HINT-1",
                            f"{record.node} deleted its hint for {write.target} of "
                            f"{write.key!r} {problem}",
                            [stored_at, record.step],
                            [("acks from the target", _acks(acked.get(hint, {})))],
                        )
                    )
    return found


def _problem(content: tuple[bytes, int] | None, acks: dict[bytes, int]) -> str | None:
    if content is None:
        return "which it did not hold"
    if content[0] in acks:
        return None
    return "before the target acknowledged the versions it held"


def _acks(acks: dict[bytes, int]) -> str:
    if not acks:
        return "none"
    return ", ".join(f"digest {digest.hex()[:8]} at step {step}" for digest, step in acks.items())
