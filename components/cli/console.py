"""`console`: the web console (`components/console/`), served by uvicorn on loopback by default."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from components.cli.common import open_stack
from components.console.app import Console, create_app
from components.console.guard import Allowed
from components.console.observed import Observer
from components.console.stack_source import StackSource
from components.stacks.errors import ToolError, progress
from components.stacks.stack_config import Pulumi, find_project_dir

DEFAULT_PORT = 8090


def console(args: argparse.Namespace) -> int:
    if args.url and not args.url.startswith(("http://", "https://")):
        raise ToolError(f"--url {args.url!r}: must start with http:// or https://")
    if not 0 < args.port < 65536:
        raise ToolError(f"--port {args.port}: must be 1-65535")
    project_dir = find_project_dir(args.cwd)
    stacks = args.stack or Pulumi(project_dir, "").stack_names()
    if not stacks:
        raise ToolError("no stacks in this project's backend; pass --stack NAME (pulumi stack ls lists them)")
    sources = {}
    for stack in dict.fromkeys(stacks):
        # Read each stack's config once now: a wrong name or passphrase is one line before serving.
        pulumi, _ = open_stack(argparse.Namespace(stack=stack, cwd=project_dir))
        sources[stack] = StackSource(pulumi, args.url)
    allowed = Allowed.serving(args.host, args.port, args.allow_host)
    app = create_app(Console(sources, allowed, Observer(window_seconds=args.window), timeout=args.timeout))
    progress(f"console for {', '.join(sources)} on http://{_url_host(args.host)}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, server_header=False)
    return 0


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 (names, not a bind)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "console",
        help="serve the web console: stacks, status, logs, a request form, alias changes",
        description="A page per stack: its versions and aliases with status, traffic and logs; a form that sends "
        "a request to an endpoint through the router (as `call` does, with the stack's basic-auth credentials "
        "added on the server); alias changes with their config diff and preview, applied with `pulumi up` where "
        "the stack's console.allowApply allows it (default: only `local`). Binds 127.0.0.1 unless --host says "
        "otherwise; answers only to the names it serves on (--allow-host adds one).",
    )
    parser.add_argument(
        "--stack", action="append", default=[], help="a stack to show (repeat; default: every stack in the backend)"
    )
    parser.add_argument(
        "--cwd", type=Path, default=None, help="the Pulumi project directory (default: nearest with Pulumi.yaml)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="another Host name the console answers to, e.g. behind a proxy (repeat)",
    )
    parser.add_argument("--url", metavar="BASE", help="send requests to this router address (scheme://host:port)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an endpoint (default 60)")
    parser.add_argument("--window", type=int, default=300, help="seconds of traffic the figures cover (default 300)")
    parser.set_defaults(run=console)
