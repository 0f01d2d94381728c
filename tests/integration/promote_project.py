"""What the promotion tests and benchmarks/promote.py add to a scratch stack: three versions of the
`misbehave` endpoint alone (the old one, a bad one answering 500 to a share of requests, a good one),
`production` on the old one, and a steady load through `production` that records which version answered.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.harness import ROOT
from tests.integration.local_stack import LocalStack
from tests.integration.observe_project import add_misbehave
from tests.integration.traffic import Response, Sample, SteadyLoad, request

OLD, BAD, GOOD = "20181002.0", "20181003.0", "20181004.0"
# The bad version's share of requests answered 500.
ERROR_SHARE = 0.3
PREFIX = "/acme/mnist/local"
TAG = "valohai:rollout"


def set_up(stack: LocalStack) -> None:
    """The three versions (only the misbehave endpoint: few pods on a small machine), deployed."""
    add_misbehave(stack)
    versions = {
        OLD: {"endpoints": ["misbehave"]},
        BAD: {"endpoints": ["misbehave"], "env": {"MISBEHAVE_ERROR_SHARE": str(ERROR_SHARE)}},
        GOOD: {"endpoints": ["misbehave"]},
    }
    payload = {
        f"valohai-deployments:{key}": {"value": json.dumps(value), "objectValue": value, "secret": False}
        for key, value in {"versions": versions, "aliases": {"production": OLD}}.items()
    }
    stack.pulumi("config", "set-all", "--json", json.dumps(payload))
    stack.pulumi("up", "--yes", "--skip-preview")
    wait_until_served(stack)


def wait_until_served(stack: LocalStack, timeout: float = 120) -> None:
    """Production answers through the router (the router takes a moment to pick up a new route)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    credentials = auth(stack)
    while time.monotonic() < deadline:
        try:
            response = request(stack.host, f"{PREFIX}/production/misbehave/ok", auth=credentials, timeout=10)
            if response.status == 200:
                return
            last = f"{response.status} {response.body[:200]!r}"
        except OSError as err:
            last = str(err)
        time.sleep(1)
    raise AssertionError(f"production/misbehave not served within {timeout:.0f} s: {last}")


def auth(stack: LocalStack) -> tuple[str, str]:
    return ("alice", stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip())


def answered_by(response: Response) -> str:
    return str(response.json().get("version", "?"))


def load(stack: LocalStack, rate: float = 10.0, max_seconds: float = 900.0) -> SteadyLoad:
    """Requests through production at `rate` per second, once it answers; each sample's answer is the version
    (or the error body)."""
    wait_until_served(stack)
    return SteadyLoad(
        stack.host,
        f"{PREFIX}/production/misbehave/ok",
        answered_by,
        auth=auth(stack),
        rate=rate,
        max_seconds=max_seconds,
        max_requests=int(rate * max_seconds),
    )


def version_of(sample: Sample) -> str | None:
    """The version behind a sample, failures included (their body names it too); None without an answer."""
    if sample.status == 200:
        return sample.answer
    match = re.search(r'"version": "([^"]*)"', sample.answer)
    return match.group(1) if match else None


def record(stack: LocalStack) -> str:
    """The promotion record (stack tag); empty when none is under way."""
    tags: dict[str, str] = json.loads(stack.pulumi("stack", "tag", "ls", "--json").stdout or "{}")
    return tags.get(TAG, "")


def production(stack: LocalStack) -> tuple[Any, Any]:
    """Where config and the last `pulumi up` (outputs) point production."""
    configured = json.loads(stack.pulumi("config", "get", "aliases", "--json").stdout)
    value = json.loads(configured["value"]) if isinstance(configured, dict) and "value" in configured else configured
    return value["production"], stack.outputs()["aliases"]["production"]


def promote_command(stack: LocalStack, *args: str) -> list[str]:
    return [
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "components",
        "alias",
        "promote",
        "--stack",
        stack.stack_name,
        *args,
    ]


def promote(stack: LocalStack, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`alias promote` as a user runs it, in the scratch project; the cluster may have changed after it."""
    stack.applied = True
    return subprocess.run(
        promote_command(stack, *args),
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Running:
    """A promotion running in the background, its output lines collected as they come."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if found is not None:
                return found
            if self.process.poll() is not None and not self._reader_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; output:\n" + "\n".join(self.lines))

    def interrupt(self, timeout: float = 300) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    _thread: threading.Thread | None = None

    def _reader_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


@contextmanager
def running(stack: LocalStack, *args: str) -> Iterator[Running]:
    """`alias promote` in the background, as a terminal's foreground job: Ctrl-C (SIGINT) reaches it.

    A shell without job control starts its background commands with SIGINT ignored (POSIX), and an
    ignored signal stays ignored across exec: a suite started as `scripts/test &` would hand that on
    to the promotion, whose Python then installs no KeyboardInterrupt handler, and `interrupt()`
    would be lost. A handled signal is reset to its default by exec, so the child gets SIGINT's
    default disposition whatever this process inherited."""
    stack.applied = True
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            promote_command(stack, *args),
            cwd=stack.project,
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, inherited)
    run = Running(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line.rstrip("\n"))

    run._thread = threading.Thread(target=read, daemon=True)
    run._thread.start()
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


def breach_seconds(output: str) -> float:
    """The command's own figure: seconds from the breach it detected to the alias being back."""
    match = re.search(r"([\d.]+)s after the breach was detected", output)
    assert match, output
    return float(match.group(1))


def step_times(output: str) -> list[tuple[int, float, float]]:
    """(share, seconds to apply, seconds baked) per step, from the command's closing lines."""
    found = []
    for share, applied, baked in re.findall(r"production (\d+)%: applied in ([\d.]+)s(?:, baked (\S+))?", output):
        found.append((int(share), float(applied), _seconds(baked) if baked else 0.0))
    return found


def _seconds(text: str) -> float:
    minutes, _, rest = text.partition("m") if "m" in text else ("0", "", text)
    return float(minutes) * 60 + float(rest.rstrip("s") or 0)
