"""What `status` points out: config, state and cluster disagreeing, failing workloads, refused routes.

One line each, naming the version, endpoint or alias, what differs or fails, and what to do.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from components.observe.declared import Declared
from components.observe.model import AliasStatus, EndpointStatus, Problem, VersionStatus


def drift_problems(
    d: Declared, versions: Mapping[str, VersionStatus], aliases: Mapping[str, AliasStatus], *, cluster_read: bool
) -> list[Problem]:
    found = []
    for name, version in versions.items():
        if version.in_config and not version.in_state and d.deployed:
            found.append(f"version {name}: in config, not deployed yet (run pulumi up)")
        elif version.in_state and not version.in_config:
            found.append(f"version {name}: deployed, no longer in config (the next pulumi up removes it)")
        for endpoint in version.endpoints.values():
            found += _endpoint_drift(d, endpoint, cluster_read)
    for name, alias in aliases.items():
        found += _alias_drift(d, name, alias, cluster_read)
    return [Problem("drift", line) for line in found]


def workload_problems(
    versions: Mapping[str, VersionStatus], window_seconds: float, now: datetime.datetime
) -> list[Problem]:
    """Pods not ready and why, restarts within the window and how the container ended, HPAs that cannot scale."""
    found = []
    for version in versions.values():
        for endpoint in version.endpoints.values():
            found += _workload_lines(endpoint, window_seconds, now)
    return [Problem("workload", line) for line in found]


def route_problems(aliases: Mapping[str, AliasStatus]) -> list[Problem]:
    found = []
    for name, alias in aliases.items():
        route = alias.route
        if route is None:
            continue
        objects = f"{route.kind} {', '.join(route.names)}"
        for kind, status, reason, message in route.conditions:
            if kind in ("Accepted", "ResolvedRefs") and status != "True":
                verdict = "was not accepted" if kind == "Accepted" else "has backends that do not resolve"
                found.append(f"alias {name}: the controller says {objects} {verdict}: {reason}: {message}")
        if route.kind == "HTTPRoute" and route.accepted is None:
            found.append(f"alias {name}: no controller has written a status on {objects} yet (is its Gateway served?)")
    return [Problem("route", line) for line in found]


def _endpoint_drift(d: Declared, endpoint: EndpointStatus, cluster_read: bool) -> list[str]:
    where = f"{endpoint.version}/{endpoint.endpoint}"
    work = endpoint.workload
    if not cluster_read:
        return []
    if work is None and endpoint.in_state:
        return [f"{where}: no Deployment in namespace {d.namespace} (deleted outside Pulumi? pulumi up --refresh)"]
    if work is not None and not endpoint.in_state:
        return [f"{where}: runs in the cluster ({work.name}) but is not in the stack's state"]
    if work is not None and endpoint.state_image and work.image != endpoint.state_image:
        return [f"{where}: the cluster runs {work.image}, the state says {endpoint.state_image}"]
    return []


def _alias_drift(d: Declared, name: str, alias: AliasStatus, cluster_read: bool) -> list[str]:
    found = []
    config, state, route = alias.config, alias.state, alias.route
    if config is not None and state is not None and config != state:
        found.append(f"alias {name}: config points to {config.describe()}, the last pulumi up to {state.describe()}")
    elif config is not None and state is None and d.deployed:
        found.append(f"alias {name}: in config, not deployed yet (run pulumi up)")
    elif config is None and state is not None:
        found.append(f"alias {name}: deployed, no longer in config (the next pulumi up removes it)")
    if not cluster_read:
        return found
    kind = "HTTPRoute" if d.routing_kind == "gateway" else "Ingress"
    expected = state if state is not None else config
    if route is None:
        if state is not None:
            found.append(
                f"alias {name}: no {kind} in namespace {d.namespace} (deleted outside Pulumi? pulumi up --refresh)"
            )
        return found
    objects = ", ".join(route.names)
    if expected is None:
        found.append(f"alias {name}: {route.kind} {objects} routes it in the cluster; config and state do not know it")
    elif route.target != expected:
        found.append(
            f"alias {name}: {route.kind} {objects} sends traffic to {route.target.describe()}, "
            f"{'the state' if state is not None else 'config'} says {expected.describe()} "
            "(changed outside Pulumi? pulumi up --refresh puts it back)"
        )
    found += [
        f"alias {name}: {route.kind} {objects} sends {weight}% to Service {service}, no version's of this stack"
        for service, weight in route.unknown_backends.items()
    ]
    found += [
        f"alias {name}: {route.kind} {objects} sends endpoint {endpoint} to {target.describe()}"
        for endpoint, target in route.rule_targets.items()
    ]
    return found


def _workload_lines(endpoint: EndpointStatus, window_seconds: float, now: datetime.datetime) -> list[str]:
    work = endpoint.workload
    if work is None:
        return []
    where = f"{endpoint.version}/{endpoint.endpoint}"
    found = []
    if work.ready < work.desired:
        why = ""
        if work.waiting is not None:
            why = f": {work.waiting.reason}" + (f" ({work.waiting.message})" if work.waiting.message else "")
        elif work.warnings:
            why = f": {work.warnings[0].reason}: {work.warnings[0].message}"
        found.append(f"{where}: {work.ready} of {work.desired} replicas ready{why}")
    ended = work.last_termination
    if ended is not None and work.restarts > 0 and _within(ended.finished_at, window_seconds, now):
        code = f", exit code {ended.exit_code}" if ended.exit_code is not None else ""
        found.append(
            f"{where}: restarted ({work.restarts} restarts); last end: {ended.reason}{code} "
            f"at {ended.finished_at} in pod {ended.pod}"
        )
    if work.autoscaler is not None:
        found += [f"{where}: HPA {work.autoscaler.name}: {line}" for line in work.autoscaler.problems]
    found += [f"{where}: Deployment {work.name}: {line}" for line in work.conditions]
    return found


def _within(timestamp: str | None, window_seconds: float, now: datetime.datetime) -> bool:
    when = parse_time(timestamp)
    return when is not None and (now - when).total_seconds() <= window_seconds


def parse_time(timestamp: str | None) -> datetime.datetime | None:
    """An API timestamp (RFC 3339, `...Z`) as an aware datetime; None when absent or unreadable."""
    if not timestamp:
        return None
    try:
        return datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return None


def names(items: Iterable[str]) -> str:
    return ", ".join(items) or "(none)"
