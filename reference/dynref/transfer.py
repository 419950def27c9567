"""Key transfer while the ring changes: pending owners, batches, drops and status steps.

Each key has current owners C (its preference list in the current ring, which serves reads and
counts W) and future owners F (in the future ring). A node holding a key streams it, on the
handoff timer, to the owners that must receive it from this node:

- when the node is not in F, to every node of F: it must hand the key on before forgetting it;
- when the node is in C and in F, to the nodes of F not in C (the key's new owners).

A key is offered by digest first (`TransferDigests`): the receiver acknowledges the keys it
already holds with exactly that digest. A key whose digest was offered and not acknowledged
goes in full in the next round (`Transfer`). A batch is idempotent (versions merge as a join)
and resumable: the receiver stores the keys it takes durably and acknowledges each with the
digest of the versions received, in that same step (REQ-NODE-2); the sender records an
acknowledgement only while it still holds exactly those versions, and offers again any key
whose versions grew. A node not in F drops a key once every node
of F acknowledged its current versions, so it is never the last holder of a key it drops.

A joining node becomes valid once every old owner of the keys it gains (the members of C for
the ring segments where it is in F but not in C) told it, under the same membership, that what
it has still to hand it fits one round (`TransferOffered`). A leaving node becomes exiting once
it holds no hint and its backlog fits one round; it goes on handing on and dropping its keys.
"""

from __future__ import annotations

import functools

import immutables

from dynref.gossip import bump_own_entry, node_config_digest
from dynref.limits import batch_by_size, digests_by_size
from dynref.local import (
    accepts,
    drop_hint,
    drop_stored,
    merge_into_hint,
    merge_into_store,
    misplaced,
)
from dynref.membership import Status
from dynref.messages import (
    Effect,
    Gossip,
    KeyDigest,
    Send,
    Transfer,
    TransferAck,
    TransferDigests,
    TransferOffered,
)
from dynref.ring import Ring, first_index_at_or_after
from dynref.state import Draft


@functools.lru_cache(maxsize=64)
def old_owners_of_gains(current: Ring, future: Ring, n: int) -> immutables.Map[str, frozenset[str]]:
    """For each node of the future ring, the current owners of the keys it gains.

    The two rings' tokens cut the key space into segments on which both preference lists are
    constant; a node gains a segment when it is in the future list and not the current one.
    """
    boundaries = sorted(set(current.tokens) | set(future.tokens))
    if not current.tokens or not future.tokens:
        return immutables.Map()
    gains: dict[str, set[str]] = {}
    for boundary in boundaries:
        now = current.range_walk(first_index_at_or_after(current.tokens, boundary), n)
        later = future.range_walk(first_index_at_or_after(future.tokens, boundary), n)
        for gainer in later:
            if gainer not in now:
                gains.setdefault(gainer, set()).update(now)
    return immutables.Map({node: frozenset(owners) for node, owners in gains.items()})


def transfer_targets(node: Draft, key: bytes) -> tuple[str, ...]:
    """The nodes this node must stream `key` to (see the module docstring)."""
    future = node.future_preference_list(key)
    if node.node_id not in future:
        return future
    if node.future is None:
        return ()
    current = node.preference_list(key)
    if node.node_id not in current:
        return ()
    return tuple(owner for owner in future if owner not in current)


def _acknowledged(node: Draft, peer: str, key: bytes, digest: bytes) -> bool:
    held = node.transfer_acks.get(peer)
    return held is not None and held.get(key) == digest


def on_transfer_timer(node: Draft, out: list[Effect]) -> None:
    """Retarget hints, send one batch per owner, drop what is safe, offer, advance status."""
    if not node.membership.changed():
        return  # the static configuration never moves a key
    retarget_hints(node, out)
    pending: dict[str, list[KeyDigest]] = {}
    for key in sorted(node.data.keys()):
        digest = node.data[key].digest()
        for target in transfer_targets(node, key):
            if not _acknowledged(node, target, key, digest):
                pending.setdefault(target, []).append((key, digest))
    unreachable = node.unreachable()
    for target in sorted(pending):
        if target not in unreachable:  # the probe marks it up once it answers
            _send_batches(node, target, pending[target], out)
    # Acknowledgements recorded under an earlier membership may complete a key now.
    for key in sorted(node.data.keys()):
        maybe_drop(node, key, out)
    _offer(node, pending, unreachable, out)
    advance_status(node, out)
    _leave_the_ring(node, pending, out)


def _leave_the_ring(node: Draft, pending: dict[str, list[KeyDigest]], out: list[Effect]) -> None:
    """A leaving node whose backlog fits one round becomes exiting while still holding keys.

    Under a steady stream of writes a leaving node, still a current owner, always holds some
    key written since the last round, so waiting for an empty store would never end. Once out
    of the current ring it takes no new keys (REQ-MEMBER-6) and hands on and drops the ones it
    holds as before (REQ-MEMBER-7).
    """
    own = node.membership.get(node.node_id)
    if own is None or own.status is not Status.LEAVING or node.hints:
        return
    if all(len(keys) <= node.config.transfer_batch for keys in pending.values()):
        bump_own_entry(node, Status.EXITING, out)


def _send_batches(node: Draft, target: str, keys: list[KeyDigest], out: list[Effect]) -> None:
    """Digests first: a key goes in full only once the target did not acknowledge its digest.

    Replicas that already agree (the other owners a displaced node hands a key to, or a second
    old owner of a key the new owner received from the first) then cost a digest, not the
    versions. At most `transfer_batch` keys of each kind, within one frame (REQ-BOUND-6).
    """
    batch = node.config.transfer_batch
    offered = node.transfer_offers.get(target, immutables.Map())
    in_full = [key for key, digest in keys if offered.get(key) == digest][:batch]
    by_digest = [(key, digest) for key, digest in keys if offered.get(key) != digest][:batch]
    if by_digest:
        digests = digests_by_size(node.config, by_digest)
        out.append(Send(target, TransferDigests(node.new_request_id(), digests)))
        offered = offered.update(dict(digests))
        node.transfer_offers = node.transfer_offers.set(target, offered)
        node.count("keys_offered", len(digests))
    if in_full:
        items = batch_by_size(node.config, [(key, node.data[key]) for key in in_full])
        out.append(Send(target, Transfer(node.new_request_id(), items)))
        node.count("keys_transferred", len(items))
        moved = sum(len(key) + sum(len(v) for v in versions.values()) for key, versions in items)
        node.count("bytes_transferred", moved)


def _offer(
    node: Draft, pending: dict[str, list[KeyDigest]], unreachable: frozenset[str], out: list[Effect]
) -> None:
    if node.future is None:
        return
    gains = old_owners_of_gains(node.ring, node.future, node.config.n)
    digest = node.membership.digest()
    for joiner in node.membership.ids_with(frozenset({Status.JOINING})):
        # What is left fits this round: under a steady stream of writes some key written since
        # the last round is always pending, and waiting for none would never end.
        backlog = len(pending.get(joiner, ()))
        if joiner == node.node_id or backlog > node.config.transfer_batch:
            continue
        if joiner in unreachable:
            continue
        if node.node_id in gains.get(joiner, frozenset()):
            out.append(Send(joiner, TransferOffered(digest)))


def retarget_hints(node: Draft, out: list[Effect]) -> None:
    """A hint whose target no longer owns its key is kept, here, for the key's current owners."""
    membership = node.membership
    for target in sorted(node.hints.keys()):
        entry = membership.get(target)
        held = node.hints[target]
        for key in sorted(held.keys()):
            owners = node.preference_list(key)
            if (
                entry is not None
                and entry.status is not Status.EXITING
                and (target in owners or target in node.future_preference_list(key))
            ):
                continue
            versions = held[key]
            for owner in owners:
                if owner == node.node_id:
                    merge_into_store(node, key, versions, out)
                else:
                    merge_into_hint(node, owner, key, versions, out)
            drop_hint(node, target, key, out)


def maybe_drop(node: Draft, key: bytes, out: list[Effect]) -> None:
    """Forget `key` if this node is not among its future owners and all of them acknowledged it."""
    future = node.future_preference_list(key)
    if node.node_id in future or not future:
        return
    digest = node.data[key].digest()
    if all(_acknowledged(node, owner, key, digest) for owner in future):
        drop_stored(node, key, out)
        node.count("keys_dropped")
        for peer in [peer for peer, held in node.transfer_acks.items() if key in held]:
            node.transfer_acks = node.transfer_acks.set(peer, node.transfer_acks[peer].delete(key))
        for peer in [peer for peer, held in node.transfer_offers.items() if key in held]:
            offers = node.transfer_offers[peer].delete(key)
            node.transfer_offers = node.transfer_offers.set(peer, offers)


def advance_status(node: Draft, out: list[Effect]) -> None:
    own = node.membership.get(node.node_id)
    if own is None:
        return
    if own.status is Status.JOINING and node.future is not None:
        gains = old_owners_of_gains(node.ring, node.future, node.config.n)
        digest = node.membership.digest()
        needed = gains.get(node.node_id, frozenset())
        if all(node.offers.get(owner) == digest for owner in needed):
            bump_own_entry(node, Status.VALID, out)
            node.offers = immutables.Map()
    elif own.status is Status.LEAVING and not node.data and not node.hints:
        bump_own_entry(node, Status.EXITING, out)


def on_transfer(node: Draft, sender: str, message: Transfer, out: list[Effect]) -> None:
    acked: list[KeyDigest] = []
    refused = 0
    for key, versions in message.items:
        if not accepts(node, key):
            refused += 1
            continue
        merge_into_store(node, key, versions, out)
        acked.append((key, versions.digest()))
    if refused:
        misplaced(node)
        _pull_membership(node, sender, out)
    out.append(Send(sender, TransferAck(message.batch_id, tuple(acked))))


def _pull_membership(node: Draft, sender: str, out: list[Effect]) -> None:
    """Keys this node does not own in its view: its membership likely lags the sender's. Gossip
    to the sender, whose answer (push-pull) brings the change sooner than a random peer would."""
    out.append(Send(sender, Gossip(node_config_digest(node), node.membership)))


def on_transfer_digests(
    node: Draft, sender: str, message: TransferDigests, out: list[Effect]
) -> None:
    """Acknowledge the offered keys this node already holds exactly so (durably: held before)."""
    owned = [(key, digest) for key, digest in message.digests if accepts(node, key)]
    if len(owned) < len(message.digests):
        misplaced(node)
        _pull_membership(node, sender, out)
    acked = tuple(
        (key, digest)
        for key, digest in owned
        if (held := node.data.get(key)) is not None and held.digest() == digest
    )
    if acked:
        out.append(Send(sender, TransferAck(message.batch_id, acked)))


def on_transfer_ack(node: Draft, sender: str, message: TransferAck, out: list[Effect]) -> None:
    held = node.transfer_acks.get(sender, immutables.Map())
    recorded: list[bytes] = []
    for key, digest in message.acked:
        versions = node.data.get(key)
        if versions is None or versions.digest() != digest or held.get(key) == digest:
            continue  # dropped already, grown since the batch left, or a duplicate
        held = held.set(key, digest)
        recorded.append(key)
    if not recorded:
        return
    node.transfer_acks = node.transfer_acks.set(sender, held)
    for key in recorded:
        maybe_drop(node, key, out)
    advance_status(node, out)


def on_transfer_offered(
    node: Draft, sender: str, message: TransferOffered, out: list[Effect]
) -> None:
    own = node.membership.get(node.node_id)
    if own is None or own.status is not Status.JOINING:
        return  # an offer made before this node became valid: nothing left to wait for
    if message.membership_digest != node.membership.digest():
        return  # made under another membership: the ranges it covers may differ
    node.offers = node.offers.set(sender, message.membership_digest)
    advance_status(node, out)
