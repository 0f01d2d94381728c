"""The real engine against the local cluster at scale: V versions x E endpoints on KWOK.

A scratch code repository holds a valohai.yaml with E small endpoints that tolerate the KWOK
node's taint and select it, so the pods are fake (KWOK marks them Ready) while every object is
real to the API server, the controllers and the Pulumi provider's await logic. Prints the first
`pulumi up`, `pulumi preview`, a no-op `pulumi up`, an alias-switch `pulumi up`, and the API
server's and etcd's resident memory before and after. Needs scripts/setup.

    python benchmarks/cluster_scale.py [--versions 50] [--endpoints 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import git  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--endpoints", type=int, default=10)
    args = parser.parse_args()
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")

    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack.create(Path(tmp))
        scale_repository(stack, args.endpoints)
        versions = [f"2019{i:04d}.0" for i in range(1, args.versions + 1)]
        stack.pulumi("config", "rm", "versions")
        stack.pulumi("config", "rm", "aliases")
        for version in versions:
            stack.pulumi("config", "set", "--path", f'versions["{version}"].commit', "HEAD")
        stack.pulumi("config", "set", "--path", "aliases.production", versions[0])
        stack.pulumi("config", "set", "--path", "aliases.staging", versions[1])
        memory_before = {c: rss_mib(c) for c in ("kube-apiserver", "etcd")}
        try:
            first = timed(lambda: stack.pulumi("up", "--yes"))
            resources = len(stack.resources())
            preview = timed(lambda: stack.pulumi("preview"))
            noop = timed(lambda: stack.pulumi("up", "--yes", "--expect-no-changes"))
            stack.pulumi("config", "set", "--path", "aliases.production", versions[2])
            switch = timed(lambda: stack.pulumi("up", "--yes"))
            memory_after = {c: rss_mib(c) for c in ("kube-apiserver", "etcd")}
        finally:
            destroy = timed(lambda: stack.pulumi("destroy", "--yes"))
            stack.teardown()  # the namespace is retained on destroy

    print(f"cluster stack: {args.versions} versions x {args.endpoints} endpoints on KWOK, {resources} resources")
    print(f"first pulumi up (images, rollouts): {first:.1f} s")
    print(f"pulumi preview:                     {preview:.1f} s")
    print(f"no-op pulumi up:                    {noop:.1f} s")
    print(f"alias-switch pulumi up:             {switch:.1f} s")
    print(f"pulumi destroy:                     {destroy:.1f} s")
    for component, before in memory_before.items():
        print(f"{component} RSS: {before:.0f} MiB before, {memory_after[component]:.0f} MiB after")


if __name__ == "__main__":
    main()
