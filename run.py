#!/usr/bin/env python3
"""The project's two entry points, each doing all of its own set-up.

    python3 run.py test    every quality gate: ruff, mypy --strict, crosshair, pytest
    python3 run.py demo    the main job: a 5-node local cluster under faults, checked

Both create ./.venv on first use and install the project into it (editable, with the dev extra).
Extra arguments after `test` go to pytest; after `demo` they go to `dynref demo`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dynref-installed"

# Modules whose pure helpers carry PEP 316 contracts that crosshair verifies.
CONTRACT_MODULES = [
    "dynref.ring",
    "dynref.causality.vv",
    "dynref.causality.dvv",
    "dynref.causality.vclock",
    "dynref.causality.lww",
    "dynref.merkle",
    "dynref.prng",
]
CROSSHAIR_PER_CONDITION_TIMEOUT = "4"
CROSSHAIR_PER_PATH_TIMEOUT = "2"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def ensure_environment() -> None:
    """Create the virtual environment and (re)install when pyproject.toml changed."""
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def existing_contract_modules() -> list[str]:
    found = []
    for module in CONTRACT_MODULES:
        relative = Path("reference", *module.split("."))
        if relative.with_suffix(".py").exists() or (relative / "__init__.py").exists():
            found.append(module)
    return found


def test(pytest_args: list[str]) -> None:
    ensure_environment()
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "mypy")
    modules = existing_contract_modules()
    if modules:
        _run(
            BIN / "crosshair",
            "check",
            "--analysis_kind=PEP316",
            f"--per_condition_timeout={CROSSHAIR_PER_CONDITION_TIMEOUT}",
            f"--per_path_timeout={CROSSHAIR_PER_PATH_TIMEOUT}",
            *modules,
            env=env,
        )
    _run(BIN / "python", "-m", "pytest", *pytest_args, env=env)


def demo(demo_args: list[str]) -> None:
    ensure_environment()
    _run(BIN / "dynref", "demo", *demo_args)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"test", "demo"}:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    command, rest = sys.argv[1], sys.argv[2:]
    {"test": test, "demo": demo}[command](rest)


if __name__ == "__main__":
    main()
