"""The real engine against the local cluster at scale: V versions x E endpoints on KWOK, sizes side by side.

A scratch code repository holds a valohai.yaml with E small endpoints that tolerate the KWOK
node's taint and select it, so the pods are fake (KWOK marks them Ready) while every object is
real to the API server, the controllers and the Pulumi provider's await logic. For each size it
prints what users wait for:

- first `pulumi up`, `pulumi preview`, a no-op `pulumi up`, `pulumi destroy`;
- an alias switch two ways: a config edit + plain `pulumi up`, and `alias set --up` (a targeted
  update: the program declares the alias's route objects and the stack's shared objects only,
  stacks/targets.py);
- adding one version two ways (plain `pulumi up`, `version create --up`, targeted the same way)
  and removing one;
- the API server's and etcd's resident memory before and after;
- where a plain update's time goes: the program and engine alone (a preview targeted at one alias
  without the declaration: the program declares everything, the provider is asked about nothing),
  and the provider's check and diff of every resource (a full preview less that).

10 x 10 beside 50 x 10 holds the version's size still, so adding one shows what grows with the stack.
Needs scripts/setup.

    python benchmarks/cluster_scale.py [--sizes 10x5,10x10,50x10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.inputs.stack_file import project_name  # noqa: E402
from components.stacks.targets import alias_targets  # noqa: E402
from tests.harness import git  # noqa: E402
from tests.integration import observe_project  # noqa: E402
from tests.integration.local_stack import LocalStack, missing_tools, services_dir, tool_environment  # noqa: E402

ENDPOINT = """
- endpoint:
    name: {name}
    image: python:3.11-slim
    port: 8000
    server-command: python greet.py
    node-selector: type=kwok
    tolerations:
      - key: kwok.x-k8s.io/node
        operator: Exists
        effect: NoSchedule
"""
# Large stacks take long to create and destroy; no step of this benchmark should hit the default.
TIMEOUT = 3600.0


class Printed(dict[str, float]):
    """Each figure also goes to stderr as it is measured: a large size runs for an hour, and a run
    stopped before its table would otherwise lose every figure."""

    def __setitem__(self, key: str, value: float) -> None:
        print(f"  {key}: {value:.1f} s", file=sys.stderr, flush=True)
        super().__setitem__(key, value)


@dataclass
class Figures:
    size: str
    resources: int = 0
    seconds: dict[str, float] = field(default_factory=Printed)
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def rss_mib(component: str) -> float:
    pid = (services_dir() / "cluster" / "local" / f"{component}.pid").read_text().strip()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scale_repository(stack: LocalStack, endpoints: int) -> None:
    """Replace the example with E endpoints that run on the KWOK node; commit it."""
    example = stack.project / "example"
    shutil.rmtree(example / "models")
    (example / "valohai.yaml").write_text("".join(ENDPOINT.format(name=f"endpoint-{i:02d}") for i in range(endpoints)))
    git(stack.project, "add", "-A")
    git(stack.project, "commit", "-qm", "scale fixture")


def cli(stack: LocalStack, *args: str) -> None:
    """The command line as a user runs it (the integration tests' helper); a failure stops the run."""
    result = observe_project.cli(stack, *args, timeout=TIMEOUT)
    assert result.returncode == 0, f"components {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def measure(versions_count: int, endpoints: int) -> Figures:
    figures = Figures(f"{versions_count} x {endpoints}")
    run = figures.seconds
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack.create(Path(tmp))
        scale_repository(stack, endpoints)
        versions = [f"2019{i:04d}.0" for i in range(1, versions_count + 3)]
        live, spare = versions[:versions_count], versions[versions_count:]
        stack.pulumi("config", "rm", "versions")
        stack.pulumi("config", "rm", "aliases")
        for version in live:
            stack.pulumi("config", "set", "--path", f'versions["{version}"].commit', "HEAD")
        stack.pulumi("config", "set", "--path", "aliases.production", live[0])
        stack.pulumi("config", "set", "--path", "aliases.staging", live[1])
        before = {c: rss_mib(c) for c in ("kube-apiserver", "etcd")}

        def up(*extra: str) -> Callable[[], object]:
            return lambda: stack.pulumi("up", "--yes", "--skip-preview", *extra, timeout=TIMEOUT)

        try:
            run["first up"] = timed(up())
            figures.resources = len(stack.resources())
            run["preview"] = timed(lambda: stack.pulumi("preview", timeout=TIMEOUT))
            production = alias_targets(stack.stack_name, project_name(stack.project), ["production"])
            run["program + engine (whole stack)"] = timed(
                lambda: stack.pulumi("preview", *(f"--target={t}" for t in production), timeout=TIMEOUT)
            )
            run["no-op up"] = timed(lambda: stack.pulumi("up", "--yes", "--expect-no-changes", timeout=TIMEOUT))
            run["no-op up --skip-preview"] = timed(up("--expect-no-changes"))
            stack.pulumi("config", "set", "--path", "aliases.production", live[2])
            run["alias switch: config + up"] = timed(up())
            run["alias switch: alias set --up"] = timed(
                lambda: cli(stack, "alias", "set", "production", live[3], "--up")
            )
            stack.pulumi("config", "set", "--path", f'versions["{spare[0]}"].commit', "HEAD")
            run["add a version: config + up"] = timed(up())
            run["add a version: version create --up"] = timed(
                lambda: cli(stack, "version", "create", "--name", spare[1], "--up")
            )
            stack.pulumi("config", "rm", "--path", f'versions["{spare[0]}"]')
            run["remove a version: config + up"] = timed(up())
            figures.memory = {c: (before[c], rss_mib(c)) for c in before}
        finally:
            run["destroy"] = timed(lambda: stack.pulumi("destroy", "--yes", timeout=TIMEOUT))
            stack.teardown()  # the namespace is retained on destroy
    run["provider check + diff"] = run["preview"] - run["program + engine (whole stack)"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10x5,10x10,50x10", help="VERSIONSxENDPOINTS, comma-separated")
    args = parser.parse_args()
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]
    results = []
    for versions, endpoints in sizes:
        results.append(measure(versions, endpoints))
        print(f"measured {results[-1].size}", file=sys.stderr, flush=True)

    rows = list(results[0].seconds)
    width = max(len(r) for r in rows)
    print(f"{'seconds'.ljust(width)}  " + "  ".join(f"{f.size} ({f.resources} res)".rjust(20) for f in results))
    for row in rows:
        print(f"{row.ljust(width)}  " + "  ".join(f"{f.seconds[row]:20.1f}" for f in results))
    for component in ("kube-apiserver", "etcd"):
        cells = "  ".join(
            f"{f.memory[component][0]:.0f} -> {f.memory[component][1]:.0f} MiB".rjust(20) for f in results
        )
        print(f"{(component + ' RSS').ljust(width)}  {cells}")
    if len(results) > 1:
        small, large = results[0], results[-1]
        for row in ("alias switch: alias set --up", "add a version: version create --up"):
            ratio = large.seconds[row] / small.seconds[row]
            print(f"{row} at {large.size} / at {small.size}: {ratio:.2f}")
        same_version = [f for f in results[:-1] if f.size.endswith(large.size.split(" x ")[1])]
        if same_version:
            row = "add a version: version create --up"
            ratio = large.seconds[row] / same_version[-1].seconds[row]
            print(f"{row} at {large.size} / at {same_version[-1].size} (same version size): {ratio:.2f}")
    for f in results:
        print(f"no-op up / preview at {f.size}: {f.seconds['no-op up'] / f.seconds['preview']:.2f}", end="; ")
        print(f"with --skip-preview: {f.seconds['no-op up --skip-preview'] / f.seconds['preview']:.2f}")


if __name__ == "__main__":
    main()
