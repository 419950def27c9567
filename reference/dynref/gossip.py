"""Membership changes: the admin requests that start them and the gossip that spreads them.

A change is announced, then gossiped (the paper's section 4.8): a node that joins marks itself
joining and tells a seed; a node that leaves marks itself leaving; each later step of its own
lifecycle (valid, exiting) it takes itself, by bumping its own entry (dynref.transfer says when).
Once the membership differs from the static configuration's, every member gossips it each
`gossip_interval` to one peer drawn with its generator from the members and the seeds (seeds
always among the candidates, so the membership cannot split for good). The receiver joins it
with its own and, when the sender lacks something, answers with the join (push-pull).
"""

from __future__ import annotations

from dynref.liveness import forget_exited
from dynref.local import misplaced, trees_of
from dynref.membership import (
    MemberEntry,
    Membership,
    Status,
    config_digest,
    current_ring,
    future_ring,
    ring_error,
)
from dynref.messages import (
    AdminOk,
    AdminRequest,
    Effect,
    Gossip,
    InvalidRequest,
    JoinCluster,
    LeaveCluster,
    ProtocolError,
    Reply,
    Send,
    StoreMembership,
)
from dynref.prng import choose_index
from dynref.state import Draft


def node_config_digest(node: Draft) -> bytes:
    config = node.config
    return config_digest(config.n, config.mode, config.ring, config.merkle_depth)


def adopt(node: Draft, membership: Membership, out: list[Effect]) -> None:
    """Make `membership` this node's (durably), with the rings and Merkle trees it implies."""
    if membership == node.membership:
        return
    node.membership = membership
    node.stored_membership = membership
    out.append(StoreMembership(membership))
    ring_config = node.config.ring
    ring = current_ring(membership, ring_config)
    future = future_ring(membership, ring_config)
    if ring != node.ring:
        # Range indexes belong to a ring: the trees of the old one mean nothing in the new one.
        config = node.config
        node.trees = trees_of(ring, node.node_id, config.n, node.data)
    node.set_rings(ring, None if future == ring else future)
    forget_exited(node)
    digest = membership.digest()
    stale = [peer for peer, offered in node.offers.items() if offered != digest]
    for peer in stale:
        node.offers = node.offers.delete(peer)


def bump_own_entry(node: Draft, status: Status, out: list[Effect]) -> None:
    entry = node.membership.get(node.node_id)
    assert entry is not None
    moved = MemberEntry(entry.node_id, entry.capacity, entry.endpoint, status, entry.version + 1)
    adopt(node, node.membership.with_entry(moved), out)


def on_gossip_timer(node: Draft, out: list[Effect]) -> None:
    if node.now < node.next_gossip:
        return
    node.next_gossip = node.now + node.config.gossip_interval
    membership = node.membership
    # A static membership has nothing to spread: gossip starts with the first change.
    if not membership.changed() or not membership.is_member(node.node_id):
        return
    candidates = {
        entry.node_id for entry in membership.entries if entry.status is not Status.EXITING
    }
    for seed in node.config.seed_ids():
        entry = membership.get(seed)
        if entry is None or entry.status is not Status.EXITING:
            candidates.add(seed)
    candidates.discard(node.node_id)
    if not candidates:
        return
    ordered = sorted(candidates)
    pick, node.rng = choose_index(node.rng, len(ordered))
    out.append(Send(ordered[pick], Gossip(node_config_digest(node), membership)))


def on_gossip(node: Draft, sender: str, message: Gossip, out: list[Effect]) -> None:
    if message.config_digest != node_config_digest(node):
        out.append(
            ProtocolError(sender, "configuration mismatch: N, mode, ring or Merkle depth differ")
        )
        return
    incoming = message.membership
    if Membership.of(incoming.entries) != incoming or any(
        entry.capacity < 1 or entry.version < 0 for entry in incoming.entries
    ):
        out.append(ProtocolError(sender, "malformed membership"))
        return
    if not node.membership.is_member(sender) and not incoming.is_member(sender):
        # A node that neither this node nor its own gossip counts as a member: one that every
        # member forgot with their disks, itself included. Refused and counted, as a lagging
        # view's messages are (REQ-MEMBER-6); only a defective peer could send it otherwise,
        # and no node can tell the two apart.
        misplaced(node)
        return
    merged = node.membership.merge(incoming)
    problem = ring_error(merged, node.config.ring)
    if problem is not None:
        out.append(ProtocolError(sender, f"membership refused: {problem}"))
        return
    adopt(node, merged, out)
    if merged != incoming:
        out.append(Send(sender, Gossip(node_config_digest(node), merged)))


def on_admin(node: Draft, request: AdminRequest, out: list[Effect]) -> None:
    if isinstance(request, JoinCluster):
        _join(node, request, out)
    else:
        _leave(node, request, out)


def _refuse(request: AdminRequest, reason: str, out: list[Effect]) -> None:
    out.append(Reply(request.request_id, InvalidRequest(reason)))


def _join(node: Draft, request: JoinCluster, out: list[Effect]) -> None:
    own = node.membership.get(node.node_id)
    if own is not None and own.status is not Status.EXITING:
        _refuse(request, f"{node.node_id} is already a member ({own.status.name.lower()})", out)
        return
    if request.seed == node.node_id or request.seed not in node.config.seed_ids():
        _refuse(request, f"unknown seed {request.seed!r}", out)
        return
    if request.capacity < 1:
        _refuse(request, f"capacity must be at least 1, got {request.capacity}", out)
        return
    version = 1 if own is None else own.version + 1
    entry = MemberEntry(node.node_id, request.capacity, request.endpoint, Status.JOINING, version)
    joined = node.membership.with_entry(entry)
    problem = ring_error(joined, node.config.ring)
    if problem is not None:
        _refuse(request, f"cannot join: {problem}", out)
        return
    adopt(node, joined, out)
    out.append(Send(request.seed, Gossip(node_config_digest(node), joined)))
    out.append(Reply(request.request_id, AdminOk("joining")))


def _leave(node: Draft, request: LeaveCluster, out: list[Effect]) -> None:
    own = node.membership.get(node.node_id)
    if own is None or own.status is not Status.VALID:
        shown = "not a member" if own is None else own.status.name.lower()
        _refuse(request, f"only a valid member can leave ({node.node_id} is {shown})", out)
        return
    remaining = sum(
        1
        for entry in node.membership.entries
        if entry.status is Status.VALID and entry.node_id != node.node_id
    )
    if remaining < node.config.n:
        _refuse(
            request,
            f"leaving would leave {remaining} valid nodes, fewer than N={node.config.n}",
            out,
        )
        return
    moved = MemberEntry(own.node_id, own.capacity, own.endpoint, Status.LEAVING, own.version + 1)
    left = node.membership.with_entry(moved)
    problem = ring_error(left, node.config.ring)
    if problem is not None:
        _refuse(request, f"cannot leave: {problem}", out)
        return
    adopt(node, left, out)
    out.append(Reply(request.request_id, AdminOk("leaving")))
