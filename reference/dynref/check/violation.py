"""What a checker reports: which invariant, in words, the times involved, details, and (for
the black-box checkers) the smallest excerpt of the history that shows it."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from dynref.history import Entry, Fault, FinalRead, Op, entry_time


@attrs.frozen
class Violation:
    invariant: str
    """The SPEC id (`INV-ACK-1`, ...), or a checker-level id for what no INV names."""
    message: str
    steps: tuple[int, ...]
    """Times involved, ascending: history times for the black-box checkers, which in the
    simulator are trace step indexes (what the white-box checkers report too)."""
    details: tuple[tuple[str, str], ...] = ()
    excerpt: tuple[Entry, ...] = ()
    """The history records that show the violation, in time order (black-box checkers)."""

    def describe(self) -> str:
        lines = [f"{self.invariant}: {self.message}"]
        if self.steps:
            lines.append("  steps: " + ", ".join(str(s) for s in self.steps))
        lines.extend(f"  {name}: {value}" for name, value in self.details)
        lines.extend(f"  | {describe_entry(entry)}" for entry in self.excerpt)
        return "\n".join(lines)


def describe_entry(entry: Entry) -> str:
    if isinstance(entry, Op):
        done = "never" if entry.completed is None else str(entry.completed)
        return f"{entry.invoked}..{done} {entry.describe()}"
    if isinstance(entry, FinalRead | Fault):
        return entry.describe()
    raise TypeError(f"not a history entry: {entry!r}")


def violation(
    invariant: str,
    message: str,
    steps: Iterable[int | None],
    details: Iterable[tuple[str, str]] = (),
) -> Violation:
    """A Violation with its steps sorted and deduplicated (None entries skipped)."""
    ordered = tuple(sorted({step for step in steps if step is not None}))
    return Violation(invariant, message, ordered, tuple(details))


def shown_by(
    invariant: str,
    message: str,
    excerpt: Iterable[Entry | None],
    details: Iterable[tuple[str, str]] = (),
) -> Violation:
    """A black-box Violation: its excerpt in time order (each record once), and as its steps
    the times of the excerpt's records (invocations and completions of operations)."""
    unique: dict[int, Entry] = {}
    for entry in excerpt:
        if entry is not None:
            unique.setdefault(id(entry), entry)
    records = tuple(sorted(unique.values(), key=entry_time))
    times: set[int] = set()
    for entry in records:
        times.add(entry_time(entry))
        if isinstance(entry, Op) and entry.completed is not None:
            times.add(entry.completed)
    return Violation(invariant, message, tuple(sorted(times)), tuple(details), records)


def format_violations(violations: Iterable[Violation]) -> str:
    return "\n".join(v.describe() for v in violations)
