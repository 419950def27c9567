"""Violations the simulator is known to show until a fix lands, so that explorer tests can
tell them from new ones.

lww stamps (issue 13): a coordinator stamps a write with its clock, which moves only on ticks,
and ties rank by actor then value (a tombstone lowest). So a write acknowledged before a later
write through the same node may outrank it, and the later write, acknowledged too, is lost: a
put then a delete, or two puts, through one node. The black-box checks report it as
INV-ORDER-1 (the earlier write outlives the later one) and INV-ACK-1 (the later put is lost).
"""

from __future__ import annotations

from dynref.check import Violation
from dynref.history import Op


def lww_stamp_order(violation: Violation) -> bool:
    """Whether `violation` is the known lww order loss: two writes through one node."""
    if violation.invariant not in {"INV-ORDER-1", "INV-ACK-1"}:
        return False
    ops = [entry for entry in violation.excerpt if isinstance(entry, Op)]
    return len(ops) >= 2 and ops[0].coordinator == ops[1].coordinator and ops[1].is_write
