"""One verdict per run: every checker of `dynref.check`, any extra checks, and the
sometimes-property counts.

The engines (swarm, exhaustive search, the shrinker) all judge a cluster the same way, so a
counterexample one engine reports is one the others, and `dynref replay`, agree on.

An extra check is any function `check(view: HistoryView) -> Sequence[Violation]`, written like
the checkers of `dynref.check` (docs/protocol-designers.md walks through one). Engines take
them in their settings (`SwarmSettings.checks`, `SearchSettings.checks`); the CLI takes
`--check MODULE:FUNCTION`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from dynref.check import HistoryView, SometimesReport, Violation, check_all, sometimes
from dynref.sim import Cluster

Check = Callable[[HistoryView], Sequence[Violation]]


@attrs.frozen
class Verdict:
    violations: tuple[Violation, ...]
    sometimes: SometimesReport

    @property
    def invariants(self) -> tuple[str, ...]:
        """The violated invariant ids, each once, in the order first reported."""
        return tuple(dict.fromkeys(v.invariant for v in self.violations))


def all_violations(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[Violation, ...]:
    found = list(check_all(cluster))
    if checks:
        view = HistoryView(cluster)
        for check in checks:
            found.extend(check(view))
    return tuple(found)


def judge(cluster: Cluster, checks: Sequence[Check] = ()) -> Verdict:
    return Verdict(all_violations(cluster, checks), sometimes(cluster))


def violated(cluster: Cluster, checks: Sequence[Check] = ()) -> tuple[str, ...]:
    """Just the violated invariant ids (what a shrinker or a replay compares)."""
    return tuple(dict.fromkeys(v.invariant for v in all_violations(cluster, checks)))
