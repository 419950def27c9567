"""The `dynref` command: a registry of subcommands, each contributed by a small module.

A subcommand is a `Subcommand(name, help, add_arguments, run)`. Modules listed in
`SUBCOMMAND_MODULES` expose a `SUBCOMMANDS` tuple of them; adding a command (demo, explore,
replay, search, ...) means writing its module and adding one line here. Modules are imported
when the parser is built, so a broken one fails loudly rather than hiding its command.

Exit codes: 0 success, 1 the operation failed (a node unreachable, a quorum not reached),
2 bad usage (argparse's convention, also used for invalid config files and arguments).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import attrs

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "dynref_io.cli.store",  # node, cluster, put, get, delete
    "dynref_io.cli.demo",  # demo
    "dynref_io.cli.explore",  # explore, replay, search
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


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


def build_parser(commands: Sequence[Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynref",
        description="dynref: a formally-checked reference implementation of Amazon's Dynamo.",
    )
    chosen = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = chosen.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(subcommands())
    arguments = parser.parse_args(argv)
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
        return 130
    return status
