"""Sequence diagrams of traces (issue 4, part 4): text for a terminal, HTML with inline SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from dynref.causality import Mode
from dynref.check import Violation
from dynref.explore.diagram import html_diagram, text_diagram
from dynref.explore.exhaustive import SearchSettings, search
from dynref.explore.sequence import sequence_of
from dynref.sim import Cluster, Trace, explorer_config, trace_of

MARKED = Violation("DEMO-VIOLATION", "something went wrong here", (0, 4))


@pytest.fixture(scope="module")
def eventful() -> Trace:
    """A short run with every kind of row: requests and replies, messages, a duplicate, a drop,
    a delivery lost to a partition, a crash and a restart, a tick, a disk loss, quiescence."""
    cluster = Cluster.start(explorer_config(Mode.DVV, nodes=3, n=2, r=1, w=2), ("c1", "c2"))
    cluster = cluster.client_put("c1", "n2", b"k0")  # step 0
    first = cluster.message_ids()[0]
    cluster = cluster.duplicate(first)  # 1
    cluster = cluster.drop(cluster.message_ids()[-1])  # 2
    cluster = cluster.partition([["n2"]])  # 3
    cluster = cluster.deliver(first)  # 4: lost, n2 is cut off
    cluster = cluster.heal()  # 5
    cluster = cluster.crash("n3")  # 6
    cluster = cluster.client_put("c2", "n3", b"k0")  # 7: no reply, n3 is down
    cluster = cluster.restart("n3")  # 8
    cluster = cluster.tick("n1", 50)  # 9
    cluster = cluster.lose_disk("n1")  # 10
    return trace_of(cluster.quiesce())


def test_rows_cover_every_kind_of_event(eventful: Trace) -> None:
    sequence = sequence_of(eventful)
    assert sequence.columns == ("c1", "c2", "n1", "n2", "n3")
    kinds = {row.kind for row in sequence.rows}
    assert {"request", "reply", "message", "duplicate", "drop", "lost", "network"} <= kinds
    assert {"crash", "restart", "tick", "disk", "phase", "time"} <= kinds
    lost = next(row for row in sequence.rows if row.kind == "lost")
    assert lost.step == 4 and "partitioned" in lost.label
    no_reply = next(row for row in sequence.rows if row.kind == "reply" and row.step == 7)
    assert (no_reply.source, no_reply.target) == ("n3", "c2")
    assert "down" in no_reply.label


def test_text_diagram_draws_lifelines_arrows_and_marks(eventful: Trace) -> None:
    text = text_diagram(eventful, [MARKED])
    lines = text.splitlines()
    assert lines[0].startswith("dvv trace: 3 nodes, N=2 R=1 W=2")
    header = lines[2].split()
    assert header == ["c1", "c2", "n1", "n2", "n3"]
    by_step: dict[int, list[str]] = {}
    for line in lines[3:]:
        parts = line[2:].split(maxsplit=1)
        if parts and parts[0].isdigit():
            by_step.setdefault(int(parts[0]), []).append(line)
    put = by_step[0][0]
    assert put.startswith(">>") and re.search("o-+>", put) and "put k0=c1:1" in put
    assert "<== DEMO-VIOLATION" in put
    assert "x" in by_step[2][0] and "dropped #1" in by_step[2][0]
    assert ">>" in by_step[1][0] and "duplicated #0 Replicate k0 [c1:1] as #1" in by_step[1][0]
    assert "=====" in by_step[3][0] and "partition n2" in by_step[3][0]
    assert by_step[4][0].startswith(">>") and "lost (partitioned)" in by_step[4][0]
    assert " X " in by_step[6][0] + " " and "n3 crashes" in by_step[6][0]
    assert "^" in by_step[8][0] and "!" in by_step[10][0] and "+" in by_step[9][0]
    assert "~~~~~" in text and "liveness phase" in text
    assert text.rstrip().endswith("something went wrong here\n  steps: 0, 4".rstrip())


def test_text_diagram_of_the_vclock_counterexample_names_the_lost_write() -> None:
    """INV-ACK-1: the exhaustive search's minimal trace, as a designer would read it."""
    example = search(SearchSettings(mode=Mode.VCLOCK)).counterexample
    assert example is not None
    text = text_diagram(example.trace, example.violations)
    assert "put k0=c1:1 ctx {}" in text and "put k0=c2:1 ctx {}" in text
    assert "PutOk (put c1:1)" in text
    assert "INV-ACK-1: acknowledged op 1" in text
    assert sum(line.startswith(">>") for line in text.splitlines()) >= 5
    assert "No violations." not in text


def test_a_trace_without_violations_says_so(eventful: Trace) -> None:
    assert text_diagram(eventful).rstrip().endswith("No violations.")
    assert "No violations." in html_diagram(eventful)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)


def test_html_diagram_is_one_self_contained_page(eventful: Trace) -> None:
    page = html_diagram(eventful, [MARKED], title="a <demo> & more")
    assert page.startswith("<!DOCTYPE html>")
    collector = _Collector()
    collector.feed(page)
    assert {"html", "head", "style", "body", "svg", "line", "text", "marker"} <= set(collector.tags)
    assert (
        "script" not in collector.tags
        and "link" not in collector.tags
        and "img" not in (collector.tags)
    )
    names = {name for name, _ in collector.attributes}
    assert "src" not in names and "href" not in names
    assert page.count("http") == 1  # only the SVG namespace, no resource
    assert "a &lt;demo&gt; &amp; more" in page
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    assert page.count('fill="#f8d0d0"') == 2  # the two highlighted steps' rows
    assert "something went wrong here" in page
