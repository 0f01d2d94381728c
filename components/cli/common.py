"""What every command shares: the stack arguments and the next step to run."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi, StackConfig, find_project_dir

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def next_step(stack: str) -> str:
    return f"Next: pulumi preview --stack {stack}   (then: pulumi up --stack {stack})"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the deploy target's stack, e.g. local, americas")
    parser.add_argument(
        "--cwd", type=Path, default=None, help="the Pulumi project directory (default: nearest with Pulumi.yaml)"
    )


def duration(text: str) -> int:
    """`30s`, `5m`, `2h`, `1d` or plain seconds, as whole seconds (an argparse type)."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 5m, 2h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def open_stack(args: argparse.Namespace) -> tuple[Pulumi, StackConfig]:
    """The stack's Pulumi CLI and config; an unknown stack is one line listing the project's stacks."""
    pulumi = Pulumi(find_project_dir(args.cwd), args.stack)
    try:
        return pulumi, pulumi.read_config()
    except ToolError:
        known = pulumi.stack_names()
        if known and args.stack not in known and args.stack.rsplit("/", 1)[-1] not in known:
            raise ToolError(f"no stack '{args.stack}' in this project's backend; stacks: {', '.join(known)}") from None
        raise
