"""`GET /stats` (JSON) and `GET /metrics` (Prometheus text exposition format 0.0.4), pure.

Both render the node's status, the same dict the native `StatusRequest` answers, plus the HTTP
API's own request counts. In the Prometheus text every metric has its HELP and TYPE lines;
counters end in `_total` (REQ-HTTP-6). A status field this module does not know yet is still
exported, as `untyped`, so a counter added to the core shows up without a change here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LIST_FIELDS = ("down", "isolated", "connected")
"""Status fields holding comma-separated node ids."""

COUNTERS = {
    "coordinated_puts": "Puts and deletes this node coordinated.",
    "coordinated_gets": "Gets this node coordinated.",
    "forwarded_puts": "Puts this node forwarded to a node of the key's preference list.",
    "hinted_writes": "Writes this node stored as hints for a node believed down.",
    "hints_handed_off": "Hints this node handed off to their owners.",
    "read_repairs": "Replicas this node repaired after a read.",
    "antientropy_exchanges": "Merkle exchanges this node started.",
    "antientropy_keys_repaired": "Keys repaired by Merkle anti-entropy.",
    "protocol_errors": "Messages or requests this node refused as protocol errors.",
    "commits": "Group commits of the node's storage.",
    "steps": "Events stepped through the core.",
    "dropped_sends": "Messages dropped because a peer link was down or full.",
}
GAUGES = {
    "keys": "Keys held as primary replica.",
    "hints": "Keys held as hints for other nodes.",
    "boots": "Times this node's disk was booted (recoveries included).",
}
NOT_EXPORTED = frozenset({"node_id", "mode", "incarnation", "now", "pid", *LIST_FIELDS})
"""Texts, ids and clocks: the identity goes into `dynref_node_info`, the lists into gauges."""

RequestCounts = Mapping[tuple[str, int], int]
"""(HTTP method, status code) -> requests answered."""


def _peers(status: Mapping[str, int | str], name: str) -> list[str]:
    text = status.get(name, "")
    return [peer for peer in str(text).split(",") if peer]


def stats_json(status: Mapping[str, int | str], requests: RequestCounts) -> bytes:
    document: dict[str, object] = dict(status)
    for name in LIST_FIELDS:
        if name in status:
            document[name] = _peers(status, name)
    document["http_requests"] = [
        {"method": method, "code": code, "count": count}
        for (method, code), count in sorted(requests.items())
    ]
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def _label(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _metric_name(field: str) -> str:
    return "dynref_" + re.sub(r"[^a-zA-Z0-9_]", "_", field)


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: list[str]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(samples)


def prometheus_text(status: Mapping[str, int | str], requests: RequestCounts) -> bytes:
    lines: list[str] = []
    identity = ",".join(
        f"{label}={_label(str(status.get(field, '')))}"
        for label, field in (
            ("node_id", "node_id"),
            ("mode", "mode"),
            ("incarnation", "incarnation"),
        )
    )
    _family(lines, "dynref_node_info", "gauge", "The node's identity (always 1).", [
        f"dynref_node_info{{{identity}}} 1"
    ])  # fmt: skip
    for field, value in status.items():
        if field in NOT_EXPORTED or type(value) is not int:
            continue
        if field in COUNTERS:
            name = _metric_name(field) + "_total"
            _family(lines, name, "counter", COUNTERS[field], [f"{name} {value}"])
        elif field in GAUGES:
            name = _metric_name(field)
            _family(lines, name, "gauge", GAUGES[field], [f"{name} {value}"])
        else:
            name = _metric_name(field)
            _family(lines, name, "untyped", f"The status field {field}.", [f"{name} {value}"])
    for field, help_text in (
        ("down", "Peers this node believes down."),
        ("isolated", "Peers this node is cut off from by fault injection."),
        ("connected", "Peers this node has a live link to."),
    ):
        if field in status:
            name = f"dynref_peers_{field}"
            _family(lines, name, "gauge", help_text, [f"{name} {len(_peers(status, field))}"])
    samples = [
        f"dynref_http_requests_total{{method={_label(method)},code={_label(str(code))}}} {count}"
        for (method, code), count in sorted(requests.items())
    ]
    _family(
        lines,
        "dynref_http_requests_total",
        "counter",
        "HTTP requests answered, by method and status code.",
        samples,
    )
    return ("\n".join(lines) + "\n").encode()
