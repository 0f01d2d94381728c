"""Faults during `pulumi up`: the API server or the registry goes away mid-run.

After the service comes back, one more `pulumi up` converges, and the cluster holds exactly
the objects the state says: nothing orphaned, nothing duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local_stack import (
    OWNED,
    OWNED_KINDS,
    LocalStack,
    services,
    services_dir,
)

pytestmark = pytest.mark.integration

V3 = "20181004.0"
KINDS = f"namespaces,{OWNED_KINDS}"
OUTAGE_SECONDS = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("fault-stack")) as stack:
        yield stack


def _kill(pidfile: Path) -> None:
    os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def _poll(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _start_up(stack: LocalStack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", stack.stack_name, "--non-interactive"],
        cwd=stack.project,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _state_objects(stack: LocalStack) -> set[str]:
    """kind/namespace/name of every Kubernetes object the state holds."""
    found = set()
    for resource in stack.resources():
        if not resource["type"].startswith("kubernetes:") or resource["type"].startswith("pulumi:providers"):
            continue
        outputs: dict[str, Any] = resource.get("outputs") or {}
        metadata = outputs.get("metadata") or {}
        if "kind" in outputs and metadata.get("name"):
            found.add(f"{outputs['kind']}/{metadata.get('namespace', '')}/{metadata['name']}")
    return found


def _cluster_objects(stack: LocalStack) -> set[str]:
    items = json.loads(stack.kubectl("get", KINDS, "-A", "-l", "app.kubernetes.io/managed-by=pulumi", "-o", "json"))
    found = set()
    for item in items["items"]:
        metadata = item["metadata"]
        namespace = metadata.get("namespace", "")
        if namespace == stack.namespace or (item["kind"] == "Namespace" and metadata["name"] == stack.namespace):
            found.add(f"{item['kind']}/{namespace}/{metadata['name']}")
    return found


def _converges(stack: LocalStack) -> None:
    result = stack.pulumi("up", "--yes", check=False)
    if result.returncode != 0:
        # An interrupted run leaves pending operations; Pulumi asks for a refresh to settle them.
        stack.pulumi("refresh", "--yes", "--clear-pending-creates")
        stack.pulumi("up", "--yes")
    stack.pulumi("up", "--yes", "--expect-no-changes")
    state = _state_objects(stack)
    assert {key.split("/")[0] for key in state} <= {"Namespace", *OWNED}, "a kind the comparison does not list"
    assert state == _cluster_objects(stack)


def test_api_server_stopped_mid_up_then_up_converges(stack: LocalStack) -> None:
    # From nothing, so the interrupted `up` has Deployments to create.
    stack.pulumi("destroy", "--yes", "--skip-preview")
    run = _start_up(stack)
    try:
        _poll(
            lambda: bool(stack.kubectl("get", "deployments", "-n", stack.namespace, "-o", "name", check=False).strip()),
            900,
            "the first Deployment",
        )
        _kill(services_dir() / "cluster" / "local" / "kube-apiserver.pid")
        # The outage lasts until the run has noticed it (creates in flight fail at once) or for
        # OUTAGE_SECONDS; then the API server comes back while the run may still be awaiting
        # rollouts, as after a real restart. (Left down, the provider retries for ten minutes.)
        try:
            output, _ = run.communicate(timeout=OUTAGE_SECONDS)
        except subprocess.TimeoutExpired:
            services("start")
            output, _ = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
        services("start")
    print(f"\n[fault] pulumi up during the outage exited {run.returncode}")
    assert run.returncode != 0 or "connection refused" in output, output[-3000:]
    _converges(stack)


def _docker_busy() -> bool:
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    return "docker build" in processes or "docker push" in processes


def test_registry_stopped_mid_build_then_up_converges(stack: LocalStack) -> None:
    # New bytes, so the image has a layer the registry has never seen and the push has work to do.
    model = stack.project / "example" / "models" / "digits-v3.json"
    model.write_text((stack.project / "example" / "models" / "digits-v2.json").read_text() + "\n")
    stack.pulumi(
        "config", "set", "--path", f'versions["{V3}"].files.predict-digit.model', "example/models/digits-v3.json"
    )
    run = _start_up(stack)
    try:
        _poll(_docker_busy, 300, "an image build or push")
        _kill(services_dir() / "run" / "registry.pid")
        output, _ = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
        services("start")
    assert run.returncode != 0, output[-3000:]
    _converges(stack)
    versions = {d["metadata"]["labels"]["app.kubernetes.io/version"] for d in stack.objects("deployments")}
    assert V3 in versions


def test_destroy_after_faults_leaves_nothing(stack: LocalStack) -> None:
    stack.pulumi("up", "--yes", "--skip-preview")  # whatever ran before, something to destroy
    assert _cluster_objects(stack), "nothing was deployed to destroy"
    stack.pulumi("destroy", "--yes")
    assert {o for o in _cluster_objects(stack) if not o.startswith("Namespace/")} == set()
