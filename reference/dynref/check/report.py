"""The verdict of the black-box checkers over one History: one result per check.

A check is `pass` (judged, nothing wrong), `fail` (with its violations) or `skip` (it could
not judge: the target lacks a capability it needs, or the history lacks what it reads, such as
final reads). A skipped check is never counted as passed.
"""

from __future__ import annotations

import enum

import attrs

from dynref.check.violation import Violation


class CheckStatus(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@attrs.frozen
class CheckResult:
    check: str
    """The invariant id the check judges (`INV-ACK-1`, ...)."""
    title: str
    status: CheckStatus
    violations: tuple[Violation, ...] = ()
    note: str = ""
    """Why the check was skipped, or what part of the history it could not judge."""
    judged: int = 0
    """How many things it judged (acknowledged writes, reads, keys: see each check)."""

    def describe(self) -> str:
        text = f"{self.check:<14}{self.status.value:<6}{self.title}"
        if self.status is not CheckStatus.SKIP:
            text += f" ({self.judged:,} judged)"
        if self.note:
            text += f": {self.note}"
        return text


def judged(
    check: str, title: str, violations: list[Violation], count: int, note: str = ""
) -> CheckResult:
    status = CheckStatus.FAIL if violations else CheckStatus.PASS
    return CheckResult(check, title, status, tuple(violations), note, count)


def skipped(check: str, title: str, reason: str) -> CheckResult:
    return CheckResult(check, title, CheckStatus.SKIP, (), reason, 0)


@attrs.frozen
class Report:
    results: tuple[CheckResult, ...]

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for result in self.results for v in result.violations)

    @property
    def failed(self) -> bool:
        return any(result.status is CheckStatus.FAIL for result in self.results)

    @property
    def skipped(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status is CheckStatus.SKIP)

    def result(self, check: str) -> CheckResult:
        for result in self.results:
            if result.check == check:
                return result
        raise KeyError(check)

    def status(self, check: str) -> CheckStatus:
        return self.result(check).status

    def describe(self) -> str:
        return "\n".join(result.describe() for result in self.results)


__all__ = ["CheckResult", "CheckStatus", "Report", "judged", "skipped"]
