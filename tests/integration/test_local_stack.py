"""The local stack with the real engine: builds, pushes, renders, serves, and config edits.

Tests run in file order against one scratch stack; each leaves it as the next expects.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.harness import ROOT, git
from tests.integration.local_stack import (
    LocalStack,
    docker,
    environ_of,
    free_port,
    missing_tools,
    registry_digest,
    registry_tags,
    tool_environment,
)

pytestmark = pytest.mark.integration

V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
PREFIX = "/acme/mnist/local"
SAMPLES = ROOT / "example" / "samples"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    missing = missing_tools(tool_environment())
    assert not missing, f"missing {missing}: run scripts/setup (it builds the toolchain and starts the services)"
    return LocalStack.create(tmp_path_factory.mktemp("local-stack"))


def _changed_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in steps if s["op"] not in ("same", "read")]


def _name(step: dict[str, Any]) -> str:
    return str(step["urn"].rsplit("::", 1)[1])


def test_preview_and_up_succeed(stack: LocalStack) -> None:
    steps = stack.preview_steps()
    assert any(s["op"] == "create" and s["urn"].endswith(f"::{V1}-ingress") for s in steps)
    stack.pulumi("up", "--yes")
    outputs = stack.outputs()
    assert outputs["aliases"] == {"production": V1, "staging": V2}
    assert (
        outputs["aliasUrls"]["production"]["predict-digit"]
        == f"http://models.localhost{PREFIX}/production/predict-digit/"
    )


def test_images_are_in_the_registry_and_deployments_use_their_digests(stack: LocalStack) -> None:
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


def test_rendered_manifests_pass_the_kubernetes_schema(stack: LocalStack) -> None:
    manifests = stack.manifests()
    kinds = sorted({m["kind"] for m in manifests})
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Namespace",
        "NetworkPolicy",
        "Secret",
        "Service",
    ]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.32", strict=True)


@pytest.fixture(scope="module")
def served(stack: LocalStack) -> Iterator[dict[tuple[str, str], int]]:
    """Every version/endpoint container, run as the Deployment would, on its own loopback port."""
    ports: dict[tuple[str, str], int] = {}
    names = []
    try:
        for deployment in (m for m in stack.manifests() if m["kind"] == "Deployment"):
            labels = deployment["metadata"]["labels"]
            key = (labels["app.kubernetes.io/version"], labels["app.kubernetes.io/name"])
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            port = free_port()
            env = environ_of(deployment) | {"PORT": str(port), "VH_BIND_HOST": "127.0.0.1"}
            name = f"it-{uuid.uuid4().hex[:8]}"
            flags = [f"--env={k}={v}" for k, v in env.items()]
            docker(
                "run",
                "-d",
                "--rm",
                "--name",
                name,
                "--network",
                "host",
                *flags,
                "--entrypoint",
                container["command"][0],
                container["image"],
                *container["command"][1:],
            )
            names.append(name)
            ports[key] = port
        for key, port in ports.items():
            _wait_for(port, key)
        yield ports
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)


def _wait_for(port: int, key: tuple[str, str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{key} did not answer on 127.0.0.1:{port} within 60 s")


def _request(
    port: int,
    path: str,
    *,
    prefix: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    headers = {}
    if prefix:
        headers["X-VH-Prefix"] = prefix  # what the ingress sets
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=20) as response:
        return dict(json.load(response))


def _multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("route", [V1, "production"])
def test_greet_me_answers_under_version_and_alias(served: dict[tuple[str, str], int], route: str) -> None:
    prefix = f"{PREFIX}/{route}/greet-me"
    reply = _request(served[(V1, "greet-me")], f"{prefix}/hello?name=Ada", prefix=prefix)
    assert reply == {"greeting": "Hello, Ada!", "path": f"{prefix}/hello", "prefix": prefix}
    form = _request(
        served[(V1, "greet-me")],
        f"{prefix}/",
        prefix=prefix,
        method="POST",
        body=b"name=Grace",
        content_type="application/x-www-form-urlencoded",
    )
    assert form["greeting"] == "Hello, Grace!"


def test_greet_me_without_header_falls_back_to_the_default_prefix(served: dict[tuple[str, str], int]) -> None:
    reply = _request(served[(V2, "greet-me")], f"{PREFIX}/{V2}/greet-me/")
    assert reply["prefix"] == f"{PREFIX}/{V2}/greet-me"


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("digit", [0, 3, 7, 9])
def test_predict_digit_predicts_uploaded_samples(served: dict[tuple[str, str], int], version: str, digit: int) -> None:
    prefix = f"{PREFIX}/{version}/predict-digit"
    body, content_type = _multipart("image", f"digit-{digit}.png", (SAMPLES / f"digit-{digit}.png").read_bytes())
    method = "PUT" if digit % 2 else "POST"
    reply = _request(
        served[(version, "predict-digit")],
        f"{prefix}/",
        prefix=prefix,
        method=method,
        body=body,
        content_type=content_type,
    )
    assert reply["digit"] == digit


@pytest.mark.parametrize(("route", "header"), [("production", True), ("staging", False), (V1, False)])
def test_wsgi_app_routes_under_the_prefix_used(served: dict[tuple[str, str], int], route: str, header: bool) -> None:
    prefix = f"{PREFIX}/{route}/predict-digit"
    reply = _request(served[(V1, "predict-digit")], f"{prefix}/", prefix=prefix if header else None)
    assert reply["script_root"] == prefix
    assert _request(served[(V1, "predict-digit")], f"{prefix}/health")["ok"] is True


def test_second_up_changes_nothing_and_builds_nothing(stack: LocalStack) -> None:
    before = stack.state()["deployment"]["resources"]
    result = stack.pulumi("up", "--yes", "--expect-no-changes")
    assert "Building" not in result.stdout
    after = stack.state()["deployment"]["resources"]
    assert _image_digests(after) == _image_digests(before)


def _image_digests(resources: list[dict[str, Any]]) -> dict[str, str]:
    return {r["urn"]: r["outputs"]["repoDigest"] for r in resources if r["type"] == "docker:index/image:Image"}


def _alias_backend(stack: LocalStack, alias: str) -> str:
    ingress = stack.manifest("Ingress", f"alias-{alias}-")
    return str(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])


def test_switching_an_alias_touches_only_alias_routing_and_rolls_back(stack: LocalStack) -> None:
    before = _alias_backend(stack, "production")
    assert before.startswith("greet-me-20181002-0-")
    stack.pulumi("config", "set", "--path", "aliases.production", V2)
    changed = _changed_steps(stack.preview_steps())
    assert [(s["op"], _name(s)) for s in changed] == [("update", "production-ingress")]
    stack.pulumi("up", "--yes")
    assert _alias_backend(stack, "production").startswith("greet-me-20181003-0-")
    assert stack.outputs()["aliases"]["production"] == V2

    stack.pulumi("config", "set", "--path", "aliases.production", V1)
    changed = _changed_steps(stack.preview_steps())
    assert [(s["op"], _name(s)) for s in changed] == [("update", "production-ingress")]
    stack.pulumi("up", "--yes")
    assert _alias_backend(stack, "production") == before


def test_adding_a_version_builds_exactly_its_images(stack: LocalStack) -> None:
    stack.pulumi(
        "config", "set", "--path", f'versions["{V3}"].files.predict-digit.model', "example/models/digits-v2.json"
    )
    changed = _changed_steps(stack.preview_steps())
    assert {s["op"] for s in changed} == {"create"}
    created = {(s["newState"]["type"], _name(s)) for s in changed}
    images = {name for typ, name in created if typ == "docker:index/image:Image"}
    assert len(images) == 2 and all(name.startswith(f"{V3}-") for name in images)
    assert all(name.startswith(V3) for _, name in created)
    stack.pulumi("up", "--yes")
    tags = registry_tags(f"{stack.registry_path}/local")
    assert len([t for t in tags if t.startswith(f"{V3}-")]) == 2
    assert len(stack.outputs()["versionUrls"][V3]) == 2


def test_broken_valohai_yaml_fails_preview_and_changes_nothing(stack: LocalStack) -> None:
    before = stack.resources()
    valohai = stack.project / "example" / "valohai.yaml"
    valohai.write_text(valohai.read_text().replace("port: 8000", "port: 80"))
    git(stack.project, "commit", "-qam", "break valohai.yaml")
    try:
        result = stack.pulumi("preview", check=False)
        assert result.returncode != 0
        assert "example/valohai.yaml@" in result.stdout + result.stderr
        assert "endpoint 'greet-me': port: must be >= 1025 (got 80)" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        result = stack.pulumi("up", "--yes", check=False)
        assert result.returncode != 0
    finally:
        git(stack.project, "reset", "-q", "--hard", "HEAD~1")
    assert stack.resources() == before


def test_bad_alias_fails_preview_and_changes_nothing(stack: LocalStack) -> None:
    before = stack.resources()
    stack.pulumi("config", "set", "--path", "aliases.production", "20990101.0")
    try:
        result = stack.pulumi("up", "--yes", check=False)
        assert result.returncode != 0
        assert "aliases.production: points to version '20990101.0', which is not in versions" in result.stdout
    finally:
        stack.pulumi("config", "set", "--path", "aliases.production", V1)
    assert stack.resources() == before


def test_destroy_removes_everything(stack: LocalStack) -> None:
    stack.pulumi("destroy", "--yes")
    assert [r["type"] for r in stack.resources()] in ([], ["pulumi:pulumi:Stack"])
    leftovers = [p for p in Path(stack.render_dir).rglob("*") if p.is_file()] if stack.render_dir.exists() else []
    # The Namespace is retained on destroy (README, Security notes), so its manifest stays.
    assert [p.name for p in leftovers if "-namespace-" not in p.name] == []
