"""How a step's effects leave the node: the one place that sorts them by where they go.

In the manner of etcd raft's `Ready`, a step (or a batch of steps) hands its driver one value
that says, in the order a driver must act on it:

1. `writes`: the durable writes, in order; the driver makes all of them durable (or none) first;
2. `sends` and `replies`: the peer messages and client replies, each in order, which the driver
   may release only once those writes are durable (REQ-NODE-2), and never before the effects of
   an earlier batch;
3. `errors`: the protocol errors, observations for the log and the checkers: nothing to persist
   and nothing to release.

Every driver (the simulator, the node runtime, the test harness, the benchmarks) takes effects
from a `Ready`; none of them tests an effect's type to decide where it goes
(tests/test_effect_routing.py enforces it). A driver may still tell one durable write from
another (a hint from a key's versions): that is how a write is applied, not where it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, get_args

import attrs

from dynref.messages import (
    DeleteHint,
    DurableWrite,
    Effect,
    ProtocolError,
    Reply,
    Send,
    StoreHint,
    StoreMeta,
    StoreVersions,
)


@attrs.frozen
class Ready:
    """A step's (or a batch's) effects, sorted by where they go, each kind in emission order."""

    writes: tuple[DurableWrite, ...] = ()
    sends: tuple[Send, ...] = ()
    replies: tuple[Reply, ...] = ()
    errors: tuple[ProtocolError, ...] = ()

    def releases(self) -> bool:
        """Whether anything waits for the writes to be durable before it may leave."""
        return bool(self.sends or self.replies)


# Where each effect type goes: the index of its list in `ready_of`.
_WRITES, _SENDS, _REPLIES, _ERRORS = range(4)
_DESTINATION: dict[type, int] = {
    StoreVersions: _WRITES,
    StoreHint: _WRITES,
    DeleteHint: _WRITES,
    StoreMeta: _WRITES,
    Send: _SENDS,
    Reply: _REPLIES,
    ProtocolError: _ERRORS,
}

EMPTY = Ready()


def ready_of(effects: Iterable[Effect]) -> Ready:
    """Sort effects by destination, keeping the order of each kind."""
    lists: tuple[list[Any], ...] = ([], [], [], [])
    destination = _DESTINATION
    for effect in effects:
        lists[destination[type(effect)]].append(effect)
    writes, sends, replies, errors = lists
    if not (writes or sends or replies or errors):
        return EMPTY
    return Ready(tuple(writes), tuple(sends), tuple(replies), tuple(errors))


def joined(readies: Sequence[Ready]) -> Ready:
    """Several steps' Ready values as one batch (group commit): each kind in step order."""
    if len(readies) == 1:
        return readies[0]
    return Ready(
        tuple(write for ready in readies for write in ready.writes),
        tuple(send for ready in readies for send in ready.sends),
        tuple(reply for ready in readies for reply in ready.replies),
        tuple(error for ready in readies for error in ready.errors),
    )


assert set(_DESTINATION) == set(get_args(Effect)), "every effect type has a destination"
