"""What the black-box checkers derive from a History, once: writers, sights, effects.

Everything here comes from client-observable records (spec/history.md), never from a store's
internals:

- `writer[v]`: the put that wrote value v (values are unique per put);
- `sight[w]`: what write w *directly* saw: the values visible to every operation that returned
  the very context w sent (same key, returned no later than w was invoked): a read's values, a
  put's own value, or what a delete had itself seen. Contexts are opaque, so equality of bytes
  is the only link. Without the `contexts` capability nothing is seen. w *saw* v when v is in
  its sight, or in the sight of the writer of a value in its sight, and so on (transitively);
- `single(w)`: w took effect exactly once, within its window: acknowledged (ok) and never named
  by a `redeliver` fault. An info write may take effect any number of times, at any time after
  its invocation; a fail write never does;
- `effective(w)`: w certainly took effect: acknowledged, or a put whose value some read returned;
- `possible(w)`: w may have taken effect: not fail, or a put whose value some read returned;
- the final reads by key, and the union of the values they returned.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import cached_property

import attrs

from dynref.causality import Mode
from dynref.history import FaultKind, FinalRead, History, Op, OpKind, Outcome

NEVER = float("inf")


@attrs.frozen
class Successors:
    """Per value, the writes that (transitively) saw it, as the checks need them."""

    covered_by: dict[str, Op]
    """Value -> a write that directly saw it, on a chain of writes each seeing the one before
    that ends in one that certainly took effect and that no later disk loss can have undone."""
    earliest_ack: dict[str, int]
    """Value -> the first acknowledgement of a write that saw it."""
    earliest_via: dict[str, Op]
    """Value -> the write that directly saw it on the way to that acknowledgement."""
    latest_durable: dict[str, int]
    """Value -> the last invocation of an acknowledged write that saw it, no disk loss after."""
    latest_via: dict[str, Op]
    """Value -> the write that directly saw it on the way to that invocation."""


class Facts:
    """Indexes over one History, computed lazily and kept."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.caps = history.capabilities
        self.lww = self.caps.causality is Mode.LWW
        ops = history.ops
        in_order = all(
            a.invoked < b.invoked or (a.invoked == b.invoked and a.id < b.id)
            for a, b in itertools.pairwise(ops)
        )
        self.ops: tuple[Op, ...] = ops if in_order else tuple(sorted(ops, key=_invocation_order))
        self.by_id = {op.id: op for op in self.ops}
        get = OpKind.GET
        self.writes: tuple[Op, ...] = tuple(op for op in self.ops if op.kind is not get)
        self.reads: tuple[Op, ...] = tuple(op for op in self.ops if op.values is not None)
        self.writer: dict[str, Op] = {op.value: op for op in self.writes if op.value is not None}
        self.redelivered = frozenset(
            f.op for f in history.faults if f.kind is FaultKind.REDELIVER and f.op is not None
        )
        ok = Outcome.OK
        self.single_ids = frozenset(
            op.id for op in self.writes if op.outcome is ok and op.id not in self.redelivered
        )
        self.disk_losses: tuple[int, ...] = tuple(
            sorted(f.time for f in history.faults if f.kind is FaultKind.DISK_LOSS)
        )
        self.last_disk_loss: int | None = self.disk_losses[-1] if self.disk_losses else None

    # ------------------------------------------------------------ effects

    def single(self, op: Op) -> bool:
        return op.id in self.single_ids

    @cached_property
    def read_values(self) -> frozenset[str]:
        """Every value some read (during the run or final) returned."""
        found: set[str] = set()
        for read in self.reads:
            found.update(read.values or ())
        for final in self.history.finals:
            found.update(final.values or ())
        return frozenset(found)

    def effective(self, op: Op) -> bool:
        return op.outcome is Outcome.OK or (op.value is not None and op.value in self.read_values)

    def possible(self, op: Op) -> bool:
        return op.outcome is not Outcome.FAIL or (
            op.value is not None and op.value in self.read_values
        )

    def durable_after(self, time: int) -> bool:
        """No disk was lost at or after `time`: what was written then is still held."""
        return self.last_disk_loss is None or self.last_disk_loss < time

    def disk_loss_between(self, first: int, last: int) -> bool:
        return any(first <= t <= last for t in self.disk_losses)

    # ------------------------------------------------------------ final reads

    @cached_property
    def finals_by_key(self) -> dict[str, tuple[FinalRead, ...]]:
        found: dict[str, list[FinalRead]] = {}
        for final in self.history.finals:
            found.setdefault(final.key, []).append(final)
        return {key: tuple(finals) for key, finals in found.items()}

    @cached_property
    def final_values(self) -> dict[str, frozenset[str]]:
        """Key -> every value its successful final reads returned (keys with one or more)."""
        found: dict[str, set[str]] = {}
        for final in self.history.finals:
            if final.values is not None:
                found.setdefault(final.key, set()).update(final.values)
        return {key: frozenset(values) for key, values in found.items()}

    def shown_by(self, key: str, value: str | None) -> tuple[FinalRead, ...]:
        """The successful final reads of `key` that show `value` (None: that show nothing)."""
        return tuple(
            f
            for f in self.finals_by_key.get(key, ())
            if f.values is not None and (value in f.values if value is not None else not f.values)
        )

    def final_excerpt(self, key: str) -> tuple[FinalRead, ...]:
        """The fewest final reads that show what the store ended with for `key`: the reads
        through the store if there are any, else the replica reads."""
        finals = [f for f in self.finals_by_key.get(key, ()) if f.values is not None]
        through = [f for f in finals if f.replica is None]
        return tuple(through or finals)

    # ------------------------------------------------------------ what writes saw

    @cached_property
    def _sight_and_sources(self) -> tuple[dict[int, frozenset[str]], dict[int, list[Op]]]:
        sight: dict[int, frozenset[str]] = {}
        sources: dict[int, list[Op]] = {}
        if not self.caps.contexts:
            return sight, sources
        # (key, context) -> what every operation that returned it so far covers, and those
        # operations: many reads of a settled key return one context, so the union is kept up
        # to date as they come rather than recomputed for each write that sends it.
        covered: dict[tuple[str, bytes], frozenset[str]] = {}
        givers: dict[tuple[str, bytes], list[Op]] = {}
        completions = sorted(
            (op for op in self.ops if op.context_returned is not None and op.outcome is Outcome.OK),
            key=_completion_order,
        )
        done = [op.completed for op in completions]
        index, count = 0, len(completions)
        get = OpKind.GET
        for op in self.ops:  # contexts become usable once returned: invocations in time order
            invoked = op.invoked
            while index < count and done[index] <= invoked:  # type: ignore[operator]
                giver = completions[index]
                context = giver.context_returned
                assert context is not None
                slot = (giver.key, context)
                visible = self._visible(giver, sight)
                known = covered.get(slot)
                if known is None:
                    covered[slot] = visible
                    givers[slot] = [giver]
                else:
                    if not visible <= known:
                        covered[slot] = known | visible
                    givers[slot].append(giver)
                index += 1
            sent = op.context_sent
            if op.kind is get or sent is None:
                continue
            slot = (op.key, sent)
            seen = covered.get(slot)
            if seen is None:
                continue
            if op.value is not None and op.value in seen:  # a put cannot see itself
                seen = seen - {op.value}
            sight[op.id] = seen
            sources[op.id] = givers[slot]
        return sight, sources

    def _visible(self, giver: Op, sight: dict[int, frozenset[str]]) -> frozenset[str]:
        """What the context `giver` returned covers: the values a read returned that a put of
        its key wrote before the read completed (a read can return others, invented values,
        which INV-READ-1 reports apart), a put's own value, what a delete saw."""
        values = giver.values
        if values is not None:
            writer, key, done = self.writer, giver.key, giver.completed
            assert done is not None
            for v in values:
                w = writer.get(v)
                if w is None or w.key != key or w.invoked > done:
                    return frozenset(
                        v
                        for v in values
                        if (w := writer.get(v)) is not None and w.key == key and w.invoked <= done
                    )
            return frozenset(values)
        if giver.kind is OpKind.PUT and giver.value is not None:
            return frozenset((giver.value,))
        return sight.get(giver.id, frozenset())

    @property
    def sight(self) -> dict[int, frozenset[str]]:
        """Write op id -> the values it directly saw (see the module docstring)."""
        return self._sight_and_sources[0]

    def sources(self, write: Op) -> tuple[Op, ...]:
        """The operations that returned the context `write` sent (its sight's evidence)."""
        givers = self._sight_and_sources[1].get(write.id, [])
        return tuple(g for g in givers if g.completed is not None and g.completed <= write.invoked)

    @cached_property
    def seers(self) -> dict[str, tuple[Op, ...]]:
        """Value -> the writes that directly saw it, in invocation order."""
        found: dict[str, list[Op]] = {}
        for write in self.writes:
            for value in self.sight.get(write.id, ()):
                found.setdefault(value, []).append(write)
        return {value: tuple(ops) for value, ops in found.items()}

    @cached_property
    def first_seer(self) -> dict[str, int]:
        """Value -> the invocation of the first write that directly saw it; any write that saw
        it transitively was invoked at or after that."""
        first: dict[str, int] = {}
        for write in self.writes:  # in invocation order
            for value in self.sight.get(write.id, ()):
                first.setdefault(value, write.invoked)
        return first

    @cached_property
    def successors(self) -> Successors:
        """One pass over the writes, latest first (a value's seers were all invoked after its
        put), following what each write saw back to the values it covers."""
        via: dict[str, Op] = {}
        earliest: dict[str, int] = {}
        earliest_via: dict[str, Op] = {}
        latest: dict[str, int] = {}
        latest_via: dict[str, Op] = {}
        ok, sight, shown = Outcome.OK, self.sight, self.read_values
        loss = -1 if self.last_disk_loss is None else self.last_disk_loss
        for write in reversed(self.writes):
            seen = sight.get(write.id)
            if not seen:
                continue
            value = write.value
            durable = write.invoked > loss
            acked = write.outcome is ok
            covers = (durable and (acked or value in shown)) or value in via
            first = write.completed if acked else None
            last = write.invoked if acked and durable else None
            if value is not None:
                inherited = earliest.get(value)
                if inherited is not None and (first is None or inherited < first):
                    first = inherited
                inherited = latest.get(value)
                if inherited is not None and (last is None or inherited > last):
                    last = inherited
            for seen_value in seen:
                if covers and seen_value not in via:
                    via[seen_value] = write
                if first is not None:
                    known = earliest.get(seen_value)
                    if known is None or first < known:
                        earliest[seen_value] = first
                        earliest_via[seen_value] = write
                if last is not None:
                    known = latest.get(seen_value)
                    if known is None or last > known:
                        latest[seen_value] = last
                        latest_via[seen_value] = write
        return Successors(via, earliest, earliest_via, latest, latest_via)

    def saw(self, write: Op, value: str) -> list[Op] | None:
        """A chain showing that `write` saw `value`: [writer(value), ..., write], each seeing
        the one before; None if it did not. A breadth-first walk back through sights, never
        past puts invoked before `value`'s own put."""
        target = self.writer.get(value)
        floor = target.invoked if target is not None else -1
        parent: dict[int, Op] = {}
        frontier = [write]
        visited = {write.id}
        while frontier:
            following: list[Op] = []
            for current in frontier:
                seen = self.sight.get(current.id, ())
                if value in seen:
                    chain = [current]
                    while chain[-1].id != write.id:
                        chain.append(parent[chain[-1].id])
                    return ([target] if target is not None else []) + chain
                for x in seen:
                    earlier = self.writer.get(x)
                    if earlier is None or earlier.id in visited or earlier.invoked < floor:
                        continue
                    visited.add(earlier.id)
                    parent[earlier.id] = current
                    following.append(earlier)
            frontier = following
        return None

    def chain_excerpt(self, chain: list[Op]) -> Iterator[Op]:
        """A chain of writes with, between each pair, the read that handed the context on."""
        for earlier, later in itertools.pairwise(chain):
            yield earlier
            via = next(
                (
                    s
                    for s in self.sources(later)
                    if s is earlier
                    or (earlier.value is not None and earlier.value in (s.values or ()))
                ),
                None,
            )
            if via is not None and via is not earlier:
                yield via
        if chain:
            yield chain[-1]


def _invocation_order(op: Op) -> tuple[int, int]:
    return (op.invoked, op.id)


def _completion_order(op: Op) -> tuple[int, int]:
    assert op.completed is not None
    return (op.completed, op.id)


__all__ = ["NEVER", "Facts"]
