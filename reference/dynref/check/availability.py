"""INV-AVAIL-1: with one node down and the network otherwise healthy, a coordinator that has
timed out against the node once routes around it, so its next writes are acknowledged.

The window, precisely:

- It opens when, right after a converged quiescence (the action before is a `QuiesceEnd` that
  found the cluster settled: every node up, nothing in flight, nobody believed down), one node X
  is taken down: `Crash(X)`, or a partition that blocks exactly the links between X and every
  other node. It needs N below the number of nodes, so that a substitute exists.
- It lasts while the actions are deliveries, ticks and client requests. Any other action (a
  drop, a duplicate, a crash, a restart, a disk loss, a partition, a heal, a quiesce) closes it,
  and so does the end of the run. The network is healthy while every message between two nodes
  other than X is delivered before any clock moves: a tick with such a message in flight closes
  the window too (to its coordinator a message delayed past a deadline is a lost one).
- A coordinator A *has timed out against X* once a write it coordinated (a put or delete
  through A, for a key whose preference list holds A and X, invoked in the window) reached its
  deadline: A's clock passed the write's start by `request_timeout`.
- Every write through such an A invoked afterwards, for a key whose preference list holds A
  and X, is *owed*: when the network has next delivered everything (before the next tick, or at
  the window's close, with nothing in flight between nodes other than X), it must have been
  acknowledged. W never exceeds N, and N live nodes remain, so sloppy quorum can always reach W.

The monitor reads clusters between actions, which only a run (or a replay) has:
`AvailabilityMonitor` observes a run as it goes (the explorer's degraded phase feeds it), and
`check_availability` replays a finished cluster's trace through the windows it contains.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from dynref.check.violation import Violation, violation
from dynref.sim.actions import (
    Action,
    Crash,
    Delete,
    Deliver,
    Get,
    Partition,
    Put,
    QuiesceEnd,
    TickAll,
    TickNode,
)
from dynref.sim.cluster import Cluster
from dynref.sim.history import Operation

WINDOW_ACTIONS = (Deliver, TickNode, TickAll, Get, Put, Delete)
"""The actions a window lasts through; anything else closes it."""


@attrs.frozen
class Window:
    """One open window: node `down` went down at step `opened`."""

    down: str
    opened: int
    timed_out: tuple[tuple[str, int], ...] = ()
    """(coordinator, step of the tick at which it first timed out against `down`)."""
    watched: tuple[tuple[int, int], ...] = ()
    """(op id, the coordinator's clock when it started) of writes that may time out."""
    owed: tuple[int, ...] = ()
    """Op ids of writes that must be acknowledged at the next judging point."""


class AvailabilityMonitor:
    """Feed it every transition of a run (`observe`) and `finish` at the end."""

    def __init__(self) -> None:
        self.window: Window | None = None
        self.violations: list[Violation] = []
        self.windows_opened = 0
        self.writes_judged = 0
        """Owed writes judged (acknowledged or not): a guard against a vacuous pass."""

    def observe(self, before: Cluster, action: Action, after: Cluster) -> None:
        window = self.window
        if window is not None:
            if not isinstance(action, WINDOW_ACTIONS):
                self._judge(before, window)
                self.window = None
                return
            if isinstance(action, TickNode | TickAll):
                if not _healthy(before, window.down):
                    self.window = None  # the network was late: nothing more can be judged
                    return
                window = self._judge(before, window)
                window = _note_timeouts(before, after, window, action)
            elif isinstance(action, Put | Delete):
                window = _note_write(after, window)
            self.window = window
            return
        down = _taken_down(before, action, after)
        if down is not None:
            self.window = Window(down, before.step)
            self.windows_opened += 1

    def replay_window(
        self, cluster: Cluster, actions: Sequence[Action], position: int
    ) -> tuple[Cluster, int]:
        """Apply `actions` from `position` one at a time, observing each, until no window is
        open (at once, if the first opens none); the cluster and the position reached."""
        while position < len(actions):
            action = actions[position]
            after = cluster.apply(action)
            self.observe(cluster, action, after)
            cluster, position = after, position + 1
            if self.window is None:
                break
        return cluster, position

    def finish(self, cluster: Cluster) -> None:
        """The run ended: judge an open window as at its close."""
        if self.window is not None:
            self._judge(cluster, self.window)
            self.window = None

    def _judge(self, cluster: Cluster, window: Window) -> Window:
        """Judge the owed writes if the network has delivered everything it owes."""
        if not window.owed or not _healthy(cluster, window.down):
            return window
        for op_id in window.owed:
            op = cluster.operations[op_id]
            self.writes_judged += 1
            if not op.acknowledged:
                self.violations.append(_report(cluster, window, op))
        return attrs.evolve(window, owed=())


def window_openings(actions: Sequence[Action]) -> list[int]:
    """Indexes of the actions that may open a window: a crash or partition right after a
    `QuiesceEnd` (whether they do depends on the cluster, which `observe` checks)."""
    return [
        index
        for index in range(1, len(actions))
        if isinstance(actions[index - 1], QuiesceEnd)
        and isinstance(actions[index], Crash | Partition)
    ]


def check_availability(cluster: Cluster) -> list[Violation]:
    """INV-AVAIL-1 over a finished run, replaying it through the windows its trace contains
    (nothing is replayed when there are none)."""
    actions = cluster.trace_actions()
    openings = window_openings(actions)
    if not openings:
        return []
    monitor = AvailabilityMonitor()
    replayed = Cluster.start(cluster.config, cluster.clients)
    position = 0
    for opening in openings:
        if opening < position:
            continue
        replayed = replayed.apply_all(actions[position:opening])
        replayed, position = monitor.replay_window(replayed, actions, opening)
    monitor.finish(replayed)
    return monitor.violations


def _taken_down(before: Cluster, action: Action, after: Cluster) -> str | None:
    """The node a window opens for, if `action` takes exactly one node of a settled cluster
    down right after a converged quiescence."""
    quiescence = before.quiescence
    if (
        quiescence is None
        or not quiescence.converged
        or quiescence.ended != before.step - 1
        or len(before.nodes) <= before.config.n
    ):
        return None
    if isinstance(action, Crash):
        return action.node
    if isinstance(action, Partition):
        for node in after.node_ids():
            others = [other for other in after.node_ids() if other != node]
            cut = {(node, other) for other in others} | {(other, node) for other in others}
            if after.blocked == cut:
                return node
    return None


def _healthy(cluster: Cluster, down: str) -> bool:
    """Nothing in flight between two nodes other than the one down."""
    return all(down in (m.sender, m.receiver) for m in cluster.in_flight.values())


def _coordinates(cluster: Cluster, op: Operation, down: str) -> bool:
    """A write through a node of its key's preference list that also holds the node down."""
    preference = cluster.preference_list(op.key)
    return op.is_write and op.node != down and op.node in preference and down in preference


def _note_write(after: Cluster, window: Window) -> Window:
    op = after.operations[after.next_operation - 1]
    if not _coordinates(after, op, window.down):
        return window
    if op.node in dict(window.timed_out):
        return attrs.evolve(window, owed=(*window.owed, op.op_id))
    started = after.clocks[op.node]
    return attrs.evolve(window, watched=(*window.watched, (op.op_id, started)))


def _note_timeouts(before: Cluster, after: Cluster, window: Window, action: Action) -> Window:
    timed_out = dict(window.timed_out)
    timeout = after.config.request_timeout
    for op_id, started in window.watched:
        node = before.operations[op_id].node
        if node not in timed_out and after.clocks[node] >= started + timeout:
            timed_out[node] = before.step
    if len(timed_out) == len(window.timed_out):
        return window
    watched = tuple(w for w in window.watched if before.operations[w[0]].node not in timed_out)
    return attrs.evolve(window, timed_out=tuple(timed_out.items()), watched=watched)


def _report(cluster: Cluster, window: Window, op: Operation) -> Violation:
    timed_out_at = dict(window.timed_out)[op.node]
    result = "no answer" if op.result is None else type(op.result).__name__
    return violation(
        "INV-AVAIL-1",
        f"{op.describe()} was not acknowledged ({result}) although {window.down} was the only "
        f"node down, the network had delivered everything, and {op.node} had already timed out "
        f"against {window.down}",
        [window.opened, timed_out_at, op.invoked, op.completed],
        [
            ("down", f"{window.down} since step {window.opened}"),
            ("coordinator timed out", f"{op.node} at step {timed_out_at}"),
            ("result", repr(op.result)),
        ],
    )
