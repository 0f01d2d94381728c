"""Time the real engine on the local stack with 5 versions x 2 endpoints.

Prints the first `pulumi up` (builds), then `pulumi preview`, a no-op `pulumi up` and an
alias-switch `pulumi up` (each the median of --repeat runs), and the ratios
alias-switch / no-op and no-op / preview. Needs scripts/setup (toolchain and services).

    python benchmarks/local_stack.py [--versions 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.local_stack import LocalStack, missing_tools, tool_environment  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")

    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack.create(Path(tmp))
        versions = [f"2019{i:04d}.0" for i in range(1, args.versions + 1)]
        for i, version in enumerate(versions):
            model = f"example/models/digits-v{1 + i % 2}.json"
            stack.pulumi("config", "set", "--path", f'versions["{version}"].files.predict-digit.model', model)
        stack.pulumi("config", "set", "--path", "aliases.production", versions[0])
        stack.pulumi("config", "set", "--path", "aliases.staging", versions[1])
        stack.pulumi("config", "rm", "--path", 'versions["20181002.0"]')
        stack.pulumi("config", "rm", "--path", 'versions["20181003.0"]')
        first = timed(lambda: stack.pulumi("up", "--yes"))
        resources = len(stack.resources())

        previews, noops, switches = [], [], []
        for round_ in range(args.repeat):
            previews.append(timed(lambda: stack.pulumi("preview")))
            noops.append(timed(lambda: stack.pulumi("up", "--yes", "--expect-no-changes")))
            target = versions[2] if round_ % 2 == 0 else versions[0]
            stack.pulumi("config", "set", "--path", "aliases.production", target)
            switches.append(timed(lambda: stack.pulumi("up", "--yes")))
        stack.teardown()  # destroy, and the namespace it retains

    preview, noop, switch = (statistics.median(x) for x in (previews, noops, switches))
    print(f"local stack: {args.versions} versions x 2 endpoints, {resources} resources in state")
    print(f"first pulumi up (builds and pushes images): {first:.1f} s")
    print(f"pulumi preview:            {preview:.2f} s  (median of {args.repeat}: {_fmt(previews)})")
    print(f"no-op pulumi up:           {noop:.2f} s  (median of {args.repeat}: {_fmt(noops)})")
    print(f"alias-switch pulumi up:    {switch:.2f} s  (median of {args.repeat}: {_fmt(switches)})")
    print(f"ratio alias-switch / no-op: {switch / noop:.2f}")
    print(f"ratio no-op / preview:      {noop / preview:.2f}")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
