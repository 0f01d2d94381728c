"""The everyday workflow against a scratch copy of the local stack, with the real Pulumi CLI and images.

- `preview-summary` on real `pulumi preview --json` output: nothing changed, alias switch, weighted
  split, new version, removed version, and a change that replaces Deployments;
- `version create` / `alias set` editing Pulumi.local.yaml through Pulumi (comments and `secure:`
  values survive; refused changes write nothing);
- `alias set --up` and `version create --up` as targeted updates: only that alias's or version's
  state changes, the outputs stay whole, and a plain preview afterwards finds nothing to do;
- `call` against the real greet-me and predict-digit images, run on loopback ports behind a small
  basic-auth proxy that checks the stack's own htpasswd Secret, as the router would.

Self-contained: the stack renders manifests (target.renderDirectory) whatever Pulumi.local.yaml
deploys to, so no cluster is needed; Docker and the registry are (scripts/services).
Tests run in file order; each leaves the stack's config as the next expects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests.integration.local_stack import (
    LocalStack,
    docker,
    environ_of,
    free_port,
)

pytestmark = pytest.mark.integration

V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
PROJECT = "valohai-deployments"
SAMPLES = Path(__file__).resolve().parents[2] / "example" / "samples"
DEMO_PASSWORD_MARKER = "secure:"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    stack = LocalStack.create(tmp_path_factory.mktemp("workflow"), kubeconfig=None)
    # Render manifests whatever the local stack deploys to, so these tests need no cluster.
    stack.pulumi("config", "rm", "target")
    stack.pulumi("config", "set", "--path", "target.renderDirectory", ".rendered/local")
    stack.pulumi("up", "--yes")
    return stack


def cli(
    stack: LocalStack, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m components ...` in the scratch project (its copy of components is this checkout's)."""
    result = subprocess.run(
        [sys.executable, "-m", "components", *args],
        cwd=stack.project,
        env=env or stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"components {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def create_v3(stack: LocalStack, *extra: str) -> subprocess.CompletedProcess[str]:
    """`version create` of V3 at HEAD with the second model, plus `extra` options."""
    model = "predict-digit.model=example/models/digits-v2.json"
    return cli(stack, "version", "create", "--stack", "local", "--name", V3, "--file", model, *extra)


def summary(stack: LocalStack) -> list[str]:
    """The preview-summary lines of a real `pulumi preview --json` of the stack."""
    preview = stack.pulumi("preview", "--json")
    path = stack.project / "preview.json"
    path.write_text(preview.stdout)
    return cli(stack, "preview-summary", str(path)).stdout.splitlines()


def stack_file(stack: LocalStack) -> str:
    return (stack.project / "Pulumi.local.yaml").read_text()


def test_nothing_changed(stack: LocalStack) -> None:
    lines = summary(stack)
    assert lines[0] == "<!-- valohai-preview-summary:local -->"
    assert lines[1].startswith("### `local`: no changes (")


def test_alias_set_switches_production_and_the_preview_says_so(stack: LocalStack) -> None:
    before = stack_file(stack)
    result = cli(stack, "alias", "set", "--stack", "local", "production", V2)
    assert result.stdout.splitlines() == [
        f"Stack 'local': production: {V1} → {V2}",
        "Next: pulumi preview --stack local   (then: pulumi up --stack local)",
    ]
    after = stack_file(stack)
    assert [line for line in before.splitlines() if line.lstrip().startswith(("#", DEMO_PASSWORD_MARKER))] == [
        line for line in after.splitlines() if line.lstrip().startswith(("#", DEMO_PASSWORD_MARKER))
    ]
    lines = summary(stack)
    assert lines[1].startswith("### `local`: 1 to update (")
    assert f"- **Aliases**: `production`: {V1} → {V2}" in lines
    assert not any("⚠️" in line for line in lines)
    cli(stack, "alias", "set", "--stack", "local", "production", V1)
    assert stack_file(stack) == before


def test_refused_alias_changes_write_nothing(stack: LocalStack) -> None:
    before = stack_file(stack)
    result = cli(stack, "alias", "set", "--stack", "local", "production", f"{V1}=90", f"{V2}=20", check=False)
    assert result.returncode == 1
    assert "  config: aliases.production: weights must sum to 100 (got 110)" in result.stderr
    result = cli(stack, "alias", "set", "--stack", "local", "production", "20990101.0", check=False)
    assert "config: aliases.production: points to version '20990101.0', which is not in versions" in result.stderr
    assert stack_file(stack) == before


def test_a_failing_preview_is_summarized_with_its_errors(stack: LocalStack) -> None:
    stack.pulumi("config", "set", "--path", "aliases.production", "20990101.0")
    try:
        preview = stack.pulumi("preview", "--json", check=False)
        assert preview.returncode != 0
        path = stack.project / "preview.json"
        path.write_text(preview.stdout)
        lines = cli(stack, "preview-summary", str(path)).stdout.splitlines()
        assert lines[1] == "### `local`: the preview failed"
        assert any(
            "aliases.production: points to version '20990101.0', which is not in versions" in line for line in lines
        )
    finally:
        stack.pulumi("config", "set", "--path", "aliases.production", V1)


def test_weighted_split(stack: LocalStack) -> None:
    cli(stack, "alias", "set", "--stack", "local", "production", f"{V1}=90", f"{V2}=10")
    try:
        lines = summary(stack)
        assert f"- **Aliases**: `production`: {V1} → {V1} 90% / {V2} 10%" in lines
        # Gateway routing: the split is an in-place update of the alias's HTTPRoute, nothing new.
        assert lines[1].startswith("### `local`: 1 to update (")
        listed = cli(stack, "alias", "list", "--stack", "local").stdout.splitlines()
        assert listed == [f"production  {V1} 90% / {V2} 10%", f"staging     {V2}"]
    finally:
        cli(stack, "alias", "set", "--stack", "local", "production", V1)


def test_version_create_adds_a_version_and_the_preview_lists_its_images(stack: LocalStack) -> None:
    before = stack_file(stack)
    missing = cli(stack, "version", "create", "--stack", "local", "--name", V3, check=False)
    assert missing.returncode == 1
    assert "--file predict-digit.model=SOURCE" in missing.stderr
    assert stack_file(stack) == before

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=stack.project, capture_output=True, text=True, check=True
    ).stdout.strip()
    result = create_v3(stack, "--env", "WORKERS=2")
    assert f"Stack 'local': added version {V3}" in result.stdout
    assert f"  commit     {head} (HEAD)" in result.stdout
    assert "Next: pulumi preview --stack local" in result.stdout
    config = json.loads(stack.pulumi("config", "--json").stdout)[f"{PROJECT}:versions"]["objectValue"]
    assert config[V3] == {
        "commit": head,
        "env": {"WORKERS": "2"},  # a string: --path would have made it a number
        "files": {"predict-digit": {"model": "example/models/digits-v2.json"}},
    }
    after = stack_file(stack)
    kept = [line for line in before.splitlines() if line.lstrip().startswith(("#", DEMO_PASSWORD_MARKER))]
    assert kept and all(line in after.splitlines() for line in kept)
    try:
        lines = summary(stack)
        assert f"- **Versions added**: {V3}" in lines
        images = lines[lines.index("- **Images to build**:") + 1 :][:2]
        assert all(line.startswith(f"  - `127.0.0.1:5000/{stack.registry_path}/local:{V3}-") for line in images)
        # What goes into the new version's image, for the reviewer; the unchanged versions are not listed.
        model = stack.project / "example" / "models" / "digits-v2.json"
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
        assert (
            f"- **Files in images**: `{V3}`: `predict-digit.model` ← `example/models/digits-v2.json (sha256 {digest})`"
            in lines
        )
        assert not any("⚠️" in line for line in lines)
    finally:
        stack.pulumi("config", "rm", "--path", f'versions["{V3}"]')


def test_removed_version_warns_about_what_stops_serving(stack: LocalStack) -> None:
    cli(stack, "alias", "set", "--stack", "local", "staging", V1)
    stack.pulumi("config", "rm", "--path", f'versions["{V2}"]')
    try:
        lines = summary(stack)
        assert f"- **Versions removed**: {V2}" in lines
        assert f"- **Aliases**: `staging`: {V2} → {V1}" in lines
        warnings = sorted(line.split(" (")[0].split(" `")[0] for line in lines if line.startswith("- ⚠️"))
        # Both endpoints' Deployments and Services, and the version's HTTPRoute.
        assert warnings == ["- ⚠️ **delete** 2 Deployments", "- ⚠️ **delete** 2 Services", "- ⚠️ **delete** HTTPRoute"]
    finally:
        stack.pulumi(
            "config", "set", "--path", f'versions["{V2}"].files.predict-digit.model', "example/models/digits-v2.json"
        )
        cli(stack, "alias", "set", "--stack", "local", "staging", V2)
    assert summary(stack)[1].startswith("### `local`: no changes (")


def _state(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """URN -> the inputs, outputs and parent state holds for it."""
    exported = json.loads(stack.pulumi("stack", "export", "--show-secrets").stdout)
    return {
        r["urn"]: {key: r.get(key) for key in ("inputs", "outputs", "parent")}
        for r in exported["deployment"]["resources"]
    }


# What every update may change: the stack's and the deployment component's outputs, and the
# default provider of dynamic resources, whose inputs are the stack's config.
_EVERY_UPDATE = ("::pulumi:pulumi:Stack::", "::valohai:index:Deployment::", "::pulumi:providers:pulumi-python::")


def _every_update(urn: str) -> bool:
    return any(part in urn for part in _EVERY_UPDATE)


def _changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> set[str]:
    """Resources whose state changed, less those every update may change."""
    return {urn for urn in before.keys() & after.keys() if before[urn] != after[urn] and not _every_update(urn)}


def test_alias_set_up_updates_the_alias_alone_and_keeps_the_rest_of_the_stack(stack: LocalStack) -> None:
    """A targeted update declares only the alias (stacks/targets.py): every other resource stays
    as state holds it, the outputs stay whole, and a plain preview then finds nothing to do."""
    before, outputs = _state(stack), stack.outputs()
    moved = cli(stack, "alias", "set", "--stack", "local", "production", V2, "--up")
    try:
        assert "pulumi up --target <the route objects of production>" in moved.stdout + moved.stderr
        after = _state(stack)
        assert after.keys() == before.keys()
        changed = _changed(before, after)
        route = next(
            u for u in changed if u.endswith("$kubernetes:gateway.networking.k8s.io/v1:HTTPRoute::production-route")
        )
        assert all(u.endswith("::production") or u == route for u in changed), changed
        assert stack.outputs() == outputs | {"aliases": outputs["aliases"] | {"production": V2}}
        assert summary(stack)[1].startswith("### `local`: no changes (")
    finally:
        cli(stack, "alias", "set", "--stack", "local", "production", V1, "--up")
    assert _changed(before, _state(stack)) == set()
    assert summary(stack)[1].startswith("### `local`: no changes (")


def test_version_create_up_deploys_the_new_version_alone(stack: LocalStack) -> None:
    before, outputs = _state(stack), stack.outputs()
    created = create_v3(stack, "--up")
    try:
        assert f"==> pulumi up of version {V3} only" in created.stdout
        after = _state(stack)
        added = after.keys() - before.keys()
        assert before.keys() <= after.keys()
        assert added and all("$valohai:index:DeploymentVersion" in u for u in added), added
        assert any(u.endswith(f"$valohai:index:DeploymentVersion::{V3}") for u in added)
        assert _changed(before, after) == set()
        now = stack.outputs()
        assert set(now["images"]) == {*outputs["images"], V3}
        assert {v: now["images"][v] for v in outputs["images"]} == outputs["images"]
        assert set(now["versionUrls"]) == {*outputs["versionUrls"], V3}
        assert summary(stack)[1].startswith("### `local`: no changes (")
    finally:
        stack.pulumi("config", "rm", "--path", f'versions["{V3}"]')
        stack.pulumi("up", "--yes", "--skip-preview")
    assert _state(stack).keys() == before.keys()


def test_a_namespace_change_replaces_deployments_and_warns(stack: LocalStack) -> None:
    stack.pulumi("config", "set", "--path", "target.namespace", "mnist-moved")
    try:
        lines = summary(stack)
        deployments = next(line for line in lines if line.startswith("- ⚠️ **replace** 4 Deployments (`"))
        assert "`mnist-local-greet-me-20181002-0-" in deployments
        assert deployments.endswith("serves traffic; its pods are recreated (requests fail until new pods are ready)")
        assert (
            "- ⚠️ **replace** Namespace `mnist-moved`: serves traffic; everything in it is deleted and created again"
            in lines
        )
        rolls = lines[lines.index("- **Deployments that roll**:") + 1 :][:4]
        assert all(line.startswith("  - `") and "(replace" in line for line in rolls), rolls
        assert "to replace" in lines[1]
    finally:
        stack.pulumi("config", "rm", "--path", "target.namespace")


def test_the_summary_holds_no_secret(stack: LocalStack) -> None:
    password = stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip()
    assert password
    preview = stack.pulumi("preview", "--json", "--diff")
    path = stack.project / "preview.json"
    path.write_text(preview.stdout)
    text = cli(stack, "preview-summary", str(path)).stdout
    assert password not in text


# --- call ------------------------------------------------------------------------------------------


class _AuthProxy(BaseHTTPRequestHandler):
    """What the router does in front of an endpoint: basic auth from the stack's htpasswd Secret."""

    htpasswd: dict[str, str]
    upstream: int

    def _handle(self) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="acme/mnist"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.upstream}{self.path}", data=body, method=self.command, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, reply, content_type = response.status, response.read(), response.headers["Content-Type"]
        except urllib.error.HTTPError as err:
            status, reply, content_type = err.code, err.read(), err.headers["Content-Type"]
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = _handle

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        expected = self.htpasswd.get(user)
        if expected is None:
            return False
        return bool(bcrypt.checkpw(password.encode(), expected.encode()))

    def log_message(self, *args: Any) -> None:
        pass


def _htpasswd(stack: LocalStack) -> dict[str, str]:
    secret = next(
        m
        for m in stack.manifests()
        if m["kind"] == "Secret" and m["metadata"]["labels"].get("app.kubernetes.io/component") == "basic-auth"
    )
    if secret.get("stringData"):
        text = next(iter(secret["stringData"].values()))
    else:
        text = base64.b64decode(next(iter(secret["data"].values()))).decode()
    return dict(line.split(":", 1) for line in text.splitlines())


@pytest.fixture(scope="module")
def router(stack: LocalStack) -> Iterator[dict[str, str]]:
    """Endpoint -> base URL of V1's container behind a basic-auth proxy, each on its own loopback port."""
    names, servers, bases = [], [], {}
    try:
        for deployment in (m for m in stack.manifests() if m["kind"] == "Deployment"):
            labels = deployment["metadata"]["labels"]
            if labels["app.kubernetes.io/version"] != V1:
                continue
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            port = free_port()
            env = environ_of(deployment) | {"PORT": str(port), "VH_BIND_HOST": "127.0.0.1"}
            name = f"it-{uuid.uuid4().hex[:8]}"
            docker(
                "run",
                "-d",
                "--rm",
                "--name",
                name,
                "--network",
                "host",
                *[f"--env={k}={v}" for k, v in env.items()],
                "--entrypoint",
                container["command"][0],
                container["image"],
                *container["command"][1:],
            )
            names.append(name)
            handler = type("Proxy", (_AuthProxy,), {"htpasswd": _htpasswd(stack), "upstream": port})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            bases[labels["app.kubernetes.io/name"]] = f"http://127.0.0.1:{server.server_address[1]}"
            _wait_for(port)
        yield bases
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for name in names:
            docker("rm", "-f", name, check=False)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered on 127.0.0.1:{port} within 60 s")


def test_call_greet_me_with_a_query_and_a_form(stack: LocalStack, router: dict[str, str]) -> None:
    url = router["greet-me"]
    result = cli(
        stack, "call", "--stack", "local", "production", "greet-me", "hello", "--query", "name=Ada", "--url", url
    )
    out = result.stdout.splitlines()
    assert out[0].startswith("HTTP 200 OK")
    assert "Content-Type: application/json" in out
    body = json.loads(result.stdout.split("\n\n", 1)[1])
    assert body["greeting"] == "Hello, Ada!"
    assert body["path"] == "/acme/mnist/local/production/greet-me/hello"
    assert "(as alice)" in result.stderr  # credentials came from the stack's config
    form = cli(stack, "call", "--stack", "local", V1, "greet-me", "--field", "name=Grace", "--url", url)
    assert json.loads(form.stdout.split("\n\n", 1)[1])["greeting"] == "Hello, Grace!"


@pytest.mark.parametrize("digit", [3, 7])
def test_call_predict_digit_with_a_file_upload(stack: LocalStack, router: dict[str, str], digit: int) -> None:
    sample = SAMPLES / f"digit-{digit}.png"
    result = cli(
        stack,
        "call",
        "--stack",
        "local",
        "production",
        "predict-digit",
        "--file",
        f"image=@{sample}",
        "--url",
        router["predict-digit"],
    )
    assert result.stdout.startswith("HTTP 200 OK")
    assert json.loads(result.stdout.split("\n\n", 1)[1])["digit"] == digit


def test_call_with_a_wrong_password_says_so(stack: LocalStack, router: dict[str, str]) -> None:
    result = cli(
        stack,
        "call",
        "--stack",
        "local",
        "production",
        "greet-me",
        "--user",
        "alice:wrong",
        "--url",
        router["greet-me"],
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP 401 Unauthorized")
    assert "error: 401 Unauthorized: the endpoint refused user 'alice'; check basicAuth.alice" in result.stderr


def test_call_errors_name_the_problem(stack: LocalStack, router: dict[str, str]) -> None:
    unknown = cli(stack, "call", "--stack", "local", "prod", "greet-me", "--url", router["greet-me"], check=False)
    assert unknown.returncode == 1
    assert (
        "error: 'prod' is neither an alias nor a version of stack 'local'; aliases: production, staging"
        in unknown.stderr
    )
    endpoint = cli(stack, "call", "--stack", "local", "production", "greet", "--url", router["greet-me"], check=False)
    assert "'production' serves no endpoint 'greet'; its endpoints: greet-me, predict-digit" in endpoint.stderr
    refused = cli(
        stack, "call", "--stack", "local", V1, "greet-me", "--url", f"http://127.0.0.1:{free_port()}", check=False
    )
    assert refused.returncode == 1
    assert "connection refused by 127.0.0.1:" in refused.stderr
    no_passphrase = {k: v for k, v in stack.env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    locked = cli(
        stack, "call", "--stack", "local", V1, "greet-me", "--url", router["greet-me"], check=False, env=no_passphrase
    )
    assert locked.returncode == 1
    assert "cannot decrypt basicAuth.alice of stack 'local': set PULUMI_CONFIG_PASSPHRASE" in locked.stderr, (
        locked.stderr
    )
