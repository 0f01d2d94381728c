"""Calling an endpoint of a version or alias: its URL, the request (query, fields, files, JSON), the answer.

The URL comes from the stack's outputs (`aliasUrls`, `versionUrls`), or from the stack's config
and a base address (the router's, when the host name does not resolve, or before `pulumi up`).
Through a base the request keeps the stack's host in `Host:`; `*.localhost` hosts go to 127.0.0.1.
Basic-auth credentials come from the stack's config when it sets `basicAuth`. Used by `call` and
the console, so both send exactly the same request.
"""

from __future__ import annotations

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

from components.inputs.aliases import AliasTarget
from components.inputs.contract import url_prefix
from components.inputs.errors import ConfigError
from components.stacks.errors import ToolError, progress
from components.stacks.stack_config import SECRET_PLACEHOLDER, Pulumi, StackConfig

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
        raise ToolError(f"--url {base!r}: give scheme and host, e.g. http://127.0.0.1:8080")
    prefix = origin.path.rstrip("/")
    return urllib.parse.urlunsplit((origin.scheme, origin.netloc, prefix + parsed.path, parsed.query, ""))


@dataclass(frozen=True)
class Upload:
    """A file field of a multipart body: its field name, the file's name and its bytes."""

    name: str
    filename: str
    content: bytes

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"


def multipart(fields: list[tuple[str, str]], uploads: list[Upload]) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its Content-Type."""
    boundary = f"vh-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode())
        parts.append(value.encode() + b"\r\n")
    for upload in uploads:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(upload.name)}"; '
                f'filename="{_quote(upload.filename)}"\r\nContent-Type: {upload.content_type}\r\n\r\n'
            ).encode()
        )
        parts.append(upload.content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def split_pair(text: str, option: str, what: str = "NAME=VALUE") -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE); the value may contain '='."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ToolError(f"{option} {text!r}: expected {what}")
    return name, value


def parse_file(text: str) -> Upload:
    name, value = split_pair(text, "--file", "NAME=@PATH")
    path = Path(value.removeprefix("@")).expanduser()
    if not path.is_file():
        raise ToolError(f"--file {name}: {path} is not a file")
    return Upload(name, path.name, path.read_bytes())


@dataclass(frozen=True)
class Labels:
    """What the user calls the request's parts, for messages: `call`'s options or the console's inputs."""

    json: str = "--json"
    fields: str = "--field"
    files: str = "--file"
    json_hint: str = "quote the body for the shell, or pass @FILE"
    path: str = "the PATH argument"
    no_user_fix: str = "the stack sets no basicAuth users here; pass --user NAME:PASSWORD"


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
    """The request `call` sends, from its options (`NAME=VALUE`, `NAME=@PATH`, a JSON text or @FILE)."""
    text = json_body
    if json_body is not None and json_body.startswith("@"):
        text = Path(json_body[1:]).read_text()
    return compose_request(
        url,
        method=method,
        fields=[split_pair(f, "--field", "NAME=VALUE") for f in fields or []],
        uploads=[parse_file(f) for f in files or []],
        json_text=text,
        credentials=credentials,
        host=host,
    )


def compose_request(
    url: str,
    *,
    method: str | None = None,
    fields: list[tuple[str, str]] | None = None,
    uploads: list[Upload] | None = None,
    json_text: str | None = None,
    credentials: tuple[str, str] | None = None,
    host: str | None = None,
    labels: Labels = Labels(),
) -> Request:
    """The one place a request to an endpoint is made (`call` and the console): JSON, multipart (files),
    a urlencoded form, or no body; the stack's Host and basic-auth credentials."""
    form, files = fields or [], uploads or []
    if json_text is not None and (form or files):
        raise ToolError(
            f"{labels.json} sends a JSON body; it cannot be combined with {labels.fields} or {labels.files}"
        )
    headers = {"Accept": "application/json, */*;q=0.5", "User-Agent": "valohai-deployments-call"}
    body: bytes | None = None
    if json_text is not None:
        try:
            json.loads(json_text)
        except ValueError as err:
            raise ToolError(f"{labels.json}: not valid JSON ({err}); {labels.json_hint}") from None
        body, headers["Content-Type"] = json_text.encode(), "application/json"
    elif files:
        body, headers["Content-Type"] = multipart(form, files)
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


def status_hint(status: int, user: str | None, url: str, labels: Labels = Labels()) -> str | None:
    """What a 401 or 404 answer means for this stack, and the fix; None for other answers."""
    if status == 401:
        who = f"user '{user}'" if user else "no credentials"
        fix = (
            f"check basicAuth.{user} (pulumi config set --secret --path basicAuth.{user} ...) and run pulumi up"
            if user
            else labels.no_user_fix
        )
        return f"401 Unauthorized: the endpoint refused {who}; {fix}"
    if status == 404:
        return f"404 Not Found: {url} is not served; check {labels.path} and that `pulumi up` ran"
    return None


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


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what "the same server" means."""
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the origin the request went to: its `Authorization` and `Host`
    headers are meant for that server alone. Any other redirect is the answer, shown with its Location."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if origin(newurl) != origin(req.full_url):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def send(request: Request, timeout: float = 60.0) -> tuple[int, str, dict[str, str], bytes, float]:
    """(status, reason, headers, body, seconds); HTTP errors and cross-origin redirects are responses too."""
    # http(s) only: resolve_url builds it from the stack outputs or a checked --url.
    raw = urllib.request.Request(  # noqa: S310
        request.url, data=request.body, method=request.method, headers=request.headers
    )
    opener = urllib.request.build_opener(_SameOriginRedirects())
    started = time.monotonic()
    try:
        with opener.open(raw, timeout=timeout) as response:
            return response.status, response.reason, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.reason, dict(err.headers), err.read(), time.monotonic() - started
    except urllib.error.URLError as err:
        reason = err.reason
        host = urllib.parse.urlsplit(request.url).netloc
        if isinstance(reason, ConnectionRefusedError):
            raise ToolError(
                f"connection refused by {host}: nothing listens there; is the stack deployed (pulumi up) "
                "and the router running? Pass --url http://HOST:PORT to call another address"
            ) from None
        raise ToolError(f"cannot reach {host}: {reason}; check the URL or pass --url http://HOST:PORT") from None
    except TimeoutError:
        raise ToolError(f"no answer from {request.url} within {timeout:.0f} s; try --timeout") from None


def resolve_url(config: StackConfig, outputs: dict[str, Any], route: str, endpoint: str, base: str | None) -> Target:
    """Where to call the endpoint: its URL from the outputs when deployed, else from config and `--url`."""
    aliases = config.values.get("aliases") or {}
    versions = config.values.get("versions") or {}
    if route not in aliases and route not in versions:
        raise ToolError(
            f"'{route}' is neither an alias nor a version of stack '{config.stack}'; "
            f"aliases: {', '.join(aliases) or '(none)'}; versions: {', '.join(versions) or '(none)'}"
        )
    kind = "aliasUrls" if route in aliases else "versionUrls"
    deployed = (outputs.get(kind) or {}).get(route)
    if isinstance(deployed, dict) and deployed:
        if endpoint not in deployed:
            raise ToolError(f"'{route}' serves no endpoint '{endpoint}'; its endpoints: {', '.join(sorted(deployed))}")
        url = str(deployed[endpoint])
        if not base and url.startswith("/"):
            raise ToolError(
                "the stack serves any host (no `host` in config), so its URLs have none; pass --url http://HOST:PORT"
            )
        return target_of(url, base)
    if not base:
        raise ToolError(
            f"stack '{config.stack}' has no URL for '{route}' in its outputs (not deployed yet? run `pulumi up`); "
            "or pass --url http://HOST:PORT to call the router directly"
        )
    endpoints = _endpoints_of(config, route, aliases)
    if endpoints is not None and endpoint not in endpoints:
        raise ToolError(f"'{route}' serves no endpoint '{endpoint}'; its endpoints: {', '.join(endpoints)}")
    deployment = str(config.values.get("deployment") or config.short_stack)
    path = url_prefix(str(config.values.get("owner")), str(config.values.get("project")), deployment, route, endpoint)
    host = config.values.get("host")
    return Target(with_origin(f"{path}/", base), str(host) if host else None)


def _endpoints_of(config: StackConfig, route: str, aliases: dict[str, Any]) -> list[str] | None:
    """The endpoints a version (or an alias's primary version) serves, per the program's plan."""
    version = (AliasTarget.of(aliases[route]).primary or route) if route in aliases else route
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
        raise ToolError(f"--user {name}: not in basicAuth of stack '{config.stack}'; users: {', '.join(sorted(users))}")
    if pulumi is None:
        return None
    progress(f"reading the password of basicAuth.{name} (pulumi config get)")
    password = pulumi.secret_at(f"basicAuth.{name}")
    return (name, password) if password and password != SECRET_PLACEHOLDER else None
