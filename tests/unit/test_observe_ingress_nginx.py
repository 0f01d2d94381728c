"""Traffic figures for ingress routing, from series labelled the way ingress-nginx labels them.

The labels are ingress-nginx's own (internal/ingress/metric/collectors/socket.go `requestTags`; the
values from rootfs/etc/nginx/lua/monitor.lua): a request the canary answered keeps the primary's
`ingress` and `service` and names the canary's upstream, `<namespace>-<service>-<port name>`, in
`canary`; any other request has an empty `canary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from components.inputs import naming
from components.observe import ingress_nginx
from components.observe.cluster import Cluster, Kind
from components.observe.ingress_nginx import NginxTargets
from components.observe.model import StackStatus
from components.observe.prometheus import Prometheus, Sample
from components.observe.snapshot import Snapshot
from components.observe.status import StatusReader
from tests.unit.observe_objects import NS, V1, V2, declared_stack, healthy, service_name, status_of

PRODUCTION = "mnist-local-alias-production-0a1b2c3d"
PRODUCTION_CANARY = "mnist-local-alias-production-canary-0a1b2c3d"
V2_OWN = "mnist-local-20181003-0-9f8e7d6c"
INGRESS_ROUTING = {"kind": "ingress", "ingress": {"className": "nginx"}}


def _targets() -> NginxTargets:
    services = {service_name(v, e): (v, e) for v in (V1, V2) for e in ("greet-me", "predict-digit")}
    return NginxTargets(NS, services, {PRODUCTION: "production", PRODUCTION_CANARY: "production"})


def _request(ingress: str, served_by: str, status: str, value: float, *, canary: str | None = None) -> Sample:
    labels = {
        "ingress": ingress,
        "service": served_by,
        "canary": f"{NS}-{canary}-http" if canary else "",
        "status": status,
    }
    return Sample(labels, value)


def _split_answers() -> dict[str, list[Sample]]:
    """production: V1 primary, V2 canary. 90 requests to V1 through it, 10 to V2 (4 of them 500s),
    and 5 to V2's own URL; then a series of another Ingress and an unknown Service."""
    v1, v2 = service_name(V1, "greet-me"), service_name(V2, "greet-me")
    return {
        "requests": [
            _request(PRODUCTION, v1, "200", 90.0),
            _request(PRODUCTION, v1, "200", 6.0, canary=v2),
            _request(PRODUCTION, v1, "500", 4.0, canary=v2),
            _request(V2_OWN, v2, "200", 5.0),
            _request("someone-elses", "their-service", "500", 50.0),
        ],
        "upstream-latency": [
            Sample({"ingress": PRODUCTION, "service": v1, "canary": "", "le": le}, count)
            for le, count in (("0.01", 80.0), ("0.05", 90.0), ("+Inf", 90.0))
        ],
        "request-latency": [
            Sample({"ingress": PRODUCTION, "service": v1, "canary": "", "le": le}, count)
            for le, count in (("0.01", 50.0), ("0.1", 100.0), ("+Inf", 100.0))
        ],
    }


def test_requests_a_canary_answered_count_for_the_canary_version_through_the_alias() -> None:
    report = ingress_nginx.from_samples(_targets(), 300, _split_answers())
    assert report.pairs_measured
    through_v1, through_v2 = report.pair("production", V1), report.pair("production", V2)
    assert through_v1 is not None and through_v2 is not None
    assert (through_v1.requests, through_v1.errors) == (90, 0)
    assert (through_v2.requests, through_v2.errors) == (10, 4)
    # A version's figures count every route to it: V2's own URL too.
    assert report.version(V2, "greet-me").requests == 15
    assert report.version(V1, "greet-me").requests == 90
    assert report.version(V1, "predict-digit").requests == 0
    production = report.alias("production", "greet-me")
    assert (production.requests, production.errors) == (100, 4)
    # The unknown Ingress's 500s are no one's.
    assert sum(t.errors for t in report.versions.values()) == 4


def test_versions_take_the_upstreams_latency_and_aliases_the_whole_requests() -> None:
    report = ingress_nginx.from_samples(_targets(), 300, _split_answers())
    # Rank 85.5 of 90 falls half-way (5.5 of 10) into (0.01, 0.05].
    assert report.version(V1, "greet-me").p95_seconds == pytest.approx(0.01 + 0.04 * 5.5 / 10)
    # Rank 95 of 100 falls 45 of 50 into (0.01, 0.1].
    assert report.alias("production", "greet-me").p95_seconds == pytest.approx(0.01 + 0.09 * 45 / 50)


def test_canary_labels_of_other_namespaces_services_or_ports_are_not_the_stacks() -> None:
    targets = _targets()
    v2 = service_name(V2, "greet-me")
    assert targets.upstream(f"{NS}-{v2}-http") == (V2, "greet-me")
    assert targets.upstream(f"other-{v2}-http") is None
    assert targets.upstream(f"{NS}-{v2}-80") is None
    assert targets.upstream(v2) is None


def test_queries_select_the_stacks_namespace_and_count_series_born_in_the_window() -> None:
    requests, upstream, whole, present = ingress_nginx.queries(NS, 120)
    series = f'nginx_ingress_controller_requests{{namespace="{NS}"}}'
    assert requests.expr == (
        "sum by (ingress, service, canary, status) "
        f"(increase({series}[120s]) and {series} offset 120s or {series} unless {series} offset 120s)"
    )
    assert upstream.expr.startswith("sum by (ingress, service, canary, le) (increase(")
    assert f'nginx_ingress_controller_response_duration_seconds_bucket{{namespace="{NS}"}}[120s]' in upstream.expr
    assert f'nginx_ingress_controller_request_duration_seconds_bucket{{namespace="{NS}"}}[120s]' in whole.expr
    assert present.expr == "count(nginx_ingress_controller_config_hash)"


def _ingress(name: str, version: str, *, canary_weight: int | None = None) -> dict[str, Any]:
    annotations = {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}
    if canary_weight is not None:
        annotations |= {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": str(canary_weight),
        }
    return {
        "metadata": {
            "name": name,
            "labels": {naming.MANAGED_BY_LABEL: naming.MANAGED_BY, naming.ALIAS_LABEL: "production"},
            "annotations": annotations,
        },
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": f"/acme/mnist/local/production/{endpoint}",
                                "backend": {
                                    "service": {"name": service_name(version, endpoint), "port": {"name": "http"}}
                                },
                            }
                            for endpoint in ("greet-me", "predict-digit")
                        ]
                    }
                }
            ]
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
    }


def test_status_of_a_split_alias_shows_what_each_version_got_through_it(tmp_path: Path) -> None:
    d = declared_stack(tmp_path, aliases={"production": {V1: 90, V2: 10}}, routing=INGRESS_ROUTING)
    assert d.routing_kind == "ingress" and not d.config_problems
    snapshot = healthy(
        httproutes=(),
        ingresses=(_ingress(PRODUCTION, V1), _ingress(PRODUCTION_CANARY, V2, canary_weight=10)),
    )
    status = status_of(d, snapshot, report=ingress_nginx.from_samples(_targets(), 300, _split_answers()))
    production = status.to_json()["aliases"]["production"]
    assert production["versions"][V1]["requests"] == 90
    assert production["versions"][V2]["requests"] == 10
    assert production["versions"][V2]["errorRatio"] == pytest.approx(0.4)
    assert production["requests"] == 100


def test_no_request_yet_is_zero_requests_with_no_ratio_or_latency() -> None:
    report = ingress_nginx.from_samples(_targets(), 300, {"requests": [], "upstream-latency": []})
    through = report.pair("production", V1)
    assert through is not None and through.requests == 0 and through.error_ratio is None
    assert report.version(V1, "greet-me").p95_seconds is None


class _Cluster(Cluster):
    """The cluster's objects from a snapshot, listed as the API would."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(api=cast(Any, None), server="https://127.0.0.1:6443", origin="test")
        self.kinds = {
            "deployments": snapshot.deployments,
            "pods": snapshot.pods,
            "services": snapshot.services,
            "horizontalpodautoscalers": snapshot.autoscalers,
            "events": snapshot.events,
            "ingresses": snapshot.ingresses,
        }

    def list(self, kind: Kind, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        return list(self.kinds[kind])

    def close(self) -> None:
        pass


def _metrics_server(present: bool) -> httpx.MockTransport:
    """A Prometheus API answering the ingress-nginx queries with `_split_answers`' request samples."""

    def answer(request: httpx.Request) -> httpx.Response:
        expr = request.url.params["query"]
        samples: list[Sample] = []
        if expr.startswith("count(") and present:
            samples = [Sample({}, 1.0)]
        elif "nginx_ingress_controller_requests" in expr:
            samples = _split_answers()["requests"]
        result = [{"metric": s.labels, "value": [0, str(s.value)]} for s in samples]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})

    return httpx.MockTransport(answer)


def _read(tmp_path: Path, *, present: bool) -> StackStatus:
    d = declared_stack(tmp_path, aliases={"production": {V1: 90, V2: 10}}, routing=INGRESS_ROUTING)
    reader = StatusReader(d)
    reader._cluster = _Cluster(
        healthy(httproutes=(), ingresses=(_ingress(PRODUCTION, V1), _ingress(PRODUCTION_CANARY, V2, canary_weight=10)))
    )
    assert d.prometheus is not None
    reader._prometheus = Prometheus(d.prometheus, transport=_metrics_server(present))
    try:
        return reader.read(300)
    finally:
        reader.close()


def test_status_of_an_ingress_routed_stack_reads_ingress_nginx_series(tmp_path: Path) -> None:
    status = _read(tmp_path, present=True)
    production = status.to_json()["aliases"]["production"]
    assert production["versions"][V2]["requests"] == 10
    assert status.to_json()["versions"][V2]["endpoints"]["greet-me"]["requests"] == 15
    assert status.sources["metrics"].error is None


def test_a_metrics_server_without_ingress_nginx_is_a_config_problem_and_no_figures(tmp_path: Path) -> None:
    status = _read(tmp_path, present=False)
    assert status.sources["metrics"].error is not None
    assert status.sources["metrics"].error.startswith("no traffic figures: the metrics server has no ingress-nginx")
    assert [p.kind for p in status.problems if "ingress-nginx" in p.message] == ["config"]
    assert status.to_json()["versions"][V2]["endpoints"]["greet-me"]["requests"] is None
