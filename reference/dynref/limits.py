"""Semantic bounds on what a node accepts and stores (SPEC section 6.4, REQ-BOUND-*).

A client write is refused when the key's sibling set it would leave breaks a limit of
`ClusterConfig`; a peer's message is refused when what it carries breaks a bound no correct
peer breaks. A replica never refuses the merge of two sets it accepted, even when the join
exceeds the client limits: refusing a join would keep the replicas apart forever.

Why the peer bounds are N times the client ones (REQ-BOUND-5): in dvv the siblings an actor
wrote that a replica holds are among those the actor held right after writing the latest of
its dots the replica's vector covers, and that set kept within the client limits. Only the N
preference-list nodes coordinate a key's writes, so a replica's set stays within N times the
limits. The same holds in vclock and, trivially, in lww (one version). After disk losses a key
has more than N actors, and its largest merges can exceed the peer bounds.
"""

from __future__ import annotations

from typing import NamedTuple

from dynref.causality import INTEGER_LIMIT, AnyVersions, DvvSet, LwwRegister, VclockSiblings
from dynref.config import ENVELOPE_BYTES, VERSION_OVERHEAD_BYTES, ClusterConfig
from dynref.messages import (
    Fetch,
    FetchReply,
    Handoff,
    HandoffAck,
    MerkleLeaves,
    Replicate,
    ReplicateAck,
    SyncKeys,
    TooLarge,
    Transfer,
    TransferAck,
    TransferDigests,
)


class Footprint(NamedTuple):
    """What the limits measure of one key's sibling set (a tuple: built on every put and every
    replicated set, so it must be cheap)."""

    versions: int
    """Versions held, tombstones included (the sibling count)."""
    size: int
    """An upper bound on the set's encoded size (REQ-BOUND-4): the values' and actor names'
    bytes plus `VERSION_OVERHEAD_BYTES` for every version and every vector or clock entry."""
    actors: int
    """Actors the context of a read of the set names."""
    largest_value: int
    magnitude: int
    """The largest counter or timestamp, in absolute value."""


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def footprint(versions: AnyVersions) -> Footprint:
    if isinstance(versions, DvvSet):
        return _dvv_footprint(versions)
    if isinstance(versions, VclockSiblings):
        return _vclock_footprint(versions)
    return _lww_footprint(versions)


def _dvv_footprint(versions: DvvSet) -> Footprint:
    entries = versions.vv.entries
    siblings = versions.siblings
    lengths = [0 if sibling.value is None else len(sibling.value) for sibling in siblings]
    names = sum(_text_bytes(actor) for actor, _ in entries)
    names += sum(_text_bytes(sibling.actor) for sibling in siblings)
    size = sum(lengths) + names + VERSION_OVERHEAD_BYTES * (len(siblings) + len(entries))
    # The vector covers every sibling's dot (REQ-WIRE-5), so its counters are the largest.
    magnitude = max([0, *[counter for _, counter in entries]])
    magnitude = max([magnitude, *[abs(sibling.timestamp) for sibling in siblings]])
    return Footprint(len(siblings), size, len(entries), max([0, *lengths]), magnitude)


def _vclock_footprint(versions: VclockSiblings) -> Footprint:
    size = VERSION_OVERHEAD_BYTES * len(versions.versions)
    largest = magnitude = 0
    actors: set[str] = set()
    for version in versions.versions:
        length = 0 if version.value is None else len(version.value)
        size += length + VERSION_OVERHEAD_BYTES * len(version.clock)
        largest = max(largest, length)
        magnitude = max(magnitude, abs(version.timestamp))
        for actor, counter, entry_time in version.clock:
            size += _text_bytes(actor)
            actors.add(actor)
            magnitude = max(magnitude, counter, abs(entry_time))
    return Footprint(len(versions.versions), size, len(actors), largest, magnitude)


def _lww_footprint(versions: LwwRegister) -> Footprint:
    winner = versions.winner
    if winner is None:
        return Footprint(0, 0, 0, 0, 0)
    length = 0 if winner.value is None else len(winner.value)
    size = VERSION_OVERHEAD_BYTES + length + _text_bytes(winner.actor)
    return Footprint(1, size, 1, length, abs(winner.timestamp))


def write_problem(config: ClusterConfig, versions: AnyVersions) -> TooLarge | None:
    """REQ-BOUND-2, REQ-BOUND-3, REQ-BOUND-4: why a client write must not leave `versions`
    as its key's set, or None when it may."""
    found = footprint(versions)
    if found.magnitude >= INTEGER_LIMIT:
        return TooLarge("counter or timestamp", found.magnitude, INTEGER_LIMIT - 1)
    if found.versions > config.max_siblings:
        return TooLarge("siblings", found.versions, config.max_siblings)
    if found.actors > config.max_context_actors:
        return TooLarge("context actors", found.actors, config.max_context_actors)
    if found.size > config.max_object_bytes:
        return TooLarge("object", found.size, config.max_object_bytes)
    return None


def peer_versions_problem(config: ClusterConfig, versions: AnyVersions) -> str | None:
    """REQ-BOUND-5: why a peer's sibling set breaks a bound no correct peer breaks."""
    found = footprint(versions)
    n = config.n
    if found.largest_value > config.max_value_bytes:
        return _beyond("value bytes", found.largest_value, config.max_value_bytes)
    if found.magnitude >= INTEGER_LIMIT:
        return _beyond("counter or timestamp", found.magnitude, INTEGER_LIMIT - 1)
    if found.versions > n * config.max_siblings:
        return _beyond("siblings", found.versions, n * config.max_siblings)
    if found.actors > n * config.max_context_actors:
        return _beyond("context actors", found.actors, n * config.max_context_actors)
    if found.size > n * config.max_object_bytes:
        return _beyond("object bytes", found.size, n * config.max_object_bytes)
    return None


def _beyond(what: str, size: int, limit: int) -> str:
    return f"{what} {size} exceed the limit {limit}"


_ONE_SET = (Replicate, FetchReply, Handoff)
_ONE_KEY = (Fetch, ReplicateAck, HandoffAck)


def peer_message_problem(config: ClusterConfig, message: object) -> str | None:
    """REQ-BOUND-5: why a peer's message must be refused whole, or None."""
    keys: list[bytes] = []
    sets: list[AnyVersions] = []
    if isinstance(message, _ONE_SET):
        keys.append(message.key)
        sets.append(message.versions)
    elif isinstance(message, _ONE_KEY):
        keys.append(message.key)
    elif isinstance(message, SyncKeys):
        keys.extend(key for key, _ in message.items)
        keys.extend(message.wanted)
        sets.extend(versions for _, versions in message.items)
    elif isinstance(message, Transfer):
        keys.extend(key for key, _ in message.items)
        sets.extend(versions for _, versions in message.items)
    elif isinstance(message, TransferAck):
        keys.extend(key for key, _ in message.acked)
    elif isinstance(message, TransferDigests):
        keys.extend(key for key, _ in message.digests)
    elif isinstance(message, MerkleLeaves):
        keys.extend(key for key, _ in message.entries)
    for key in keys:
        if len(key) > config.max_key_bytes:
            return f"a key of {len(key)} bytes exceeds max_key_bytes {config.max_key_bytes}"
    for versions in sets:
        problem = peer_versions_problem(config, versions)
        if problem is not None:
            return problem
    return None


def batch_by_size(
    config: ClusterConfig, items: list[tuple[bytes, AnyVersions]]
) -> tuple[tuple[bytes, AnyVersions], ...]:
    """REQ-BOUND-6: the first items whose sets fit one message together (the first always);
    anti-entropy finds the keys left out still differing and sends them in a later round."""
    budget = config.max_frame_bytes - ENVELOPE_BYTES
    kept: list[tuple[bytes, AnyVersions]] = []
    for key, versions in items:
        budget -= footprint(versions).size + len(key) + VERSION_OVERHEAD_BYTES
        if kept and budget < 0:
            break
        kept.append((key, versions))
    return tuple(kept)


def digests_by_size(
    config: ClusterConfig, digests: list[tuple[bytes, bytes]]
) -> tuple[tuple[bytes, bytes], ...]:
    """REQ-BOUND-6: the first (key, digest) pairs that fit one message together (the first
    always); a `TransferDigests` offers the rest in a later round."""
    budget = config.max_frame_bytes - ENVELOPE_BYTES
    kept: list[tuple[bytes, bytes]] = []
    for key, digest in digests:
        budget -= len(key) + len(digest) + VERSION_OVERHEAD_BYTES
        if kept and budget < 0:
            break
        kept.append((key, digest))
    return tuple(kept)
