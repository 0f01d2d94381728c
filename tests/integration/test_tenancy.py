"""Issue 14 on the local cluster, through the router: stacks sharing a namespace, objects in the
way, the upgrade to stack-scoped names, and secret env values reaching running pods.

`stack` is a scratch stack deployed in its own namespace and host; a neighbour of another project
deploys into the same namespace with the same versions and aliases, on the same host, with other
code. Every test starts from `stack`'s deployed baseline (tests/integration/conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.inputs import naming
from tests.harness import ROOT, git
from tests.integration.local_stack import OWNED_KINDS, LocalStack
from tests.integration.traffic import Response, SteadyLoad, request

pytestmark = pytest.mark.integration

V1, V2 = "20181002.0", "20181003.0"
OWNER, DEPLOYMENT = "acme", "local"
# The last commit whose program named objects from the version, alias or deployment alone: the
# upgrade test deploys with it, then with today's program.
OLD_PROGRAM = "0c5eeeee015bf25f2df53bfa371a9e941b9cd7a7"
# Long enough for terminating pods to finish their drain while the load still runs.
DRAIN_WAIT = 8
MANAGED = "app.kubernetes.io/managed-by=pulumi"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("tenancy-stack")) as stack:
        stack.pulumi("up", "--yes")
        yield stack


def _password(stack: LocalStack) -> tuple[str, str]:
    return ("alice", stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip())


def _path(project: str, route: str, endpoint: str = "greet-me") -> str:
    return f"/{OWNER}/{project}/{DEPLOYMENT}/{route}/{endpoint}/"


def _serving(host: str, paths: list[str], auth: tuple[str, str], timeout: float = 60) -> None:
    """Wait until every path answers 200: the router picks up new routes a moment after `up`."""
    deadline = time.monotonic() + timeout
    waiting = list(paths)
    while waiting and time.monotonic() < deadline:
        waiting = [p for p in waiting if request(host, p, auth=auth).status != 200]
        if waiting:
            time.sleep(0.5)
    assert not waiting, f"not served within {timeout:.0f} s: {waiting}"


def _greeting(response: Response) -> str:
    return str(response.json()["greeting"])


def _version_of(response: Response) -> str:
    return str(response.json()["version"])


@contextlib.contextmanager
def _neighbour(tmp: Path, stack: LocalStack) -> Iterator[LocalStack]:
    """Project `digits`, in `stack`'s namespace and on its host, same versions and aliases, and
    code that greets with "Howdy" instead of "Hello"."""
    with LocalStack.scratch(tmp) as other:
        other.namespace = ""  # the namespace is `stack`'s: this teardown must not delete it
        for key, value in {
            "project": "digits",
            "target.namespace": stack.namespace,
            "target.createNamespace": "false",
            "host": stack.host,
        }.items():
            other.pulumi("config", "set", "--path", key, value)
        greet = other.project / "example" / "greet.py"
        greet.write_text(greet.read_text().replace('f"Hello, ', 'f"Howdy, '))
        git(other.project, "commit", "-qam", "another team's code")
        yield other


def _live(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.objects(OWNED_KINDS, selector=MANAGED)


def _of_project(objects: list[dict[str, Any]], project: str) -> set[str]:
    return {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["metadata"].get("labels", {}).get(naming.PROJECT_LABEL) == project
    }


def _state_objects(stack: LocalStack) -> set[str]:
    """kind/name of every Kubernetes object in the stack's state (Namespace aside)."""
    return {
        f"{r['type'].rsplit(':', 1)[-1]}/{r['outputs']['metadata']['name']}"
        for r in stack.resources()
        if r["type"].startswith("kubernetes:") and not r["type"].endswith(":Namespace")
    }


def _pods_selected(stack: LocalStack, policy: dict[str, Any]) -> set[str]:
    labels = policy["spec"]["podSelector"]["matchLabels"]
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return {p["metadata"]["name"] for p in stack.objects("pods", selector=selector)}


def _pods_of(stack: LocalStack, project: str) -> set[str]:
    return {p["metadata"]["name"] for p in stack.objects("pods", selector=f"{naming.PROJECT_LABEL}={project}")}


def test_two_projects_with_the_same_versions_and_aliases_share_a_namespace(stack: LocalStack, tmp_path: Path) -> None:
    auth = _password(stack)
    with _neighbour(tmp_path, stack) as other:
        other.pulumi("up", "--yes")
        _serving(stack.host, [_path("digits", route) for route in ("production", "staging", V1, V2)], _password(other))
        # Each URL answers with its own stack's code: one host, one namespace, the same version names.
        for route in ("production", "staging", V1, V2):
            mine = request(stack.host, _path("mnist", route), auth=auth)
            theirs = request(stack.host, _path("digits", route), auth=_password(other))
            assert (mine.status, theirs.status) == (200, 200), route
            assert _greeting(mine).startswith("Hello") and _greeting(theirs).startswith("Howdy"), route
            assert _version_of(mine) == _version_of(theirs)

        # Every object in the namespace is one stack's, as its state says; no name is shared.
        live = _live(stack)
        mine_live, theirs_live = _of_project(live, "mnist"), _of_project(live, "digits")
        assert mine_live == _state_objects(stack) and theirs_live == _state_objects(other)
        assert len(mine_live | theirs_live) == len(live), "an object without ownership labels"
        for item in live:
            assert item["metadata"]["labels"].items() >= {naming.OWNER_LABEL: OWNER}.items()

        # Each NetworkPolicy selects exactly its own stack's pods.
        policies = {p["metadata"]["labels"][naming.PROJECT_LABEL]: p for p in stack.objects("networkpolicies")}
        assert set(policies) == {"mnist", "digits"}
        for project, policy in policies.items():
            assert _pods_selected(stack, policy) == _pods_of(stack, project) != set()

        # Destroying the neighbour under load leaves this stack serving.
        with SteadyLoad(stack.host, _path("mnist", "production"), _greeting, auth=auth) as load:
            assert load.wait_until(lambda s: len(s) >= 20, 30), "the load did not start"
            other.pulumi("destroy", "--yes")
            time.sleep(DRAIN_WAIT)
        print(f"\n[measure] neighbour destroyed under load: {len(load.samples)} requests, {len(load.failures)} failed")
        assert load.failures == [], load.failures[:5]
        assert {s.answer for s in load.samples} == {"Hello, world!"}
        assert _of_project(_live(stack), "digits") == set()
        assert _of_project(_live(stack), "mnist") == mine_live


def test_an_object_in_the_way_stops_up_before_any_change(stack: LocalStack, tmp_path: Path) -> None:
    name = naming.workload_name(naming.Scope(OWNER, "digits", DEPLOYMENT), "greet-me", V1)
    with _neighbour(tmp_path, stack) as other:
        stack.kubectl("create", "service", "clusterip", name, "--tcp=80:8000", "-n", stack.namespace)
        try:
            hand_made = stack.objects("services", selector=None)
            before = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in hand_made}
            inventory = stack.inventory()
            result = other.pulumi("up", "--yes", check=False)
            output = result.stdout + result.stderr
            assert result.returncode != 0
            assert f"Service {stack.namespace}/{name} exists and was made by something else" in output, output[-3000:]
            assert "Traceback" not in output
            # Nothing changed: no object of the neighbour, the hand-made Service untouched, no state.
            assert stack.inventory() == inventory
            after = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in stack.objects("services")}
            assert after == before
            assert [r["type"] for r in other.resources() if r["type"].startswith(("kubernetes:", "docker:"))] == []
        finally:
            stack.kubectl("delete", "service", name, "-n", stack.namespace, "--ignore-not-found")


def _use_program(stack: LocalStack, commit: str | None) -> None:
    """Replace the scratch copy's program (and Pulumi.yaml, whose config keys it checks) with the
    one of `commit` (None: today's) and commit it."""
    shutil.rmtree(stack.project / "components")
    (stack.project / "__main__.py").unlink()
    if commit is None:
        shutil.copytree(ROOT / "components", stack.project / "components", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "__main__.py", stack.project / "__main__.py")
        shutil.copy2(ROOT / "Pulumi.yaml", stack.project / "Pulumi.yaml")
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "components", "__main__.py", "Pulumi.yaml"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(stack.project)], input=archive, check=True)
    git(stack.project, "add", "-A")
    git(stack.project, "commit", "-qm", f"program {commit or 'today'}")


def test_upgrading_to_stack_scoped_names_loses_no_request(tmp_path: Path) -> None:
    with LocalStack.scratch(tmp_path) as old:
        _use_program(old, OLD_PROGRAM)
        # A key of the stack file added after that program (it refuses keys it does not know).
        old.pulumi("config", "rm", "observability")
        old.pulumi("up", "--yes")
        auth = _password(old)
        _serving(old.host, [_path("mnist", "production"), _path("mnist", V2)], auth)
        old_names = {d["metadata"]["name"] for d in old.objects("deployments", selector=MANAGED)}
        assert old_names and not any(name.startswith("mnist-local-") for name in old_names)

        _use_program(old, None)
        loads = [
            SteadyLoad(old.host, _path("mnist", "production"), _version_of, auth=auth, rate=10),
            SteadyLoad(old.host, _path("mnist", V2), _version_of, auth=auth, rate=10),
        ]
        with contextlib.ExitStack() as running:
            for load in loads:
                running.enter_context(load)
            assert all(load.wait_until(lambda s: len(s) >= 20, 30) for load in loads), "the load did not start"
            started = loads[0].now()
            old.pulumi("up", "--yes")
            took = loads[0].now() - started
            time.sleep(DRAIN_WAIT)
        for load, route in zip(loads, ("production", V2), strict=True):
            print(
                f"\n[measure] upgrade to stack-scoped names, {route} under load: {len(load.samples)} requests, "
                f"{len(load.failures)} failed, pulumi up {took:.1f} s"
            )
        assert [load.failures for load in loads] == [[], []], [load.failures[:5] for load in loads]
        assert {s.answer for s in loads[0].samples} == {V1} and {s.answer for s in loads[1].samples} == {V2}

        # Only the new names are left, each object labelled with its stack.
        live = _live(old)
        assert live and all(o["metadata"]["labels"].get(naming.DEPLOYMENT_LABEL) == DEPLOYMENT for o in live)
        assert not {d["metadata"]["name"] for d in old.objects("deployments", selector=MANAGED)} & old_names
        assert old.pulumi("preview", "--json", "--expect-no-changes", check=False).returncode == 0


def _pods(stack: LocalStack, version: str) -> list[dict[str, Any]]:
    selector = f"{naming.VERSION_LABEL}={version},{naming.NAME_LABEL}=greet-me"
    return [p for p in stack.objects("pods", selector=selector) if not p["metadata"].get("deletionTimestamp")]


def _env_in_pod(stack: LocalStack, pod: str, name: str) -> str:
    # The endpoint's own interpreter: the image needs no other binary.
    script = f"import os; print(os.environ[{name!r}])"
    return stack.kubectl("exec", "-n", stack.namespace, pod, "--", "python", "-c", script).strip()


def test_a_new_secret_env_value_rolls_the_pods_without_a_failed_request(stack: LocalStack) -> None:
    auth = _password(stack)
    key = f'versions["{V1}"].env.API_TOKEN'
    stack.pulumi("config", "set", "--secret", "--path", key, "first-token")
    stack.pulumi("up", "--yes")
    before = {p["metadata"]["name"] for p in _pods(stack, V1)}
    others = {p["metadata"]["name"] for p in _pods(stack, V2)}
    assert before and others

    stack.pulumi("config", "set", "--secret", "--path", key, "second-token")
    with SteadyLoad(stack.host, _path("mnist", "production"), _version_of, auth=auth) as load:
        assert load.wait_until(lambda s: len(s) >= 20, 30), "the load did not start"
        stack.pulumi("up", "--yes")
        time.sleep(DRAIN_WAIT)
    print(f"\n[measure] secret env value changed under load: {len(load.samples)} requests, {len(load.failures)} failed")
    assert load.failures == [], load.failures[:5]

    running = _pods(stack, V1)
    assert running and not {p["metadata"]["name"] for p in running} & before, "the pods were replaced"
    assert {_env_in_pod(stack, p["metadata"]["name"], "API_TOKEN") for p in running} == {"second-token"}
    assert {p["metadata"]["name"] for p in _pods(stack, V2)} == others, "the other version's pods kept running"
    # The annotation shows no trace of the value, nor does anything else outside the Secret.
    digest = running[0]["metadata"]["annotations"][naming.SECRET_ENV_DIGEST_ANNOTATION]
    assert digest not in {hashlib.sha256(b"second-token").hexdigest(), hashlib.sha256(b"first-token").hexdigest()}
    assert "second-token" not in stack.kubectl("get", "deployments,pods", "-n", stack.namespace, "-o", "yaml")
