"""The console's routes: a page per stack (and its JSON form, like datasette: append `.json`), the
fragments its script polls and the forms it posts (the request form, alias preview and apply).

Handlers are plain functions (Starlette runs them in a thread pool): they call the Pulumi CLI, the
cluster and the router, all blocking. A problem the user can fix (`ToolError`) is shown as lines on
the page, never as a traceback; anything else is one line too, and logged on the console's stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from components.console import alias_form, endpoint_form, views
from components.console.guard import Allowed, Guard, TokenMissing, require_token
from components.console.observed import Observer
from components.console.overview import stack_overview
from components.console.stack_source import StackSource
from components.stacks.errors import ToolError

HERE = Path(__file__).parent
log = logging.getLogger("components.console")


@dataclass
class Console:
    """What the app serves: the stacks by name, and how it reads and calls them."""

    sources: Mapping[str, StackSource]
    allowed: Allowed
    observer: Observer
    timeout: float = 60.0
    poll_seconds: int = 5
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        views.install_filters(self.templates.env)

    def source(self, name: str) -> StackSource:
        if name not in self.sources:
            raise HTTPException(404, f"no stack '{name}' in this console; stacks: {', '.join(self.sources)}")
        return self.sources[name]


class _Pages:
    """The handlers of one console: pages, fragments and the forms they post."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def page(self, request: Request, template: str, context: dict[str, Any], data: Any, status: int = 200) -> Response:
        """The page (or fragment) from `template`, or `data` as JSON when the address ends in `.json`."""
        if request.path_params.get("format") == "json" or request.url.path.endswith(".json"):
            return JSONResponse(data, status_code=status)
        console = self.console
        shared = {"stacks": list(console.sources), "token": console.allowed.token, "poll": console.poll_seconds}
        return console.templates.TemplateResponse(request, template, shared | context, status_code=status)

    def errors(self, request: Request, err: ToolError) -> Response:
        lines = views.lines(err.problems)
        return self.page(request, "_errors.html", {"errors": lines}, {"errors": lines}, 400)

    def index(self, request: Request) -> Response:
        sources = self.console.sources
        if len(sources) == 1 and not request.url.path.endswith(".json"):
            return RedirectResponse(request.url_for("stack", name=next(iter(sources))), status_code=302)
        return self.page(request, "index.html", {}, {"stacks": list(sources)})

    def overview(self, name: str) -> tuple[dict[str, Any], list[str]]:
        source = self.console.source(name)
        try:
            status, problems = self.console.observer.status(source)
            return stack_overview(source, status, problems), []
        except ToolError as err:
            return {"stack": source.stack}, views.lines(err.problems)

    def stack(self, request: Request) -> Response:
        return self._overview_page(request, "stack.html")

    def status(self, request: Request) -> Response:
        return self._overview_page(request, "_status.html")

    def _overview_page(self, request: Request, template: str) -> Response:
        name = request.path_params["name"]
        data, errors = self.overview(name)
        context = {"data": data, "errors": errors, "name": name}
        return self.page(request, template, context, data | {"errors": errors}, 502 if errors else 200)

    def logs(self, request: Request) -> Response:
        name = request.path_params["name"]
        route, endpoint = request.query_params.get("route", ""), request.query_params.get("endpoint", "")
        data: dict[str, Any] = {"route": route, "endpoint": endpoint}
        errors: list[str] = []
        try:
            data |= self.console.observer.logs(self.console.source(name), route, endpoint).to_json()
        except ToolError as err:
            errors = views.lines(err.problems)
        return self.page(request, "_logs.html", {"logs": data, "errors": errors}, data | {"errors": errors})

    async def call(self, request: Request) -> Response:
        form = await _checked_form(request, self.console.allowed)
        source = self.console.source(request.path_params["name"])
        try:
            parsed = await _endpoint_form(form)
            result = await run_in_threadpool(endpoint_form.call, source, parsed, self.console.timeout)
        except ToolError as err:
            return self.errors(request, err)
        return self.page(request, "_call_result.html", {"result": result}, result.to_json())

    async def alias(self, request: Request) -> Response:
        form = await _checked_form(request, self.console.allowed)
        name, action = request.path_params["name"], request.path_params["action"]
        source = self.console.source(name)
        parsed = _alias_form(form)
        try:
            if action == "preview":
                previewed = await run_in_threadpool(alias_form.preview, source, parsed)
                context = {"preview": previewed, "form": parsed, "name": name}
                return self.page(request, "_alias_preview.html", context, previewed.to_json())
            if action != "apply":
                raise HTTPException(404, f"no alias action '{action}'; actions: preview, apply")
            applied = await run_in_threadpool(alias_form.apply, source, parsed)
        except ToolError as err:
            return self.errors(request, err)
        data = {"change": applied.change.line, "deployed": applied.deployed, "summary": applied.summary}
        return self.page(request, "_alias_applied.html", {"applied": applied}, data)


def create_app(console: Console) -> Starlette:
    pages = _Pages(console)
    routes = [
        Route("/", pages.index, name="index"),
        Route("/stacks.json", pages.index),
        Route("/stacks/{name}.{format:str}", pages.stack),
        Route("/stacks/{name}", pages.stack, name="stack"),
        Route("/stacks/{name}/status.{format:str}", pages.status),
        Route("/stacks/{name}/status", pages.status, name="status"),
        Route("/stacks/{name}/logs.{format:str}", pages.logs),
        Route("/stacks/{name}/logs", pages.logs, name="logs"),
        Route("/stacks/{name}/call.{format:str}", pages.call, methods=["POST"]),
        Route("/stacks/{name}/call", pages.call, methods=["POST"], name="call"),
        Route("/stacks/{name}/aliases/{action:str}.{format:str}", pages.alias, methods=["POST"]),
        Route("/stacks/{name}/aliases/{action:str}", pages.alias, methods=["POST"], name="alias"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    handlers: dict[Any, Callable[..., Any]] = {
        TokenMissing: _refused,
        HTTPException: _http_error,
        Exception: _failed,
    }
    return Starlette(
        routes=routes, middleware=[Middleware(Guard, allowed=console.allowed)], exception_handlers=handlers
    )


async def _checked_form(request: Request, allowed: Allowed) -> FormData:
    form = await request.form(max_files=20, max_fields=200)
    require_token(allowed, request.headers.get("x-csrf-token"), form.get("csrf_token"))
    return form


async def _endpoint_form(form: FormData) -> endpoint_form.EndpointForm:
    uploads = []
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            uploads.append((item.filename, await item.read()))
    return endpoint_form.EndpointForm(
        route=_text(form, "route"),
        endpoint=_text(form, "endpoint"),
        method=_text(form, "method").upper() or "GET",
        path=_text(form, "path"),
        query=_text(form, "query"),
        fields=_text(form, "fields"),
        body=_text(form, "body"),
        file_field=_text(form, "file_field"),
        uploads=tuple(uploads),
    )


def _alias_form(form: FormData) -> alias_form.AliasForm:
    weights = {key.removeprefix("weight."): _text(form, key) for key in form if key.startswith("weight.")}
    return alias_form.AliasForm(
        alias=_text(form, "alias"),
        weights=weights,
        mirror_version=_text(form, "mirror_version"),
        mirror_percent=_text(form, "mirror_percent"),
    )


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


async def _refused(request: Request, exc: Exception) -> Response:
    return Response(str(exc), status_code=403, media_type="text/plain")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")


async def _failed(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for whoever runs the console; the page gets one line.
    log.exception("console request %s %s failed", request.method, request.url.path)
    line = f"the console failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return Response(line, status_code=500, media_type="text/plain")
