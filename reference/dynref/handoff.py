"""Hinted handoff: a node holding versions for an unreachable owner delivers them later.

A hint is deleted only after its owner acknowledged versions with the very digest the hint still
holds; a hint that grew meanwhile stays until a later round delivers the rest (INV-HINT-1).
"""

from __future__ import annotations

from dynref.local import accepts, drop_hint, merge_into_store, misplaced
from dynref.messages import Effect, Handoff, HandoffAck, Send
from dynref.state import Draft
from dynref.transfer import on_transfer_timer


def on_handoff_timer(node: Draft, out: list[Effect]) -> None:
    if node.now < node.next_handoff:
        return
    # Transfers first: they re-target the hints whose owner changed.
    on_transfer_timer(node, out)
    # By owner, then key: a map's own order follows string hashing, which differs between
    # processes, and a replayed trace must send in the same order (REQ-NODE-4).
    unreachable = node.unreachable()
    for target in sorted(node.hints.keys()):
        if target in unreachable:
            continue  # the probe marks it up once it answers
        held = node.hints[target]
        for key in sorted(held.keys()):
            out.append(Send(target, Handoff(key, held[key])))
    node.next_handoff = node.now + node.config.handoff_interval


def on_handoff(node: Draft, sender: str, message: Handoff, out: list[Effect]) -> None:
    if not accepts(node, message.key):
        misplaced(node)
        return
    merge_into_store(node, message.key, message.versions, out)
    out.append(Send(sender, HandoffAck(message.key, message.versions.digest())))


def on_handoff_ack(node: Draft, sender: str, message: HandoffAck, out: list[Effect]) -> None:
    held = node.hints.get(sender)
    versions = None if held is None else held.get(message.key)
    if versions is None or versions.digest() != message.digest:
        return  # already dropped, or the hint grew since that handoff was sent
    drop_hint(node, sender, message.key, out)
    node.count("hints_handed_off")
