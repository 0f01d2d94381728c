"""`status`: a stack's versions and aliases as config, state, cluster and metrics see them.

    reader = StatusReader(declared(config, outputs))
    status = reader.read(window_seconds=300)       # again and again: the console polls, promotion bakes
    reader.close()

Each source is read on its own: an unreachable cluster or metrics server becomes a problem naming
its address and the fix (`StackStatus.exit_code` 2), and everything else is still shown.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.inputs import naming
from components.observe import ingress_nginx, promql
from components.observe.cluster import Cluster, ClusterError
from components.observe.declared import Declared, declared
from components.observe.differences import drift_problems, route_problems, workload_problems
from components.observe.figures import Traffic
from components.observe.ingress_nginx import NginxTargets
from components.observe.model import (
    AliasStatus,
    EndpointStatus,
    Problem,
    RouteStatus,
    Source,
    StackStatus,
    VersionStatus,
    Workload,
)
from components.observe.prometheus import MetricsError, Prometheus
from components.observe.routes import by_alias, http_route_status, ingress_status, rule_endpoints, service_index
from components.observe.snapshot import Snapshot, read_snapshot
from components.observe.traffic import TrafficReport, TrafficTargets, read_traffic
from components.observe.workloads import workloads
from components.stacks.stack_config import StackConfig


def read_status(config: StackConfig, outputs: dict[str, Any], window_seconds: int) -> StackStatus:
    """One reading of everything; see `StatusReader` to read repeatedly."""
    reader = StatusReader(declared(config, outputs))
    try:
        return reader.read(window_seconds)
    finally:
        reader.close()


@dataclass
class StatusReader:
    """Reads the cluster and the metrics of one stack, keeping its clients between readings."""

    declared: Declared
    _cluster: Cluster | None = field(default=None, init=False)
    _prometheus: Prometheus | None = field(default=None, init=False)

    def read(self, window_seconds: int) -> StackStatus:
        read_at = datetime.datetime.now(datetime.UTC)
        unreadable: list[Problem] = []
        snapshot, cluster_source = self._snapshot(unreadable)
        services = service_index(snapshot.services, self.declared.version_named) if snapshot else {}
        report, metrics_source = self._traffic(snapshot, services, window_seconds, unreadable)
        return assemble(
            self.declared,
            snapshot,
            report,
            window_seconds=window_seconds,
            read_at=read_at,
            reading=unreadable,
            sources={"cluster": cluster_source, "metrics": metrics_source},
        )

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
        if self._prometheus is not None:
            self._prometheus.close()

    def _snapshot(self, problems: list[Problem]) -> tuple[Snapshot | None, Source]:
        d = self.declared
        if d.render_directory:
            message = (
                f"stack '{d.stack}' renders manifests to {d.render_directory} (target.renderDirectory): "
                "there is no cluster to read"
            )
            problems.append(Problem("unreadable", message))
            return None, Source(None, message)
        if not d.kubeconfig or not d.namespace:
            message = "config names no cluster (target.kubeconfig) or namespace; fix target in the stack's config"
            problems.append(Problem("unreadable", message))
            return None, Source(None, message)
        try:
            if self._cluster is None:
                origin = f"target.kubeconfig {d.kubeconfig}" + (f", context {d.context}" if d.context else "")
                self._cluster = Cluster.connect(d.resolve(d.kubeconfig), d.context, origin)
            snapshot = read_snapshot(self._cluster, d.namespace, d.project, d.routing_kind)
        except ClusterError as err:
            problems.append(Problem("unreadable", str(err)))
            return None, Source(self._cluster.server if self._cluster else d.kubeconfig, str(err))
        return snapshot, Source(self._cluster.server)

    def _traffic(
        self,
        snapshot: Snapshot | None,
        services: Mapping[str, tuple[str, str]],
        window_seconds: int,
        problems: list[Problem],
    ) -> tuple[TrafficReport | None, Source]:
        d = self.declared
        if d.prometheus is None:
            message = (
                "no traffic figures: observability.prometheus is not set; set it to the Prometheus-compatible "
                "server that scrapes the router's metrics"
            )
            problems.append(Problem("config", message))
            return None, Source(None, message)
        if d.routing_kind == "gateway" and d.gateway_implementation != "traefik":
            message = (
                "no traffic figures: with gateway routing they are read from Traefik's Gateway API metrics, and "
                f"this stack's Gateway is implemented by {d.gateway_implementation} (routing.gateway.implementation)"
            )
            problems.append(Problem("config", message))
            return None, Source(d.prometheus, message)
        if snapshot is None or not d.namespace:
            # Without the cluster's Services and routes, no series can be told apart.
            return None, Source(d.prometheus, "not read: the cluster could not be read")
        try:
            if self._prometheus is None:
                self._prometheus = Prometheus(d.prometheus)
            if d.routing_kind == "gateway":
                targets = _targets(d, d.namespace, snapshot, services)
                report = read_traffic(self._prometheus, targets, window_seconds)
            else:
                nginx_targets = _nginx_targets(d.namespace, snapshot, services)
                report = ingress_nginx.read_traffic(self._prometheus, nginx_targets, window_seconds)
        except MetricsError as err:
            problems.append(Problem("unreadable", str(err)))
            return None, Source(d.prometheus, str(err))
        except ingress_nginx.NoControllerMetrics as err:
            problems.append(Problem("config", str(err)))
            return None, Source(d.prometheus, str(err))
        return report, Source(d.prometheus)


def assemble(
    d: Declared,
    snapshot: Snapshot | None,
    report: TrafficReport | None,
    *,
    window_seconds: int,
    read_at: datetime.datetime,
    reading: list[Problem],
    sources: Mapping[str, Source],
) -> StackStatus:
    """The status model from what was read (pure): `snapshot` None when the cluster could not be read,
    `report` None without metrics; `reading` holds the problems met while reading."""
    problems = [Problem("config", line) for line in d.config_problems]
    if not d.deployed:
        problems.append(Problem("drift", f"stack '{d.stack}' has no outputs: it was never deployed (run pulumi up)"))
    problems += reading
    found = workloads(snapshot) if snapshot else {}
    services = service_index(snapshot.services, d.version_named) if snapshot else {}
    routes = _alias_routes(d, snapshot, services) if snapshot else {}
    versions = _versions(d, found, report)
    aliases = {
        alias: _alias_status(d, alias, routes.get(alias), report) for alias in dict.fromkeys([*d.aliases, *routes])
    }
    problems += drift_problems(d, versions, aliases, cluster_read=snapshot is not None)
    problems += workload_problems(versions, window_seconds, read_at)
    problems += route_problems(aliases)
    return StackStatus(
        stack=d.stack,
        namespace=d.namespace,
        window_seconds=window_seconds,
        read_at=read_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        versions=versions,
        aliases=aliases,
        problems=tuple(problems),
        sources=dict(sources),
    )


def _versions(
    d: Declared, found: Mapping[tuple[str, str], Workload], report: TrafficReport | None
) -> dict[str, VersionStatus]:
    cluster: dict[str, dict[str, Workload]] = {}
    for (version_label, endpoint_label), work in found.items():
        version = d.version_named(version_label)
        endpoint = next((e for e in d.endpoints(version) if naming.label_value(e) == endpoint_label), endpoint_label)
        cluster.setdefault(version, {})[endpoint] = work
    versions = {}
    for version in dict.fromkeys([*d.versions, *cluster]):
        in_config = version in d.config_versions
        planned = d.config_versions.get(version, ())
        endpoints = {}
        for endpoint in dict.fromkeys([*d.endpoints(version), *cluster.get(version, {})]):
            state_image = d.state_images.get(version, {}).get(endpoint)
            endpoints[endpoint] = EndpointStatus(
                version=version,
                endpoint=endpoint,
                in_config=in_config and (endpoint in planned or not planned),
                in_state=state_image is not None,
                state_image=state_image,
                workload=cluster.get(version, {}).get(endpoint),
                traffic=report.version(version, endpoint) if report else None,
            )
        versions[version] = VersionStatus(version, in_config, version in d.state_images, endpoints)
    return versions


def _alias_routes(d: Declared, snapshot: Snapshot, services: Mapping[str, tuple[str, str]]) -> dict[str, RouteStatus]:
    if d.routing_kind == "gateway":
        return {alias: http_route_status(group[0], services) for alias, group in by_alias(snapshot.httproutes).items()}
    return {alias: ingress_status(group, services) for alias, group in by_alias(snapshot.ingresses).items()}


def _targets(
    d: Declared, namespace: str, snapshot: Snapshot, services: Mapping[str, tuple[str, str]]
) -> TrafficTargets:
    """The stack's Traefik services, alias routers and alias prefixes."""
    alias_routes: dict[str, tuple[str, Mapping[int, str]]] = {}
    prefixes: dict[str, tuple[str, str]] = {}
    for alias, group in by_alias(snapshot.httproutes).items():
        name = str(group[0].get("metadata", {}).get("name"))
        endpoints = rule_endpoints(group[0], services)
        alias_routes[name] = (alias, endpoints)
        prefixes |= {d.prefix(alias, endpoint): (alias, endpoint) for endpoint in endpoints.values()}
    return TrafficTargets(
        namespace=namespace,
        services={promql.traefik_service(namespace, name): key for name, key in services.items()},
        alias_routes=alias_routes,
        alias_prefixes=prefixes,
    )


def _nginx_targets(namespace: str, snapshot: Snapshot, services: Mapping[str, tuple[str, str]]) -> NginxTargets:
    """The stack's Services and its aliases' Ingresses (a canary's too, though ingress-nginx labels a
    canary's requests with the primary's name)."""
    ingresses = {
        str((ingress.get("metadata") or {}).get("name")): alias
        for alias, group in by_alias(snapshot.ingresses).items()
        for ingress in group
    }
    return NginxTargets(namespace, services=dict(services), alias_ingresses=ingresses)


def _alias_status(d: Declared, alias: str, route: RouteStatus | None, report: TrafficReport | None) -> AliasStatus:
    config, state = d.config_aliases.get(alias), d.state_aliases.get(alias)
    if report is None or route is None:
        return AliasStatus(alias, config, state, route, endpoints={}, versions={})
    endpoints = sorted({e for (a, e) in report.aliases if a == alias} | set(_route_endpoints(route, d, alias)))
    routed = list(dict.fromkeys([*route.target.versions, *(config.versions if config else ())]))
    versions: dict[str, Traffic | None] = {}
    for version in routed:
        measured = report.pair(alias, version)
        if measured is None and list(route.target.weights) == [version]:
            # All of the alias's requests went to its one version; only a split needs the per-pair label.
            measured = report.alias(alias)
        versions[version] = measured
    return AliasStatus(
        alias,
        config,
        state,
        route,
        traffic=report.alias(alias),
        endpoints={e: report.alias(alias, e) for e in endpoints},
        versions=versions,
    )


def _route_endpoints(route: RouteStatus, d: Declared, alias: str) -> list[str]:
    primary = route.target.primary
    return d.endpoints(primary) if primary else []
