"""Serve a Valohai `wsgi` endpoint under whichever URL prefix reached it (version or alias).

The ingress passes the full request path and the prefix it matched in X-VH-Prefix; moving that
prefix from PATH_INFO to SCRIPT_NAME lets Flask-style apps route `/` and build URLs under both
`/<owner>/<project>/<deployment>/<version>/<endpoint>` and the alias form of it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _load(target: str) -> WSGIApp:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in (attribute or "application").split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def prefix_of(path: str, header: str | None, default_prefix: str) -> str:
    """The prefix in use: the ingress's header, else the path's first five segments when they
    match this endpoint's default prefix in everything but the version/alias segment."""
    if header:
        return "/" + header.strip("/")
    default = default_prefix.strip("/").split("/")
    segments = path.strip("/").split("/")
    if len(default) == 5 and len(segments) >= 5 and segments[:3] == default[:3] and segments[4] == default[4]:
        return "/" + "/".join(segments[:5])
    return ""


def with_prefix(app: WSGIApp, default_prefix: str) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        prefix = prefix_of(path, environ.get("HTTP_X_VH_PREFIX"), default_prefix)
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + prefix
            environ["PATH_INFO"] = path[len(prefix) :]
        return app(environ, start_response)

    return application


if "VH_WSGI_APP" in os.environ:
    # Imported at worker start, so a broken app fails the pod's startup instead of its first request.
    application = with_prefix(_load(os.environ["VH_WSGI_APP"]), os.environ.get("VH_DEFAULT_PREFIX", ""))
