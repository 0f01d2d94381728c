"""Render mode: a target of {renderDirectory} writes manifests instead of deploying.

For previews and reviews without any cluster: the real engine builds and pushes the images,
and the manifests it writes are what a cluster would get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.integration.local_stack import (
    LocalStack,
    registry_digest,
    registry_tags,
)

pytestmark = pytest.mark.integration

BUILT_IN = {"Deployment", "HorizontalPodAutoscaler", "Ingress", "Namespace", "Secret", "Service", "NetworkPolicy"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    stack = LocalStack.create(tmp_path_factory.mktemp("render-stack"), kubeconfig=None)
    stack.pulumi("config", "rm", "target")
    stack.pulumi("config", "set", "--path", "target.renderDirectory", ".rendered/local")
    stack.pulumi("up", "--yes")
    return stack


def test_up_renders_manifests_and_pushes_images(stack: LocalStack) -> None:
    kinds = {m["kind"] for m in stack.manifests()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
    assert not (Path(stack.project) / "kubeconfigs").exists(), "render mode needs no cluster"


def test_rendered_deployments_use_the_pushed_digests(stack: LocalStack) -> None:
    repository = f"{stack.registry_path}/local"
    pushed = {tag: registry_digest(repository, tag) for tag in registry_tags(repository)}
    images = stack.outputs()["images"]
    deployments = [m for m in stack.manifests() if m["kind"] == "Deployment"]
    assert len(deployments) == 4
    for deployment in deployments:
        labels = deployment["metadata"]["labels"]
        version = labels["app.kubernetes.io/version"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        name, digest = image.split("@")
        assert name == f"127.0.0.1:5000/{repository}"
        # Identical content under two versions' tags may share one digest; this version's tag must be there.
        tags = [tag for tag, pushed_digest in pushed.items() if pushed_digest == digest]
        assert any(tag.startswith(f"{version}-") for tag in tags), (image, pushed)
        assert images[version][labels["app.kubernetes.io/name"]] == image


def test_rendered_built_in_kinds_pass_the_kubernetes_schema(stack: LocalStack) -> None:
    manifests: list[dict[str, Any]] = [m for m in stack.manifests() if m["kind"] in BUILT_IN]
    assert manifests
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.32", strict=True)


def test_second_up_changes_nothing_and_builds_nothing(stack: LocalStack) -> None:
    result = stack.pulumi("up", "--yes", "--expect-no-changes")
    assert "Building" not in result.stdout


def test_destroy_removes_every_manifest(stack: LocalStack) -> None:
    stack.pulumi("destroy", "--yes")
    leftovers = [p for p in stack.render_dir.rglob("*") if p.is_file()] if stack.render_dir.exists() else []
    # The namespace is retained on delete (README, "Security notes"): its manifest is all that stays.
    assert [yaml.safe_load(p.read_text())["kind"] for p in leftovers] == ["Namespace"]
