"""`pulumi up` of a stack, and its tags, through the Pulumi CLI.

`up` survives Ctrl-C: the terminal sends SIGINT to Pulumi too, which then stops starting new
operations and finishes the ones in flight; killing it instead (what `subprocess.run` does a
quarter second after an interrupt) would leave the stack locked with operations pending. So an
interrupted `up` is waited for, and the interrupt raised once the stack is consistent again.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi
from components.stacks.targets import TargetedUpdate, update_environment

# Lines of `pulumi up` output kept for the message when it fails.
TAIL_LINES = 40


@dataclass(frozen=True)
class UpResult:
    seconds: float
    output: str


def up(
    pulumi: Pulumi, *, update: TargetedUpdate | None = None, on_line: Callable[[str], None] | None = None
) -> UpResult:
    """`pulumi up --yes --skip-preview` of the stack, or of `update`'s objects only (stacks/targets.py);
    raises ToolError with the output's tail when it fails."""
    with update_environment(update) as environment:
        return _up(pulumi, update.patterns if update else (), environment, on_line)


def _up(
    pulumi: Pulumi, targets: Sequence[str], environment: Mapping[str, str], on_line: Callable[[str], None] | None
) -> UpResult:
    command = ["pulumi", "up", "--yes", "--skip-preview", "--stack", pulumi.stack, "--non-interactive"]
    command += [f"--target={target}" for target in targets]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=pulumi.project_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"PULUMI_SKIP_UPDATE_CHECK": "true"} | dict(environment),
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip("\n"))
            if on_line is not None:
                on_line(line.rstrip("\n"))
        process.wait()
    except KeyboardInterrupt:
        print(
            "==> interrupted: waiting for `pulumi up` to finish what it started (the stack stays consistent)",
            flush=True,
        )
        process.wait()
        raise
    if process.returncode != 0:
        raise ToolError(
            [f"pulumi up failed for stack '{pulumi.stack}' (exit {process.returncode}); its last lines:"]
            + [f"  {line}" for line in tail]
        )
    return UpResult(time.monotonic() - started, "\n".join(tail))


def tags(pulumi: Pulumi) -> dict[str, str]:
    """The stack's tags (Pulumi Cloud and the file/S3 backends keep them beside the state)."""
    raw = json.loads(pulumi.run("stack", "tag", "ls", "--json") or "{}")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def set_tag(pulumi: Pulumi, name: str, value: str) -> None:
    pulumi.run("stack", "tag", "set", name, value)


def remove_tag(pulumi: Pulumi, name: str) -> None:
    pulumi.run("stack", "tag", "rm", name)
