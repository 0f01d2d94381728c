"""`status`'s model: config, state and cluster joined, their differences, failing pods and refused
routes, traffic per version and alias, and the `--json` shape the README documents.

Cluster objects are written the way the API returns them (the fields `status` reads, with the
labels the program sets); config and state go through the program's own settings and plan.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from components.observe.declared import Declared
from components.observe.model import EXIT_OK, EXIT_UNREADABLE, Problem, Source
from components.observe.prometheus import Sample
from components.observe.promql import PREFIX_LABEL, traefik_service
from components.observe.traffic import TrafficReport, TrafficTargets, from_samples
from tests.harness import ROOT
from tests.unit.observe_objects import (
    NS,
    RECENT,
    V1,
    V2,
    WINDOW,
    declared_stack,
    deployment,
    healthy,
    image_of,
    messages,
    pod,
    route,
    service_name,
    status_of,
)

# --- config, state and cluster ---------------------------------------------------------------------


def test_a_stack_as_deployed_shows_no_difference(tmp_path: Path) -> None:
    status = status_of(declared_stack(tmp_path), healthy())
    assert status.problems == ()
    assert status.exit_code == EXIT_OK
    endpoint = status.to_json()["versions"][V1]["endpoints"]["greet-me"]
    assert (endpoint["image"], endpoint["stateImage"]) == (image_of(V1), image_of(V1))
    assert (endpoint["desired"], endpoint["ready"], endpoint["restarts"]) == (1, 1, 0)
    assert endpoint["hpa"]["min"] == 1 and endpoint["hpa"]["max"] == 3 and endpoint["hpa"]["cpuPercent"] == 12
    production = status.to_json()["aliases"]["production"]
    assert production["config"] == production["state"] == production["cluster"] == {V1: 100}
    assert production["accepted"] is True


def test_differences_between_config_state_and_cluster_are_each_named(tmp_path: Path) -> None:
    # Config moved production to V2 (no pulumi up since); someone pointed the cluster's staging
    # route at V1, and replaced V2's greet-me image by hand; V1's predict-digit was deleted.
    d = declared_stack(tmp_path, aliases={"production": V2, "staging": V2})
    snapshot = healthy(
        deployments=(
            deployment(V1, "greet-me"),
            deployment(V2, "greet-me", image=image_of(V1)),
            deployment(V2, "predict-digit"),
        ),
        httproutes=(route("production", {V1: 1}), route("staging", {V1: 1})),
    )
    status = status_of(d, snapshot)
    assert messages(status, "drift") == [
        f"{V1}/predict-digit: no Deployment in namespace {NS} (deleted outside Pulumi? pulumi up --refresh)",
        f"{V2}/greet-me: the cluster runs {image_of(V1)}, the state says {image_of(V2)}",
        f"alias production: config points to {V2}, the last pulumi up to {V1}",
        f"alias staging: HTTPRoute alias-staging-1a2b3c4d sends traffic to {V1}, the state says {V2} "
        "(changed outside Pulumi? pulumi up --refresh puts it back)",
    ]
    aliases = status.to_json()["aliases"]
    assert (aliases["production"]["config"], aliases["production"]["state"]) == ({V2: 100}, {V1: 100})
    assert (aliases["staging"]["state"], aliases["staging"]["cluster"]) == ({V2: 100}, {V1: 100})
    assert status.to_json()["versions"][V1]["endpoints"]["predict-digit"]["inCluster"] is False


def test_versions_only_in_state_or_only_in_config_are_named(tmp_path: Path) -> None:
    images = {v: {"greet-me": image_of(v), "predict-digit": image_of(v)} for v in (V1,)}
    images["20181001.0"] = {"greet-me": image_of(V1)}
    d = declared_stack(tmp_path, images=images)
    status = status_of(d, None, reading=[Problem("unreadable", "cluster down")])
    assert messages(status, "drift") == [
        f"version {V2}: in config, not deployed yet (run pulumi up)",
        "version 20181001.0: deployed, no longer in config (the next pulumi up removes it)",
    ]
    versions = status.to_json()["versions"]
    assert list(versions) == ["20181001.0", V1, V2]
    assert (versions["20181001.0"]["inConfig"], versions["20181001.0"]["inState"]) == (False, True)
    assert (versions[V2]["inConfig"], versions[V2]["inState"]) == (True, False)


# --- failing workloads and refused routes ----------------------------------------------------------


def test_an_oom_killed_container_shows_the_kill_and_its_restart(tmp_path: Path) -> None:
    killed = {
        "lastState": {
            "terminated": {
                "reason": "OOMKilled",
                "exitCode": 137,
                "finishedAt": RECENT,
                "startedAt": "2026-12-05T09:00:10Z",
            }
        },
        "state": {"running": {"startedAt": RECENT}},
    }
    pods = list(healthy().pods)
    pods[0] = pod(V1, "greet-me", restarts=1, **killed)
    pods[0]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    status = status_of(declared_stack(tmp_path), healthy(pods=tuple(pods)))
    endpoint = status.to_json()["versions"][V1]["endpoints"]["greet-me"]
    assert endpoint["restarts"] == 1
    assert endpoint["lastTermination"]["reason"] == "OOMKilled"
    assert endpoint["lastTermination"]["exitCode"] == 137
    killed_pod = pods[0]["metadata"]["name"]
    assert messages(status, "workload") == [
        f"{V1}/greet-me: restarted (1 restarts); last end: OOMKilled, exit code 137 at {RECENT} in pod {killed_pod}"
    ]


def test_a_crash_looping_container_says_why_it_is_not_ready(tmp_path: Path) -> None:
    looping = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": RECENT}},
    }
    pods = list(healthy().pods)
    pods[2] = pod(V2, "greet-me", restarts=3, **looping)
    deployments = list(healthy().deployments)
    deployments[2] = deployment(V2, "greet-me", ready=0)
    status = status_of(declared_stack(tmp_path), healthy(pods=tuple(pods), deployments=tuple(deployments)))
    endpoint = status.to_json()["versions"][V2]["endpoints"]["greet-me"]
    assert endpoint["waiting"]["reason"] == "CrashLoopBackOff"
    assert messages(status, "workload")[0] == (
        f"{V2}/greet-me: 0 of 1 replicas ready: CrashLoopBackOff (back-off 20s restarting failed container)"
    )


def test_a_route_the_controller_refused_shows_as_not_accepted(tmp_path: Path) -> None:
    refused = ("False", "NotAllowedByListeners", "No listener matched")
    snapshot = healthy(httproutes=(route("production", {V1: 1}), route("staging", {V2: 1}, accepted=refused)))
    status = status_of(declared_stack(tmp_path), snapshot)
    aliases = status.to_json()["aliases"]
    assert aliases["staging"]["accepted"] is False
    assert aliases["production"]["accepted"] is True
    assert messages(status, "route") == [
        "alias staging: the controller says HTTPRoute alias-staging-1a2b3c4d was not accepted: "
        "NotAllowedByListeners: No listener matched"
    ]


# --- traffic ---------------------------------------------------------------------------------------


def _report(d: Declared) -> TrafficReport:
    """40 requests through production to V1's greet-me, 2 of them answered 502."""
    services = {
        traefik_service(NS, service_name(v, e)): (v, e) for v in (V1, V2) for e in ("greet-me", "predict-digit")
    }
    production = d.prefix("production", "greet-me")
    answering = traefik_service(NS, service_name(V1, "greet-me"))
    samples = {
        "service-requests": [
            Sample({"service": answering, "code": "200", PREFIX_LABEL: production}, 38.0),
            Sample({"service": answering, "code": "502", PREFIX_LABEL: production}, 2.0),
        ],
    }
    # The router counts the same requests on production's rule 0 (greet-me), named as Traefik names it.
    router = f"httproute-{NS}-alias-production-1a2b3c4d-gw-valohai-router-models-ep-web-0-{'ab' * 10}@kubernetesgateway"
    samples["router-requests"] = [
        Sample({"router": router, "code": "200"}, 38.0),
        Sample({"router": router, "code": "502"}, 2.0),
    ]
    routes = {"alias-production-1a2b3c4d": ("production", {0: "greet-me", 1: "predict-digit"})}
    targets = TrafficTargets(NS, services, routes, {production: ("production", "greet-me")})
    return from_samples(targets, WINDOW, samples)


def test_requests_count_on_the_version_the_alias_points_to_and_not_on_the_other(tmp_path: Path) -> None:
    d = declared_stack(tmp_path)
    status = status_of(d, healthy(), report=_report(d))
    versions = status.to_json()["versions"]
    assert versions[V1]["endpoints"]["greet-me"]["requests"] == 40
    assert versions[V1]["endpoints"]["greet-me"]["errorRatio"] == 0.05
    assert versions[V2]["endpoints"]["greet-me"]["requests"] == 0
    assert versions[V2]["endpoints"]["greet-me"]["errorRatio"] is None
    production = status.to_json()["aliases"]["production"]
    assert production["versions"][V1]["requests"] == 40
    assert production["requests"] == 40 and production["errorRatio"] == 0.05
    assert production["endpoints"]["greet-me"]["requests"] == 40
    assert production["endpoints"]["predict-digit"]["requests"] == 0
    assert status.to_json()["aliases"]["staging"]["requests"] == 0


def test_without_metrics_every_figure_is_null_not_zero(tmp_path: Path) -> None:
    status = status_of(declared_stack(tmp_path), healthy())
    endpoint = status.to_json()["versions"][V1]["endpoints"]["greet-me"]
    assert endpoint["requests"] is None and endpoint["requestsPerSecond"] is None and endpoint["p95Seconds"] is None


def test_an_unreadable_source_sets_the_exit_code_and_keeps_what_was_read(tmp_path: Path) -> None:
    problem = Problem("unreadable", "cannot reach the metrics server at http://127.0.0.1:8428 (connection refused)")
    status = status_of(declared_stack(tmp_path), healthy(), reading=[problem])
    assert status.exit_code == EXIT_UNREADABLE
    assert status.to_json()["versions"][V1]["endpoints"]["greet-me"]["ready"] == 1
    assert problem in status.problems


# --- the documented JSON shape -----------------------------------------------------------------------


# Maps keyed by names (versions, endpoints, aliases, weights per version), as key paths.
NAMED = {
    "versions",
    "versions.*.endpoints",
    "aliases",
    *(f"aliases.*.{key}" for key in ("config", "state", "cluster", "endpoints", "versions", "unknownBackends")),
}


def _key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value; the names in a NAMED map become `*` and list items `[]`, so a
    document with one of each describes a status with many."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = "*" if prefix in NAMED else key
            path = f"{prefix}.{name}" if prefix else name
            found |= {path} | _key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= _key_paths(item, f"{prefix}[]")
    return found


def _documented() -> Any:
    """The example under the README's `status --json` heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### `status --json`") :]
    block = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert block, "README: no ```json example under ### `status --json`"
    return json.loads(block.group(1))


def test_the_json_shape_is_the_one_the_readme_documents(tmp_path: Path) -> None:
    killed = {
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": RECENT}},
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
    }
    pods = (pod(V1, "greet-me", restarts=1, **killed),)
    warning = {
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "involvedObject": {"kind": "Pod", "name": pods[0]["metadata"]["name"]},
        "count": 3,
        "lastTimestamp": RECENT,
    }
    stalled = deployment(V1, "greet-me", ready=0)
    stalled["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
    ]
    split = route("production", {V1: 90, V2: 10})
    snapshot = healthy(
        deployments=(stalled,), pods=pods, events=(warning,), httproutes=(split,), services=healthy().services
    )
    d = declared_stack(tmp_path)
    sources = {"cluster": Source("https://127.0.0.1:6443"), "metrics": Source("http://127.0.0.1:8428", "refused")}
    produced = status_of(d, snapshot, sources=sources, report=_report(d)).to_json()
    assert _key_paths(produced) == _key_paths(_documented())
