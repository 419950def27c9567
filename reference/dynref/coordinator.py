"""The coordinator: client requests, forwarding, quorum puts and gets, read repair, timeouts.

Request lifecycles (docs/protocol.md draws them as tables):
- put at a preference-list node: write locally, replicate to the other sloppy targets, answer
  once W nodes (itself included) stored it durably; at the deadline, non-ackers are marked down.
- put elsewhere: forward to the first preference-list node believed up; on timeout mark it down
  and try the next; answer with the coordinator's result.
- get at any node: fetch from the N sloppy targets, answer after R replies with the merged
  siblings; when every target replied or the deadline passed, repair stale primaries.
"""

from __future__ import annotations

import attrs

from dynref.causality import AnyVersions, ContextError, decode_context, empty_versions
from dynref.causality import encode_context as encode
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
from dynref.state import NodeState, PendingForward, PendingGet, PendingPut, ReplyTo


def new_request_id(state: NodeState) -> tuple[int, NodeState]:
    """A request id unique across this node's restarts: (boot count, sequence)."""
    sequence = state.volatile.next_sequence
    volatile = attrs.evolve(state.volatile, next_sequence=sequence + 1)
    return (state.durable.boots << 32) | sequence, attrs.evolve(state, volatile=volatile)


def answer(reply_to: ReplyTo, result: ClientResult, out: list[Effect]) -> None:
    if reply_to.forwarded_by is None:
        out.append(Reply(reply_to.request_id, result))
    else:
        out.append(Send(reply_to.forwarded_by, ForwardReply(reply_to.request_id, result)))


def _bump(state: NodeState, **increments: int) -> NodeState:
    stats = state.volatile.stats
    changes = {name: getattr(stats, name) + amount for name, amount in increments.items()}
    return attrs.evolve(
        state, volatile=attrs.evolve(state.volatile, stats=attrs.evolve(stats, **changes))
    )


def _quorum(requested: int | None, default: int, n: int, name: str) -> int | InvalidRequest:
    value = default if requested is None else requested
    if not 1 <= value <= n:
        return InvalidRequest(f"{name}={value} must be between 1 and N={n}")
    return value


def validate(state: NodeState, request: ClientRequest) -> ClientResult | None:
    """The client-visible error for a request, or None when it may proceed."""
    config = state.config
    if len(request.key) > config.max_key_bytes:
        return TooLarge("key", len(request.key), config.max_key_bytes)
    if isinstance(request, ClientGet):
        quorum = _quorum(request.r, config.r, config.n, "R")
        return quorum if isinstance(quorum, InvalidRequest) else None
    if isinstance(request, ClientPut) and len(request.value) > config.max_value_bytes:
        return TooLarge("value", len(request.value), config.max_value_bytes)
    quorum = _quorum(request.w, config.w, config.n, "W")
    if isinstance(quorum, InvalidRequest):
        return quorum
    context = decode_context(config.mode, request.context)
    if isinstance(context, ContextError):
        return InvalidContext(context.reason)
    return None


def on_client_request(state: NodeState, request: ClientRequest, out: list[Effect]) -> NodeState:
    problem = validate(state, request)
    if problem is not None:
        out.append(Reply(request.request_id, problem))
        return state
    if isinstance(request, ClientGet):
        return start_get(state, ReplyTo(request.request_id), request.key, request.r, out)
    value = request.value if isinstance(request, ClientPut) else None
    reply_to = ReplyTo(request.request_id)
    preference = state.ring.preference_list(request.key, state.config.n)
    if state.node_id in preference:
        return start_put(state, reply_to, request.key, value, request.context, request.w, out)
    believed_up = [node for node in preference if node not in state.volatile.down]
    ordered = believed_up + [node for node in preference if node in state.volatile.down]
    pending = PendingForward(
        client_request_id=request.request_id,
        key=request.key,
        value=value,
        context=request.context,
        w=request.w,
        current=ordered[0],
        remaining=tuple(ordered[1:]),
        deadline=state.volatile.now + state.config.forward_timeout,
    )
    return _send_forward(_bump(state, forwarded_puts=1), pending, out)


def _send_forward(state: NodeState, pending: PendingForward, out: list[Effect]) -> NodeState:
    forward_id, state = new_request_id(state)
    message = ForwardPut(forward_id, pending.key, pending.value, pending.context, pending.w)
    out.append(Send(pending.current, message))
    forwards = state.volatile.forwards.set(forward_id, pending)
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, forwards=forwards))


def on_forward_put(
    state: NodeState, sender: str, message: ForwardPut, out: list[Effect]
) -> NodeState:
    reply_to = ReplyTo(message.forward_id, forwarded_by=sender)
    if message.value is None:
        request: ClientRequest = ClientDelete(0, message.key, message.context, message.w)
    else:
        request = ClientPut(0, message.key, message.value, message.context, message.w)
    problem = validate(state, request)
    if problem is not None:
        answer(reply_to, problem, out)
        return state
    if state.node_id not in state.ring.preference_list(message.key, state.config.n):
        answer(reply_to, Unavailable(f"{state.node_id} is not in the key's preference list"), out)
        return state
    return start_put(state, reply_to, message.key, message.value, message.context, message.w, out)


def on_forward_reply(
    state: NodeState, sender: str, message: ForwardReply, out: list[Effect]
) -> NodeState:
    pending = state.volatile.forwards.get(message.forward_id)
    if pending is None or pending.current != sender:
        return state  # a duplicate, or an answer from a node we already gave up on
    out.append(Reply(pending.client_request_id, message.result))
    forwards = state.volatile.forwards.delete(message.forward_id)
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, forwards=forwards))


def start_put(
    state: NodeState,
    reply_to: ReplyTo,
    key: bytes,
    value: bytes | None,
    raw_context: bytes,
    w: int | None,
    out: list[Effect],
) -> NodeState:
    context = decode_context(state.config.mode, raw_context)
    assert not isinstance(context, ContextError), "validated before"
    needed = state.config.w if w is None else w
    new_versions = stored(state, key).write(value, context, state.durable.actor, state.volatile.now)
    state = replace_stored(state, key, new_versions, out)
    state = _bump(state, coordinated_puts=1)
    request_id, state = new_request_id(state)
    down = state.volatile.down - {state.node_id}
    targets = [
        t
        for t in state.ring.sloppy_targets(key, state.config.n, down)
        if t.node_id != state.node_id
    ]
    for target in targets:
        out.append(Send(target.node_id, Replicate(request_id, key, new_versions, target.hint_for)))
    answered = needed <= 1
    if answered:
        answer(reply_to, PutOk(), out)
    if not targets:
        if not answered:
            answer(reply_to, QuorumNotReached(needed=needed, seen=1), out)
        return state
    pending = PendingPut(
        reply_to=reply_to,
        key=key,
        needed=needed,
        targets=tuple(t.node_id for t in targets),
        acked=frozenset({state.node_id}),
        deadline=state.volatile.now + state.config.request_timeout,
        answered=answered,
    )
    puts = state.volatile.puts.set(request_id, pending)
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, puts=puts))


def on_replicate_ack(
    state: NodeState, sender: str, message: ReplicateAck, out: list[Effect]
) -> NodeState:
    pending = state.volatile.puts.get(message.request_id)
    if pending is None or sender not in pending.targets or sender in pending.acked:
        return state  # a stale, duplicate or read-repair acknowledgement
    if pending.key != message.key:
        out.append(ProtocolError(sender, "acknowledgement names another key than its request"))
        return state
    acked = pending.acked | {sender}
    answered = pending.answered
    if not answered and len(acked) >= pending.needed:
        answer(pending.reply_to, PutOk(), out)
        answered = True
    puts = state.volatile.puts
    if answered and acked >= set(pending.targets):
        puts = puts.delete(message.request_id)
    else:
        puts = puts.set(message.request_id, attrs.evolve(pending, acked=acked, answered=answered))
    return attrs.evolve(state, volatile=attrs.evolve(state.volatile, puts=puts))


def start_get(
    state: NodeState, reply_to: ReplyTo, key: bytes, r: int | None, out: list[Effect]
) -> NodeState:
    needed = state.config.r if r is None else r
    state = _bump(state, coordinated_gets=1)
    request_id, state = new_request_id(state)
    down = state.volatile.down - {state.node_id}
    targets = state.ring.sloppy_targets(key, state.config.n, down)
    replies: tuple[tuple[str, AnyVersions], ...] = ()
    for target in targets:
        if target.node_id == state.node_id:
            replies = ((state.node_id, local_view(state, key)),)
        else:
            out.append(Send(target.node_id, Fetch(request_id, key)))
    pending = PendingGet(
        reply_to=reply_to,
        key=key,
        needed=needed,
        targets=tuple(t.node_id for t in targets),
        primaries=frozenset(t.node_id for t in targets if t.hint_for is None),
        replies=replies,
        deadline=state.volatile.now + state.config.request_timeout,
    )
    return _advance_get(state, request_id, pending, out, finished=False)


def on_fetch(state: NodeState, sender: str, message: Fetch, out: list[Effect]) -> NodeState:
    reply = FetchReply(message.request_id, message.key, local_view(state, message.key))
    out.append(Send(sender, reply))
    return state


def on_fetch_reply(
    state: NodeState, sender: str, message: FetchReply, out: list[Effect]
) -> NodeState:
    pending = state.volatile.gets.get(message.request_id)
    if pending is None or sender not in pending.targets:
        return state
    if any(node == sender for node, _ in pending.replies):
        return state  # a duplicate
    if pending.key != message.key:
        out.append(ProtocolError(sender, "fetch reply names another key than its request"))
        return state
    replies = (*pending.replies, (sender, message.versions))
    return _advance_get(
        state, message.request_id, attrs.evolve(pending, replies=replies), out, finished=False
    )


def _merged(pending: PendingGet, mode_default: AnyVersions) -> AnyVersions:
    merged = mode_default
    for _, versions in pending.replies:
        merged = join(merged, versions)
    return merged


def _advance_get(
    state: NodeState, request_id: int, pending: PendingGet, out: list[Effect], *, finished: bool
) -> NodeState:
    """Answer once R replies are in; repair and forget once all are in or time ran out."""
    empty = empty_versions(state.config.mode)
    if not pending.answered and len(pending.replies) >= pending.needed:
        merged = _merged(pending, empty)
        context = encode(state.config.mode, merged.context())
        answer(pending.reply_to, GetOk(merged.values(), context), out)
        pending = attrs.evolve(pending, answered=True)
    everyone = len(pending.replies) == len(pending.targets)
    if not (finished or everyone):
        gets = state.volatile.gets.set(request_id, pending)
        return attrs.evolve(state, volatile=attrs.evolve(state.volatile, gets=gets))
    if not pending.answered:
        answer(pending.reply_to, QuorumNotReached(pending.needed, len(pending.replies)), out)
    gets = (
        state.volatile.gets.delete(request_id)
        if request_id in state.volatile.gets
        else state.volatile.gets
    )
    state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, gets=gets))
    return read_repair(state, pending, _merged(pending, empty), out)


def read_repair(
    state: NodeState, pending: PendingGet, merged: AnyVersions, out: list[Effect]
) -> NodeState:
    """Send the merged versions to every primary that replied with less than them."""
    repaired = 0
    for node, versions in pending.replies:
        if node not in pending.primaries or versions == merged:
            continue
        repaired += 1
        if node == state.node_id:
            state = replace_stored(
                state, pending.key, join(stored(state, pending.key), merged), out
            )
        else:
            repair_id, state = new_request_id(state)
            out.append(Send(node, Replicate(repair_id, pending.key, merged, None)))
    return _bump(state, read_repairs=repaired) if repaired else state


def on_deadlines(state: NodeState, out: list[Effect]) -> NodeState:
    """Fire the deadlines of puts, gets and forwards that have passed."""
    now = state.volatile.now
    for request_id, put in list(state.volatile.puts.items()):
        if put.deadline <= now:
            state = mark_down(state, [t for t in put.targets if t not in put.acked])
            if not put.answered:
                answer(put.reply_to, QuorumNotReached(put.needed, len(put.acked)), out)
            puts = state.volatile.puts.delete(request_id)
            state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, puts=puts))
    for request_id, get in list(state.volatile.gets.items()):
        if get.deadline <= now:
            replied = {node for node, _ in get.replies}
            state = mark_down(state, [t for t in get.targets if t not in replied])
            state = _advance_get(state, request_id, get, out, finished=True)
    for forward_id, forward in list(state.volatile.forwards.items()):
        if forward.deadline <= now:
            state = mark_down(state, [forward.current])
            forwards = state.volatile.forwards.delete(forward_id)
            state = attrs.evolve(state, volatile=attrs.evolve(state.volatile, forwards=forwards))
            if forward.remaining:
                retry = attrs.evolve(
                    forward,
                    current=forward.remaining[0],
                    remaining=forward.remaining[1:],
                    deadline=now + state.config.forward_timeout,
                )
                state = _send_forward(state, retry, out)
            else:
                reason = "no preference-list node answered the forwarded put"
                out.append(Reply(forward.client_request_id, Unavailable(reason)))
    return state
