"""What the observe tests (and tests/data/cluster/record.py) add to a scratch stack, and how they run
`status` and `logs` in it: the real command line, in the scratch project, against the real cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import yaml

from tests.harness import ROOT, git
from tests.integration.local_stack import LocalStack

MISBEHAVE = ROOT / "tests" / "data" / "endpoints" / "misbehave.py"
# The misbehave endpoint's memory limit (valohai.yaml resources.memory.max, MiB); allocating more gets it OOM-killed.
MEMORY_LIMIT_MIB = 64


def add_misbehave(stack: LocalStack, limit_mib: int = MEMORY_LIMIT_MIB) -> None:
    """A `misbehave` endpoint in the scratch copy of the example (committed: images build from commits)."""
    example = stack.project / "example"
    shutil.copy2(MISBEHAVE, example / "misbehave.py")
    valohai = example / "valohai.yaml"
    entries = yaml.safe_load(valohai.read_text())
    entries.append(
        {
            "endpoint": {
                "name": "misbehave",
                "description": "fails on request: GET .../allocate?mb=N holds memory, .../status/NNN answers NNN",
                "image": "python:3.11-slim",
                "port": 8000,
                "server-command": "python misbehave.py",
                "resources": {"memory": {"min": 32, "max": limit_mib}},
            }
        }
    )
    valohai.write_text(yaml.safe_dump(entries, sort_keys=False))
    git(stack.project, "add", "-A")
    git(stack.project, "commit", "-qm", "add the misbehave endpoint")


def cli(stack: LocalStack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m components ARGS --stack <stack>` in the scratch project, as a user runs it."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "components", *args, "--stack", stack.stack_name],
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def status_json(stack: LocalStack, *extra: str) -> dict[str, Any]:
    result = cli(stack, "status", "--json", *extra)
    assert result.returncode in (0, 2), f"status failed ({result.returncode}):\n{result.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def wait_for_status(
    stack: LocalStack,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float,
    what: str,
    *extra: str,
    detail: Callable[[dict[str, Any]], Any] = lambda status: status,
) -> dict[str, Any]:
    """Poll `status --json` until `predicate` holds (bounded); `detail` of the last reading in the failure message."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = status_json(stack, *extra)
        if predicate(last):
            return last
        time.sleep(2)
    shown = json.dumps(detail(last) if last else last, indent=1)[-6000:]
    raise AssertionError(f"{what}: not within {timeout:.0f} s; last status:\n{shown}")
