"""Sequence diagrams of traces: text for a terminal, a self-contained HTML file for a browser.

    text_diagram(trace, violations)   one line per event under a row of lifelines
    html_diagram(trace, violations)   one HTML page with an inline SVG; no external resources

Both replay the trace (`sequence_of`) and draw the same rows: arrows for client requests and
replies and for delivered messages, `x` for a message dropped or lost to a partition or a
crash, marks for crashes, restarts, disk losses and ticks, and bars across the diagram for
partitions, heals and the liveness phase. Rows at the steps a violation names are highlighted
(`>>` in text, red in HTML), and the violations are spelled out below the diagram.

Text legend: `o--->` a message or request and its direction, `o---x` lost, `o--->>` duplicated,
`X` crash, `^` restart, `!` disk loss, `+` tick, `===` partition or heal, `...` every clock
ticks, `~~~` the liveness phase begins or ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as Seq

from dynref.check import Violation
from dynref.explore.sequence import WHOLE_WIDTH_KINDS, Row, Sequence, sequence_of
from dynref.explore.svg import render_html
from dynref.sim import Trace

MARKS = {"crash": "X", "restart": "^", "disk": "!", "tick": "+", "admin": "@"}
FILLERS = {"network": "=", "time": ".", "phase": "~"}
STEP_WIDTH = 6


def text_diagram(trace: Trace, violations: Seq[Violation] = (), title: str | None = None) -> str:
    return render_text(sequence_of(trace, violations, title))


def html_diagram(trace: Trace, violations: Seq[Violation] = (), title: str | None = None) -> str:
    return render_html(sequence_of(trace, violations, title))


def render_text(sequence: Sequence) -> str:
    width = max(6, *(len(column) + 2 for column in sequence.columns))
    centre = {column: index * width + width // 2 for index, column in enumerate(sequence.columns)}
    span = width * len(sequence.columns)
    names = [" "] * span
    for column, x in centre.items():
        start = x - len(column) // 2
        names[start : start + len(column)] = column
    invariants_at = _invariants_by_step(sequence.violations)
    lines = [sequence.title, "", " " * (STEP_WIDTH + 2) + "".join(names).rstrip()]
    for row in sequence.rows:
        cells = _lifelines(span, centre.values())
        _draw(cells, row, centre, span)
        prefix = ">>" if row.highlighted else "  "
        label = row.label
        if row.highlighted:
            label += "   <== " + ", ".join(invariants_at.get(row.step, ()))
        lines.append(f"{prefix}{row.step:>{STEP_WIDTH}} " + "".join(cells) + "  " + label)
    lines.append("")
    if sequence.violations:
        lines.append("Violations:")
        lines.extend(v.describe() for v in sequence.violations)
    else:
        lines.append("No violations.")
    return "\n".join(lines) + "\n"


def _invariants_by_step(violations: tuple[Violation, ...]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for v in violations:
        for step in v.steps:
            if v.invariant not in found.setdefault(step, []):
                found[step].append(v.invariant)
    return {step: tuple(names) for step, names in found.items()}


def _lifelines(span: int, positions: Iterable[int]) -> list[str]:
    cells = [" "] * span
    for x in positions:
        cells[x] = "|"
    return cells


def _draw(cells: list[str], row: Row, centre: dict[str, int], span: int) -> None:
    if row.kind in WHOLE_WIDTH_KINDS:
        filler = FILLERS[row.kind]
        cells[:] = [filler] * span
        return
    if row.source is None:
        return
    start = centre[row.source]
    if row.target is None or row.target == row.source:
        cells[start] = MARKS.get(row.kind, "*")
        return
    end = centre[row.target]
    step = 1 if end > start else -1
    for x in range(start, end, step):
        cells[x] = "-"
    cells[start] = "o"
    if row.kind in {"drop", "lost"}:
        cells[end] = "x"
    elif row.kind == "duplicate":
        cells[end - step] = ">" if step > 0 else "<"
        cells[end] = cells[end - step]
    else:
        cells[end] = ">" if step > 0 else "<"
