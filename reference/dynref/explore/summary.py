"""What many swarm seeds add up to: counts, violations by invariant, the sometimes-properties.

`SwarmTally` takes outcomes one at a time (in any order, as a process pool returns them) and
keeps only sums, maxima and the failing seeds, so a run of thousands of seeds stays small.
`tally.summary()` freezes it; `format_summary` prints it and `summary_json` gives its plain
JSON form (the CLI adds timings and saved trace paths).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from dynref.check import SOMETIMES_PROPERTIES, SometimesReport
from dynref.explore.swarm import SeedOutcome


@attrs.frozen
class SwarmSummary:
    schedules: int
    events: int
    delivered: int
    failing: tuple[tuple[str, tuple[int, ...]], ...]
    """(invariant, the seeds that violated it, ascending), by invariant id."""
    sometimes: SometimesReport
    first_messages: tuple[tuple[str, str], ...]
    """(invariant, the message of its violation in the lowest failing seed)."""

    @property
    def violation_counts(self) -> dict[str, int]:
        return {invariant: len(seeds) for invariant, seeds in self.failing}

    @property
    def failed(self) -> bool:
        return bool(self.failing)

    def never_fired(self) -> tuple[str, ...]:
        return self.sometimes.never_fired()


class SwarmTally:
    """A running total of seed outcomes."""

    def __init__(self) -> None:
        self.schedules = 0
        self.events = 0
        self.delivered = 0
        self.failing: dict[str, list[int]] = {}
        self.first_message: dict[str, tuple[int, str]] = {}
        self.sometimes = SometimesReport()

    def add(self, outcome: SeedOutcome) -> None:
        self.schedules += 1
        self.events += outcome.events
        self.delivered += outcome.delivered
        self.sometimes = self.sometimes.combine(outcome.sometimes)
        for violation in outcome.violations:
            seeds = self.failing.setdefault(violation.invariant, [])
            if outcome.seed not in seeds:
                seeds.append(outcome.seed)
            first = self.first_message.get(violation.invariant)
            if first is None or outcome.seed < first[0]:
                self.first_message[violation.invariant] = (outcome.seed, violation.message)

    def add_all(self, outcomes: Iterable[SeedOutcome]) -> SwarmTally:
        for outcome in outcomes:
            self.add(outcome)
        return self

    def summary(self) -> SwarmSummary:
        return SwarmSummary(
            schedules=self.schedules,
            events=self.events,
            delivered=self.delivered,
            failing=tuple(
                (invariant, tuple(sorted(seeds)))
                for invariant, seeds in sorted(self.failing.items())
            ),
            sometimes=self.sometimes,
            first_messages=tuple(
                (invariant, message)
                for invariant, (_, message) in sorted(self.first_message.items())
            ),
        )


def format_summary(summary: SwarmSummary, seconds: float | None = None) -> str:
    """The summary as aligned lines of text (events per second when `seconds` is given)."""
    lines = [f"{'schedules':<22}{summary.schedules:,}"]
    events = f"{summary.events:,}"
    if seconds:
        events += f" ({summary.events / seconds:,.0f} per second)"
    lines.append(f"{'events':<22}{events}")
    lines.append(f"{'messages delivered':<22}{summary.delivered:,}")
    if seconds is not None:
        rate = summary.schedules / seconds if seconds else 0.0
        lines.append(f"{'time':<22}{seconds:.1f} s ({rate:.1f} schedules per second)")
    if summary.failing:
        messages = dict(summary.first_messages)
        for index, (invariant, seeds) in enumerate(summary.failing):
            heading = "violations" if index == 0 else ""
            lines.append(
                f"{heading:<22}{invariant} in {len(seeds)} schedules (first: seed {seeds[0]})"
            )
            lines.append(f"{'':<24}{messages.get(invariant, '')}")
    else:
        lines.append(f"{'violations':<22}none")
    report = summary.sometimes
    for index, name in enumerate(SOMETIMES_PROPERTIES):
        heading = "sometimes" if index == 0 else ""
        count = getattr(report, name)
        mark = "" if count else "   <- never fired"
        lines.append(f"{heading:<22}{name.replace('_', ' '):<28}{count:>8,}{mark}")
    lines.append(
        f"{'largest sibling set':<22}{report.largest_sibling_set} "
        f"(largest number of truly concurrent writes to one key: "
        f"{report.largest_concurrent_writes})"
    )
    if report.vclock_truncations:
        lines.append(
            f"{'vclock truncations':<22}{report.vclock_truncations:,} "
            "(writes whose clock named more than 10 actors)"
        )
    return "\n".join(lines)


def summary_json(summary: SwarmSummary) -> dict[str, object]:
    report = summary.sometimes
    return {
        "schedules": summary.schedules,
        "events": summary.events,
        "delivered": summary.delivered,
        "violation_counts": summary.violation_counts,
        "sometimes": {name: getattr(report, name) for name in SOMETIMES_PROPERTIES},
        "never_fired": list(summary.never_fired()),
        "largest_sibling_set": report.largest_sibling_set,
        "largest_concurrent_writes": report.largest_concurrent_writes,
        "vclock_truncations": report.vclock_truncations,
    }
