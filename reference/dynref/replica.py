"""The replica side of writes: storing replicated versions as a primary or as a hint."""

from __future__ import annotations

from dynref.local import accepts, merge_into_hint, merge_into_store, misplaced
from dynref.membership import Status
from dynref.messages import Effect, Replicate, ReplicateAck, Send
from dynref.state import Draft


def on_replicate(node: Draft, sender: str, message: Replicate, out: list[Effect]) -> None:
    if message.hint_for is None or message.hint_for == node.node_id:
        # A future owner takes the write too (a pending owner, REQ-MEMBER-4).
        if not accepts(node, message.key):
            misplaced(node)
            return
        merge_into_store(node, message.key, message.versions, out)
    else:
        target = node.membership.get(message.hint_for)
        if target is None or target.status is Status.EXITING:
            misplaced(node)
            return
        merge_into_hint(node, message.hint_for, message.key, message.versions, out)
        node.count("hinted_writes")
    out.append(Send(sender, ReplicateAck(message.request_id, message.key)))
