"""The PromQL queries `status` sends and the latency math applied to their answers."""

from __future__ import annotations

import math

import pytest

from components.observe import promql
from components.observe.figures import Traffic, quantile

NS = "it-d0e66e15"
# A router name as Traefik v3.6.12's Gateway API provider writes it (read from the local metrics server).
ROUTE = "mnist-local-alias-production-c8e596c9"
ROUTER = f"httproute-{NS}-{ROUTE}-gw-valohai-router-models-ep-web-1-11fb0bde8f6e92987dce@kubernetesgateway"


def test_queries_select_the_namespace_and_sum_over_the_window() -> None:
    requests = 'traefik_service_requests_total{service=~"it\\\\-d0e66e15-.+@kubernetesgateway"}'
    assert promql.service_requests(NS, 300).expr == (
        f"sum by (service, code, vh_prefix) (increase({requests}[300s]) and {requests} offset 300s"
        f" or {requests} unless {requests} offset 300s)"
    )
    buckets = 'traefik_router_request_duration_seconds_bucket{router=~"httproute-it\\\\-d0e66e15-.+@kubernetesgateway"}'
    assert promql.router_latency(NS, 60).expr == (
        f"sum by (router, le) (increase({buckets}[60s]) and {buckets} offset 60s or {buckets} unless {buckets} offset 60s)"
    )
    assert [q.name for q in promql.traffic_queries(NS, 60)] == [
        "service-requests",
        "service-latency",
        "router-requests",
        "router-latency",
    ]
    assert all(q.window_seconds == 60 for q in promql.traffic_queries(NS, 60))


def test_traefik_names_of_services_and_routers() -> None:
    assert promql.traefik_service(NS, "greet-me-20181002-0-1f5417ac") == (
        f"{NS}-greet-me-20181002-0-1f5417ac-http-80@kubernetesgateway"
    )
    routes = {ROUTE, f"{ROUTE}-x"}
    assert promql.router_rule(ROUTER, NS, routes) == (ROUTE, 1)
    # A hash of another length is not a router of Traefik's Gateway API provider.
    assert promql.router_rule(ROUTER.replace("-11fb0bde8f6e92987dce@", "-11fb0bde8f@"), NS, routes) is None
    # Another namespace's router, and a router of a route the stack does not know.
    assert promql.router_rule(ROUTER.replace(NS, "other"), NS, routes) is None
    assert promql.router_rule(ROUTER, NS, {"mnist-local-alias-staging-04601894"}) is None


def test_quantiles_interpolate_within_the_bucket_like_histogram_quantile() -> None:
    # 100 observations: 50 up to 10 ms, 40 more up to 50 ms, 10 more up to 100 ms.
    buckets = [(0.01, 50.0), (0.05, 90.0), (0.1, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.01)
    assert quantile(0.95, buckets) == pytest.approx(0.075)
    assert quantile(0.25, buckets) == pytest.approx(0.005)
    # A rank in the +Inf bucket answers the highest finite bound, as PromQL does.
    assert quantile(0.99, [(0.1, 90.0), (math.inf, 100.0)]) == pytest.approx(0.1)
    # No observation, or no +Inf bucket: nothing to say.
    assert quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert quantile(0.5, [(0.1, 3.0)]) is None
    # Buckets read a moment apart may dip; they are taken as cumulative (9 counts as 10).
    assert quantile(0.5, [(0.01, 10.0), (0.05, 9.0), (math.inf, 20.0)]) == pytest.approx(0.01)


def test_traffic_figures_and_merging() -> None:
    a = Traffic(60, requests=30, errors=3, buckets=((0.01, 30.0), (0.1, 30.0), (math.inf, 30.0)))
    b = Traffic(60, requests=90, errors=0, buckets=((0.01, 0.0), (0.1, 90.0), (math.inf, 90.0)))
    merged = Traffic.merge(60, [a, b])
    assert merged.requests == 120 and merged.errors == 3
    assert merged.requests_per_second == pytest.approx(2.0)
    assert merged.error_ratio == pytest.approx(0.025)
    # 30 in the first bucket, 90 in (0.01, 0.1]: the median is rank 60, a third into the second bucket.
    assert merged.p50_seconds == pytest.approx(0.01 + 0.09 * 30 / 90)
    quiet = Traffic(60)
    assert quiet.error_ratio is None and quiet.p95_seconds is None and quiet.requests_per_second == 0
    assert quiet.to_json() == {
        "requests": 0.0,
        "requestsPerSecond": 0.0,
        "errorRatio": None,
        "p50Seconds": None,
        "p95Seconds": None,
    }
