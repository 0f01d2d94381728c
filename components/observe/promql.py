"""The PromQL queries `status` sends, each a named query over a window, and Traefik's metric names.

Traefik (v3, `metrics.prometheus`, pkg/observability/metrics/prometheus.go) counts every request
twice over: per *router* (`traefik_router_*`, with `addRoutersLabels`) and per *service*
(`traefik_service_*`, on by default). Its Gateway API provider
(pkg/provider/kubernetes/gateway/httproute.go) names them:

- a router per HTTPRoute rule: `httproute-<namespace>-<route>-gw-<gateway namespace>-<gateway>-ep-
  <entrypoint>-<rule index>-<20 hex digits: the first 10 bytes of the rule's SHA-256>@kubernetesgateway`
  (`makeRouterName`'s `%.10x` of the hash's bytes); its `service` label is the rule's
  weighted round robin (`<router>-wrr`), not a Kubernetes Service, so a router's figures cannot say
  which version of a split answered;
- a service per Kubernetes Service backend: `<namespace>-<service>-http-<port>@kubernetesgateway`,
  shared by every route that points at that Service (the version's own route and its aliases').

Requests per (alias, version) come from the service counter's `vh_prefix` label, when the router
adds it from the request's `X-VH-Prefix` header (`metrics.prometheus.headerLabels.vh_prefix=X-VH-Prefix`):
by the time a request reaches a service, the route's filter has set that header to the alias's
prefix. Header labels exist on the request counters only, so latency per pair is not measurable.

Counts over a window: `increase()` ignores a series' first sample (Prometheus cannot know where a
counter began; VictoriaMetrics ignores it when large), so a series born inside the window with all
its requests before its first scrape (a new alias rule after a split, 40 quick requests) counted 0.
Traefik creates each series at its first request, starting at 0, so a series with no sample one
window ago counts its whole value: `increase(x[w]) and x offset w`, `or` `x unless x offset w`
(`and`/`unless` match on every label but the metric name). Plain PromQL, for either server.

Router durations include the router's middlewares (basic auth's bcrypt check among them); service
durations are the backend's answer alone. A version with no ready pod answers 503 from the router
(no server behind the service), so those show in alias and router figures only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.inputs.contract import SERVICE_PORT

PROVIDER = "kubernetesgateway"
# The service counter's label holding the request's X-VH-Prefix (Traefik's headerLabels).
PREFIX_LABEL = "vh_prefix"

SERVICE_REQUESTS = "traefik_service_requests_total"
SERVICE_DURATION_BUCKETS = "traefik_service_request_duration_seconds_bucket"
ROUTER_REQUESTS = "traefik_router_requests_total"
ROUTER_DURATION_BUCKETS = "traefik_router_request_duration_seconds_bucket"

_ROUTER_RULE = re.compile(r"-gw-.+-ep-.+-(\d+)-[0-9a-f]{20}@" + PROVIDER + "$")


@dataclass(frozen=True)
class Query:
    """A named PromQL expression over `window_seconds`, evaluated as an instant query."""

    name: str
    expr: str
    window_seconds: int


def duration(seconds: int) -> str:
    return f"{seconds}s"


def traefik_service(namespace: str, service: str, port: int = SERVICE_PORT) -> str:
    """Traefik's name for a Kubernetes Service backend of an HTTPRoute."""
    return f"{namespace}-{service}-http-{port}@{PROVIDER}"


def router_rule(router: str, namespace: str, routes: set[str]) -> tuple[str, int] | None:
    """(HTTPRoute name, rule index) of one of Traefik's routers; None for routers of other routes."""
    prefix = f"httproute-{namespace}-"
    if not router.startswith(prefix):
        return None
    rest = router.removeprefix(prefix)
    for route in routes:
        if rest.startswith(f"{route}-gw-"):
            match = _ROUTER_RULE.search(rest, len(route))
            if match:
                return route, int(match.group(1))
    return None


def counted(series: str, window_seconds: int) -> str:
    """What each counter series grew by over the window, a series born inside it counted from 0."""
    window = duration(window_seconds)
    return f"(increase({series}[{window}]) and {series} offset {window} or {series} unless {series} offset {window})"


def service_requests(namespace: str, window_seconds: int) -> Query:
    """Requests per Traefik service (version and endpoint), status code and X-VH-Prefix."""
    series = f'{SERVICE_REQUESTS}{{service=~"{_literal(namespace)}-.+@{PROVIDER}"}}'
    return Query(
        "service-requests", f"sum by (service, code, {PREFIX_LABEL}) {counted(series, window_seconds)}", window_seconds
    )


def service_latency(namespace: str, window_seconds: int) -> Query:
    """The service latency histogram's bucket increases, per Traefik service."""
    series = f'{SERVICE_DURATION_BUCKETS}{{service=~"{_literal(namespace)}-.+@{PROVIDER}"}}'
    return Query("service-latency", f"sum by (service, le) {counted(series, window_seconds)}", window_seconds)


def router_requests(namespace: str, window_seconds: int) -> Query:
    """Requests per router (a route's rule: an alias's or version's endpoint) and status code."""
    series = f'{ROUTER_REQUESTS}{{router=~"httproute-{_literal(namespace)}-.+@{PROVIDER}"}}'
    return Query("router-requests", f"sum by (router, code) {counted(series, window_seconds)}", window_seconds)


def router_latency(namespace: str, window_seconds: int) -> Query:
    series = f'{ROUTER_DURATION_BUCKETS}{{router=~"httproute-{_literal(namespace)}-.+@{PROVIDER}"}}'
    return Query("router-latency", f"sum by (router, le) {counted(series, window_seconds)}", window_seconds)


def traffic_queries(namespace: str, window_seconds: int) -> tuple[Query, ...]:
    return (
        service_requests(namespace, window_seconds),
        service_latency(namespace, window_seconds),
        router_requests(namespace, window_seconds),
        router_latency(namespace, window_seconds),
    )


def _literal(text: str) -> str:
    """`text` matched literally inside a PromQL regex string (a namespace is a DNS label, but be exact)."""
    return re.escape(text).replace("\\", "\\\\").replace('"', '\\"')
