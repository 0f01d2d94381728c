"""`status`: every version's workloads and every alias's route, with their traffic, from config,
state, cluster and metrics (`components/observe/`)."""

from __future__ import annotations

import argparse
import json

from components.cli.common import add_stack_arguments, duration, open_stack
from components.observe.status import read_status
from components.observe.table import render


def status(args: argparse.Namespace) -> int:
    pulumi, config = open_stack(args)
    outputs = pulumi.outputs()
    result = read_status(config, outputs, args.window)
    print(json.dumps(result.to_json(), indent=2) if args.json else render(result))
    return result.exit_code


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "status",
        help="versions, aliases, pods and traffic of a stack",
        description="Per version and endpoint: image, replicas, restarts, the last termination, the HPA, and the "
        "traffic through the router over the window; per alias: where config and the cluster's route point, "
        "whether the controller accepted the route, and its traffic. Differences between config, state and "
        "cluster are listed under Problems. Exit code 0 when everything could be read, 2 when the cluster or "
        "the metrics server could not (what could be read is still shown), 1 on bad input.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON (README: status --json)")
    parser.add_argument(
        "--window", type=duration, default=300, metavar="DURATION", help="traffic over this window (default 5m)"
    )
    parser.set_defaults(run=status)
