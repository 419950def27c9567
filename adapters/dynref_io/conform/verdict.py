"""The verdict of a series of judged histories, as an exit status.

Exit statuses of `dynref conform` and `dynref check`:

- 0: every check judged passed (checks skipped for a missing capability do not count);
- 1: some check found a violation: a finding stands however the rest of the series went;
- 2: bad usage, an unreadable history, or an adapter that broke the protocol, hung or exited;
- 3: incomplete: no violation, but part of what was asked could not be judged (a write no
  final read could judge, a run that acknowledged no write).
"""

from __future__ import annotations

from collections.abc import Iterable

from dynref.history import History, OpKind

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_ERROR = 2
EXIT_INCOMPLETE = 3


def incomplete_reasons(history: History) -> tuple[str, ...]:
    """What a history leaves unjudged, in words (empty: nothing)."""
    acked_keys = {op.key for op in history.ops if op.kind is OpKind.PUT and op.ok}
    if not any(op.is_write and op.ok for op in history.ops):
        return ("no write was acknowledged: there was nothing to lose",)
    read_keys = {final.key for final in history.finals if final.values is not None}
    unread = sorted(acked_keys - read_keys)
    if unread:
        shown = ", ".join(unread[:5]) + (", ..." if len(unread) > 5 else "")
        return (
            f"{len(unread)} keys with acknowledged puts have no successful final read "
            f"({shown}): their puts were not judged",
        )
    return ()


def exit_status(statuses: Iterable[str]) -> int:
    """The series' exit status from each run's status (pass, fail, error, incomplete)."""
    seen = set(statuses)
    if "fail" in seen:
        return EXIT_VIOLATION
    if "error" in seen:
        return EXIT_ERROR
    if "incomplete" in seen:
        return EXIT_INCOMPLETE
    return EXIT_PASS


__all__ = [
    "EXIT_ERROR",
    "EXIT_INCOMPLETE",
    "EXIT_PASS",
    "EXIT_VIOLATION",
    "exit_status",
    "incomplete_reasons",
]
