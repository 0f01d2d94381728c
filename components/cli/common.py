"""What every command shares: the one error type users see, progress lines, NAME=VALUE arguments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path


class CliError(Exception):
    """A problem the user can fix; one line per problem, each naming what is wrong and the fix."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def progress(message: str) -> None:
    """A line on stderr while something slow runs, so stdout stays the result alone."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def split_pair(text: str, option: str, what: str = "NAME=VALUE") -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE); the value may contain '='."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"{option} {text!r}: expected {what}")
    return name, value


def next_step(stack: str) -> str:
    return f"Next: pulumi preview --stack {stack}   (then: pulumi up --stack {stack})"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the deploy target's stack, e.g. local, americas")
    parser.add_argument(
        "--cwd", type=Path, default=None, help="the Pulumi project directory (default: nearest with Pulumi.yaml)"
    )
