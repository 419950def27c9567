"""The reports of a series of runs: JUnit XML, a JSON summary, and every run's History.

- JUnit XML (`junit_xml`): one `<testsuite>` per run, one `<testcase>` per check, named
  `<check> seed=<seed>`; a violation is a `<failure>` whose text quotes each violation with its
  excerpt, a check skipped for a missing capability (or missing records) is `<skipped>`, an
  adapter error is an `<error>` in a testcase `adapter seed=<seed>`, and what a run left
  unjudged is a skipped testcase `complete seed=<seed>`.
- JSON (`json_summary`): the verdict and exit status, totals, and per run its checks with their
  violations, each violation's excerpt as history records (spec/history.md).
- Histories (`write_history`): `seed-<seed>.jsonl` per run, in the History format.

Every writer takes whatever results exist, so a series cut short still reports what it did.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynref.check import CheckStatus, Violation
from dynref.history import (
    Entry,
    FinalRead,
    Op,
    encode_fault,
    encode_final,
    encode_history,
    encode_op,
)

from dynref_io.conform.runner import RunResult
from dynref_io.conform.verdict import exit_status

VERDICTS = {0: "pass", 1: "fail", 2: "error", 3: "incomplete"}


def _name(result: RunResult) -> str:
    return result.source or f"seed={result.seed}"


def _suffix(result: RunResult) -> str:
    return f" {result.source}" if result.source else f" seed={result.seed}"


def junit_xml(results: Sequence[RunResult], target: str) -> str:
    root = ET.Element("testsuites", name=f"dynref conform {target}".strip())
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=f"{target} {_name(result)}".strip())
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="seed", value=str(result.seed))
        if result.faults:
            ET.SubElement(properties, "property", name="faults", value="; ".join(result.faults))
        counts = dict.fromkeys(totals, 0)
        classname = f"dynref.conform.{target or 'target'}"
        for check in result.report.results if result.report is not None else ():
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=f"{check.check}{_suffix(result)}"
            )
            counts["tests"] += 1
            if check.status is CheckStatus.FAIL:
                counts["failures"] += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    type=check.check,
                    message=f"{len(check.violations)} violations: {check.violations[0].message}",
                )
                failure.text = "\n\n".join(v.describe() for v in check.violations)
            elif check.status is CheckStatus.SKIP:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=check.note or "skipped")
        if result.error is not None:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=f"adapter{_suffix(result)}"
            )
            error = ET.SubElement(case, "error", message=result.error.splitlines()[0])
            error.text = result.error
            counts["tests"] += 1
            counts["errors"] += 1
        if result.incomplete:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=f"complete{_suffix(result)}"
            )
            ET.SubElement(case, "skipped", message="; ".join(result.incomplete))
            counts["tests"] += 1
            counts["skipped"] += 1
        for name, count in counts.items():
            suite.set(name, str(count))
            totals[name] += count
        suite.set("time", f"{result.seconds:.3f}")
    for name, count in totals.items():
        root.set(name, str(count))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _record(entry: Entry) -> Any:
    if isinstance(entry, Op):
        return json.loads(encode_op(entry))
    if isinstance(entry, FinalRead):
        return json.loads(encode_final(entry))
    return json.loads(encode_fault(entry))


def _violation(found: Violation) -> dict[str, Any]:
    return {
        "invariant": found.invariant,
        "message": found.message,
        "excerpt": [_record(entry) for entry in found.excerpt],
        "text": found.describe(),
    }


def _run(result: RunResult, histories: Path | None) -> dict[str, Any]:
    history = result.history
    summary: dict[str, Any] = {
        "seed": result.seed,
        "status": result.status,
        "seconds": round(result.seconds, 3),
        "operations": len(history.ops) if history else 0,
        "acknowledged_writes": sum(1 for op in history.ops if op.is_write and op.ok)
        if history
        else 0,
        "faults": list(result.faults),
        "notes": list(result.notes),
        "incomplete": list(result.incomplete),
        "error": result.error,
    }
    if result.source is not None:
        summary["file"] = result.source
    if histories is not None and history is not None:
        summary["history"] = str(history_path(histories, result))
    summary["checks"] = [
        {
            "check": check.check,
            "title": check.title,
            "status": check.status.value,
            "judged": check.judged,
            "note": check.note,
            "violations": [_violation(v) for v in check.violations],
        }
        for check in (result.report.results if result.report is not None else ())
    ]
    return summary


def json_summary(
    results: Sequence[RunResult],
    target: str,
    settings: dict[str, Any],
    histories: Path | None = None,
) -> str:
    status = exit_status(r.status for r in results)
    document = {
        "format": "dynref-conform",
        "version": 1,
        "target": target,
        "settings": settings,
        "verdict": VERDICTS[status],
        "exit_status": status,
        "totals": {
            "runs": len(results),
            **{name: sum(1 for r in results if r.status == name) for name in VERDICTS.values()},
            "violations": sum(len(r.report.violations) for r in results if r.report is not None),
        },
        "runs": [_run(result, histories) for result in results],
    }
    return json.dumps(document, indent=2) + "\n"


def history_path(directory: Path, result: RunResult) -> Path:
    return directory / f"seed-{result.seed}.jsonl"


def write_history(directory: Path, result: RunResult) -> None:
    if result.history is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    history_path(directory, result).write_text(encode_history(result.history), encoding="utf-8")


def write_reports(
    results: Sequence[RunResult],
    target: str,
    settings: dict[str, Any],
    junit: Path | None,
    summary: Path | None,
    histories: Path | None,
) -> None:
    if junit is not None:
        junit.write_text(junit_xml(results, target), encoding="utf-8")
    if summary is not None:
        summary.write_text(json_summary(results, target, settings, histories), encoding="utf-8")
    if histories is not None:
        for result in results:
            write_history(histories, result)


__all__ = ["history_path", "json_summary", "junit_xml", "write_history", "write_reports"]
