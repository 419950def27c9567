"""The replica side of writes: storing replicated versions as a primary or as a hint."""

from __future__ import annotations

from dynref.local import merge_into_hint, merge_into_store, replicates
from dynref.messages import Effect, ProtocolError, Replicate, ReplicateAck, Send
from dynref.state import Draft


def on_replicate(node: Draft, sender: str, message: Replicate, out: list[Effect]) -> None:
    if message.hint_for is None or message.hint_for == node.node_id:
        if not replicates(node, message.key):
            out.append(
                ProtocolError(sender, "replicate to a node outside the key's preference list")
            )
            return
        merge_into_store(node, message.key, message.versions, out)
    else:
        if message.hint_for not in node.ring.node_ids():
            out.append(ProtocolError(sender, f"hint for unknown node {message.hint_for!r}"))
            return
        merge_into_hint(node, message.hint_for, message.key, message.versions, out)
        node.count("hinted_writes")
    out.append(Send(sender, ReplicateAck(message.request_id, message.key)))
