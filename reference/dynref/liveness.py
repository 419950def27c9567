"""Local, communication-based failure detection (the paper's section 4.8.1).

A request to a peer that times out marks it down in this node's view; any message from it marks
it up again. Peers believed down are probed periodically. There is no global view of failure.
A member that exited the cluster is no peer any more: it is never believed down (REQ-FD-2).
"""

from __future__ import annotations

from collections.abc import Iterable

from dynref.membership import Status
from dynref.messages import Effect, Probe, ProbeAck, Send
from dynref.state import Draft

EXITED = frozenset({Status.EXITING})


def mark_down(node: Draft, peers: Iterable[str]) -> None:
    newly_down = frozenset(peers) - {node.node_id} - exited(node)
    if not newly_down <= node.down:
        node.down = node.down | newly_down


def exited(node: Draft) -> frozenset[str]:
    """Members that left the cluster: no longer peers, so never believed down nor probed (an
    exited node's process stops, and the belief would stay for good)."""
    membership = node.membership
    if not membership.changed():
        return frozenset()
    return frozenset(membership.ids_with(EXITED))


def forget_exited(node: Draft) -> None:
    gone = exited(node)
    if gone & node.down:
        node.down = node.down - gone


def mark_up(node: Draft, peer: str) -> None:
    if peer in node.down:
        node.down = node.down - {peer}


def on_probe_timer(node: Draft, out: list[Effect]) -> None:
    if node.now < node.next_probe:
        return
    unaware = node.unaware()
    for peer in sorted(node.down):
        if peer not in unaware:
            out.append(Send(peer, Probe(node.now)))
    node.next_probe = node.now + node.config.probe_interval


def on_probe(node: Draft, sender: str, message: Probe, out: list[Effect]) -> None:
    out.append(Send(sender, ProbeAck(message.nonce)))
