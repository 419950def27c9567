"""The History format (spec/history.md): JSON lines that round-trip, a strict reader whose errors
name the line and the field, the JSON Schema in spec/history.schema.json, and the simulator's
histories, every record of which the schema accepts (REQ-HIST-1, REQ-HIST-2, REQ-HIST-3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from dynref.causality import Mode
from dynref.check import check_history
from dynref.explore.swarm import SwarmSettings, run_schedule
from dynref.history import (
    Capabilities,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    HistoryFormatError,
    Op,
    OpKind,
    Outcome,
    decode_history,
    encode_history,
)
from dynref.messages import ForwardPut
from dynref.sim import Cluster, Deliver, Duplicate, Put, explorer_config, history_of
from hypothesis import given
from hypothesis import strategies as st

from tests.scenario import deliver, duplicate
from tests.schema_check import errors

ROOT = Path(__file__).resolve().parent.parent
SCHEMA: dict[str, Any] = json.loads((ROOT / "spec" / "history.schema.json").read_text())
CAPS = Capabilities(Mode.DVV, True, True, True, True, False, True, 3, 2, 2)


def schema_errors(line: str) -> list[str]:
    return errors(json.loads(line), SCHEMA, SCHEMA)


def spec_example() -> str:
    text = (ROOT / "spec" / "history.md").read_text()
    match = re.search(r"```jsonl\n(.*?)```", text, re.DOTALL)
    assert match is not None
    return match.group(1)


def normal(history: History) -> History:
    """The order `encode_history` writes records in (the reader keeps the file's order)."""
    return attrs.evolve(
        history,
        ops=tuple(sorted(history.ops, key=lambda op: (op.invoked, op.id))),
        finals=tuple(sorted(history.finals, key=lambda f: f.time)),
        faults=tuple(sorted(history.faults, key=lambda f: f.time)),
    )


# ---------------------------------------------------------------- histories as values

NAMES = st.sampled_from(("n1", "n2", "n3"))
TEXT = st.text(max_size=6)
TIME = st.integers(0, 10**12)
CONTEXT = st.binary(max_size=12)


@st.composite
def ops(draw: st.DrawFn, op_id: int) -> Op:
    kind = draw(st.sampled_from(OpKind))
    outcome = draw(st.sampled_from(Outcome))
    invoked = draw(TIME)
    completed = None if outcome is Outcome.INFO and draw(st.booleans()) else invoked + draw(TIME)
    get = kind is OpKind.GET
    return Op(
        id=op_id,
        client=draw(TEXT),
        kind=kind,
        key=draw(TEXT),
        coordinator=draw(NAMES),
        invoked=invoked,
        outcome=outcome,
        completed=completed,
        value=f"v{op_id}" if kind is OpKind.PUT else None,
        context_sent=None if get else draw(CONTEXT),
        context_returned=draw(st.none() | CONTEXT),
        r=draw(st.none() | st.integers(1, 3)) if get else None,
        w=None if get else draw(st.none() | st.integers(1, 3)),
        values=tuple(draw(st.lists(TEXT, max_size=3))) if get and outcome is Outcome.OK else None,
        error=draw(st.none() | TEXT),
    )


@st.composite
def faults(draw: st.DrawFn) -> Fault:
    kind = draw(st.sampled_from(FaultKind))
    time = draw(TIME)
    if kind is FaultKind.PARTITION:
        if draw(st.booleans()):
            groups = tuple(
                tuple(g)
                for g in draw(st.lists(st.lists(NAMES, max_size=2), min_size=1, max_size=2))
            )
            return Fault(kind, time, groups=groups)
        pairs = tuple(draw(st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=2)))
        return Fault(kind, time, pairs=pairs)
    if kind is FaultKind.REDELIVER:
        return Fault(kind, time, op=draw(st.integers(0, 5)))
    if kind is FaultKind.HEAL:
        return Fault(kind, time)
    return Fault(kind, time, draw(NAMES))


@st.composite
def finals(draw: st.DrawFn) -> FinalRead:
    ok = draw(st.booleans())
    return FinalRead(
        key=draw(TEXT),
        time=draw(TIME),
        outcome=Outcome.OK if ok else Outcome.FAIL,
        replica=draw(st.none() | NAMES),
        r=draw(st.none() | st.integers(1, 3)),
        values=tuple(draw(st.lists(TEXT, max_size=3))) if ok else None,
        context=draw(st.none() | CONTEXT),
        error=draw(st.none() | TEXT),
    )


@st.composite
def histories(draw: st.DrawFn) -> History:
    caps = Capabilities(
        draw(st.sampled_from(Mode)), *(draw(st.booleans()) for _ in range(6)), 3, 2, 2
    )
    header = Header(
        caps, draw(TEXT), tuple(draw(st.lists(NAMES, max_size=3))), draw(st.none() | TIME)
    )
    count = draw(st.integers(0, 6))
    return History(
        header,
        tuple(draw(ops(op_id)) for op_id in range(count)),
        tuple(draw(st.lists(finals(), max_size=3))),
        tuple(draw(st.lists(faults(), max_size=3))),
    )


@given(histories())
def test_a_history_survives_json_lines_and_every_line_fits_the_schema(history: History) -> None:
    """REQ-HIST-1, REQ-HIST-3: encoding then decoding gives the history back (in time order),
    and every line the encoder writes is valid under spec/history.schema.json."""
    text = encode_history(history)
    assert decode_history(text) == normal(history)
    assert encode_history(decode_history(text)) == text
    for line in text.splitlines():
        assert schema_errors(line) == [], line


# ---------------------------------------------------------------- the strict reader

HEADER = encode_history(History(Header(CAPS))).strip()
PUT = (
    '{"type":"op","id":1,"client":"c1","op":"put","key":"k","value":"v","context_sent":"",'
    '"coordinator":"n1","invoked":5,"completed":9,"outcome":"ok"}'
)

BAD_LINES = [
    ('{"type":"op"', 2, None, "not JSON"),
    ("[1, 2]", 2, None, "a JSON object"),
    ('{"type":"header"}', 2, "type", "one header only"),
    ('{"type":"snapshot"}', 2, "type", "expected one of"),
    (PUT.replace('"id":1', '"id":true'), 2, "id", "expected an integer"),
    (PUT.replace('"id":1', '"id":-1'), 2, "id", "at least 0"),
    (PUT.replace(',"value":"v"', ""), 2, "value", "a put writes a value"),
    (PUT.replace('"op":"put"', '"op":"get"'), 2, "value", "a get writes no value"),
    (PUT.replace('"op":"put"', '"op":"scan"'), 2, "op", "expected one of"),
    (PUT.replace('"completed":9', '"completed":3'), 2, "completed", "before invoked"),
    (PUT.replace(',"completed":9', ""), 2, "completed", "only an info outcome"),
    (PUT.replace('"context_sent":""', '"context_sent":"!!"'), 2, "context_sent", "base64"),
    (PUT.replace('"key":"k"', '"key":7'), 2, "key", "expected a string"),
    (PUT.replace('"outcome":"ok"', '"outcome":"ok","extra":1'), 2, "extra", "unknown field"),
    (PUT.replace('"key":"k"', '"key":"k","key":"j"'), 2, "key", "appears twice"),
    (PUT.replace('"outcome":"ok"', '"outcome":"ok","values":[]'), 2, "values", "returns no values"),
    ('{"type":"final","key":"k","time":3,"outcome":"info"}', 2, "outcome", "ok or fail"),
    ('{"type":"final","key":"k","time":3,"outcome":"ok"}', 2, "values", "present exactly"),
    ('{"type":"fault","fault":"kill","time":3}', 2, "node", "names its node"),
    ('{"type":"fault","fault":"partition","time":3}', 2, "groups", "either groups or pairs"),
    ('{"type":"fault","fault":"partition","time":3,"pairs":[["n1"]]}', 2, "pairs", "pairs of"),
    ('{"type":"fault","fault":"redeliver","time":3}', 2, "op", "the write's op id"),
]


@pytest.mark.parametrize(("line", "number", "field", "problem"), BAD_LINES)
def test_the_reader_names_the_line_and_field_of_each_defect(
    line: str, number: int, field: str | None, problem: str
) -> None:
    """REQ-HIST-2: decoding is strict; the error says where and what, in one line."""
    with pytest.raises(HistoryFormatError) as caught:
        decode_history(HEADER + "\n" + line + "\n")
    error = caught.value
    assert (error.line, error.field) == (number, field), str(error)
    assert problem in str(error) and "\n" not in str(error)


@pytest.mark.parametrize(("line", "number", "field", "problem"), BAD_LINES[4:])
def test_the_schema_refuses_what_the_reader_refuses(
    line: str, number: int, field: str | None, problem: str
) -> None:
    """REQ-HIST-3: but for a repeated field (JSON parsers keep the last) and an operation that
    completes before it was invoked, which no schema can see."""
    if "appears twice" in problem or "before invoked" in problem:
        return
    assert schema_errors(line), line


def test_the_reader_wants_its_header_first_and_ops_unique() -> None:
    """REQ-HIST-2."""
    with pytest.raises(HistoryFormatError, match=r"line 1, field 'type': the first line"):
        decode_history(PUT + "\n")
    with pytest.raises(HistoryFormatError, match="no header"):
        decode_history("\n\n")
    with pytest.raises(HistoryFormatError, match=r"line 3, field 'id': op 1 appears twice"):
        decode_history("\n".join([HEADER, PUT, PUT]))
    wrong = HEADER.replace('"version":1', '"version":2')
    with pytest.raises(HistoryFormatError, match="this reader knows version 1"):
        decode_history(wrong)
    too_wide = HEADER.replace('"r":2', '"r":4')
    with pytest.raises(HistoryFormatError, match=r"field 'capabilities.r': must not exceed n=3"):
        decode_history(too_wide)
    assert decode_history("\n" + HEADER + "\n\n" + PUT + "\n").ops[0].value == "v"


def test_the_spec_example_reads_fits_the_schema_and_passes_every_check() -> None:
    """REQ-HIST-1, REQ-HIST-3: spec/history.md's example is a history the checkers accept."""
    text = spec_example()
    for line in text.splitlines():
        assert schema_errors(line) == [], line
    history = decode_history(text)
    assert len(history.ops) == 7 and len(history.faults) == 3 and len(history.finals) == 8
    report = check_history(history)
    assert not report.failed and not report.skipped, report.describe()


# ---------------------------------------------------------------- the simulator's histories


def sample_histories() -> list[History]:
    found = []
    for mode, disk_loss, seeds in ((Mode.DVV, False, 6), (Mode.LWW, False, 3), (Mode.DVV, True, 4)):
        settings = SwarmSettings(mode=mode, disk_loss=disk_loss, schedule_steps=250)
        for seed in range(seeds):
            cluster, _ = run_schedule(seed, settings)
            found.append(history_of(cluster.quiesce(), seed))
    found.append(history_of(_forward_run_twice()))
    return found


def _forward_run_twice() -> Cluster:
    """A duplicated ForwardPut delivered after its coordinator restarted (and so forgot the
    first copy): the one way a put runs twice, named by a `redeliver` fault (REQ-COORD-6)."""
    cluster = Cluster.start(explorer_config(Mode.DVV), ("c1",)).client_put("c1", "n3", b"k0")
    assert "n3" not in cluster.preference_list(b"k0")
    cluster = duplicate(cluster, ForwardPut, sender="n3", receiver="n2")
    cluster = deliver(cluster, ForwardPut, sender="n3", receiver="n2")
    cluster = cluster.crash("n2").restart("n2")
    return deliver(cluster, ForwardPut, sender="n3", receiver="n2").quiesce()


def test_every_record_the_simulator_emits_fits_the_schema() -> None:
    """REQ-HIST-3: swarm runs' histories (every kind of record, operation, outcome and fault
    among them) are valid line by line, and read back as they were written."""
    kinds: set[str] = set()
    for history in sample_histories():
        text = encode_history(history)
        assert decode_history(text) == normal(history)
        for line in text.splitlines():
            assert schema_errors(line) == [], line
            record = json.loads(line)
            kind = record["type"]
            if kind == "op":
                kind = f"{record['op']} {record['outcome']}"
            elif kind == "fault":
                kind = f"fault {record['fault']}" + (" pairs" if "pairs" in record else "")
            elif kind == "final":
                kind = "final replica" if "replica" in record else "final store"
            kinds.add(kind)
    wanted = {
        "header",
        *(f"{op} {outcome}" for op in ("get", "put", "delete") for outcome in ("ok", "fail")),
        "put info",
        "delete info",
        *(f"fault {kind}" for kind in ("kill", "restart", "partition", "heal", "disk-loss")),
        "fault partition pairs",
        "fault redeliver",
        "final replica",
        "final store",
    }
    assert wanted <= kinds, sorted(wanted - kinds)


def test_the_simulator_history_says_what_clients_saw() -> None:
    """REQ-HIST-1: times are trace steps; a forward delivered twice is a redeliver fault; final
    reads exist once the run ended in a quiescence, one per replica and one through the store."""
    cluster = Cluster.start(explorer_config(Mode.DVV), ("c1",))
    cluster = cluster.apply(Put("c1", "n1", b"k0"))  # n1 is no replica of k0: it forwards
    forward = cluster.message_ids()[0]
    cluster = cluster.apply(Duplicate(forward)).apply(Deliver(forward))
    running = history_of(cluster)
    assert running.finals == () and running.ops[0].outcome is Outcome.INFO
    assert [f.kind for f in running.faults] == []
    cluster = cluster.apply(Deliver(cluster.message_ids()[0]))  # the duplicate lands too
    history = history_of(cluster.quiesce())
    (put,) = history.ops
    assert (put.kind, put.value, put.context_sent, put.outcome) == (
        OpKind.PUT,
        "c1:1",
        b"",
        Outcome.OK,
    )
    assert put.invoked == 0 and put.completed is not None
    (redeliver,) = history.faults
    assert redeliver.kind is FaultKind.REDELIVER and redeliver.op == put.id
    assert redeliver.time == 3
    replicas = [f.replica for f in history.finals if f.replica is not None]
    assert replicas == list(cluster.preference_list(b"k0"))
    assert all(f.values == ("c1:1",) for f in history.finals)
    assert history.capabilities.strict_quorum is False and history.capabilities.contexts
