"""The coordinator: client requests, forwarding, quorum puts and gets, read repair, timeouts.

Request lifecycles (docs/protocol.md draws them as tables):
- put at a preference-list node: write locally, replicate to the other sloppy targets, answer
  once W nodes (itself included) stored it durably; at the deadline, non-ackers are marked down.
- put elsewhere: forward to the first preference-list node believed up and answer with its
  result; on timeout mark it down and answer `Unavailable`, never retry elsewhere: the silent
  node may have run the put, and a second coordinator would write it again (SPEC REQ-COORD-2).
- get at any node: fetch from the N sloppy targets, answer after R replies with the merged
  siblings; when every target replied or the deadline passed, repair stale primaries.
"""

from __future__ import annotations

from dynref.causality import (
    AnyVersions,
    Context,
    ContextError,
    LwwContext,
    LwwRegister,
    Mode,
    VersionVector,
    decode_context,
    empty_versions,
    write_versions,
)
from dynref.causality import encode_context as encode
from dynref.config import ClusterConfig
from dynref.limits import write_problem
from dynref.liveness import mark_down
from dynref.local import join, local_view, replace_stored, stored
from dynref.messages import (
    ClientDelete,
    ClientGet,
    ClientPut,
    ClientRequest,
    ClientResult,
    Effect,
    Fetch,
    FetchReply,
    ForwardPut,
    ForwardReply,
    GetOk,
    InvalidContext,
    InvalidRequest,
    ProtocolError,
    PutOk,
    QuorumNotReached,
    Replicate,
    ReplicateAck,
    Reply,
    Send,
    TooLarge,
    Unavailable,
)
from dynref.state import Draft, PendingForward, PendingGet, PendingPut, ReplyTo


def answer(reply_to: ReplyTo, result: ClientResult, out: list[Effect]) -> None:
    if reply_to.forwarded_by is None:
        out.append(Reply(reply_to.request_id, result))
    else:
        out.append(Send(reply_to.forwarded_by, ForwardReply(reply_to.request_id, result)))


def _quorum(requested: int | None, default: int, n: int, name: str) -> int | InvalidRequest:
    value = default if requested is None else requested
    if not 1 <= value <= n:
        return InvalidRequest(f"{name}={value} must be between 1 and N={n}")
    return value


def validate(config: ClusterConfig, request: ClientRequest) -> ClientResult | Context:
    """The client-visible error for a request, or, when it may proceed, its decoded context
    (the empty vector for a get, which carries none)."""
    if len(request.key) > config.max_key_bytes:
        return TooLarge("key", len(request.key), config.max_key_bytes)
    if isinstance(request, ClientGet):
        quorum = _quorum(request.r, config.r, config.n, "R")
        return quorum if isinstance(quorum, InvalidRequest) else VersionVector()
    if isinstance(request, ClientPut) and len(request.value) > config.max_value_bytes:
        return TooLarge("value", len(request.value), config.max_value_bytes)
    quorum = _quorum(request.w, config.w, config.n, "W")
    if isinstance(quorum, InvalidRequest):
        return quorum
    # REQ-BOUND-2: the size first, so that decoding's work stays bounded.
    if len(request.context) > config.max_context_bytes:
        return TooLarge("context", len(request.context), config.max_context_bytes)
    context = decode_context(config.mode, request.context)
    if isinstance(context, ContextError):
        return InvalidContext(context.reason)
    if isinstance(context, VersionVector) and len(context.entries) > config.max_context_actors:
        return TooLarge("context actors", len(context.entries), config.max_context_actors)
    return context


def on_client_request(node: Draft, request: ClientRequest, out: list[Effect]) -> None:
    context = validate(node.config, request)
    if not isinstance(context, VersionVector | LwwContext):
        out.append(Reply(request.request_id, context))
        return
    if isinstance(request, ClientGet):
        start_get(node, ReplyTo(request.request_id), request.key, request.r, out)
        return
    value = request.value if isinstance(request, ClientPut) else None
    reply_to = ReplyTo(request.request_id)
    preference = node.preference_list(request.key)
    if node.node_id in preference:
        start_put(node, reply_to, request.key, value, context, request.w, out)
        return
    unaware = node.unaware()
    if unaware:
        preference = tuple(peer for peer in preference if peer not in unaware)
        if not preference:
            reply = Unavailable("no preference-list node knows this node yet")
            out.append(Reply(request.request_id, reply))
            return
    believed_up = [peer for peer in preference if peer not in node.down]
    pending = PendingForward(
        client_request_id=request.request_id,
        key=request.key,
        value=value,
        context=_forwarded_context(node, request.context, context),
        w=request.w,
        current=(believed_up or preference)[0],
        deadline=node.now + node.config.forward_timeout,
    )
    node.count("forwarded_puts")
    _send_forward(node, pending, out)


def _forwarded_context(node: Draft, sent: bytes, context: VersionVector | LwwContext) -> bytes:
    """REQ-LWW-2: in lww, the client's context raised to this node's floor, so that the write is
    stamped above every write this node answered a client for, whichever node coordinates it."""
    if not isinstance(context, LwwContext) or not node.lww_floor:
        return sent
    if context.stamp is not None and context.stamp[0] >= node.lww_floor:
        return sent
    return encode(Mode.LWW, LwwContext((node.lww_floor, node.actor)))


def _send_forward(node: Draft, pending: PendingForward, out: list[Effect]) -> None:
    forward_id = node.new_request_id()
    message = ForwardPut(forward_id, pending.key, pending.value, pending.context, pending.w)
    out.append(Send(pending.current, message))
    node.set_forward(forward_id, pending)


def on_forward_put(node: Draft, sender: str, message: ForwardPut, out: list[Effect]) -> None:
    # A duplicate of a forward already started is dropped: the first copy answers it.
    seen = (sender, message.forward_id)
    if seen in node.forward_memory:
        return
    node.forward_memory = node.forward_memory.remember(seen)
    reply_to = ReplyTo(message.forward_id, forwarded_by=sender)
    if message.value is None:
        request: ClientRequest = ClientDelete(0, message.key, message.context, message.w)
    else:
        request = ClientPut(0, message.key, message.value, message.context, message.w)
    context = validate(node.config, request)
    if not isinstance(context, VersionVector | LwwContext):
        # The forwarder validated the request under the same limits: a correct one never
        # sends this (REQ-BOUND-5). Its client still gets the reason.
        out.append(ProtocolError(sender, f"forwarded put refused: {context!r}"))
        answer(reply_to, context, out)
        return
    if node.node_id not in node.preference_list(message.key):
        answer(reply_to, Unavailable(f"{node.node_id} is not in the key's preference list"), out)
        return
    start_put(node, reply_to, message.key, message.value, context, message.w, out)


def on_forward_reply(node: Draft, sender: str, message: ForwardReply, out: list[Effect]) -> None:
    pending = node.forwards.get(message.forward_id)
    if pending is None or pending.current != sender:
        return  # a duplicate, or an answer from a node we already gave up on
    out.append(Reply(pending.client_request_id, message.result))
    node.drop_forward(message.forward_id)
    if isinstance(message.result, PutOk):
        _raise_floor(node, message.result.context)


def _raise_floor(node: Draft, written: bytes) -> None:
    """REQ-LWW-2: remember the stamp of an lww write this node answered, as its coordinator or
    as the forwarder its client sent it to."""
    if node.config.mode is not Mode.LWW or not written:
        return
    context = decode_context(Mode.LWW, written)
    if isinstance(context, LwwContext) and context.stamp is not None:
        node.lww_floor = max(node.lww_floor, context.stamp[0])


def start_put(
    node: Draft,
    reply_to: ReplyTo,
    key: bytes,
    value: bytes | None,
    context: Context,
    w: int | None,
    out: list[Effect],
) -> None:
    needed = node.config.w if w is None else w
    new_versions = write_versions(
        stored(node, key), value, context, node.actor, _write_clock(node, key)
    )
    refused = write_problem(node.config, new_versions)
    if refused is not None:
        answer(reply_to, refused, out)
        return
    replace_stored(node, key, new_versions, out)
    node.dots_issued = True
    node.count("coordinated_puts")
    written = _written_context(node.config.mode, new_versions)
    request_id = node.new_request_id()
    targets = [target for target in node.sloppy_targets(key) if target.node_id != node.node_id]
    for target in targets:
        out.append(Send(target.node_id, Replicate(request_id, key, new_versions, target.hint_for)))
    if node.future is not None:
        # Pending owners get the write too, uncounted toward W (REQ-MEMBER-4); one that misses
        # it receives the key by transfer.
        current = node.preference_list(key)
        for owner in node.future_preference_list(key):
            if owner not in current and owner != node.node_id:
                out.append(Send(owner, Replicate(request_id, key, new_versions, None)))
    answered = needed <= 1
    if answered:
        answer(reply_to, PutOk(written), out)
        _raise_floor(node, written)
    if not targets:
        if not answered:
            answer(reply_to, QuorumNotReached(needed=needed, seen=1), out)
        return
    pending = PendingPut(
        reply_to=reply_to,
        key=key,
        needed=needed,
        targets=tuple(target.node_id for target in targets),
        acked=frozenset({node.node_id}),
        deadline=node.now + node.config.request_timeout,
        answered=answered,
        written=written,
    )
    node.set_put(request_id, pending)


def _write_clock(node: Draft, key: bytes) -> int:
    """REQ-LWW-1: the clock an lww write starts from is raised above any hint the coordinator
    holds for the key; the register raises it above its own version and the context.
    REQ-LWW-2: and above every write this node answered a client for as a forwarder."""
    if node.config.mode is not Mode.LWW:
        return node.now
    clock = max(node.now, node.lww_floor + 1) if node.lww_floor else node.now
    if not node.hints:
        return clock
    return max(clock, local_view(node, key).latest_timestamp() + 1)


def _written_context(mode: Mode, written: AnyVersions) -> bytes:
    """REQ-CTX-4: the context naming exactly the version written, where the mode has one.

    In lww the register holds just the written version. A dvv or vclock set's context would
    also cover siblings the client never read, and a write passing it back would silently
    supersede them: the client reads for a context instead.
    """
    if isinstance(written, LwwRegister):
        return encode(mode, written.context())
    return b""


def on_replicate_ack(node: Draft, sender: str, message: ReplicateAck, out: list[Effect]) -> None:
    pending = node.puts.get(message.request_id)
    if pending is None or sender not in pending.targets or sender in pending.acked:
        return  # a stale, duplicate or read-repair acknowledgement
    if pending.key != message.key:
        out.append(ProtocolError(sender, "acknowledgement names another key than its request"))
        return
    acked = pending.acked | {sender}
    answered = pending.answered
    if not answered and len(acked) >= pending.needed:
        answer(pending.reply_to, PutOk(pending.written), out)
        _raise_floor(node, pending.written)
        answered = True
    if answered and acked.issuperset(pending.targets):
        node.drop_put(message.request_id)
    else:
        node.set_put(message.request_id, pending.acknowledged(acked, answered))


def start_get(node: Draft, reply_to: ReplyTo, key: bytes, r: int | None, out: list[Effect]) -> None:
    needed = node.config.r if r is None else r
    node.count("coordinated_gets")
    request_id = node.new_request_id()
    targets = node.sloppy_targets(key)
    replies: tuple[tuple[str, AnyVersions], ...] = ()
    merged = empty_versions(node.config.mode)
    for target in targets:
        if target.node_id == node.node_id:
            replies = ((node.node_id, local_view(node, key)),)
            merged = join(merged, replies[0][1])
        else:
            out.append(Send(target.node_id, Fetch(request_id, key)))
    pending = PendingGet(
        reply_to=reply_to,
        key=key,
        needed=needed,
        targets=tuple(target.node_id for target in targets),
        primaries=frozenset(target.node_id for target in targets if target.hint_for is None),
        replies=replies,
        merged=merged,
        deadline=node.now + node.config.request_timeout,
    )
    _advance_get(node, request_id, pending, out, finished=False)


def on_fetch(node: Draft, sender: str, message: Fetch, out: list[Effect]) -> None:
    reply = FetchReply(message.request_id, message.key, local_view(node, message.key))
    out.append(Send(sender, reply))


def on_fetch_reply(node: Draft, sender: str, message: FetchReply, out: list[Effect]) -> None:
    pending = node.gets.get(message.request_id)
    if pending is None or sender not in pending.targets:
        return
    if any(replica == sender for replica, _ in pending.replies):
        return  # a duplicate
    if pending.key != message.key:
        out.append(ProtocolError(sender, "fetch reply names another key than its request"))
        return
    merged = join(pending.merged, message.versions)
    pending = pending.with_reply(sender, message.versions, merged)
    _advance_get(node, message.request_id, pending, out, finished=False)


def _advance_get(
    node: Draft, request_id: int, pending: PendingGet, out: list[Effect], *, finished: bool
) -> None:
    """Answer once R replies are in; repair and forget once all are in or time ran out."""
    if not pending.answered and len(pending.replies) >= pending.needed:
        merged = pending.merged
        context = encode(node.config.mode, merged.context())
        answer(pending.reply_to, GetOk(merged.values(), context), out)
        pending = pending.marked_answered()
    everyone = len(pending.replies) == len(pending.targets)
    if not (finished or everyone):
        node.set_get(request_id, pending)
        return
    if not pending.answered:
        answer(pending.reply_to, QuorumNotReached(pending.needed, len(pending.replies)), out)
    if request_id in node.gets:
        node.drop_get(request_id)
    read_repair(node, pending, pending.merged, out)


def read_repair(node: Draft, pending: PendingGet, merged: AnyVersions, out: list[Effect]) -> None:
    """Send the merged versions to every primary that replied with less than them."""
    repaired = 0
    for replica, versions in pending.replies:
        if replica not in pending.primaries or versions == merged:
            continue
        repaired += 1
        if replica == node.node_id:
            replace_stored(node, pending.key, join(stored(node, pending.key), merged), out)
        else:
            repair_id = node.new_request_id()
            out.append(Send(replica, Replicate(repair_id, pending.key, merged, None)))
    if repaired:
        node.count("read_repairs", repaired)


def on_deadlines(node: Draft, out: list[Effect]) -> None:
    """Fire the deadlines of puts, gets and forwards that have passed."""
    now = node.now
    for request_id, put in list(node.puts.items()):
        if put.deadline <= now:
            mark_down(node, [target for target in put.targets if target not in put.acked])
            if not put.answered:
                answer(put.reply_to, QuorumNotReached(put.needed, len(put.acked)), out)
            node.drop_put(request_id)
    for request_id, get in list(node.gets.items()):
        if get.deadline <= now:
            replied = {replica for replica, _ in get.replies}
            mark_down(node, [target for target in get.targets if target not in replied])
            _advance_get(node, request_id, get, out, finished=True)
    for forward_id, forward in list(node.forwards.items()):
        if forward.deadline <= now:
            mark_down(node, [forward.current])
            node.drop_forward(forward_id)
            reason = (
                f"{forward.current}, the preference-list node the write was forwarded to, did "
                "not answer in time: the write may or may not have taken effect"
            )
            out.append(Reply(forward.client_request_id, Unavailable(reason)))
