"""One verdict per run: the black-box checks over what its clients saw, the simulator's
white-box extras, any extra checks, what only the run's intermediate states show (`Midway`:
INV-AVAIL-1, and each converged quiescence that a disk loss followed), and the
sometimes-property counts.

The engines (swarm, exhaustive search, the shrinker) all judge a cluster the same way, so a
counterexample one engine reports is one the others, and `dynref replay`, agree on:
`check_history(history_of(cluster))` (`Verdict.report`), then `check_extras` (ACK-QUORUM,
INV-HINT-1, PROTOCOL-ERROR, STRAY-REPLY, INV-ACK-2 under disk loss, the fixed point of every
quiescence, read-your-writes in clean windows), INV-AVAIL-1 (a white-box extra: it reads what
is in flight at each tick) and the caller's checks (`Verdict.extras`).

A converged quiescence that a disk loss followed is judged as the end of its own History: the
black-box checks over what clients saw up to it, final reads taken there (their violations
join `Verdict.report`), and INV-ACK-2 over the cluster then, if a disk was lost before it (an
extra). A later disk loss excuses, at the end, what such a quiescence had already shown.

An extra check is any function `check(view: HistoryView) -> Sequence[Violation]`, written like
the checkers of `dynref.check` (docs/protocol-designers.md walks through one); `view.history`
is the run's black-box History. Engines take them in their settings (`SwarmSettings.checks`,
`SearchSettings.checks`); the CLI takes `--check MODULE:FUNCTION`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from dynref.check import (
    CheckResult,
    CheckStatus,
    HistoryView,
    Report,
    SometimesReport,
    Violation,
    check_extras,
    check_history,
    sometimes,
)
from dynref.check.acked import check_acknowledged_writes
from dynref.check.availability import AvailabilityMonitor, window_openings
from dynref.sim import Action, Cluster, LoseDisk, QuiesceEnd, history_of

Check = Callable[[HistoryView], Sequence[Violation]]


@attrs.frozen
class Verdict:
    report: Report
    """The black-box checks over the run's History (and over its prefix ending at each
    converged quiescence a disk loss followed)."""
    extras: tuple[Violation, ...]
    """The white-box extras' violations (INV-AVAIL-1's among them), then the caller's checks'."""
    sometimes: SometimesReport

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Every violation: the black-box ones first."""
        return self.report.violations + self.extras

    @property
    def invariants(self) -> tuple[str, ...]:
        """The violated invariant ids, each once, in the order first reported."""
        return tuple(dict.fromkeys(v.invariant for v in self.violations))


@attrs.frozen
class Midway:
    """What a run showed between its actions, which its final cluster cannot show.

    - `availability`: INV-AVAIL-1, judged over the run's transitions (`check.availability`);
    - `quiesced`: the cluster at each converged quiescence that a disk loss followed later. Such
      a loss can take a write's last custodian, which excuses a loss the quiescence had already
      shown (INV-ACK-2 asks for survival *while* a custodian keeps its disk), and it stops the
      black-box checks from judging the puts invoked before it, so each is judged there too.
    """

    availability: tuple[Violation, ...] = ()
    quiesced: tuple[Cluster, ...] = ()


def _checked(view: HistoryView, checks: Sequence[Check]) -> tuple[Report, tuple[Violation, ...]]:
    report = check_history(view.history)
    extras = list(check_extras(view))
    for check in checks:
        extras.extend(check(view))
    return report, tuple(extras)


def judge(
    cluster: Cluster, checks: Sequence[Check] = (), *, midway: Midway | None = None
) -> Verdict:
    """`midway`: what the run saw between actions (the swarm passes its own); None replays the
    trace as far as needed to find out (`midway_of`)."""
    view = HistoryView(cluster)
    report, extras = _checked(view, checks)
    midway = midway_of(cluster) if midway is None else midway
    for earlier in midway.quiesced:
        report = with_earlier(report, check_history(history_of(earlier)))
        earlier_view = HistoryView(earlier)
        if earlier_view.disk_losses:
            extras = _new(extras, check_acknowledged_writes(earlier_view))
    return Verdict(report, extras + midway.availability, sometimes(cluster, view))


def all_violations(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[Violation, ...]:
    return judge(cluster, checks).violations


def violated(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[str, ...]:
    """Just the violated invariant ids (what a shrinker or a replay compares)."""
    return judge(cluster, checks).invariants


def _new(found: tuple[Violation, ...], more: Sequence[Violation]) -> tuple[Violation, ...]:
    seen = {(v.invariant, v.message) for v in found}
    added = []
    for v in more:
        if (v.invariant, v.message) not in seen:
            seen.add((v.invariant, v.message))
            added.append(v)
    return (*found, *added)


def with_earlier(report: Report, earlier: Report) -> Report:
    """`report` with the violations `earlier` (a prefix of the run, judged at a quiescence)
    found that it lacks, each under its check; a check that passed or skipped then fails."""
    results = []
    for result in report.results:
        try:
            before = earlier.result(result.check)
        except KeyError:
            results.append(result)
            continue
        violations = _new(result.violations, before.violations)
        if violations == result.violations:
            results.append(result)
            continue
        note = "; ".join(
            filter(None, [result.note, "violated at a quiescence a disk loss followed"])
        )
        results.append(
            CheckResult(
                result.check, result.title, CheckStatus.FAIL, violations, note, result.judged
            )
        )
    return Report(tuple(results))


def judged_midway(actions: Sequence[Action], index: int) -> bool:
    """Whether the converged quiescence ending at `index` must be judged on its own: a disk
    loss comes later in the run."""
    return any(isinstance(action, LoseDisk) for action in actions[index + 1 :])


def midway_of(cluster: Cluster) -> Midway:
    """Replay the run's trace as far as its windows (`check.availability`) and its quiescences
    followed by a disk loss need; nothing is replayed when there are none."""
    actions = cluster.trace_actions()
    ends = [i for i, action in enumerate(actions) if isinstance(action, QuiesceEnd)]
    stops = [i for i in ends if i + 1 < len(actions) and judged_midway(actions, i)]
    windows = window_openings(actions)
    if not stops and not windows:
        return Midway()
    monitor = AvailabilityMonitor()
    quiesced: list[Cluster] = []
    replayed = Cluster.start(cluster.config, cluster.clients)
    position = 0
    for index in sorted(set(stops) | {opening - 1 for opening in windows}):
        if index < position:
            continue  # inside a window just replayed (none can hold a quiescence)
        replayed = replayed.apply_all(actions[position : index + 1])
        position = index + 1
        quiescence = replayed.quiescence
        if index in stops and quiescence is not None and quiescence.converged:
            quiesced.append(replayed)
        if index + 1 in windows:
            replayed, position = monitor.replay_window(replayed, actions, position)
    monitor.finish(replayed)
    return Midway(tuple(monitor.violations), tuple(quiesced))
