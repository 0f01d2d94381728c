"""The local stack on the local cluster: real API server, real node, real router, real traffic.

One scratch stack (its own namespace and host) goes through a user's life: up, serve, switch and
roll back an alias under load, split traffic, roll out, lose a pod, add and remove a version,
reject bad input, destroy. Every test starts from the deployed baseline and the module puts it
back afterwards (`LocalStack.restore`), so any test runs alone or in any order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness import ROOT, git
from tests.integration.local_stack import (
    LocalStack,
    registry_digest,
    registry_tags,
)
from tests.integration.traffic import Response, SteadyLoad, multipart, request

pytestmark = pytest.mark.integration

V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
PREFIX = "/acme/mnist/local"
SAMPLES = ROOT / "example" / "samples"
MANAGED = "app.kubernetes.io/managed-by=pulumi"
# How long an alias switch may take to move live traffic once `pulumi up` has returned.
MOVE_BOUND_SECONDS = 10.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("cluster-stack")) as stack:
        stack.pulumi("up", "--yes")
        yield stack


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> tuple[str, str]:
    password = stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip()
    return ("alice", password)


def _path(route: str, endpoint: str, rest: str = "") -> str:
    return f"{PREFIX}/{route}/{endpoint}/{rest}"


def _version_of(response: Response) -> str:
    return str(response.json()["version"])


def _get(stack: LocalStack, auth: tuple[str, str] | None, route: str, endpoint: str, rest: str = "") -> Response:
    return request(stack.host, _path(route, endpoint, rest), auth=auth)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _serves(stack: LocalStack, auth: tuple[str, str], route: str, version: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            response = _get(stack, auth, route, "greet-me")
        except OSError:
            return False
        return response.status == 200 and _version_of(response) == version

    return check


def _deployments(stack: LocalStack) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["metadata"]["labels"]["app.kubernetes.io/version"], d["metadata"]["labels"]["app.kubernetes.io/name"]): d
        for d in stack.objects("deployments", selector=MANAGED)
    }


def _routes(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.objects("httproutes.gateway.networking.k8s.io")


def _alias_route(stack: LocalStack, alias: str) -> dict[str, Any]:
    matches = [r for r in _routes(stack) if r["metadata"]["labels"].get("valohai.com/alias") == alias]
    assert len(matches) == 1, [r["metadata"]["name"] for r in _routes(stack)]
    return matches[0]


def _backends(route: dict[str, Any], endpoint: str) -> dict[str, int]:
    """Service name -> weight of the rule serving `endpoint`."""
    for rule in route["spec"]["rules"]:
        if rule["matches"][0]["path"]["value"].endswith(f"/{endpoint}"):
            return {b["name"]: b.get("weight", 1) for b in rule["backendRefs"]}
    raise AssertionError(f"no rule for {endpoint} in {route['metadata']['name']}")


def _service_of(stack: LocalStack, version: str, endpoint: str) -> str:
    return str(_deployments(stack)[(version, endpoint)]["metadata"]["name"])


def _inventory(stack: LocalStack) -> dict[str, str]:
    return stack.inventory(selector=MANAGED)


def _report(name: str, value: float) -> None:
    print(f"\n[measure] {name}: {value:.2f} s")


# -------------------------------------------------------------------------------- up ------


def test_up_makes_every_deployment_available_with_the_pushed_digest(stack: LocalStack) -> None:
    deployments = _deployments(stack)
    assert sorted(deployments) == [(v, e) for v in (V1, V2) for e in ("greet-me", "predict-digit")]
    repository = f"{stack.registry_path}/local"
    pushed = {registry_digest(repository, tag) for tag in registry_tags(repository)}
    for deployment in deployments.values():
        available = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
        assert available["Available"] == "True"
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.split("@")[1] in pushed
        pods = stack.objects("pods", selector=f"app.kubernetes.io/instance={deployment['metadata']['name']}")
        assert pods and all(p["spec"]["nodeName"] == "local-node" for p in pods)
        assert all(p["status"]["containerStatuses"][0]["imageID"].endswith(image.split("@")[1]) for p in pods)


def test_services_select_exactly_their_versions_pods(stack: LocalStack) -> None:
    for (version, endpoint), deployment in _deployments(stack).items():
        name = deployment["metadata"]["name"]
        pods = {p["status"]["podIP"] for p in stack.objects("pods", selector=f"app.kubernetes.io/instance={name}")}
        slices = stack.objects("endpointslices", selector=f"kubernetes.io/service-name={name}")
        addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]}
        assert addresses == pods, (version, endpoint)


def test_hpas_carry_the_configured_bounds(stack: LocalStack) -> None:
    hpas = {h["metadata"]["name"]: h["spec"] for h in stack.objects("hpa", selector=MANAGED)}
    assert len(hpas) == 4
    for spec in hpas.values():
        assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
        assert spec["scaleTargetRef"]["name"] in hpas


def test_routes_carry_version_and_alias_paths_and_backends(stack: LocalStack) -> None:
    routes = _routes(stack)
    paths = {m["path"]["value"] for r in routes for rule in r["spec"]["rules"] for m in rule["matches"]}
    expected = {
        f"{PREFIX}/{route}/{e}" for route in (V1, V2, "production", "staging") for e in ("greet-me", "predict-digit")
    }
    assert paths == expected
    assert all(r["spec"]["hostnames"] == [stack.host] for r in routes)
    production = _alias_route(stack, "production")
    assert set(_backends(production, "greet-me")) == {_service_of(stack, V1, "greet-me")}
    for route in routes:
        for rule in route["spec"]["rules"]:
            kinds = {f["type"] for f in rule.get("filters", [])}
            assert "RequestHeaderModifier" in kinds
            assert "ExtensionRef" in kinds, "basic auth is attached to every rule"
        parents = route["status"]["parents"]
        accepted = {c["type"]: c["status"] for c in parents[0]["conditions"]}
        assert accepted["Accepted"] == "True" and accepted["ResolvedRefs"] == "True", route["metadata"]["name"]


def test_basic_auth_secret_exists_and_no_password_is_in_the_state(stack: LocalStack, auth: tuple[str, str]) -> None:
    secrets = stack.objects("secrets", selector=MANAGED)
    assert secrets, "the basic-auth Secret"
    exported = json.dumps(stack.state())
    assert auth[1] not in exported


# --------------------------------------------------------------------------- traffic ------


@pytest.mark.parametrize("route", [V1, V2, "production", "staging"])
def test_greet_me_answers_through_the_router_with_its_prefix(
    stack: LocalStack, auth: tuple[str, str], route: str
) -> None:
    response = _get(stack, auth, route, "greet-me", "hello?name=Ada")
    assert response.status == 200, response.body
    reply = response.json()
    prefix = f"{PREFIX}/{route}/greet-me"
    assert reply["greeting"] == "Hello, Ada!"
    assert reply["path"] == f"{prefix}/hello"
    assert reply["prefix"] == prefix, "X-VH-Prefix is the prefix actually used"
    assert reply["version"] == {"production": V1, "staging": V2}.get(route, route)


def test_a_client_cannot_forge_the_prefix_header(stack: LocalStack, auth: tuple[str, str]) -> None:
    response = request(stack.host, _path("production", "greet-me"), auth=auth, headers={"X-VH-Prefix": "/forged"})
    assert response.json()["prefix"] == f"{PREFIX}/production/greet-me"


@pytest.mark.parametrize("route", [V1, "production"])
def test_basic_auth_is_enforced(stack: LocalStack, auth: tuple[str, str], route: str) -> None:
    assert _get(stack, None, route, "greet-me").status == 401
    assert _get(stack, (auth[0], auth[1] + "x"), route, "greet-me").status == 401
    assert _get(stack, auth, route, "greet-me").status == 200


@pytest.mark.parametrize("route", [V1, V2, "production", "staging"])
def test_predict_digit_reads_uploaded_samples_through_the_router(
    stack: LocalStack, auth: tuple[str, str], route: str
) -> None:
    for digit in (0, 3, 7, 9):
        body, content_type = multipart(
            {"image": (f"{digit}.png", (SAMPLES / f"digit-{digit}.png").read_bytes(), "image/png")}
        )
        response = request(
            stack.host,
            _path(route, "predict-digit"),
            method="POST",
            auth=auth,
            body=body,
            headers={"Content-Type": content_type},
        )
        assert response.status == 200, response.body
        assert response.json()["digit"] == digit
    info = _get(stack, auth, route, "predict-digit")
    assert info.json()["script_root"] == f"{PREFIX}/{route}/predict-digit"


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", *args],
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_call_reaches_endpoints_through_the_router(stack: LocalStack) -> None:
    """`call` as a user runs it: URL from the stack outputs (*.localhost on 127.0.0.1), password from config."""
    upload = _cli(
        stack, "call", "--stack", "local", "production", "predict-digit", "--file", f"image=@{SAMPLES}/digit-7.png"
    )
    assert upload.returncode == 0, upload.stderr
    assert upload.stdout.startswith("HTTP 200 OK")
    assert json.loads(upload.stdout.split("\n\n", 1)[1])["digit"] == 7
    query = _cli(stack, "call", "--stack", "local", "staging", "greet-me", "hello", "--query", "name=Grace Hopper")
    assert query.returncode == 0, query.stderr
    reply = json.loads(query.stdout.split("\n\n", 1)[1])
    assert (reply["greeting"], reply["version"]) == ("Hello, Grace Hopper!", V2)
    form = _cli(stack, "call", "--stack", "local", "production", "greet-me", "--field", "name=Ada")
    assert form.returncode == 0, form.stderr
    assert json.loads(form.stdout.split("\n\n", 1)[1])["greeting"] == "Hello, Ada!"
    refused = _cli(stack, "call", "--stack", "local", "production", "greet-me", "--user", "alice:wrong")
    assert refused.returncode == 1
    assert "401 Unauthorized: the endpoint refused user 'alice'" in refused.stderr


def test_an_unknown_path_is_not_routed(stack: LocalStack, auth: tuple[str, str]) -> None:
    assert request(stack.host, f"{PREFIX}/nightly/greet-me/", auth=auth).status == 404


# ----------------------------------------------------------------- re-runs and drift ------


def test_refresh_finds_no_drift_and_a_second_up_changes_nothing(stack: LocalStack) -> None:
    refresh = stack.pulumi("refresh", "--yes", "--json", check=False)
    assert refresh.returncode == 0, refresh.stderr
    before = _inventory(stack)
    result = stack.pulumi("up", "--yes", "--expect-no-changes")
    assert "Building" not in result.stdout
    assert _inventory(stack) == before


# ------------------------------------------------------------- aliases under live load ------


def _switch_under_load(stack: LocalStack, auth: tuple[str, str], alias: str, old: str, new: str) -> float:
    """Point `alias` at `new` with `pulumi up` while a client calls it; return seconds to move."""
    route_uid = _alias_route(stack, alias)["metadata"]["uid"]
    old_service = _service_of(stack, old, "greet-me")
    stack.pulumi("config", "set", "--path", f"aliases.{alias}", new)
    with SteadyLoad(stack.host, _path(alias, "greet-me"), _version_of, auth=auth) as load:
        assert load.wait_until(lambda s: len(s) >= 20, 30), "the load did not start"
        up_started = load.now()
        stack.pulumi("up", "--yes")
        up_done = load.now()
        assert load.wait_until(lambda s: s[-1].answer == new if s else False, MOVE_BOUND_SECONDS)
        time.sleep(3)
    assert load.failures == [], load.failures[:5]
    moved = load.last_change_to(new)
    assert moved is not None and moved - up_done < MOVE_BOUND_SECONDS
    answers_before = {s.answer for s in load.samples if s.sent < up_started}
    assert answers_before == {old}
    _report(f"{alias} {old} -> {new}: pulumi up", up_done - up_started)
    _report(f"{alias} {old} -> {new}: from up start to traffic moved", moved - up_started)
    route = _alias_route(stack, alias)
    assert route["metadata"]["uid"] == route_uid, "the alias route is updated in place"
    assert set(_backends(route, "greet-me")) == {_service_of(stack, new, "greet-me")}
    assert old_service in {d["metadata"]["name"] for d in _deployments(stack).values()}, "the old version keeps running"
    return moved - up_started


def test_switching_an_alias_moves_live_traffic_without_a_failed_request(
    stack: LocalStack, auth: tuple[str, str]
) -> None:
    stack.pulumi("config", "set", "--path", "aliases.production", V2)
    changed = [s for s in stack.preview_steps() if s["op"] not in ("same", "read")]
    assert [s["op"] for s in changed] == ["update"]
    assert changed[0]["newState"]["type"] == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
    stack.pulumi("config", "set", "--path", "aliases.production", V1)
    _switch_under_load(stack, auth, "production", V1, V2)


def test_rolling_back_an_alias_moves_live_traffic_back(stack: LocalStack, auth: tuple[str, str]) -> None:
    stack.pulumi("config", "set", "--path", "aliases.production", V2)
    stack.pulumi("up", "--yes")
    _switch_under_load(stack, auth, "production", V2, V1)
    assert stack.outputs()["aliases"]["production"] == V1


def test_a_weighted_alias_splits_traffic_by_its_weights(stack: LocalStack, auth: tuple[str, str]) -> None:
    stack.pulumi("config", "rm", "--path", "aliases.production")
    stack.pulumi("config", "set", "--path", f'aliases.production["{V1}"]', "90")
    stack.pulumi("config", "set", "--path", f'aliases.production["{V2}"]', "10")
    stack.pulumi("up", "--yes")
    _wait(lambda: _backends(_alias_route(stack, "production"), "greet-me") != {}, 30, "split route")
    counts = {V1: 0, V2: 0}
    for _ in range(1000):
        response = _get(stack, auth, "production", "greet-me")
        assert response.status == 200
        counts[_version_of(response)] += 1
    print(f"\n[measure] 90/10 split over 1000 requests: {counts}")
    assert abs(counts[V1] / 10 - 90) <= 5 and abs(counts[V2] / 10 - 10) <= 5, counts


# ------------------------------------------------------------------- rollouts under load ------


def _steady(stack: LocalStack, auth: tuple[str, str], route: str = "production") -> SteadyLoad:
    return SteadyLoad(stack.host, _path(route, "greet-me"), _version_of, auth=auth)


def test_a_version_comes_and_goes_while_its_alias_keeps_serving(stack: LocalStack, auth: tuple[str, str]) -> None:
    stack.pulumi(
        "config", "set", "--path", f'versions["{V3}"].files.predict-digit.model', "example/models/digits-v2.json"
    )
    with _steady(stack, auth) as load:
        assert load.wait_until(lambda s: len(s) >= 20, 30)
        stack.pulumi("up", "--yes")
        time.sleep(2)
    assert load.failures == [], load.failures[:5]
    assert {s.answer for s in load.samples} == {V1}
    assert _get(stack, auth, V3, "greet-me").json()["version"] == V3

    stack.pulumi("config", "rm", "--path", f'versions["{V3}"]')
    stack.pulumi("up", "--yes")
    leftovers = [k for k in _inventory(stack) if V3.replace(".", "-") in k]
    assert leftovers == []
    _wait(
        lambda: all(r["metadata"]["labels"].get("app.kubernetes.io/version") != V3 for r in stack.objects("pods")),
        120,
        f"{V3}'s pods gone",
    )


def test_every_url_up_prints_answers_as_soon_as_up_returns(stack: LocalStack, auth: tuple[str, str]) -> None:
    """A new version and a new alias in one `up`: each URL it prints answers at once, with no retry
    (the HTTPRoutes are awaited until the Gateway has accepted them)."""
    stack.pulumi(
        "config", "set", "--path", f'versions["{V3}"].files.predict-digit.model', "example/models/digits-v2.json"
    )
    stack.pulumi("config", "set", "--path", "aliases.candidate", V3)
    endpoints = ("greet-me", "predict-digit")
    paths = [_path(route, endpoint) for route in (V3, "candidate") for endpoint in endpoints]
    stack.pulumi("up", "--yes")
    answers = {path: request(stack.host, path, auth=auth).status for path in paths}
    outputs = stack.outputs()
    printed = [*outputs["versionUrls"][V3].values(), *outputs["aliasUrls"]["candidate"].values()]
    assert sorted(urlsplit(url).path for url in printed) == sorted(paths), "the URLs up printed"
    # greet-me answers 200 to a GET; predict-digit its own answer, never the router's 404.
    assert all(status != 404 for status in answers.values()), answers
    assert [answers[path] for path in paths if "/greet-me/" in path] == [200, 200], answers


def test_a_deployment_update_rolls_without_a_failed_request(stack: LocalStack, auth: tuple[str, str]) -> None:
    name = _service_of(stack, V1, "greet-me")
    before = {p["metadata"]["name"] for p in stack.objects("pods", selector=f"app.kubernetes.io/instance={name}")}
    stack.pulumi("config", "set", "--path", f'versions["{V1}"].env.GREETING_STYLE', "formal")
    with _steady(stack, auth) as load:
        assert load.wait_until(lambda s: len(s) >= 20, 30)
        stack.pulumi("up", "--yes")
        time.sleep(DRAIN_WAIT)
    assert load.failures == [], load.failures[:5]
    pods = stack.objects("pods", selector=f"app.kubernetes.io/instance={name}")
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert running and not {p["metadata"]["name"] for p in running} & before, "the pods were replaced"
    env = {e["name"]: e.get("value") for e in running[0]["spec"]["containers"][0]["env"]}
    assert env["GREETING_STYLE"] == "formal"


def _set_replicas(stack: LocalStack, version: str, low: int, high: int) -> None:
    stack.pulumi("config", "set", "--path", f'versions["{version}"].replicas.min', str(low))
    stack.pulumi("config", "set", "--path", f'versions["{version}"].replicas.max', str(high))


# Long enough for terminating pods to finish their drain while the load still runs.
DRAIN_WAIT = 8


def test_losing_a_pod_under_load_loses_no_request(stack: LocalStack, auth: tuple[str, str]) -> None:
    _set_replicas(stack, V1, 2, 3)
    stack.pulumi("up", "--yes")
    name = _service_of(stack, V1, "greet-me")

    def ready_pods() -> list[str]:
        slices = stack.objects("endpointslices", selector=f"kubernetes.io/service-name={name}")
        return [
            e["targetRef"]["name"]
            for s in slices
            for e in s.get("endpoints") or []
            if e.get("conditions", {}).get("ready")
        ]

    _wait(lambda: len(ready_pods()) == 2, 120, "two ready replicas")
    with _steady(stack, auth) as load:
        assert load.wait_until(lambda s: len(s) >= 20, 30)
        stack.kubectl("delete", "pod", "-n", stack.namespace, ready_pods()[0], "--wait=false")
        time.sleep(DRAIN_WAIT)
    assert load.failures == [], load.failures[:5]
    _wait(lambda: len(ready_pods()) == 2, 120, "the replacement pod")


# ----------------------------------------------------------------- versions and bad input ------


def test_removing_a_version_an_alias_uses_is_refused_before_anything_changes(stack: LocalStack) -> None:
    before = _inventory(stack)
    stack.pulumi("config", "rm", "--path", f'versions["{V1}"]')
    result = stack.pulumi("up", "--yes", check=False)
    assert result.returncode != 0
    assert f"aliases.production: points to version '{V1}', which is not in versions" in result.stdout
    assert _inventory(stack) == before


@pytest.mark.parametrize("breakage", ["valohai.yaml", "alias", "file"])
def test_bad_input_leaves_the_cluster_unchanged(stack: LocalStack, breakage: str) -> None:
    before = _inventory(stack)
    valohai = stack.project / "example" / "valohai.yaml"
    if breakage == "valohai.yaml":
        valohai.write_text(valohai.read_text().replace("port: 8000", "port: 80"))
        git(stack.project, "commit", "-qam", "break valohai.yaml")
        expected = "endpoint 'greet-me': port: must be >= 1025 (got 80)"
    elif breakage == "alias":
        stack.pulumi("config", "set", "--path", "aliases.staging", "20990101.0")
        expected = "aliases.staging: points to version '20990101.0', which is not in versions"
    else:
        stack.pulumi("config", "set", "--path", f'versions["{V2}"].files.predict-digit.model', "models/missing.json")
        expected = "file 'models/missing.json' not found"
    result = stack.pulumi("up", "--yes", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert "Traceback" not in output
    assert _inventory(stack) == before


def test_destroy_leaves_no_object_of_the_stack(stack: LocalStack) -> None:
    stack.pulumi("destroy", "--yes")
    assert _inventory(stack) == {}
    _wait(lambda: not stack.objects("pods"), 120, "pods gone")
    # Retained on delete (shared claims and other teams' objects may live in it); teardown removes it.
    assert json.loads(stack.kubectl("get", "namespace", stack.namespace, "-o", "json"))["status"]["phase"] == "Active"
