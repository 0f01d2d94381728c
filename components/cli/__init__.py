"""`python -m components <command>`: the everyday workflow around the Pulumi program.

One argparse parser; each command family registers its subcommands from its own module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from components.cli import alias, call, console, lint, logs, preview_summary, status, version
from components.inputs.errors import ConfigError
from components.stacks.errors import ToolError


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line naming the fix (`--help`), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m components",
        description="Valohai-style deployments: check valohai.yaml, create versions, move aliases, "
        "summarize previews, call endpoints, watch status and logs, serve the web console. "
        "`<command> --help` describes each.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for module in (lint, version, alias, preview_summary, call, status, logs, console):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ToolError as err:
        for problem in err.problems:
            print(f"error: {problem}" if problem is err.problems[0] else problem, file=sys.stderr)
        return 1
    except ConfigError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a user sees one line, never a traceback
        detail = str(err).splitlines()[0][:300] if str(err) else ""
        print(f"error: {args.command}: unexpected {type(err).__name__}: {detail}; please report it", file=sys.stderr)
        return 70
