"""`logs`: the logs of every pod of a version's endpoint, or of the versions an alias routes to."""

from __future__ import annotations

import argparse
import sys

from components.cli.common import add_stack_arguments, duration, open_stack
from components.observe.cluster import Cluster, ClusterError
from components.observe.declared import Declared, declared
from components.observe.logs import Follower, LogLine, LogSource, connect_for_logs, read, sources
from components.observe.snapshot import Snapshot, read_snapshot
from components.stacks.errors import ToolError


def logs(args: argparse.Namespace) -> int:
    if args.follow and args.previous:
        raise ToolError("--previous shows a container that has ended; it cannot be followed (drop --follow)")
    pulumi, config = open_stack(args)
    d = declared(config, pulumi.outputs())
    cluster = connect_for_logs(d)
    namespace = d.namespace or ""
    try:
        found = sources(d, _snapshot(cluster, d), args.route, args.endpoint)
        if not found:
            raise ToolError(
                f"no pods of {args.route}/{args.endpoint} in namespace {namespace} "
                "(not deployed yet? see `python -m components status`)"
            )
        if args.follow:
            return _follow(args, cluster, d, found)
        for line in read(
            cluster,
            namespace,
            found,
            since_seconds=args.since,
            tail_lines=args.tail,
            previous=args.previous,
            skipped=_note,
        ):
            print(line.show(args.timestamps))
        sys.stdout.flush()
        return 0
    except ClusterError as err:
        raise ToolError(str(err)) from None
    finally:
        cluster.close()


def _follow(args: argparse.Namespace, cluster: Cluster, d: Declared, first: list[LogSource]) -> int:
    scans = iter([first])

    def scan() -> list[LogSource]:
        # The first scan is the one already made; later ones find new pods (a scale-out, a replacement).
        return next(scans, None) or sources(d, _snapshot(cluster, d), args.route, args.endpoint)

    def emit(item: LogLine | str) -> None:
        if isinstance(item, str):
            print(item, file=sys.stderr, flush=True)
        else:
            print(item.show(args.timestamps), flush=True)

    follower = Follower(cluster, d.namespace or "", scan, since_seconds=args.since, tail_lines=args.tail)
    follower.run(emit)
    return 0


def _snapshot(cluster: Cluster, d: Declared) -> Snapshot:
    return read_snapshot(cluster, d.namespace or "", d.project, d.routing_kind, events=False)


def _note(source: LogSource, reason: str) -> None:
    print(f"({source.label}: {reason})", file=sys.stderr, flush=True)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "logs",
        help="logs of every pod of a version's or alias's endpoint",
        description="Print the logs of every pod of ENDPOINT of a version, or of the versions an alias routes to "
        "(its mirror included), each line prefixed with its pod (and version, for an alias), merged in time "
        "order. --follow streams all pods at once (new pods join as they start) until Ctrl-C.",
    )
    add_stack_arguments(parser)
    parser.add_argument("route", metavar="VERSION_OR_ALIAS")
    parser.add_argument("endpoint", metavar="ENDPOINT")
    parser.add_argument("--since", type=duration, metavar="DURATION", help="only lines newer than this, e.g. 10m")
    parser.add_argument("--tail", type=int, metavar="N", help="only the last N lines of each pod")
    parser.add_argument("--follow", "-f", action="store_true", help="keep streaming new lines until Ctrl-C")
    parser.add_argument(
        "--previous", "-p", action="store_true", help="the previous container's logs (after a crash or OOM kill)"
    )
    parser.add_argument("--timestamps", action="store_true", help="show each line's timestamp")
    parser.set_defaults(run=logs)
