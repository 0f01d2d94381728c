"""Issue 14 under mocks: stacks sharing a namespace share no object, every object names its stack,
the ownership check sees every object and stops the run before anything is declared, and a new
secret env value rolls the pods without showing the value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.inputs import naming
from tests.harness import (
    BASE_SCOPE,
    V1,
    V2,
    Declared,
    Run,
    base_config,
    make_project,
    rich_config,
    rich_project,
    run_program,
)

K8S = "kubernetes:"
PROVIDER = "pulumi:providers:kubernetes"
TOKEN, NEW_TOKEN = "t0p-s3cret-token", "an0ther-t0ken"
SHARED = {"kubeconfig": "k", "namespace": "shared"}


def _objects(run: Run) -> list[Declared]:
    """The Kubernetes objects a run declares (not the provider)."""
    return [r for r in run.resources if r.typ.startswith(K8S)]


def _kind(resource: Declared) -> str:
    return resource.typ.rsplit(":", 1)[-1]


def _names(run: Run) -> set[tuple[str, str]]:
    return {(_kind(r), r.inputs["metadata"]["name"]) for r in _objects(run)}


def _routing(kind: str) -> dict[str, Any]:
    if kind == "ingress":
        return {}
    return {
        "routing": {"kind": "gateway", "gateway": {"name": "models", "namespace": "router", "implementation": kind}},
        "tlsSecretName": "",
    }


def _stack(project: str, deployment: str, routing: str, **overrides: Any) -> dict[str, Any]:
    """rich_config (every kind of object) for `project`/`deployment`, in the namespace `shared`."""
    config = rich_config() | _routing(routing) | {"project": project, "deployment": deployment}
    config["target"] = {**SHARED, **overrides.pop("target", {})}
    config["aliases"] = {"production": V1, "staging": V2}
    return config | overrides


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_project(tmp_path_factory.mktemp("tenancy"))


# --- names and labels ---


@pytest.mark.parametrize("routing", ["ingress", "traefik", "envoy"])
@pytest.mark.parametrize("other", [("digits", "prod"), ("mnist", "staging")], ids=["project", "deployment"])
def test_two_stacks_in_one_namespace_with_the_same_versions_and_aliases_share_no_object(
    rich: Path, routing: str, other: tuple[str, str]
) -> None:
    first = run_program(_stack("mnist", "prod", routing), rich)
    second = run_program(_stack(*other, routing, target={"createNamespace": False}), rich)
    # Same versions, aliases and endpoints: the same logical names (URNs differ by stack) ...
    assert {r.name for r in _objects(first)} - {"deployment-namespace"} == {r.name for r in _objects(second)}
    # ... and not one Kubernetes object in common.
    assert _names(first) & _names(second) == set()
    assert all(r.inputs["metadata"]["namespace"] == "shared" for r in _objects(second))


@pytest.mark.parametrize("routing", ["ingress", "traefik", "envoy"])
def test_every_object_and_pod_carries_the_stacks_ownership_labels(rich: Path, routing: str) -> None:
    run = run_program(_stack("mnist", "prod", routing), rich)
    scope = naming.Scope("acme", "mnist", "prod")
    for resource in _objects(run):
        assert resource.inputs["metadata"]["labels"].items() >= scope.labels.items(), resource.name
    for deployment in run.of_type("apps/v1:Deployment"):
        assert deployment.inputs["spec"]["template"]["metadata"]["labels"].items() >= scope.labels.items()


def _pod_labels(run: Run) -> list[dict[str, str]]:
    return [d.inputs["spec"]["template"]["metadata"]["labels"] for d in run.of_type("apps/v1:Deployment")]


def test_each_network_policy_selects_only_its_own_stacks_pods(rich: Path) -> None:
    first = run_program(_stack("mnist", "prod", "traefik"), rich)
    second = run_program(_stack("digits", "prod", "traefik", target={"createNamespace": False}), rich)
    for own, other in ((first, second), (second, first)):
        (policy,) = own.of_type("NetworkPolicy")
        selector = policy.inputs["spec"]["podSelector"]["matchLabels"].items()
        assert _pod_labels(own) and all(labels.items() >= selector for labels in _pod_labels(own))
        assert _pod_labels(other) and not any(labels.items() >= selector for labels in _pod_labels(other))


# --- the ownership check ---


@pytest.mark.parametrize("routing", ["ingress", "traefik", "envoy"])
def test_the_ownership_check_looks_up_every_object_the_stack_declares(
    rich: Path, project_dir: Path, routing: str
) -> None:
    run = run_program(_stack("mnist", "prod", routing), rich)
    assert {(ref.kind, ref.name) for ref in run.checked} == _names(run)
    bare = run_program(base_config(target={"kubeconfig": "k", "createNamespace": False}), project_dir)
    assert {(ref.kind, ref.name) for ref in bare.checked} == _names(bare)


def _refused(config: dict[str, Any], project: Path, cluster: dict[tuple[str, str], dict[str, str]]) -> str:
    recorded = Run()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, project, run=recorded, cluster=cluster)
    assert recorded.resources == [], "resources were declared before the check"
    return str(caught.value)


def test_an_object_of_another_stack_stops_the_run_before_anything_is_declared(project_dir: Path) -> None:
    name = naming.workload_name(BASE_SCOPE, "predict-digit", V1)
    other = naming.common_labels(naming.Scope("acme", "digits", "test"), "endpoint")
    secret = naming.auth_secret_name(BASE_SCOPE)
    message = _refused(
        base_config(basicAuth={"alice": "wonderland"}),
        project_dir,
        {("Deployment", name): other, ("Secret", secret): {"app": "hand-made"}},
    )
    assert f"Deployment mnist-test/{name} exists and was made by stack acme/digits/test" in message
    assert f"Secret mnist-test/{secret} exists and was made by something else" in message
    assert message.startswith("2 object(s) in the way, nothing was changed")


def test_a_namespace_of_another_stack_is_refused_unless_the_stack_does_not_create_it(project_dir: Path) -> None:
    foreign = naming.common_labels(naming.Scope("acme", "digits", "test"), "namespace")
    cluster = {("Namespace", "mnist-test"): foreign}
    message = _refused(base_config(), project_dir, cluster)
    assert "Namespace mnist-test exists and was made by stack acme/digits/test" in message
    assert "set target.createNamespace to false" in message
    config = base_config(target={"kubeconfig": "k", "namespace": "mnist-test", "createNamespace": False})
    assert run_program(config, project_dir, cluster=cluster).of_type("Deployment")


def test_the_stacks_own_objects_and_its_namespace_from_before_the_labels_are_kept(project_dir: Path) -> None:
    name = naming.workload_name(BASE_SCOPE, "predict-digit", V1)
    legacy_namespace = {
        naming.COMPONENT_LABEL: "namespace",
        naming.PART_OF_LABEL: "mnist",
        naming.MANAGED_BY_LABEL: "pulumi",
    }
    cluster = {
        ("Deployment", name): naming.common_labels(BASE_SCOPE, "endpoint"),
        ("Namespace", "mnist-test"): legacy_namespace,
    }
    run = run_program(base_config(), project_dir, cluster=cluster)
    assert ("Deployment", name) in _names(run)


# --- secret env values roll the pods ---


def _secret_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path)
    # What `pulumi config set --secret --path 'versions["20181002.0"].env.API_TOKEN'` leaves behind.
    config = {"valohai-deployments:versions": {V1: {"env": {"API_TOKEN": {"secure": "v1:abc:def"}}}}}
    (project / "Pulumi.test.yaml").write_text(yaml.safe_dump({"config": config}))
    return project


def _secret_config(token: str) -> dict[str, Any]:
    config = base_config(aliases={"production": V1})
    config["versions"] = {
        V1: {"files": {"predict-digit": {"model": "models/digits-v1.json"}}, "env": {"API_TOKEN": token}},
        V2: {"files": {"predict-digit": {"model": "models/digits-v2.json"}}},
    }
    return config


def _digests(run: Run) -> dict[str, str | None]:
    """Deployment logical name -> its pod template's secret env digest."""
    return {
        d.name: (d.inputs["spec"]["template"]["metadata"].get("annotations") or {}).get(
            naming.SECRET_ENV_DIGEST_ANNOTATION
        )
        for d in run.of_type("apps/v1:Deployment")
    }


def test_a_new_secret_env_value_changes_only_that_versions_pod_templates(tmp_path: Path) -> None:
    project = _secret_project(tmp_path)
    first = run_program(_secret_config(TOKEN), project, secret_keys=("versions",))
    again = run_program(_secret_config(TOKEN), project, secret_keys=("versions",), after=first)
    changed = run_program(_secret_config(NEW_TOKEN), project, secret_keys=("versions",), after=again)
    deployment = f"{V1}-predict-digit-deployment"
    assert _digests(first)[deployment] is not None
    assert _digests(again) == _digests(first), "the same values keep the pods"
    assert _digests(changed)[deployment] != _digests(first)[deployment], "a new value rolls them"
    # Versions without secret env values get no annotation, whatever the others do.
    assert {name: d for name, d in _digests(changed).items() if name.startswith(V2)} == {
        f"{V2}-greet-me-deployment": None,
        f"{V2}-predict-digit-deployment": None,
    }


def test_the_digest_reveals_nothing_a_guess_could_check(tmp_path: Path) -> None:
    """No plain value, no unsalted hash of it; the key is a secret of the stack's state."""
    project = _secret_project(tmp_path)
    run = run_program(_secret_config(TOKEN), project, secret_keys=("versions",))
    digest = _digests(run)[f"{V1}-predict-digit-deployment"]
    assert digest is not None
    for text in (TOKEN, json.dumps({"API_TOKEN": TOKEN}), json.dumps({"API_TOKEN": TOKEN}, separators=(",", ":"))):
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            assert hashlib.new(algorithm, text.encode()).hexdigest() != digest
    for resource in run.resources:
        clean = {k: v for k, v in resource.inputs.items() if k not in resource.secret_fields}
        assert TOKEN not in json.dumps(clean), resource.name
    (key,) = [r for r in run.resources if r.name == "deployment-secret-env-key"]
    assert "key" in key.secret_fields or key.inputs.get("key") is None
    # The annotation itself is plain, so a preview shows that the pods will roll.
    deployment = run.by_name(f"{V1}-predict-digit-deployment")
    assert "spec" not in deployment.secret_fields
    # Another stack with the same value has another key, so equal digests never say "same value".
    other = run_program(_secret_config(TOKEN), project, secret_keys=("versions",))
    assert _digests(other)[f"{V1}-predict-digit-deployment"] != digest


def test_a_stack_without_secret_env_values_has_no_digest_key(project_dir: Path) -> None:
    run = run_program(base_config(), project_dir)
    assert not [r for r in run.resources if r.name.endswith("secret-env-key")]
    assert set(_digests(run).values()) == {None}
