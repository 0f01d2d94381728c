"""What keeps the console safe on a shared machine: the Host it answers to, the Origin and CSRF token
of every change, and headers that keep its pages out of other sites' frames and scripts.

A page of another site cannot read this console's pages (the browser's same-origin rule) unless its
name resolves to this machine (DNS rebinding); answering only to the names it serves on closes that.
A change (POST) must come from one of its own pages: the Origin it names is one of them, and it
carries the token only those pages hold.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Pages load only their own script and style; response images come as data: URLs.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Allowed:
    """The `host:port` names the console answers to, and the token its pages carry."""

    hosts: frozenset[str]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def serving(cls, host: str, port: int, extra: Iterable[str] = ()) -> Allowed:
        """Names for a server bound to `host:port`: its own, loopback's when bound to it or to every
        address, and each `extra` name (with or without a port: without one, this port)."""
        names = {host if ":" not in host else f"[{host}]"}
        if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):  # noqa: S104 (names, not a bind)
            names |= set(LOOPBACK_NAMES)
        hosts = {f"{name}:{port}" for name in names}
        hosts |= {name if _has_port(name) else f"{name}:{port}" for name in extra}
        return cls(frozenset(h.lower() for h in hosts))

    def host_ok(self, host: str | None) -> bool:
        return bool(host) and str(host).lower() in self.hosts

    def origin_ok(self, origin: str) -> bool:
        parts = urllib.parse.urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() in self.hosts

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.token)

    def listing(self) -> str:
        return ", ".join(sorted(self.hosts))


def _has_port(name: str) -> bool:
    return name.rsplit("]", 1)[-1].count(":") == 1


class Guard:
    """ASGI middleware: refuse a foreign Host (any request) or a foreign Origin (a change), and add
    the security headers to every answer. The CSRF token is checked where the form is read
    (`require_token`), since the token may come in the form body."""

    def __init__(self, app: ASGIApp, allowed: Allowed) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope["method"], headers)
        if refusal is not None:
            await PlainTextResponse(refusal, status_code=403, headers=SECURITY_HEADERS)(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                raw += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, with_headers)

    def _refusal(self, method: str, headers: Headers) -> str | None:
        host = headers.get("host")
        if not self.allowed.host_ok(host):
            return (
                f"refused: Host {host!r} is not a name this console serves ({self.allowed.listing()}); "
                "open it under one of those, or start it with --allow-host NAME"
            )
        if method in SAFE_METHODS:
            return None
        origin = headers.get("origin") or _origin_of(headers.get("referer"))
        if origin is not None and not self.allowed.origin_ok(origin):
            return f"refused: a change from {origin!r}, which is not this console ({self.allowed.listing()})"
        return None


def _origin_of(referer: str | None) -> str | None:
    if not referer:
        return None
    parts = urllib.parse.urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}"


class TokenMissing(Exception):
    """A change without this console's CSRF token."""


def require_token(allowed: Allowed, header: str | None, field_value: object) -> None:
    token = header or (field_value if isinstance(field_value, str) else None)
    if not allowed.token_ok(token):
        raise TokenMissing(
            "refused: this change does not carry the console's token (reload the page; changes are accepted "
            "only from the console's own pages)"
        )
