"""One routing of effects (REQ-NODE-2): only dynref.ready sorts effects by where they go.

Every driver of the core (the simulator, the node runtime, the test harness, the benchmarks)
acts on a step's `Ready` value. This test scans their source and fails on a *routing test*
outside reference/dynref/ready.py. A routing test is a type test whose classes include

- an effect kind that decides a destination: `Send`, `Reply` or `ProtocolError`;
- the durable writes as a whole: `DurableWrite`, `DURABLE_WRITE_TYPES`, `Effect`, or all four
  write kinds (`StoreVersions`, `StoreHint`, `DeleteHint`, `StoreMeta`) together;

where a type test is the class argument of `isinstance` or `issubclass`, the right side of a
comparison with `type(x)` (`is`, `is not`, `==`, `!=`, `in`, `not in`), a `case` class
pattern, or a key of a dict display (a dispatch table by type). Names imported under another
name from dynref.messages are followed. Telling one durable write kind from another (a hint
from a key's versions) stays allowed: that is how storage applies a write and how the checkers
judge one, and it only ever runs on `Ready.writes`, which are routed already.

Test modules other than the harness inspect effects to assert on them; they route nothing and
are not scanned.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from dynref.causality import DvvSet
from dynref.messages import (
    DURABLE_WRITE_TYPES,
    DeleteHint,
    Effect,
    Probe,
    ProtocolError,
    PutOk,
    Reply,
    Send,
    StoreHint,
    StoreMeta,
    StoreVersions,
)
from dynref.ready import ready_of
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
ROUTER = ROOT / "reference" / "dynref" / "ready.py"
DESTINATION_KINDS = frozenset({"Send", "Reply", "ProtocolError"})
WHOLE_WRITES = frozenset({"DurableWrite", "DURABLE_WRITE_TYPES", "Effect"})
WRITE_KINDS = frozenset({"StoreVersions", "StoreHint", "DeleteHint", "StoreMeta"})
COMPARISONS = (ast.Is, ast.IsNot, ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def driver_modules() -> list[Path]:
    modules = [
        *sorted((ROOT / "reference" / "dynref").rglob("*.py")),
        *sorted((ROOT / "adapters" / "dynref_io").rglob("*.py")),
        *sorted((ROOT / "benchmarks").glob("*.py")),
        ROOT / "tests" / "node_harness.py",
    ]
    return [path for path in modules if path != ROUTER]


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names of the classes imported from dynref.messages under another name."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "dynref.messages":
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
    return aliases


def _class_names(expression: ast.AST, aliases: dict[str, str]) -> set[str]:
    """The class names a type expression mentions (through tuples and `|` unions)."""
    names: set[str] = set()
    for node in ast.walk(expression):
        if isinstance(node, ast.Name):
            names.add(aliases.get(node.id, node.id))
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def _routes(names: set[str]) -> bool:
    return bool(names & (DESTINATION_KINDS | WHOLE_WRITES)) or names >= WRITE_KINDS


def _is_type_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"


def _type_tests(tree: ast.AST) -> Iterator[tuple[int, ast.AST]]:
    """(line, class expression) of every type test in a module."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            yield node.lineno, node.args[1]
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for index, operator in enumerate(node.ops):
                left, right = operands[index], operands[index + 1]
                if isinstance(operator, COMPARISONS) and (
                    _is_type_call(left) or _is_type_call(right)
                ):
                    yield node.lineno, right if _is_type_call(left) else left
        elif isinstance(node, ast.MatchClass):
            yield node.lineno, node.cls
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    yield node.lineno, key


def routing_tests(source: str) -> list[str]:
    """Each routing test in the source, as `line N: names`."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for line, expression in _type_tests(tree):
        names = _class_names(expression, aliases)
        if _routes(names):
            found.append(f"line {line}: {', '.join(sorted(names))}")
    return found


def test_the_router_exists_and_sorts_every_effect_kind() -> None:
    source = ROUTER.read_text()
    assert all(name in source for name in DESTINATION_KINDS | WRITE_KINDS)


@pytest.mark.parametrize("path", driver_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_driver_routes_effects_itself(path: Path) -> None:
    found = routing_tests(path.read_text())
    assert not found, f"{path.relative_to(ROOT)} routes effects (use Step.ready): {found}"


@pytest.mark.parametrize(
    "source",
    [
        "if isinstance(effect, Send): pass",
        "if isinstance(effect, (Reply, Tick)): pass",
        "if isinstance(effect, StoreVersions | StoreHint | DeleteHint | StoreMeta): pass",
        "if isinstance(effect, messages.DURABLE_WRITE_TYPES): pass",
        "from dynref.messages import ProtocolError as Oops\nok = isinstance(e, Oops)",
        "if type(effect) is Send: pass",
        "if type(effect) in (Reply,): pass",
        "match effect:\n    case Send(to=to): pass",
        "HANDLERS = {Send: send, Reply: reply}",
        "flag = issubclass(kind, Effect)",
    ],
)
def test_the_scan_catches_each_form_of_routing(source: str) -> None:
    assert routing_tests(source)


@pytest.mark.parametrize(
    "source",
    [
        "if isinstance(write, StoreHint): pass",
        "if isinstance(write, StoreVersions | StoreHint): pass",
        "if isinstance(frame, StatusReply): pass",
        "if isinstance(send.message, ForwardPut): pass",
        "for send in ready.sends: outbox.send(send.to, send.message)",
    ],
)
def test_the_scan_allows_what_is_not_routing(source: str) -> None:
    assert not routing_tests(source)


EFFECTS: st.SearchStrategy[Effect] = st.one_of(
    st.builds(Send, st.sampled_from(["n2", "n3"]), st.builds(Probe, st.integers(0, 9))),
    st.builds(Reply, st.integers(0, 9), st.just(PutOk())),
    st.builds(ProtocolError, st.none(), st.text(max_size=3)),
    st.builds(StoreVersions, st.binary(max_size=2), st.just(DvvSet())),
    st.builds(StoreHint, st.just("n3"), st.binary(max_size=2), st.just(DvvSet())),
    st.builds(DeleteHint, st.just("n3"), st.binary(max_size=2)),
    st.builds(StoreMeta, st.just("n1"), st.integers(0, 9), st.integers(0, 9)),
)


@given(st.lists(EFFECTS, max_size=12))
def test_ready_sorts_every_effect_by_destination_keeping_order(effects: list[Effect]) -> None:
    """REQ-NODE-2: each effect lands in exactly one part, each part in emission order."""
    ready = ready_of(effects)
    assert list(ready.writes) == [e for e in effects if isinstance(e, DURABLE_WRITE_TYPES)]
    assert list(ready.sends) == [e for e in effects if type(e) is Send]
    assert list(ready.replies) == [e for e in effects if type(e) is Reply]
    assert list(ready.errors) == [e for e in effects if type(e) is ProtocolError]
