"""What the node process needs around its runtime: the clock, incarnations, the log, status.

The log is the node's stderr (a local cluster sends it to DIR/<node>/node.log). Every line
starts with the UTC time to the millisecond, so that a node's log can be read beside its
peers' and beside a client's; an internal error is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import attrs
from dynref.messages import ClientResult, Message
from dynref.state import NodeState

T = TypeVar("T")


class NodeFailure(RuntimeError):  # noqa: N818 (the node fails: a state, not an error kind)
    """A failure the node reports in one clear line and stops on: its message says it all."""


class Outbox(Protocol):
    """Where released effects go: the peer links and the client connections."""

    def send(self, to: str, message: Message) -> None: ...

    def reply(self, request_id: int, result: ClientResult) -> None: ...

    def flush(self) -> None:
        """The batch's effects are all released: write them out."""


Clock = Callable[[], int]
"""Milliseconds; successive calls never go backwards."""


def wall_anchored_clock() -> Clock:
    """Wall-clock milliseconds read once, then advanced by the monotonic clock.

    Node time stamps versions (lww mode, vclock pruning), so it should be comparable across
    nodes and restarts like a wall clock; within a process it must never go backwards, which a
    wall clock alone does not promise (NTP steps).
    """
    wall_start = time.time_ns() // 1_000_000
    monotonic_start = time.monotonic_ns() // 1_000_000
    return lambda: wall_start + time.monotonic_ns() // 1_000_000 - monotonic_start


def fresh_incarnation() -> int:
    """An incarnation for a node booting without a disk: never one this node used before.

    The boot's wall-clock milliseconds, then three random digits: readable, ordered by boot
    time, and still distinct if the clock was set back or two boots share a millisecond. Kept
    short because `node#incarnation` is the actor named in every version the node writes.
    """
    return (time.time_ns() // 1_000_000) * 1_000 + secrets.randbelow(1_000)


def timestamp() -> str:
    """The current UTC time as the log writes it: 2024-05-01T12:00:00.123Z."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_line(message: str) -> None:
    print(f"{timestamp()} {message}", file=sys.stderr, flush=True)


def with_traceback(message: str, error: BaseException) -> str:
    """A log entry for an internal error: the message, then the error's traceback."""
    trace = "".join(traceback.format_exception(error)).rstrip()
    return f"{message}\n{trace}"


def node_status(state: NodeState) -> dict[str, int | str]:
    """What `dynref cluster status` and the tests observe of a node, flat as StatusReply wants.

    Lists of peers travel as comma-separated text ("" for none); `member` is the node's own
    status in its membership (joining, valid, leaving, exiting, or none before it joined),
    `members` every member's as `id:status`, `membership` a digest equal on nodes that hold
    equal memberships.
    """
    durable = state.durable
    members = state.membership
    own = members.get(durable.node_id)
    status: dict[str, int | str] = {
        "node_id": durable.node_id,
        "mode": state.config.mode.value,
        "incarnation": durable.incarnation,
        "boots": durable.boots,
        "keys": len(durable.data),
        "hints": sum(len(held) for held in durable.hints.values()),
        "down": ",".join(sorted(state.volatile.down)),
        "now": state.volatile.now,
        "member": "none" if own is None else own.status.name.lower(),
        "members": ",".join(f"{e.node_id}:{e.status.name.lower()}" for e in members.entries),
        "membership": members.digest().hex(),
    }
    status.update(attrs.asdict(state.volatile.stats))
    return status


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the node's coroutine on uvloop when it is installed (the optional `fast` extra), else
    on asyncio's own loop. uvloop changes no behaviour the node relies on; on the 3-node
    benchmark it saves a few per cent of a node's CPU at most (docs/benchmarks.md)."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
