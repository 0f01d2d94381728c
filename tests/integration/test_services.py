"""scripts/services itself: a start that judges live daemons right on a busy machine, a stop that
stops whatever a start began (whatever its pid files say), and what the services give a user:
request metrics from the router in VictoriaMetrics, `kubectl top` and HPAs fed by metrics-server,
`kubectl logs` through the kubelet.

The second control plane starts while every core is busy; then everything is stopped and started
again, which the rest of the suite needs back: the start waits until the Gateway is Programmed
and the metrics APIService is Available. The tests of a deployed stack come last, so its pods are
not stopped under them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.integration.local_stack import (
    LocalStack,
    kubectl,
    missing_tools,
    processes_mentioning,
    service_processes,
    services,
    services_dir,
    services_status,
    tool_environment,
)
from tests.integration.traffic import request

pytestmark = pytest.mark.integration

CLUSTER_COMPONENTS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
METRICS = "http://127.0.0.1:8428"
PREFIX = "/acme/mnist/local"
REQUESTS = 7


@contextmanager
def busy_cores(seconds: int = 240) -> Iterator[None]:
    """Two busy loops per core, each ended by its own timeout if the test never gets to end it."""
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"]
        )
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    env = tool_environment()
    assert not missing_tools(env), "run scripts/setup"
    return env


def test_a_cluster_started_under_load_is_up_and_stops_without_a_trace() -> None:
    local_before = service_processes("cluster/local/")
    with busy_cores():
        services("cluster", "start", "second", "1")
        services("cluster", "status", "second", "1")  # fails unless every component answers
    started = service_processes("cluster/second/")
    assert {service.rsplit("/", 1)[1] for service in started.values()} == CLUSTER_COMPONENTS

    # A start that died half-way leaves stale pid files, or none: stop must not depend on them.
    state = services_dir() / "cluster" / "second"
    for pidfile in state.glob("*.pid"):
        pidfile.write_text("999999\n")
    services("cluster", "stop", "second", "1")
    assert service_processes("cluster/second/") == {}
    assert processes_mentioning(f"{state}/", "kube") == []
    assert service_processes("cluster/local/") == local_before, "the local cluster was left alone"


def test_stop_stops_every_service_and_every_cluster_and_start_brings_them_back(env: dict[str, str]) -> None:
    # A second control plane, as tests/integration/test_regions.py starts one: `stop` ends it too.
    services("cluster", "start", "second", "1")
    assert service_processes("cluster/second/")

    services("stop")
    assert service_processes() == {}
    assert processes_mentioning(f"{services_dir()}/", "kube") == []
    assert services_status().returncode == 3

    services("start")
    status = services_status()
    assert status.returncode == 0, status.stdout
    assert f"{METRICS}" in status.stdout, "status names the metrics server's address"
    assert service_processes("cluster/second/") == {}, "start brings back the local cluster only"
    gateway = json.loads(kubectl(env, "get", "gateway", "-n", "valohai-router", "models", "-o", "json"))
    assert {c["type"]: c["status"] for c in gateway["status"]["conditions"]}["Programmed"] == "True"
    # Resource metrics (kubectl top, HPAs) for the real node only; the router's reach the metrics server.
    assert _eventually(lambda: _metric_nodes(env) == ["local-node"]), _metric_nodes(env)
    assert _eventually(lambda: bool(_query('up{job="traefik"} == 1'))), "VictoriaMetrics scrapes the router"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("services-stack")) as stack:
        stack.pulumi("up", "--yes")
        yield stack


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> tuple[str, str]:
    return ("alice", stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip())


def test_requests_through_the_router_are_counted_by_the_metrics_server(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    # Only this test calls the staging alias of this stack's host: every answer it gets is counted
    # on that route's router (one per route rule, so once; services nest and count again).
    path = f"{PREFIX}/staging/greet-me/"
    served = f'traefik_router_requests_total{{router=~".*{stack.namespace}-.*alias-staging.*", code="200"}}'
    answered = 0

    def answers() -> bool:
        nonlocal answered
        ok = request(stack.host, path, auth=auth).status == 200
        answered += ok
        return ok

    # The router serves a new route a moment after `pulumi up` returns.
    assert _eventually(answers, seconds=60)
    for _ in range(REQUESTS):
        assert answers()
    assert _eventually(lambda: _total(served) == answered), (answered, _total(served))
    services_seen = _query(f'traefik_service_requests_total{{service=~".*{stack.namespace}.*"}}')
    assert services_seen, "Traefik labels its metrics with the Kubernetes service"


def test_kubectl_top_and_the_hpas_read_the_pods_resource_metrics(stack: LocalStack) -> None:
    running = {
        pod["metadata"]["name"]
        for pod in stack.objects("pods")
        if pod["status"].get("phase") == "Running" and pod["spec"].get("nodeName") == "local-node"
    }
    assert running

    def top() -> set[str]:
        table = stack.kubectl("top", "pods", "-n", stack.namespace, "--no-headers", check=False)
        return {line.split()[0] for line in table.splitlines() if line.strip()}

    assert _eventually(lambda: top() == running, seconds=90), (top(), running)

    def hpa_cpu() -> list[object]:
        return [
            metric.get("resource", {}).get("current", {}).get("averageUtilization")
            for hpa in stack.objects("hpa")
            for metric in hpa.get("status", {}).get("currentMetrics") or []
        ]

    hpas = stack.objects("hpa")
    assert hpas
    assert _eventually(lambda: len([u for u in hpa_cpu() if u is not None]) == len(hpas), seconds=120), hpa_cpu()


def test_kubectl_logs_show_the_requests_a_pod_served(stack: LocalStack, auth: tuple[str, str]) -> None:
    marker = f"logs-{uuid.uuid4().hex[:12]}"
    assert request(stack.host, f"{PREFIX}/production/greet-me/{marker}", auth=auth).status == 200
    pods = [
        pod["metadata"]["name"]
        for pod in stack.objects("pods", selector="app.kubernetes.io/name=greet-me")
        if pod["status"].get("phase") == "Running"
    ]
    assert pods

    def logged() -> bool:
        return any(marker in stack.kubectl("logs", "-n", stack.namespace, pod) for pod in pods)

    assert _eventually(logged, seconds=20)


def _query(expression: str) -> list[dict[str, Any]]:
    url = f"{METRICS}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _total(expression: str) -> float:
    return sum(float(series["value"][1]) for series in _query(f"sum({expression})"))


def _metric_nodes(env: dict[str, str]) -> list[str]:
    nodes = json.loads(kubectl(env, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))
    return [n["metadata"]["name"] for n in nodes["items"]]


def _eventually(check: Callable[[], bool], seconds: float = 40) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True
