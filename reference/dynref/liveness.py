"""Local, communication-based failure detection (the paper's section 4.8.1).

A request to a peer that times out marks it down in this node's view; any message from it marks
it up again. Peers believed down are probed periodically. There is no global view of failure.
"""

from __future__ import annotations

from collections.abc import Iterable

from dynref.messages import Effect, Probe, ProbeAck, Send
from dynref.state import Draft


def mark_down(node: Draft, peers: Iterable[str]) -> None:
    newly_down = frozenset(peers) - {node.node_id}
    if not newly_down <= node.down:
        node.down = node.down | newly_down


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
