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

from collections.abc import Iterable
from typing import get_args

import attrs

from dynref.messages import (
    DeleteHint,
    DropVersions,
    DurableWrite,
    Effect,
    ProtocolError,
    Reply,
    Send,
    StoreHint,
    StoreMembership,
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


EMPTY = Ready()


def ready_of(effects: Iterable[Effect]) -> Ready:
    """Sort effects by destination, keeping the order of each kind."""
    writes: list[DurableWrite] = []
    sends: list[Send] = []
    replies: list[Reply] = []
    errors: list[ProtocolError] = []
    for effect in effects:  # exact types, most frequent first: this runs for every step
        kind = type(effect)
        if kind is Send:
            sends.append(effect)  # type: ignore[arg-type]
        elif kind is Reply:
            replies.append(effect)  # type: ignore[arg-type]
        elif kind is ProtocolError:
            errors.append(effect)  # type: ignore[arg-type]
        else:  # the durable writes: the only other effects (asserted below)
            writes.append(effect)  # type: ignore[arg-type]
    if not (writes or sends or replies or errors):
        return EMPTY
    return Ready(tuple(writes), tuple(sends), tuple(replies), tuple(errors))


_DURABLE_WRITES = {StoreVersions, StoreHint, DeleteHint, StoreMeta, DropVersions, StoreMembership}
assert set(get_args(DurableWrite)) == _DURABLE_WRITES, "ready_of knows every durable write"
assert set(get_args(Effect)) == {Send, Reply, ProtocolError} | _DURABLE_WRITES, (
    "ready_of knows every effect type"
)
