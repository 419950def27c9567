"""Bounded exhaustive search: every schedule of a tiny cluster, breadth first, with state hashing.

The model: a tiny cluster (say 3 nodes, N=2, one key) and a few clients, each running a fixed
program (`put`, or `get, put`: a read-modify-write whose put carries the read's context). From
a state, every enabled action is a branch:

- an idle client with operations left invokes its next one, at any node, on any key;
- any in-flight message is delivered (copies of an identical message are one branch);
- within the fault budgets: a message is dropped or duplicated, a node's clock advances by the
  request timeout (so deadlines fire and clocks drift apart), a node crashes; a crashed node
  restarts;
- with `joins`: a spare node (`n<nodes+1>`) joins through any seed, once; the gossip, transfers
  and status changes that follow run in the in-flight bag and the liveness phase.

Every state whose network is empty is judged: `quiesce()` (faults off, drive to the fixed point)
then every checker of `dynref.check`. Breadth-first order makes the first violation found one of
the shortest: its trace is the minimal counterexample within the bound.

State hashing. A state is identified by its key (`dynref.explore.statekey.StateKeys`): what
`dynref.sim.fingerprint` covers (node states, the in-flight bag as a multiset, faults, clocks,
clients), the clients' program positions and fault budgets left, and the history as the
checkers see it (`statekey.history_key`): the fingerprint leaves out the history, yet the
checkers judge histories (was a put acknowledged? what did a read return, before or after
which ack?), so two paths to the same replica state with different histories must not be
merged. The history key keeps every client invocation and completion, every coordinator
execution, every delivery of a forwarded write (the second one is a `redeliver` fault of the
black-box history), every hint stored, handed off and deleted, every change of "some node
believes a peer down", with the trace step replaced by the order of the steps and whether
consecutive ones are adjacent: the checkers compare steps only by order and by adjacency (the
clean-window rule looks one step back), so equal keys get equal verdicts. Durable stores of
versions are left out of it: they are part of the state, and only INV-ACK-2 (disk loss, which
this search does not model) reads their history.

Symmetry. Identical in-flight copies are interchangeable, and so are message ids (the
fingerprint ignores them): that reduction is sound, because an id is only a name. Node ids are
not interchangeable: the ring places a node by hashing its id, a node's generator is seeded from
it, and actors (`n1#0`) are ordered by it in contexts and in lww's tie-break, so permuting nodes
changes behaviour. Client names are not interchangeable either: a client's values embed its
name (`c1:1`), and values break ties (lww's rank, vclock's choice among equal clocks, the order
of a read's values), so renaming clients can change which write wins. The search therefore
reduces over message identities only, and says so (`SearchReport.symmetry`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import attrs

from dynref.causality import Mode
from dynref.check import Violation
from dynref.config import ClusterConfig
from dynref.explore.judge import Check, judge
from dynref.explore.statekey import StateKeys
from dynref.sim import (
    DEFAULT_QUIESCE_BOUND,
    Action,
    Cluster,
    Crash,
    Delete,
    Deliver,
    Drop,
    Duplicate,
    Get,
    InFlight,
    Join,
    Put,
    RestartNode,
    TickNode,
    Trace,
    canonical,
    explorer_config,
    trace_of,
)

SYMMETRY = (
    "message ids and identical in-flight copies; node ids and client names are not "
    "interchangeable (ring placement, generator seeds, actor order and value tie-breaks)"
)
OPERATIONS: dict[str, type[Get | Put | Delete]] = {"get": Get, "put": Put, "delete": Delete}
DEFAULT_MAX_STATES = 500_000


def default_program(ops: int) -> tuple[str, ...]:
    """`ops` operations ending with a put, alternating with gets: put; get,put; put,get,put..."""
    return tuple("put" if (ops - index) % 2 == 1 else "get" for index in range(ops))


@attrs.frozen
class SearchSettings:
    mode: Mode = Mode.DVV
    nodes: int = 3
    n: int = 2
    r: int = 1
    w: int = 2
    keys: int = 1
    clients: int = 2
    program: tuple[str, ...] = ("put",)
    """Each client's operations, in order (`get`, `put`, `delete`)."""
    drops: int = 0
    duplicates: int = 0
    timeouts: int = 0
    """How many times some node's clock may jump by the request timeout."""
    crashes: int = 0
    joins: bool = False
    """Whether a spare node joins (once) somewhere in the schedule."""
    coordinators: tuple[str, ...] | None = None
    """The nodes clients send requests to; None for every node."""
    max_states: int = DEFAULT_MAX_STATES
    stop_at_first: bool = True
    checks: tuple[Check, ...] = ()
    """Extra checks beside `dynref.check`'s."""
    quiesce_bound: int = DEFAULT_QUIESCE_BOUND

    def __attrs_post_init__(self) -> None:
        unknown = set(self.program) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)} (use get, put, delete)")
        if min(self.keys, self.clients, self.nodes) < 1:
            raise ValueError("at least one node, one key and one client")

    def config(self) -> ClusterConfig:
        return explorer_config(self.mode, self.nodes, self.n, self.r, self.w)

    def client_names(self) -> tuple[str, ...]:
        return tuple(f"c{index}" for index in range(1, self.clients + 1))

    def key_names(self) -> tuple[bytes, ...]:
        return tuple(f"k{index}".encode() for index in range(self.keys))


@attrs.frozen
class Counterexample:
    trace: Trace
    """The shortest failing path, then its liveness phase; replays bit for bit."""
    violations: tuple[Violation, ...]
    depth: int
    """Search actions before the liveness phase."""


@attrs.frozen
class SearchReport:
    settings: SearchSettings
    states_visited: int
    """States reached, counting every arrival (a state reached by two paths counts twice): the
    initial state and one per transition explored."""
    distinct_states: int
    judged_states: int
    """Distinct states with an empty network, each quiesced and checked."""
    max_depth: int
    exhausted: bool
    """Every state within the bound was explored (not cut by `max_states`, not stopped early)."""
    counterexample: Counterexample | None
    symmetry: str = SYMMETRY

    @property
    def verdict(self) -> str:
        if self.counterexample is not None:
            return "violation"
        return "pass" if self.exhausted else "incomplete"


@attrs.frozen
class _Node:
    cluster: Cluster
    positions: tuple[int, ...]
    """Per client, how many of its program's operations it invoked."""
    budgets: tuple[int, int, int, int]
    """Drops, duplicates, timeouts and crashes left."""
    depth: int


@attrs.frozen
class SearchProgress:
    """How far a search has come: what `progress` callbacks receive, every so many states."""

    states_visited: int
    distinct_states: int
    judged_states: int
    max_depth: int
    queued: int


PROGRESS_EVERY = 256
"""States taken from the queue between two calls of a search's `progress` callback."""


def search(
    settings: SearchSettings = SearchSettings(),
    progress: Callable[[SearchProgress], None] | None = None,
) -> SearchReport:
    """Explore breadth first; stop at the first violation unless told otherwise.

    `progress`, when given, is called every `PROGRESS_EVERY` states with the counts so far (the
    caller decides what to show, and when: the search itself has no clock).
    """
    start = Cluster.start(settings.config(), settings.client_names())
    root = _Node(
        start,
        (0,) * settings.clients,
        (settings.drops, settings.duplicates, settings.timeouts, settings.crashes),
        0,
    )
    keys = StateKeys()

    def state_key(node: _Node) -> bytes:
        return keys.key(node.cluster, canonical((node.positions, node.budgets)))

    seen = {state_key(root)}
    queue = deque([root])
    visited, judged, max_depth = 1, 0, 0
    found: Counterexample | None = None
    taken = 0
    while queue:
        node = queue.popleft()
        max_depth = max(max_depth, node.depth)
        taken += 1
        if progress is not None and taken % PROGRESS_EVERY == 0:
            progress(SearchProgress(visited, len(seen), judged, max_depth, len(queue)))
        if not node.cluster.in_flight:
            judged += 1
            quiesced = node.cluster.quiesce(settings.quiesce_bound)
            verdict = judge(quiesced, settings.checks)
            if verdict.violations and found is None:
                trace = trace_of(quiesced, violations=verdict.invariants)
                found = Counterexample(trace, verdict.violations, node.depth)
                if settings.stop_at_first:
                    break
        if len(seen) >= settings.max_states:
            continue
        for child in _successors(node, settings):
            visited += 1
            key = state_key(child)
            if key in seen:
                continue
            seen.add(key)
            queue.append(child)
    exhausted = not queue and len(seen) < settings.max_states
    return SearchReport(
        settings, visited, len(seen), judged, max_depth, exhausted and found is None, found
    )


def _successors(node: _Node, settings: SearchSettings) -> Iterator[_Node]:
    cluster = node.cluster
    drops, duplicates, timeouts, crashes = node.budgets
    nodes = cluster.node_ids()
    for index, client in enumerate(cluster.clients):
        position = node.positions[index]
        if position >= len(settings.program) or cluster.client_busy(client):
            continue
        operation = OPERATIONS[settings.program[position]]
        positions = (*node.positions[:index], position + 1, *node.positions[index + 1 :])
        for target in settings.coordinators or nodes:
            for key in settings.key_names():
                yield _child(node, operation(client, target, key), positions, node.budgets)
    representatives: dict[InFlight, int] = {}
    for message_id in cluster.message_ids():
        representatives.setdefault(cluster.in_flight[message_id], message_id)
    for message_id in representatives.values():
        yield _child(node, Deliver(message_id))
        if drops:
            yield _child(node, Drop(message_id), budgets=(drops - 1, duplicates, timeouts, crashes))
        if duplicates:
            budgets = (drops, duplicates - 1, timeouts, crashes)
            yield _child(node, Duplicate(message_id), budgets=budgets)
    if timeouts:
        budgets = (drops, duplicates, timeouts - 1, crashes)
        for target in nodes:
            yield _child(node, TickNode(target, cluster.config.request_timeout), budgets=budgets)
    if crashes:
        budgets = (drops, duplicates, timeouts, crashes - 1)
        for target in cluster.live_nodes():
            yield _child(node, Crash(target), budgets=budgets)
    for target in cluster.crashed_nodes():
        yield _child(node, RestartNode(target))
    spare = f"n{settings.nodes + 1}"
    if settings.joins and spare not in cluster.nodes:
        for seed in cluster.config.seed_ids():
            if cluster.state(seed) is not None:
                yield _child(node, Join(spare, seed))


def _child(
    node: _Node,
    action: Action,
    positions: tuple[int, ...] | None = None,
    budgets: tuple[int, int, int, int] | None = None,
) -> _Node:
    return _Node(
        node.cluster.apply(action),
        node.positions if positions is None else positions,
        node.budgets if budgets is None else budgets,
        node.depth + 1,
    )
