"""The pure core never reaches for I/O, clocks or randomness (DESIGN.md, the core contract)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "reference" / "dynref"
FORBIDDEN = {
    "asyncio",
    "socket",
    "sqlite3",
    "time",
    "random",
    "os",
    "threading",
    "subprocess",
    "dynref_io",
}


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            roots.add("__import__")
    return roots


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_exists() -> None:
    assert core_modules(), "reference/dynref holds no modules"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_io(path: Path) -> None:
    leaks = imported_roots(path.read_text()) & (FORBIDDEN | {"__import__"})
    assert not leaks, f"{path.name} imports {sorted(leaks)}"


def test_the_checker_catches_a_forbidden_import() -> None:
    assert imported_roots("import os.path\nfrom time import monotonic\n") == {"os", "time"}
    assert "socket" in imported_roots("def f():\n    import socket\n")
