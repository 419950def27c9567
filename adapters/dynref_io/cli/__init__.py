"""The `dynref` command: a registry of subcommands, each contributed by a small module.

A subcommand is a `Subcommand(name, help, add_arguments, run)`. Modules listed in
`SUBCOMMAND_MODULES` expose a `SUBCOMMANDS` tuple of them; adding a command (demo, explore,
replay, search, ...) means writing its module and adding one line here. Modules are imported
when the parser is built, so a broken one fails loudly rather than hiding its command.

Exit codes: 0 success, 1 the operation failed (a node unreachable, a quorum not reached),
2 bad usage (argparse's convention, also used for invalid config files and arguments), 3 a
bound cut the work short (`search`), 4 not found (`get --require`), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Sequence

import attrs

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "dynref_io.cli.store",  # node, put, get, delete
    "dynref_io.cli.cluster",  # cluster
    "dynref_io.cli.admin",  # status, ring, isolate, heal
    "dynref_io.cli.demo",  # demo
    "dynref_io.cli.explore",  # explore, replay, search
    "dynref_io.cli.conform",  # conform, check
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_NOT_FOUND = 4
EXIT_INTERRUPTED = 130


@attrs.frozen
class Subcommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


class UsageError(Exception):
    """Arguments that parse but make no sense together; reported like argparse errors (exit 2)."""


class CommandError(Exception):
    """The command could not do its job; its message is printed and the exit status is 1."""


def subcommands() -> list[Subcommand]:
    found: list[Subcommand] = []
    for module_name in SUBCOMMAND_MODULES:
        module = importlib.import_module(module_name)
        found.extend(module.SUBCOMMANDS)
    return found


def version() -> str:
    try:
        return importlib.metadata.version("dynref")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(commands: Sequence[Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynref",
        description="dynref: a formally-checked reference implementation of Amazon's Dynamo.",
    )
    parser.add_argument("--version", action="version", version=f"dynref {version()}")
    chosen = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = chosen.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def undecodable_argument(argv: Sequence[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python holds its bad bytes as surrogates)."""
    for argument in argv:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return argument.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(subcommands())
    given = sys.argv[1:] if argv is None else list(argv)
    bad = undecodable_argument(given)
    if bad is not None:
        parser.print_usage(sys.stderr)
        print(f"dynref: error: argument {bad!r} is not valid UTF-8", file=sys.stderr)
        return EXIT_USAGE
    arguments = parser.parse_args(given)
    try:
        status: int = arguments.run(arguments)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"dynref {arguments.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"dynref {arguments.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`dynref status ... | head`): not an error of ours.
        # Point stdout at /dev/null so that the interpreter's final flush fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    return status
