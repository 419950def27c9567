"""One verdict per run: the black-box checks over what its clients saw, the simulator's
white-box extras, any extra checks, and the sometimes-property counts.

The engines (swarm, exhaustive search, the shrinker) all judge a cluster the same way, so a
counterexample one engine reports is one the others, and `dynref replay`, agree on:
`check_history(history_of(cluster))` (`Verdict.report`), then `check_extras` (ACK-QUORUM,
INV-HINT-1, PROTOCOL-ERROR, STRAY-REPLY, INV-ACK-2 under disk loss, the fixed point of every
quiescence, read-your-writes in clean windows) and the caller's checks (`Verdict.extras`).

An extra check is any function `check(view: HistoryView) -> Sequence[Violation]`, written like
the checkers of `dynref.check` (docs/protocol-designers.md walks through one); `view.history`
is the run's black-box History. Engines take them in their settings (`SwarmSettings.checks`,
`SearchSettings.checks`); the CLI takes `--check MODULE:FUNCTION`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from dynref.check import (
    HistoryView,
    Report,
    SometimesReport,
    Violation,
    check_extras,
    check_history,
    sometimes,
)
from dynref.sim import Cluster

Check = Callable[[HistoryView], Sequence[Violation]]


@attrs.frozen
class Verdict:
    report: Report
    """The black-box checks over the run's History."""
    extras: tuple[Violation, ...]
    """The white-box extras' violations, then the caller's checks'."""
    sometimes: SometimesReport

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Every violation: the black-box ones first."""
        return self.report.violations + self.extras

    @property
    def invariants(self) -> tuple[str, ...]:
        """The violated invariant ids, each once, in the order first reported."""
        return tuple(dict.fromkeys(v.invariant for v in self.violations))


def _checked(view: HistoryView, checks: Sequence[Check]) -> tuple[Report, tuple[Violation, ...]]:
    report = check_history(view.history)
    extras = list(check_extras(view))
    for check in checks:
        extras.extend(check(view))
    return report, tuple(extras)


def judge(cluster: Cluster, checks: Sequence[Check] = ()) -> Verdict:
    view = HistoryView(cluster)
    report, extras = _checked(view, checks)
    return Verdict(report, extras, sometimes(cluster, view))


def all_violations(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[Violation, ...]:
    report, extras = _checked(HistoryView(cluster), checks)
    return report.violations + extras


def violated(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[str, ...]:
    """Just the violated invariant ids (what a shrinker or a replay compares)."""
    return tuple(dict.fromkeys(v.invariant for v in all_violations(cluster, checks)))
