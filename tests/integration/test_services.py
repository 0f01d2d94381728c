"""scripts/services itself: a start that judges live daemons right on a busy machine, a stop that
stops whatever a start began (whatever its pid files say), and the metrics it serves.

The second control plane starts while every core is busy; then everything is stopped and started
again, which the rest of the suite needs back: the start waits until the Gateway is Programmed
and the metrics APIService is Available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.integration.local_stack import (
    kubectl,
    missing_tools,
    processes_mentioning,
    service_processes,
    services,
    services_dir,
    services_status,
    tool_environment,
)

pytestmark = pytest.mark.integration

CLUSTER_COMPONENTS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
METRICS = "http://127.0.0.1:8428"


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


def _query(expression: str) -> list[dict[str, object]]:
    url = f"{METRICS}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_stop_leaves_no_process_and_start_brings_everything_back(env: dict[str, str]) -> None:
    services("stop")
    assert service_processes() == {}
    assert services_status().returncode == 3

    services("start")
    status = services_status()
    assert status.returncode == 0, status.stdout
    gateway = json.loads(kubectl(env, "get", "gateway", "-n", "valohai-router", "models", "-o", "json"))
    assert {c["type"]: c["status"] for c in gateway["status"]["conditions"]}["Programmed"] == "True"
    # Resource metrics (kubectl top, HPAs) for the real node only; the router's reach the metrics server.
    assert _eventually(lambda: _metric_nodes(env) == ["local-node"]), _metric_nodes(env)
    assert _eventually(lambda: bool(_query('up{job="traefik"} == 1'))), "VictoriaMetrics scrapes the router"


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
