"""`call`: try an endpoint of a version or alias, with a query, form fields, files or JSON.

The URL comes from the stack's outputs (`aliasUrls`, `versionUrls`), or from the stack's config
and `--url BASE` (the router's address when the host name does not resolve, or before `pulumi up`).
Through `--url` the request keeps the stack's host in `Host:`; `*.localhost` hosts go to 127.0.0.1.
Basic-auth credentials come from the stack's config when it sets `basicAuth`. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.inputs import naming
from components.cli.alias import normalize
from components.cli.common import CliError, add_stack_arguments, progress, split_pair
from components.stacks.stack_config import SECRET_PLACEHOLDER, Pulumi, StackConfig, find_project_dir
from components.inputs.errors import ConfigError

# The response headers worth seeing when trying an endpoint.
SHOWN_HEADERS = ("Content-Type", "Content-Length", "Location", "WWW-Authenticate", "Retry-After", "Server")
MAX_TEXT_BODY = 20_000


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def endpoint_url(base: str, path: str, query: list[tuple[str, str]]) -> str:
    """`base` (ends in `/`) joined with `path` (relative to the endpoint) and the query."""
    url = base if base.endswith("/") else base + "/"
    url += path.lstrip("/")
    if query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
    return url


@dataclass(frozen=True)
class Target:
    """Where `call` connects, and the Host it names when that differs from the URL's host.

    Routers pick routes by host name (an HTTPRoute's `hostnames`, an Ingress's `host`), so calling
    the router's address must still say the stack's host, as `curl --connect-to` would.
    """

    url: str
    host: str | None = None


def _is_loopback_name(hostname: str) -> bool:
    # RFC 6761: `localhost` and every name under it are loopback, whatever the resolver knows.
    return hostname == "localhost" or hostname.endswith(".localhost")


def target_of(url: str, base: str | None) -> Target:
    """The stack's `url` called through `base` (the router's address) or, for *.localhost, on 127.0.0.1."""
    parts = urllib.parse.urlsplit(url)
    if base:
        origin = with_origin(url, base)
        return Target(
            origin, parts.netloc if parts.netloc and parts.netloc != urllib.parse.urlsplit(origin).netloc else None
        )
    if parts.hostname and _is_loopback_name(parts.hostname):
        netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
        return Target(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), parts.netloc)
    return Target(url)


def with_origin(url: str, base: str) -> str:
    """`url` with scheme and host taken from `base` (the router's address), path kept."""
    parsed, origin = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    if not origin.scheme or not origin.netloc:
        raise CliError(f"--url {base!r}: give scheme and host, e.g. http://127.0.0.1:8080")
    prefix = origin.path.rstrip("/")
    return urllib.parse.urlunsplit((origin.scheme, origin.netloc, prefix + parsed.path, parsed.query, ""))


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, Path]]) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its Content-Type."""
    boundary = f"vh-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode())
        parts.append(value.encode() + b"\r\n")
    for name, path in files:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                f'filename="{_quote(path.name)}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
        )
        parts.append(path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def parse_file(text: str) -> tuple[str, Path]:
    name, value = split_pair(text, "--file", "NAME=@PATH")
    path = Path(value.removeprefix("@")).expanduser()
    if not path.is_file():
        raise CliError(f"--file {name}: {path} is not a file")
    return name, path


def build_request(
    url: str,
    *,
    method: str | None = None,
    fields: list[str] | None = None,
    files: list[str] | None = None,
    json_body: str | None = None,
    credentials: tuple[str, str] | None = None,
    host: str | None = None,
) -> Request:
    """The request `call` sends: JSON, multipart (files), a urlencoded form, or no body."""
    form = [split_pair(f, "--field", "NAME=VALUE") for f in fields or []]
    uploads = [parse_file(f) for f in files or []]
    if json_body is not None and (form or uploads):
        raise CliError("--json sends a JSON body; it cannot be combined with --field or --file")
    headers = {"Accept": "application/json, */*;q=0.5", "User-Agent": "valohai-deployments-call"}
    body: bytes | None = None
    if json_body is not None:
        text = Path(json_body[1:]).read_text() if json_body.startswith("@") else json_body
        try:
            json.loads(text)
        except ValueError as err:
            raise CliError(f"--json: not valid JSON ({err}); quote the body for the shell, or pass @FILE") from None
        body, headers["Content-Type"] = text.encode(), "application/json"
    elif uploads:
        body, headers["Content-Type"] = multipart(form, uploads)
    elif form:
        body, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if host:
        headers["Host"] = host
    if credentials:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return Request(
        method=(method or ("POST" if body is not None else "GET")).upper(), url=url, headers=headers, body=body
    )


def format_body(content_type: str, body: bytes) -> str:
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return f"({len(body)} bytes of {content_type or 'binary data'})"
    return (
        text
        if len(text) <= MAX_TEXT_BODY
        else text[:MAX_TEXT_BODY] + f"\n…({len(text) - MAX_TEXT_BODY} more characters)"
    )


def send(request: Request, timeout: float = 60.0) -> tuple[int, str, dict[str, str], bytes, float]:
    """(status, reason, headers, body, seconds); HTTP errors are responses too."""
    # http(s) only: resolve_url builds it from the stack outputs or a checked --url.
    raw = urllib.request.Request(  # noqa: S310
        request.url, data=request.body, method=request.method, headers=request.headers
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(raw, timeout=timeout) as response:  # noqa: S310
            return response.status, response.reason, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.reason, dict(err.headers), err.read(), time.monotonic() - started
    except urllib.error.URLError as err:
        reason = err.reason
        host = urllib.parse.urlsplit(request.url).netloc
        if isinstance(reason, ConnectionRefusedError):
            raise CliError(
                f"connection refused by {host}: nothing listens there; is the stack deployed (pulumi up) "
                "and the router running? Pass --url http://HOST:PORT to call another address"
            ) from None
        raise CliError(f"cannot reach {host}: {reason}; check the URL or pass --url http://HOST:PORT") from None
    except TimeoutError:
        raise CliError(f"no answer from {request.url} within {timeout:.0f} s; try --timeout") from None


def resolve_url(config: StackConfig, outputs: dict[str, Any], route: str, endpoint: str, base: str | None) -> Target:
    """Where to call the endpoint: its URL from the outputs when deployed, else from config and `--url`."""
    aliases = config.values.get("aliases") or {}
    versions = config.values.get("versions") or {}
    if route not in aliases and route not in versions:
        raise CliError(
            f"'{route}' is neither an alias nor a version of stack '{config.stack}'; "
            f"aliases: {', '.join(aliases) or '(none)'}; versions: {', '.join(versions) or '(none)'}"
        )
    kind = "aliasUrls" if route in aliases else "versionUrls"
    deployed = (outputs.get(kind) or {}).get(route)
    if isinstance(deployed, dict) and deployed:
        if endpoint not in deployed:
            raise CliError(f"'{route}' serves no endpoint '{endpoint}'; its endpoints: {', '.join(sorted(deployed))}")
        url = str(deployed[endpoint])
        if not base and url.startswith("/"):
            raise CliError(
                "the stack serves any host (no `host` in config), so its URLs have none; pass --url http://HOST:PORT"
            )
        return target_of(url, base)
    if not base:
        raise CliError(
            f"stack '{config.stack}' has no URL for '{route}' in its outputs (not deployed yet? run `pulumi up`); "
            "or pass --url http://HOST:PORT to call the router directly"
        )
    endpoints = _endpoints_of(config, route, aliases)
    if endpoints is not None and endpoint not in endpoints:
        raise CliError(f"'{route}' serves no endpoint '{endpoint}'; its endpoints: {', '.join(endpoints)}")
    deployment = str(config.values.get("deployment") or config.short_stack)
    path = naming.url_prefix(
        str(config.values.get("owner")), str(config.values.get("project")), deployment, route, endpoint
    )
    host = config.values.get("host")
    return Target(with_origin(f"{path}/", base), str(host) if host else None)


def _endpoints_of(config: StackConfig, route: str, aliases: dict[str, Any]) -> list[str] | None:
    """The endpoints a version (or an alias's primary version) serves, per the program's plan."""
    version = route
    if route in aliases:
        weights, _ = normalize(aliases[route])
        version = max(weights, key=lambda v: weights[v]) if weights else route
    try:
        plan = config.plan()
    except ConfigError:  # a config the program refuses leaves the check to the server's 404
        return None
    found = plan.versions.get(version)
    return [e.name for e in found.endpoints] if found else None


def credentials(pulumi: Pulumi | None, config: StackConfig, user: str | None) -> tuple[str, str] | None:
    """(user, password) for basic auth: `--user NAME[:PASSWORD]`, else the stack's first basicAuth user."""
    if user and ":" in user:
        name, _, password = user.partition(":")
        return name, password
    users = config.values.get("basicAuth") or {}
    if not isinstance(users, dict) or not users:
        return None
    name = user or sorted(users)[0]
    if name not in users:
        raise CliError(f"--user {name}: not in basicAuth of stack '{config.stack}'; users: {', '.join(sorted(users))}")
    if pulumi is None:
        return None
    progress(f"reading the password of basicAuth.{name} (pulumi config get)")
    password = pulumi.secret_at(f"basicAuth.{name}")
    return (name, password) if password and password != SECRET_PLACEHOLDER else None


def call(args: argparse.Namespace) -> int:
    if args.url and not args.url.startswith(("http://", "https://")):
        raise CliError(f"--url {args.url!r}: must start with http:// or https://")
    pulumi = Pulumi(find_project_dir(args.cwd), args.stack)
    config = pulumi.read_config()
    try:
        outputs = pulumi.outputs()
    except CliError:
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
    if status == 401:
        who = f"user '{auth[0]}'" if auth else "no credentials"
        fix = (
            f"check basicAuth.{auth[0]} (pulumi config set --secret --path basicAuth.{auth[0]} ...) and run pulumi up"
            if auth
            else "the stack sets no basicAuth users here; pass --user NAME:PASSWORD"
        )
        raise CliError(f"401 Unauthorized: the endpoint refused {who}; {fix}")
    if status == 404:
        raise CliError(f"404 Not Found: {request.url} is not served; check the PATH argument and that `pulumi up` ran")
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
