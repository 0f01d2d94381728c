"""Traffic figures for ingress routing, read from ingress-nginx's own metrics.

The ingress renderer writes Ingresses for ingress-nginx (`rendering/routing/ingress.py`), and the
controller counts every request it proxies (internal/ingress/metric/collectors/socket.go, fed by
rootfs/etc/nginx/lua/monitor.lua) with the labels of the location that matched it:

- `ingress` and `service`: the Ingress that owns the location and its backend Service. A canary
  Ingress's path is merged into its primary's location, so a request the canary answered is still
  labelled with the *primary* Ingress and Service;
- `canary`: empty, unless the request went to the canary's backend: then that backend's upstream
  name, `<namespace>-<service>-<port name or number>` (controller `upstreamName`);
- `status`: the HTTP status (or its class, `2xx`, with `--report-status-classes`).

So every request names the alias (its Ingress) and the version that answered (the canary's Service,
else the location's), and latency is measured per (alias, version) too. Versions' latency is the
upstream's answer (`response_duration_seconds`), aliases' the whole request at the controller
(`request_duration_seconds`, basic auth included), as with Traefik's service and router figures.
Counts use `promql.counted` (a series born inside the window counted from 0; ingress-nginx too
creates a series at its first request).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from components.inputs.contract import PORT_NAME
from components.observe import promql
from components.observe.prometheus import Prometheus, Sample
from components.observe.traffic import AliasKey, PairKey, Tally, TrafficReport, VersionKey

REQUESTS = "nginx_ingress_controller_requests"
UPSTREAM_DURATION_BUCKETS = "nginx_ingress_controller_response_duration_seconds_bucket"
REQUEST_DURATION_BUCKETS = "nginx_ingress_controller_request_duration_seconds_bucket"
# A gauge every running controller exports from its start, before any request: tells "no
# requests yet" apart from "this server does not scrape ingress-nginx".
CONTROLLER_PRESENT = "nginx_ingress_controller_config_hash"
STATUS_LABEL = "status"
PRESENCE_QUERY = "controllers"


@dataclass(frozen=True)
class NginxTargets:
    """Which series are the stack's: its Services (by name) and its aliases' Ingresses (primary and canary)."""

    namespace: str
    services: Mapping[str, VersionKey] = field(default_factory=dict)
    alias_ingresses: Mapping[str, str] = field(default_factory=dict)

    def upstream(self, name: str) -> VersionKey | None:
        """The version endpoint behind a canary label (an upstream name: namespace, Service, port name)."""
        prefix, suffix = f"{self.namespace}-", f"-{PORT_NAME}"
        if not (name.startswith(prefix) and name.endswith(suffix)):
            return None
        return self.services.get(name[len(prefix) : -len(suffix)])


def queries(namespace: str, window_seconds: int) -> tuple[promql.Query, ...]:
    selector = f'{{namespace="{_quoted(namespace)}"}}'
    by = "ingress, service, canary"
    return (
        promql.Query(
            "requests",
            f"sum by ({by}, {STATUS_LABEL}) {promql.counted(REQUESTS + selector, window_seconds)}",
            window_seconds,
        ),
        promql.Query(
            "upstream-latency",
            f"sum by ({by}, le) {promql.counted(UPSTREAM_DURATION_BUCKETS + selector, window_seconds)}",
            window_seconds,
        ),
        promql.Query(
            "request-latency",
            f"sum by ({by}, le) {promql.counted(REQUEST_DURATION_BUCKETS + selector, window_seconds)}",
            window_seconds,
        ),
        promql.Query(PRESENCE_QUERY, f"count({CONTROLLER_PRESENT})", window_seconds),
    )


class NoControllerMetrics(Exception):
    """The metrics server holds no ingress-nginx series at all."""


def read_traffic(
    prometheus: Prometheus, targets: NginxTargets, window_seconds: int, at: float | None = None
) -> TrafficReport:
    """Every figure at one moment; raises `MetricsError` when the server cannot answer and
    `NoControllerMetrics` when it answers without any ingress-nginx controller's series."""
    moment = time.time() if at is None else at
    answers = {q.name: prometheus.query(q, moment) for q in queries(targets.namespace, window_seconds)}
    if not answers[PRESENCE_QUERY]:
        raise NoControllerMetrics(
            f"no traffic figures: the metrics server has no ingress-nginx series ({CONTROLLER_PRESENT}); "
            "have it scrape the controller's metrics port (10254, --enable-metrics, on by default)"
        )
    return from_samples(targets, window_seconds, answers)


def from_samples(targets: NginxTargets, window_seconds: float, answers: Mapping[str, list[Sample]]) -> TrafficReport:
    """The figures from the queries' answers (query name -> samples); pure."""
    versions, aliases, pairs = Tally[VersionKey](), Tally[AliasKey](), Tally[PairKey]()
    for sample in answers.get("requests", []):
        version, alias = _keys(targets, sample)
        if version is None:
            continue
        versions.add(version, sample, STATUS_LABEL)
        if alias is not None:
            aliases.add((alias, version[1]), sample, STATUS_LABEL)
            pairs.add((alias, *version), sample, STATUS_LABEL)
    for sample in answers.get("upstream-latency", []):
        version, alias = _keys(targets, sample)
        if version is not None:
            versions.bucket(version, sample)
            if alias is not None:
                pairs.bucket((alias, *version), sample)
    for sample in answers.get("request-latency", []):
        version, alias = _keys(targets, sample)
        if version is not None and alias is not None:
            aliases.bucket((alias, version[1]), sample)
    return TrafficReport(
        window_seconds=window_seconds,
        versions=versions.figures(window_seconds),
        aliases=aliases.figures(window_seconds),
        # Each request names its Ingress and the backend that answered: every pair is measured.
        pairs=pairs.figures(window_seconds),
        pairs_measured=True,
    )


def _keys(targets: NginxTargets, sample: Sample) -> tuple[VersionKey | None, str | None]:
    """(version, endpoint) that answered the sample's requests, and the alias they came through."""
    canary = sample.labels.get("canary", "")
    if canary and canary != "-":
        version = targets.upstream(canary)
    else:
        version = targets.services.get(sample.labels.get("service", ""))
    return version, targets.alias_ingresses.get(sample.labels.get("ingress", ""))


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
