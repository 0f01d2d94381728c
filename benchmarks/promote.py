"""Time guarded promotions on the local stack under a steady load through the router.

Prints, for a healthy version promoted in steps, the time each step took to apply (config write
and `pulumi up`) and its bake; for a version answering 500 to 30% of requests, the time from the
breach being detected to the alias being back on the old version (config and cluster), and from
the first 500 the load saw to the last request the bad version answered. Needs scripts/setup
(toolchain and services).

    python benchmarks/promote.py [--steps 10,50] [--bake 30s] [--rate 10] [--min-requests 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.local_stack import LocalStack, missing_tools, tool_environment  # noqa: E402
from tests.integration.promote_project import (  # noqa: E402
    BAD,
    GOOD,
    OLD,
    breach_seconds,
    load,
    promote,
    set_up,
    step_times,
    version_of,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="10,50")
    parser.add_argument("--bake", default="30s")
    parser.add_argument("--rate", type=float, default=10.0)
    # A shared machine serves ~4 requests a second: at 10% for 30 s the new version gets about 10.
    parser.add_argument("--min-requests", default="10")
    args = parser.parse_args()
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")
    options = ["--steps", args.steps, "--bake", args.bake, "--min-requests", args.min_requests, "--max-p95", "2s"]

    with tempfile.TemporaryDirectory() as tmp, LocalStack.scratch(Path(tmp)) as stack:
        set_up(stack)
        with load(stack, rate=args.rate) as traffic:
            healthy = promote(stack, "production", GOOD, *options)
        if healthy.returncode != 0:
            sys.exit(f"the healthy promotion failed:\n{healthy.stdout}\n{healthy.stderr}")
        print(f"healthy promotion {OLD} → {GOOD}, steps {args.steps}, bake {args.bake}, {args.rate:g} req/s:")
        for share, applied, baked in step_times(healthy.stdout):
            print(f"  step {share:>3}%: apply (config + pulumi up) {applied:6.1f} s, bake {baked:5.0f} s")
        print(f"  failed requests: {len(traffic.failures)} of {len(traffic.samples)}")

        with load(stack, rate=args.rate) as traffic:
            breach = promote(stack, "production", BAD, *options)
        if breach.returncode != 1:
            sys.exit(f"the bad version was not rolled back:\n{breach.stdout}\n{breach.stderr}")
        failures = traffic.failures
        on_bad = [s.sent for s in traffic.samples if version_of(s) == BAD]
        print(f"bad version {GOOD} → {BAD} ({BAD} answers 500 to 30% of requests):")
        print(f"  detection → rollback done: {breach_seconds(breach.stderr):6.1f} s")
        if failures and on_bad:
            print(f"  first 500 → last request on {BAD}: {max(on_bad) - failures[0].sent:6.1f} s")
        others = [s for s in failures if version_of(s) != BAD]
        print(f"  failed requests: {len(failures)} of {len(traffic.samples)}, {len(others)} not on {BAD}")


if __name__ == "__main__":
    main()
