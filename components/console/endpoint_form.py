"""The request form: what a person fills in, turned into exactly the request `call` sends
(`components/stacks/endpoint_calls.py`), sent through the router, and its answer as the page shows it.

The stack's basic-auth credentials are added here, on the server side; the answer names the user,
never the password, and the request's headers are not echoed back.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from components.console.stack_source import StackSource
from components.stacks.endpoint_calls import (
    SHOWN_HEADERS,
    Labels,
    Request,
    Upload,
    compose_request,
    endpoint_url,
    format_body,
    resolve_url,
    send,
    split_pair,
    status_hint,
)
from components.stacks.errors import ToolError

METHODS = ("GET", "POST", "PUT")
LABELS = Labels(
    json="Body",
    fields="Fields",
    files="Files",
    json_hint='write it as JSON, e.g. {"name": "Ada"}',
    path="the Path",
    no_user_fix="the stack sets no basicAuth users; the endpoint wants credentials the stack does not hold",
)
# Larger images are described, not shown.
MAX_IMAGE_BYTES = 5_000_000


@dataclass(frozen=True)
class EndpointForm:
    """The form's inputs as typed; `uploads` are the files chosen under "Files"."""

    route: str
    endpoint: str
    method: str = "GET"
    path: str = ""
    query: str = ""
    fields: str = ""
    body: str = ""
    file_field: str = "file"
    uploads: tuple[tuple[str, bytes], ...] = ()

    def query_pairs(self) -> list[tuple[str, str]]:
        """`name=value`, one a line or joined with `&` (as in a URL); values are taken as written."""
        items = [item for line in self.query.splitlines() for item in line.split("&") if item.strip()]
        return [split_pair(item.strip(), "Query") for item in items]

    def field_pairs(self) -> list[tuple[str, str]]:
        """`name=value`, one a line (a value may hold `&` or `=`)."""
        return [split_pair(line.strip(), "Fields") for line in self.fields.splitlines() if line.strip()]

    def files(self) -> list[Upload]:
        name = self.file_field.strip() or "file"
        return [Upload(name, filename, content) for filename, content in self.uploads]


@dataclass(frozen=True)
class CallResult:
    method: str
    url: str
    host: str | None
    user: str | None
    status: int
    reason: str
    milliseconds: int
    headers: dict[str, str]
    body_kind: str
    body: str
    image: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "request": {"method": self.method, "url": self.url, "host": self.host, "user": self.user},
            "status": self.status,
            "reason": self.reason,
            "milliseconds": self.milliseconds,
            "headers": self.headers,
            "bodyKind": self.body_kind,
            "body": self.body,
            "image": self.image,
            "problems": self.problems,
        }


def build(source: StackSource, form: EndpointForm) -> tuple[Request, str | None]:
    """The request `call --stack S ROUTE ENDPOINT PATH --query ... --field ... --file ... --json ...
    --method M [--url BASE]` sends, and the basic-auth user it carries."""
    if form.method not in METHODS:
        raise ToolError(f"Method {form.method!r}: choose one of {', '.join(METHODS)}")
    target = resolve_url(source.config(), source.outputs(), form.route, form.endpoint, source.base_url)
    auth = source.credentials()
    request = compose_request(
        endpoint_url(target.url, form.path, form.query_pairs()),
        method=form.method,
        fields=form.field_pairs(),
        uploads=form.files(),
        json_text=form.body if form.body.strip() else None,
        credentials=auth,
        host=target.host,
        labels=LABELS,
    )
    return request, auth[0] if auth else None


def call(source: StackSource, form: EndpointForm, timeout: float) -> CallResult:
    request, user = build(source, form)
    status, reason, headers, body, seconds = send(request, timeout)
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    kind, text, image = _body_view(content_type, body)
    hint = status_hint(status, user, request.url, LABELS)
    return CallResult(
        method=request.method,
        url=request.url,
        host=request.headers.get("Host"),
        user=user,
        status=status,
        reason=reason,
        milliseconds=round(seconds * 1000),
        headers={name: lowered[name.lower()] for name in SHOWN_HEADERS if name.lower() in lowered},
        body_kind=kind,
        body=text,
        image=image,
        problems=[hint] if hint else [],
    )


def _body_view(content_type: str, body: bytes) -> tuple[str, str, str | None]:
    """(kind, text, image data URL): JSON pretty-printed, an image shown as one, text as text."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith("image/") and body:
        if len(body) <= MAX_IMAGE_BYTES:
            return "image", f"{len(body)} bytes of {media}", f"data:{media};base64,{base64.b64encode(body).decode()}"
        return "image", f"{len(body)} bytes of {media} (too large to show)", None
    text = format_body(content_type, body)
    if "json" in media or (text != body.decode("utf-8", "replace") and body[:1] in (b"{", b"[")):
        return "json", text, None
    return ("empty" if not body else "text"), text, None
