"""What a checker reports: which invariant, in words, the trace steps involved, and details."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class Violation:
    invariant: str
    """The SPEC id (`INV-ACK-1`, ...), or a checker-level id for what no INV names."""
    message: str
    steps: tuple[int, ...]
    """Trace step indexes involved, ascending."""
    details: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        lines = [f"{self.invariant}: {self.message}"]
        if self.steps:
            lines.append("  steps: " + ", ".join(str(s) for s in self.steps))
        lines.extend(f"  {name}: {value}" for name, value in self.details)
        return "\n".join(lines)


def violation(
    invariant: str,
    message: str,
    steps: Iterable[int | None],
    details: Iterable[tuple[str, str]] = (),
) -> Violation:
    """A Violation with its steps sorted and deduplicated (None entries skipped)."""
    ordered = tuple(sorted({step for step in steps if step is not None}))
    return Violation(invariant, message, ordered, tuple(details))


def format_violations(violations: Iterable[Violation]) -> str:
    return "\n".join(v.describe() for v in violations)
