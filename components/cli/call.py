"""`call`: try an endpoint of a version or alias, with a query, form fields, files or JSON.

The request and its URL are `components/stacks/endpoint_calls.py`'s, shared with the console.
"""

from __future__ import annotations

import argparse

from components.cli.common import add_stack_arguments
from components.stacks.endpoint_calls import (
    SHOWN_HEADERS,
    build_request,
    credentials,
    endpoint_url,
    format_body,
    resolve_url,
    send,
    split_pair,
    status_hint,
)
from components.stacks.errors import ToolError, progress
from components.stacks.stack_config import Pulumi, find_project_dir


def call(args: argparse.Namespace) -> int:
    if args.url and not args.url.startswith(("http://", "https://")):
        raise ToolError(f"--url {args.url!r}: must start with http:// or https://")
    pulumi = Pulumi(find_project_dir(args.cwd), args.stack)
    config = pulumi.read_config()
    try:
        outputs = pulumi.outputs()
    except ToolError:
        if not args.url:
            raise
        # A stack that was never deployed has no outputs; --url and the config still name the URL.
        outputs = {}
    target = resolve_url(config, outputs, args.route, args.endpoint, args.url)
    auth = credentials(pulumi, config, args.user)
    request = build_request(
        endpoint_url(target.url, args.path, [split_pair(q, "--query") for q in args.query]),
        host=target.host,
        method=args.method,
        fields=args.field,
        files=args.file,
        json_body=args.json,
        credentials=auth,
    )
    via = f" (Host: {target.host})" if target.host else ""
    progress(f"{request.method} {request.url}{via}" + (f" (as {auth[0]})" if auth else ""))
    status, reason, headers, body, seconds = send(request, args.timeout)
    print(f"HTTP {status} {reason}  ({seconds * 1000:.0f} ms)")
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in SHOWN_HEADERS:
        if name.lower() in lowered:
            print(f"{name}: {lowered[name.lower()]}")
    print()
    print(format_body(lowered.get("content-type", ""), body))
    hint = status_hint(status, auth[0] if auth else None, request.url)
    if hint:
        raise ToolError(hint)
    return 0 if status < 400 else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "call",
        help="call an endpoint of a version or alias",
        description="Call an endpoint and print the status, the headers that matter and the body (JSON pretty-"
        "printed). The URL comes from the stack's outputs (or its config and --url); basic-auth credentials "
        "from the stack's config (pulumi config get, so the secrets passphrase must be available).",
    )
    add_stack_arguments(parser)
    parser.add_argument("route", metavar="ALIAS_OR_VERSION")
    parser.add_argument("endpoint", metavar="ENDPOINT")
    parser.add_argument("path", nargs="?", default="", metavar="PATH", help="path under the endpoint, e.g. hello")
    parser.add_argument("--query", action="append", default=[], metavar="K=V", help="query parameter (repeat)")
    parser.add_argument("--field", action="append", default=[], metavar="K=V", help="form field (repeat)")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=@PATH", help="file field (repeat)")
    parser.add_argument("--json", metavar="BODY", help="JSON body (or @FILE)")
    parser.add_argument("--method", help="HTTP method (default: GET, or POST with a body)")
    parser.add_argument(
        "--url", metavar="BASE", help="call this address (scheme://host:port) instead of the URL's host"
    )
    parser.add_argument("--user", metavar="NAME[:PASSWORD]", help="basic-auth user (default: the stack's first)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer (default 60)")
    parser.set_defaults(run=call)
