"""Ingress routing's traffic figures evaluated by a real metrics server: the queries of
`observe/ingress_nginx.py` against series in ingress-nginx's exposition shape.

No ingress-nginx controller can run here (it is OpenResty with Lua modules, not a Go program), so the
series are written with the names and labels its collector gives them (socket.go: the controller's
const labels, `host` from `--metrics-per-host`, on by default) and the samples a 10 s scrape would
have taken, into a VictoriaMetrics of the test's own (the local stack's one is left alone).
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.observe import ingress_nginx
from components.observe.ingress_nginx import NginxTargets
from components.observe.prometheus import Prometheus
from tests.integration.local_stack import tool_environment

pytestmark = pytest.mark.integration

NS = "acme-mnist-eu"
V1, V2 = "20181002.0", "20181003.0"
SERVICES = {f"greet-me-{v.replace('.', '-')}": (v, "greet-me") for v in (V1, V2)}
V1_SERVICE, V2_SERVICE = SERVICES
PRODUCTION = "mnist-eu-alias-production-0a1b2c3d"
V2_OWN = "mnist-eu-20181003-0-9f8e7d6c"
CONTROLLER = 'controller_class="k8s.io/ingress-nginx",controller_namespace="ingress-nginx",controller_pod="c-1"'
WINDOW = 300


class Metrics:
    """A VictoriaMetrics on a free port of 127.0.0.1 with its own data directory."""

    def __init__(self, data: Path) -> None:
        binary = shutil.which("victoria-metrics", path=tool_environment()["PATH"])
        assert binary, "victoria-metrics not found: run scripts/setup"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        arguments = [
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}",
            "-retentionPeriod=1d",
            "-search.latencyOffset=0s",  # what was written is read at once
            "-memory.allowedBytes=64MiB",
            "-loggerLevel=ERROR",
        ]
        self.process = subprocess.Popen([binary, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(lambda: self._get("/health") == "OK", "started")

    def write(self, lines: list[str]) -> None:
        """Prometheus exposition lines (with timestamps), then wait until a query sees the last of them."""
        body = "\n".join(lines).encode() + b"\n"
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/v1/import/prometheus", data=body), timeout=10)
        self._get("/internal/force_flush")
        for name in {line.split("{", 1)[0] for line in lines}:
            self._wait(functools.partial(self._present, name), f"showed {name}")

    def _present(self, name: str) -> bool:
        return bool(self._query(f"count({name})"))

    def _query(self, expr: str) -> list[object]:
        params = urllib.parse.urlencode({"query": expr})
        answer = self._get(f"/api/v1/query?{params}")
        result: list[object] = json.loads(answer)["data"]["result"] if answer else []
        return result

    def _get(self, path: str) -> str:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            return ""

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.2)
        raise AssertionError(f"VictoriaMetrics at {self.url} never {what}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[Metrics]:
    server = Metrics(tmp_path / "data")
    try:
        yield server
    finally:
        server.close()


def _series(name: str, labels: str, samples: list[tuple[float, float]]) -> list[str]:
    return [f"{name}{{{labels}}} {value} {int(at * 1000)}" for at, value in samples]


def _request_labels(ingress: str, service: str, status: str, canary: str = "", namespace: str = NS) -> str:
    return (
        f'{CONTROLLER},namespace="{namespace}",ingress="{ingress}",service="{service}",canary="{canary}",'
        f'status="{status}",method="POST",path="/acme/mnist/eu/production/greet-me",host="models.example.com"'
    )


def test_a_split_alias_counts_each_version_through_it_on_a_real_metrics_server(metrics: Metrics) -> None:
    now = float(int(time.time()))
    # A scrape every 10 s for the last ten minutes; the window is the last five (k = 30..59).
    scrapes = [now - 595 + 10 * k for k in range(60)]
    born = [at for at in scrapes if at > now - 100]  # series first seen 95 s ago
    canary = f"{NS}-{V2_SERVICE}-http"
    requests = "nginx_ingress_controller_requests"
    buckets = "nginx_ingress_controller_response_duration_seconds_bucket"
    lines = [
        *_series("nginx_ingress_controller_config_hash", CONTROLLER, [(now - 5, 1.6e18)]),
        # production's primary (V1): 3 requests a scrape, so 90 in the window.
        *_series(
            requests, _request_labels(PRODUCTION, V1_SERVICE, "200"), [(at, 3 * k) for k, at in enumerate(scrapes)]
        ),
        # Its canary (V2) since 95 s ago: 6 answered 200 and 4 answered 500, all before the first scrape.
        *_series(requests, _request_labels(PRODUCTION, V1_SERVICE, "200", canary), [(at, 6) for at in born]),
        *_series(requests, _request_labels(PRODUCTION, V1_SERVICE, "500", canary), [(at, 4) for at in born]),
        # V2's own URL: 1 request a scrape.
        *_series(requests, _request_labels(V2_OWN, V2_SERVICE, "200"), [(at, k) for k, at in enumerate(scrapes)]),
        # Another namespace's Ingress of the same names.
        *_series(requests, _request_labels(PRODUCTION, V1_SERVICE, "500", namespace="other"), [(now - 5, 1000)]),
        # V1's upstream latency: per scrape, 2 answers within 10 ms and 1 within 50 ms.
        *(
            line
            for le, per_scrape in (("0.01", 2), ("0.05", 3), ("+Inf", 3))
            for line in _series(
                buckets,
                _request_labels(PRODUCTION, V1_SERVICE, "200") + f',le="{le}"',
                [(at, per_scrape * k) for k, at in enumerate(scrapes)],
            )
        ),
    ]
    metrics.write(lines)
    targets = NginxTargets(NS, SERVICES, {PRODUCTION: "production"})
    prometheus = Prometheus(metrics.url)
    try:
        report = ingress_nginx.read_traffic(prometheus, targets, WINDOW, at=now)
    finally:
        prometheus.close()
    through_v1, through_v2 = report.pair("production", V1), report.pair("production", V2)
    assert through_v1 is not None and through_v2 is not None
    assert (through_v1.requests, through_v1.errors) == (90, 0)
    assert (through_v2.requests, through_v2.errors) == (10, 4)
    assert report.version(V2, "greet-me").requests == 40
    assert report.alias("production").requests == 100
    # 60 within 10 ms, 90 in all: rank 85.5 lies 25.5 of 30 into (0.01, 0.05].
    assert report.version(V1, "greet-me").p95_seconds == pytest.approx(0.01 + 0.04 * 25.5 / 30)


def test_a_metrics_server_without_ingress_nginx_series_is_named_not_read_as_no_traffic(metrics: Metrics) -> None:
    now = float(int(time.time()))
    metrics.write(_series("traefik_service_requests_total", 'service="x@kubernetes",code="200"', [(now - 5, 3)]))
    prometheus = Prometheus(metrics.url)
    try:
        with pytest.raises(ingress_nginx.NoControllerMetrics) as caught:
            ingress_nginx.read_traffic(prometheus, NginxTargets(NS, SERVICES, {}), WINDOW, at=now)
    finally:
        prometheus.close()
    assert str(caught.value) == (
        "no traffic figures: the metrics server has no ingress-nginx series (nginx_ingress_controller_config_hash); "
        "have it scrape the controller's metrics port (10254, --enable-metrics, on by default)"
    )
