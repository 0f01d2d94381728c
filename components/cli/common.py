"""What every command shares: the stack arguments and the next step to run."""

from __future__ import annotations

import argparse
from pathlib import Path


def next_step(stack: str) -> str:
    return f"Next: pulumi preview --stack {stack}   (then: pulumi up --stack {stack})"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the deploy target's stack, e.g. local, americas")
    parser.add_argument(
        "--cwd", type=Path, default=None, help="the Pulumi project directory (default: nearest with Pulumi.yaml)"
    )
