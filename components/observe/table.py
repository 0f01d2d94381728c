"""`status` for people: tables like kubectl's printers (a fixed column order), then the problems."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from components.observe.differences import parse_time
from components.observe.figures import Traffic
from components.observe.model import AliasStatus, EndpointStatus, StackStatus

VERSION_COLUMNS = (
    "VERSION",
    "ENDPOINT",
    "STATUS",
    "READY",
    "AVAILABLE",
    "RESTARTS",
    "LAST-TERMINATION",
    "HPA",
    "REPLICAS",
    "CPU",
    "AGE",
    "RPS",
    "5XX",
    "P50",
    "P95",
    "IMAGE",
)
ALIAS_COLUMNS = ("ALIAS", "CONFIG", "CLUSTER", "ACCEPTED", "RPS", "5XX", "P50", "P95")
NONE = "-"


def render(status: StackStatus) -> str:
    now = parse_time(status.read_at) or datetime.datetime.now(datetime.UTC)
    window = _duration(status.window_seconds)
    lines = [
        f"Stack {status.stack}, namespace {status.namespace or '(unknown)'}; "
        f"traffic over the last {window} (RPS: requests per second; 5XX: share of server errors)",
        "",
    ]
    rows = [
        _endpoint_row(endpoint, now) for version in status.versions.values() for endpoint in version.endpoints.values()
    ]
    lines += _table(VERSION_COLUMNS, rows) if rows else ["No versions in config, state or cluster."]
    alias_rows = [row for name, alias in status.aliases.items() for row in _alias_rows(name, alias)]
    if alias_rows:
        lines += ["", *_table(ALIAS_COLUMNS, alias_rows)]
    if status.problems:
        lines += ["", "Problems:"]
        lines += [f"  [{problem.kind}] {problem.message}" for problem in status.problems]
    return "\n".join(lines)


def _endpoint_row(endpoint: EndpointStatus, now: datetime.datetime) -> list[str]:
    w = endpoint.workload
    traffic = _traffic(endpoint.traffic)
    if w is None:
        state = "NotDeployed" if not endpoint.in_state else "Missing"
        return [endpoint.version, endpoint.endpoint, state, *[NONE] * 8, *traffic, _short_image(endpoint.state_image)]
    hpa = w.autoscaler
    ended = w.last_termination
    last = NONE
    if ended is not None:
        last = ended.reason + (f" {_age(ended.finished_at, now)} ago" if ended.finished_at else "")
    return [
        endpoint.version,
        endpoint.endpoint,
        _state(endpoint),
        f"{w.ready}/{w.desired}",
        str(w.available),
        str(w.restarts),
        last,
        f"{hpa.min}-{hpa.max}" if hpa else NONE,
        f"{_number(hpa.current)}/{_number(hpa.desired)}" if hpa else NONE,
        f"{_number(hpa.cpu_percent)}%/{_number(hpa.target_cpu_percent)}%" if hpa else NONE,
        _age(w.created_at, now),
        *traffic,
        _short_image(w.image),
    ]


def _state(endpoint: EndpointStatus) -> str:
    w = endpoint.workload
    assert w is not None
    if w.waiting is not None:
        return w.waiting.reason
    if w.desired == 0:
        return "ScaledToZero"
    if w.ready < w.desired:
        return "NotReady"
    if not endpoint.in_state:
        return "NotInState"
    return "Ready"


def _alias_rows(name: str, alias: AliasStatus) -> list[list[str]]:
    route = alias.route
    accepted = NONE if route is None or route.accepted is None else str(route.accepted)
    if route is not None and route.resolved_refs is False:
        accepted += " (refs unresolved)"
    rows = [
        [
            name,
            alias.config.describe() if alias.config else NONE,
            route.target.describe() if route else NONE,
            accepted,
            *_traffic(alias.traffic),
        ]
    ]
    if route is not None and route.target.is_split:
        # Per routed version: what reached it through this alias (latency is not measured per version).
        for version, traffic in alias.versions.items():
            rows.append([f"  {version}", "", "", "", *_traffic(traffic)])
    return rows


def _traffic(traffic: Traffic | None) -> list[str]:
    if traffic is None:
        return [NONE] * 4
    ratio = traffic.error_ratio
    return [
        f"{traffic.requests_per_second:.2f}",
        NONE if ratio is None else f"{ratio * 100:.1f}%",
        _seconds(traffic.p50_seconds),
        _seconds(traffic.p95_seconds),
    ]


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [columns, *rows]) for i in range(len(columns))]
    return [
        "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [columns, *rows]
    ]


def _seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _number(value: int | None) -> str:
    return NONE if value is None else str(value)


def _short_image(image: str | None) -> str:
    """The digest's first 12 hex digits (as `docker images` shows ids); the whole reference is in --json."""
    if not image:
        return NONE
    _, _, digest = image.partition("@sha256:")
    return digest[:12] if digest else image.rsplit("/", 1)[-1]


def _age(timestamp: str | None, now: datetime.datetime) -> str:
    when = parse_time(timestamp)
    return NONE if when is None else _duration(max(0.0, (now - when).total_seconds()))


def _duration(seconds: float) -> str:
    """Like kubectl's ages: 45s, 3m20s (under 10 minutes), 5h, 3d."""
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 600:
        return f"{whole // 60}m{whole % 60}s" if whole % 60 else f"{whole // 60}m"
    if whole < 3 * 3600:
        return f"{whole // 60}m"
    if whole < 48 * 3600:
        return f"{whole // 3600}h"
    return f"{whole // 86400}d"
