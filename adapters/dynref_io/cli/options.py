"""Argument types and flags the explorer's subcommands share (ranges are checked here, so a bad
value gets argparse's message and exit status 2)."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from dynref.causality import Mode
from dynref.explore.judge import Check

from dynref_io.cli import UsageError

MODES = [mode.value for mode in Mode]


def seed_range(text: str) -> range:
    """`A:B`, the seeds A, A+1, ..., B-1 (0 <= A < B)."""
    first, separator, last = text.partition(":")
    if not separator or not first.isdigit() or not last.isdigit() or int(first) >= int(last):
        raise argparse.ArgumentTypeError(f"expected A:B with 0 <= A < B, got {text!r}")
    return range(int(first), int(last))


def at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    parse.__name__ = f"integer >= {minimum}"
    return parse


def quorum_flags(parser: argparse.ArgumentParser, nodes: int, n: int, r: int, w: int) -> None:
    group = parser.add_argument_group("cluster")
    group.add_argument("--mode", choices=MODES, default="dvv", help="causality mode (dvv)")
    group.add_argument("--nodes", type=at_least(1), default=nodes, help=f"nodes ({nodes})")
    group.add_argument("--n", type=at_least(1), default=n, help=f"replicas per key, N ({n})")
    group.add_argument("--r", type=at_least(1), default=r, help=f"read quorum, R ({r})")
    group.add_argument("--w", type=at_least(1), default=w, help=f"write quorum, W ({w})")


def check_quorums(arguments: argparse.Namespace) -> None:
    if arguments.n > arguments.nodes:
        raise UsageError(f"N={arguments.n} exceeds the {arguments.nodes} nodes")
    if arguments.r > arguments.n or arguments.w > arguments.n:
        raise UsageError(f"R={arguments.r} and W={arguments.w} must not exceed N={arguments.n}")


def add_check_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="also run this checker, a function(view: HistoryView) -> list[Violation] "
        "(repeatable; the module must be importable, e.g. on PYTHONPATH)",
    )


def load_checks(specs: list[str]) -> tuple[Check, ...]:
    """Import each MODULE:FUNCTION; a bad one is a usage error (exit 2)."""
    checks = []
    for spec in specs:
        module_name, separator, function_name = spec.partition(":")
        if not separator or not module_name or not function_name:
            raise UsageError(f"--check expects MODULE:FUNCTION, got {spec!r}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"--check {spec}: cannot import {module_name}: {exc}") from exc
        function = getattr(module, function_name, None)
        if not callable(function):
            raise UsageError(f"--check {spec}: {module_name} has no function {function_name}")
        checks.append(function)
    return tuple(checks)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable_dir(path: Path, flag: str) -> None:
    """Before a long run: `path` is, or can be made, a directory we may write in."""
    existing = _nearest_existing(path.absolute())
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {existing} is not writable")


def check_writable_file(path: Path, flag: str) -> None:
    """Before the work: `path` is a file we may create or overwrite."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path} is not writable")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {parent} is not writable")
