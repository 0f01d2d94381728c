"""`status` and `logs` on the local cluster: real pods, a real router counting requests, a real
metrics server scraping it, the real command line.

One scratch stack with the example's endpoints and `misbehave` (tests/data/endpoints/misbehave.py),
production on V1 and staging on V2. Every test starts from that deployed baseline.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import ROOT
from tests.integration.local_stack import LocalStack, free_port
from tests.integration.observe_project import MEMORY_LIMIT_MIB, add_misbehave, cli, status_json, wait_for_status
from tests.integration.traffic import SteadyLoad, request

pytestmark = pytest.mark.integration

V1, V2 = "20181002.0", "20181003.0"
PREFIX = "/acme/mnist/local"
# Requests sent through production in the traffic test.
REQUESTS = 30
# Sent through staging split 50/50: each version gets at least one unless chance is 2**-39.
SPLIT_REQUESTS = 40
# Scrapes happen every few seconds; a request shows in `status` well within this.
METRICS_BOUND_SECONDS = 90.0
# The scaling test: CPU per request and the most requests per second through the router. One
# client sends them one after another, so basic auth's bcrypt check and a busy machine lower the
# rate; 80 ms each keeps the CPU used above 0.3 (three times the 100m a pod requests, so the HPA
# wants at least replicas.max) down to about 4 requests per second. The scale-down window it sets
# (users keep Kubernetes' 300 s).
BURN_MS, LOAD_RATE = 80, 10.0
SCALE_DOWN_SECONDS = 15


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("observe-stack")) as stack:
        add_misbehave(stack)
        stack.pulumi("up", "--yes", "--skip-preview")
        yield stack


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> tuple[str, str]:
    password = stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip()
    return ("alice", password)


def _load_figures(load: SteadyLoad) -> dict[str, Any]:
    """What a failure message needs to judge the load: how many requests, how fast, how many failed."""
    samples = list(load.samples)
    seconds = samples[-1].sent - samples[0].sent if len(samples) > 1 else 0.0
    return {
        "requests": len(samples),
        "perSecond": round(len(samples) / seconds, 2) if seconds else None,
        "failed": len([s for s in samples if s.status != 200]),
    }


def _endpoint(status: dict[str, Any], version: str, endpoint: str) -> dict[str, Any]:
    found: dict[str, Any] = status["versions"][version]["endpoints"][endpoint]
    return found


def test_status_of_the_deployed_stack_shows_every_version_ready_and_every_route_accepted(stack: LocalStack) -> None:
    status = status_json(stack)
    assert status["stack"] == stack.stack_name and status["namespace"] == stack.namespace
    assert status["sources"]["cluster"]["ok"] is True, status["sources"]
    for version in (V1, V2):
        for endpoint in ("greet-me", "predict-digit", "misbehave"):
            figures = _endpoint(status, version, endpoint)
            assert figures["inConfig"] and figures["inState"] and figures["inCluster"], (version, endpoint)
            assert figures["ready"] == figures["desired"] >= 1, (version, endpoint, figures)
            assert figures["image"] == figures["stateImage"] and "@sha256:" in figures["image"]
            assert figures["hpa"]["min"] >= 1 and figures["hpa"]["max"] >= figures["hpa"]["min"]
    aliases = status["aliases"]
    assert aliases["production"]["config"] == aliases["production"]["cluster"] == {V1: 100}
    assert aliases["staging"]["config"] == aliases["staging"]["cluster"] == {V2: 100}
    assert aliases["production"]["accepted"] is True and aliases["staging"]["accepted"] is True
    # Nothing differs and nothing is unreadable (a container another test killed may show as a restart).
    assert [p for p in status["problems"] if p["kind"] != "workload"] == []


def test_requests_through_production_count_on_its_version_and_not_on_the_other(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    for _ in range(REQUESTS):
        assert request(stack.host, f"{PREFIX}/production/greet-me/hello", auth=auth).status == 200

    def counted(status: dict[str, Any]) -> bool:
        requests = _endpoint(status, V1, "greet-me")["requests"]
        return requests is not None and round(requests) >= REQUESTS

    status = wait_for_status(stack, counted, METRICS_BOUND_SECONDS, f"{REQUESTS} requests on {V1}/greet-me")
    assert status["sources"]["metrics"]["ok"] is True, status["sources"]
    assert round(_endpoint(status, V1, "greet-me")["requests"]) == REQUESTS
    assert _endpoint(status, V1, "greet-me")["errorRatio"] == 0
    assert _endpoint(status, V1, "greet-me")["p95Seconds"] is not None
    assert _endpoint(status, V2, "greet-me")["requests"] == 0
    production = status["aliases"]["production"]
    assert round(production["requests"]) == REQUESTS
    assert round(production["versions"][V1]["requests"]) == REQUESTS
    assert status["aliases"]["staging"]["requests"] == 0


def test_a_split_alias_counts_each_version_s_share_of_its_own_requests(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    """Per (alias, version) figures from the router's `vh_prefix` label: staging split over V1 and V2
    counts what each got through staging, apart from V1's requests through production."""
    moved = cli(stack, "alias", "set", "staging", f"{V2}=50", f"{V1}=50", "--up", timeout=300)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    try:
        for _ in range(SPLIT_REQUESTS):
            assert request(stack.host, f"{PREFIX}/staging/greet-me/hello", auth=auth).status == 200

        def counted(status: dict[str, Any]) -> bool:
            staging = status["aliases"]["staging"]
            return staging["requests"] is not None and round(staging["requests"]) >= SPLIT_REQUESTS

        status = wait_for_status(stack, counted, METRICS_BOUND_SECONDS, f"{SPLIT_REQUESTS} requests via staging")
        staging = status["aliases"]["staging"]["versions"]
        assert staging[V1] is not None and staging[V2] is not None, status["aliases"]["staging"]
        on_v1, on_v2 = round(staging[V1]["requests"]), round(staging[V2]["requests"])
        assert on_v1 + on_v2 == SPLIT_REQUESTS and on_v1 > 0 and on_v2 > 0, (on_v1, on_v2)
        # V1 also served production's requests (the test before); staging's share excludes them.
        assert round(_endpoint(status, V1, "greet-me")["requests"]) == REQUESTS + on_v1
        assert round(status["aliases"]["production"]["versions"][V1]["requests"]) == REQUESTS
    finally:
        back = cli(stack, "alias", "set", "staging", V2, "--up", timeout=300)
        assert back.returncode == 0, back.stdout + back.stderr


def test_a_container_killed_for_exceeding_its_memory_limit_shows_oomkilled_and_a_restart(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    # The container dies mid-request: the router answers 502 (or the connection drops).
    with contextlib.suppress(OSError):
        request(stack.host, f"{PREFIX}/{V2}/misbehave/allocate?mb={MEMORY_LIMIT_MIB * 2}", auth=auth, timeout=30)

    def killed(status: dict[str, Any]) -> bool:
        ended = _endpoint(status, V2, "misbehave")["lastTermination"]
        return ended is not None and ended["reason"] == "OOMKilled"

    status = wait_for_status(stack, killed, 120, f"{V2}/misbehave OOMKilled")
    misbehave = _endpoint(status, V2, "misbehave")
    assert misbehave["restarts"] >= 1
    assert misbehave["lastTermination"]["exitCode"] == 137
    assert any(p["kind"] == "workload" and "OOMKilled" in p["message"] for p in status["problems"])
    # The other version's misbehave is untouched.
    assert _endpoint(status, V1, "misbehave")["restarts"] == 0
    table = cli(stack, "status")
    assert "OOMKilled" in table.stdout


def test_a_route_the_controller_refused_shows_as_not_accepted(stack: LocalStack) -> None:
    # A route of the stack's project attached to a listener the Gateway does not have, written with
    # kubectl as someone editing the cluster would; Traefik refuses it.
    staging = next(
        r
        for r in stack.objects("httproutes.gateway.networking.k8s.io")
        if r["metadata"]["labels"].get("valohai.com/alias") == "staging"
    )
    refused = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "hand-made",
            "namespace": stack.namespace,
            "labels": staging["metadata"]["labels"] | {"valohai.com/alias": "hand-made"},
        },
        "spec": staging["spec"]
        | {"parentRefs": [staging["spec"]["parentRefs"][0] | {"sectionName": "no-such-listener"}]},
    }
    path = stack.project / "refused-route.json"
    path.write_text(json.dumps(refused))
    stack.kubectl("apply", "-f", str(path))
    try:
        status = wait_for_status(
            stack, lambda s: s["aliases"].get("hand-made", {}).get("accepted") is False, 60, "the route refused"
        )
    finally:
        stack.kubectl("delete", "-f", str(path), "--ignore-not-found")
    hand_made = status["aliases"]["hand-made"]
    assert hand_made["config"] is None and hand_made["cluster"] == {V2: 100}
    assert any(c["type"] == "Accepted" and c["status"] == "False" for c in hand_made["conditions"])
    lines = [p["message"] for p in status["problems"] if p["kind"] == "route"]
    assert any(
        line.startswith("alias hand-made: the controller says HTTPRoute hand-made was not accepted") for line in lines
    )
    assert status["aliases"]["staging"]["accepted"] is True


def test_logs_show_the_paths_of_the_requests_gunicorn_served(stack: LocalStack, auth: tuple[str, str]) -> None:
    token = f"observe-{uuid.uuid4().hex[:12]}"
    for _ in range(3):
        request(stack.host, f"{PREFIX}/production/predict-digit/{token}", auth=auth)
    pods = {p["metadata"]["name"] for p in stack.objects("pods", selector="app.kubernetes.io/name=predict-digit")}
    deadline = time.monotonic() + 30
    while True:
        by_version = cli(stack, "logs", V1, "predict-digit", "--since", "5m")
        by_alias = cli(stack, "logs", "production", "predict-digit", "--since", "5m")
        if by_alias.stdout.count(token) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert by_version.returncode == 0, by_version.stderr
    seen = [line for line in by_version.stdout.splitlines() if token in line]
    assert len(seen) == 3, by_version.stdout[-3000:]
    # Each line names its pod; gunicorn's access log holds the request line.
    for line in seen:
        pod = line.removeprefix("[").split("]", 1)[0]
        assert pod in pods and f"GET {PREFIX}/production/predict-digit/{token}" in line, line
    assert all(line.startswith(f"[{V1} ") for line in by_alias.stdout.splitlines() if token in line)
    # The other version served none of them.
    other = cli(stack, "logs", V2, "predict-digit", "--since", "5m")
    assert token not in other.stdout


def test_an_unreachable_metrics_server_is_named_and_the_cluster_is_still_shown(stack: LocalStack) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    stack.pulumi("config", "set", "--path", "observability.prometheus", address)
    result = cli(stack, "status", "--json")
    assert result.returncode == 2, result.stderr
    status = json.loads(result.stdout)
    assert status["sources"]["metrics"]["ok"] is False
    unreadable = [p["message"] for p in status["problems"] if p["kind"] == "unreadable"]
    assert unreadable == [
        f"cannot reach the metrics server at {address} (connection refused); start it "
        "(the local one: scripts/services start) or fix observability.prometheus in the stack's config"
    ]
    assert _endpoint(status, V1, "greet-me")["ready"] >= 1
    assert _endpoint(status, V1, "greet-me")["requests"] is None


def test_unknown_stack_version_and_endpoint_are_one_line_each_listing_what_exists(stack: LocalStack) -> None:
    unknown_stack = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "components", "status", "--stack", "nowhere"],
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown_stack.returncode == 1
    assert _errors(unknown_stack.stderr) == [
        f"error: no stack 'nowhere' in this project's backend; stacks: {stack.stack_name}"
    ]
    unknown_version = cli(stack, "logs", "20181009.0", "greet-me")
    assert unknown_version.returncode == 1
    assert _errors(unknown_version.stderr) == [
        f"error: '20181009.0' is neither a version nor an alias of stack '{stack.stack_name}'; "
        f"versions: {V1}, {V2}; aliases: production, staging"
    ]
    unknown_endpoint = cli(stack, "logs", "staging", "greet")
    assert _errors(unknown_endpoint.stderr) == [
        "error: 'staging' serves no endpoint 'greet'; its endpoints: greet-me, misbehave, predict-digit"
    ]


def _errors(stderr: str) -> list[str]:
    """stderr without the progress lines (`==> ...`): the error, and nothing like a traceback."""
    return [line for line in stderr.splitlines() if not line.startswith("==> ")]


def test_cpu_load_through_the_router_scales_a_version_out_to_its_max_and_back_without_a_failed_request(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    stack.pulumi("config", "set", "--path", "autoscaling.scaleDownStabilizationSeconds", str(SCALE_DOWN_SECONDS))
    stack.pulumi("up", "--yes", "--skip-preview")

    def hpa(status: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = _endpoint(status, V2, "misbehave")["hpa"]
        return found

    before = status_json(stack)
    assert hpa(before)["scaleDownStabilizationSeconds"] == SCALE_DOWN_SECONDS
    assert hpa(before)["current"] == hpa(before)["min"] == 1
    most = hpa(before)["max"]
    started = time.monotonic()
    path = f"{PREFIX}/{V2}/misbehave/burn?ms={BURN_MS}"
    with SteadyLoad(stack.host, path, lambda r: "ok", auth=auth, rate=LOAD_RATE, max_seconds=420) as load:
        scaled = wait_for_status(
            stack,
            lambda s: hpa(s)["current"] == most and _endpoint(s, V2, "misbehave")["ready"] == most,
            300,
            f"{V2}/misbehave scaled out to {most} ready replicas",
            detail=lambda s: _endpoint(s, V2, "misbehave") | {"load": _load_figures(load)},
        )
        out_seconds = time.monotonic() - started
        # The HPA read the CPU from metrics-server, above its target.
        assert hpa(scaled)["cpuPercent"] is not None and hpa(scaled)["cpuPercent"] > 0
    assert load.samples, "no request was sent"
    assert load.failures == [], load.failures[:5]
    stopped = time.monotonic()
    back = wait_for_status(
        stack,
        lambda s: hpa(s)["current"] == 1,
        240,
        f"{V2}/misbehave scaled back in to 1",
        detail=lambda s: _endpoint(s, V2, "misbehave"),
    )
    assert _endpoint(back, V2, "misbehave")["desired"] == 1
    # The other version's HPA never moved.
    assert _endpoint(back, V1, "misbehave")["hpa"]["current"] == 1
    print(
        f"\nscaled out to {most} in {out_seconds:.0f} s under {LOAD_RATE:.0f} req/s x {BURN_MS} ms CPU "
        f"({len(load.samples)} requests, none failed); back to 1 in {time.monotonic() - stopped:.0f} s "
        f"after the load stopped (scale-down window {SCALE_DOWN_SECONDS} s)"
    )
