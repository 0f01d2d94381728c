"""`python -m components <command>`: the everyday workflow around the Pulumi program.

One argparse parser; each command family registers its subcommands from its own module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from components.cli import alias, call, lint, logs, preview_summary, status, version
from components.stacks.errors import ToolError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m components",
        description="Valohai-style deployments: check valohai.yaml, create versions, move aliases, "
        "summarize previews, call endpoints, watch status and logs. `<command> --help` describes each.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for module in (lint, version, alias, preview_summary, call, status, logs):
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
