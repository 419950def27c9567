"""A sequence diagram as one self-contained HTML page: inline SVG and CSS, nothing fetched.

Lifelines run down from the column names (clients, then nodes); each row is one event, with
its step number on the left and its label on the right. Requests and replies are blue, messages
between nodes black, lost and dropped messages red and dashed with a cross at the receiver;
crashes, restarts, disk losses and ticks are marks on a lifeline; partitions, heals and the
liveness phase are bands across the diagram. Rows at the steps a violation names are shaded
red, and every row shows its full label as a tooltip.
"""

from __future__ import annotations

from html import escape

from dynref.explore.sequence import WHOLE_WIDTH_KINDS, Row, Sequence

COLUMN_WIDTH = 96
ROW_HEIGHT = 22
STEP_MARGIN = 56
HEADER = 44
LABEL_WIDTH = 760
COLOURS = {
    "request": "#1f5fbf",
    "reply": "#1f8f4f",
    "message": "#222222",
    "duplicate": "#7a4fbf",
    "drop": "#c0392b",
    "lost": "#c0392b",
}
MARKS = {"crash": "✖", "restart": "↻", "disk": "⛁", "tick": "·", "admin": "⚑"}
BANDS = {"network": "#f6e7b0", "time": "#e8e8e8", "phase": "#d6e6f5"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.2em; }
svg text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.name { font-weight: bold; font-size: 13px; }
.step { fill: #888; }
pre { background: #fbeaea; border-left: 4px solid #c0392b; padding: 0.8em; white-space: pre-wrap; }
.ok { background: #e9f6ec; border-left-color: #1f8f4f; }
"""


def render_html(sequence: Sequence) -> str:
    svg = render_svg(sequence)
    if sequence.violations:
        report = "\n\n".join(escape(v.describe()) for v in sequence.violations)
        verdict = f"<h2>Violations</h2>\n<pre>{report}</pre>"
    else:
        verdict = '<pre class="ok">No violations.</pre>'
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(sequence.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(sequence.title)}</h1>\n{verdict}\n{svg}\n</body>\n</html>\n"
    )


def render_svg(sequence: Sequence) -> str:
    columns = sequence.columns
    centre = {c: STEP_MARGIN + i * COLUMN_WIDTH + COLUMN_WIDTH // 2 for i, c in enumerate(columns)}
    right = STEP_MARGIN + len(columns) * COLUMN_WIDTH
    width = right + LABEL_WIDTH
    height = HEADER + len(sequence.rows) * ROW_HEIGHT + ROW_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        "<defs>",
        *(_marker(kind, colour) for kind, colour in COLOURS.items()),
        "</defs>",
    ]
    for row_index, row in enumerate(sequence.rows):
        if row.highlighted:
            y = HEADER + row_index * ROW_HEIGHT
            parts.append(
                f'<rect x="0" y="{y}" width="{width}" height="{ROW_HEIGHT}" fill="#f8d0d0"/>'
            )
    for column, x in centre.items():
        colour = "#1f5fbf" if column in sequence.clients else "#222"
        parts.append(
            f'<text class="name" x="{x}" y="{HEADER - 18}" text-anchor="middle" '
            f'fill="{colour}">{escape(column)}</text>'
        )
        parts.append(
            f'<line x1="{x}" y1="{HEADER - 10}" x2="{x}" y2="{height - 6}" stroke="#bbb" '
            'stroke-dasharray="4 3"/>'
        )
    for row_index, row in enumerate(sequence.rows):
        y = HEADER + row_index * ROW_HEIGHT + ROW_HEIGHT // 2
        parts.append(f"<g><title>{escape(f'step {row.step}: {row.label}')}</title>")
        parts.append(f'<text class="step" x="6" y="{y + 4}">{row.step}</text>')
        parts.extend(_row_shapes(row, y, centre, right))
        weight = ' font-weight="bold"' if row.highlighted else ""
        parts.append(f'<text x="{right + 10}" y="{y + 4}"{weight}>{escape(row.label)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _marker(kind: str, colour: str) -> str:
    return (
        f'<marker id="head-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
    )


def _row_shapes(row: Row, y: int, centre: dict[str, int], right: int) -> list[str]:
    if row.kind in WHOLE_WIDTH_KINDS:
        top = y - ROW_HEIGHT // 2 + 2
        return [
            f'<rect x="{STEP_MARGIN - 10}" y="{top}" width="{right - STEP_MARGIN + 10}" '
            f'height="{ROW_HEIGHT - 4}" rx="3" fill="{BANDS[row.kind]}"/>'
        ]
    if row.source is None:
        return []
    x1 = centre[row.source]
    if row.target is None or row.target == row.source:
        mark = MARKS.get(row.kind, "•")
        colour = "#c0392b" if row.kind in {"crash", "disk"} else "#555"
        return [
            f'<text x="{x1}" y="{y + 5}" text-anchor="middle" font-size="15" '
            f'fill="{colour}">{mark}</text>'
        ]
    x2 = centre[row.target]
    colour = COLOURS.get(row.kind, "#222")
    inset = 4 if x2 > x1 else -4
    shapes = [f'<circle cx="{x1}" cy="{y}" r="2.5" fill="{colour}"/>']
    if row.kind in {"drop", "lost"}:
        shapes.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="1.5" '
            'stroke-dasharray="5 3"/>'
        )
        shapes.append(
            f'<text x="{x2}" y="{y + 5}" text-anchor="middle" font-size="15" '
            f'fill="{colour}">✕</text>'
        )
        return shapes
    shapes.append(
        f'<line x1="{x1}" y1="{y}" x2="{x2 - inset}" y2="{y}" stroke="{colour}" '
        f'stroke-width="1.5" marker-end="url(#head-{row.kind})"/>'
    )
    if row.kind == "duplicate":
        shapes.append(
            f'<line x1="{x2 - 3 * inset}" y1="{y}" x2="{x2 - 2 * inset}" y2="{y}" '
            f'stroke="{colour}" marker-end="url(#head-{row.kind})"/>'
        )
    return shapes
