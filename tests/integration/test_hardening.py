"""Issue 9 with the real engine: a secret env value never reaches state in plain text, and new
registry credentials rebuild and re-push nothing.

Depends only on `pulumi up` / `pulumi preview` / `pulumi stack export` working on the local stack,
whatever its target (rendered manifests or a cluster).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.local_stack import LocalStack

pytestmark = pytest.mark.integration

V1 = "20181002.0"
# A test value that must never show in plain text.
TOKEN = "it-secret-3c1f0e9a"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("hardening")) as stack:
        stack.pulumi("config", "set", "--secret", "--path", f'versions["{V1}"].env.API_TOKEN', TOKEN)
        stack.pulumi("config", "set", "--path", f'versions["{V1}"].env.LOG_LEVEL', "debug")
        # The local registry takes any credentials; what matters is that they are used and not diffed.
        stack.pulumi("config", "set", "--path", "registryAuth.username", "ci")
        stack.pulumi("config", "set", "--secret", "--path", "registryAuth.password", "first-password")
        stack.pulumi("up", "--yes")
        yield stack


def _resources(stack: LocalStack, type_suffix: str) -> list[dict[str, Any]]:
    return [r for r in stack.resources() if r["type"].endswith(type_suffix)]


def test_a_secret_env_value_is_nowhere_in_the_state_in_plain_text(stack: LocalStack) -> None:
    exported = json.dumps(stack.state())
    assert TOKEN not in exported
    assert "first-password" not in exported
    deployments = [
        r
        for r in _resources(stack, "apps/v1:Deployment")
        if r["inputs"]["metadata"]["labels"].get("app.kubernetes.io/version") == V1
    ]
    assert deployments
    for deployment in deployments:
        env = {e["name"]: e for e in deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "API_TOKEN"
        assert env["LOG_LEVEL"]["value"] == "debug"
    (secret,) = [r for r in _resources(stack, "core/v1:Secret") if r["urn"].endswith(f"::{V1}-env-secret")]
    # The engine stores the Secret's data (the provider turns stringData into data) as ciphertext.
    for part in ("inputs", "outputs"):
        data = {k: v for k, v in secret[part].items() if k in ("data", "stringData")}
        assert data and all("ciphertext" in json.dumps(v) for v in data.values()), data


def test_new_registry_credentials_rebuild_and_push_nothing(stack: LocalStack) -> None:
    stack.pulumi("config", "set", "--secret", "--path", "registryAuth.password", "second-password")
    # `preview --json` lists the steps that change something (and the stack itself).
    changed = [(s["op"], s["urn"].rsplit("::", 1)[1]) for s in stack.preview_steps() if s["op"] not in ("same", "read")]
    assert changed == [], changed
    result = stack.pulumi("up", "--yes")
    assert "Building image" not in result.stdout and "Pushing image" not in result.stdout
    assert "second-password" not in json.dumps(stack.state())


def test_push_credentials_are_not_the_pods_pull_secret(stack: LocalStack) -> None:
    assert not [r for r in _resources(stack, "core/v1:Secret") if r["urn"].endswith("-registry-credentials")]
    for deployment in _resources(stack, "apps/v1:Deployment"):
        assert "imagePullSecrets" not in deployment["inputs"]["spec"]["template"]["spec"]


def test_destroy_keeps_the_namespace(stack: LocalStack) -> None:
    result = stack.pulumi("destroy", "--yes")
    assert [r["type"] for r in stack.resources()] in ([], ["pulumi:pulumi:Stack"])
    # retainOnDelete: the engine drops the Namespace from state without deleting it.
    assert "deployment-namespace" in result.stdout
