"""A scratch copy of the project with its own state, registry path, namespace and host.

Integration tests drive it with the real Pulumi CLI, providers, Docker, registry and the local
Kubernetes cluster (scripts/services), so they never touch the developer's own `local` stack.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness import ROOT, git

PASSPHRASE = "local-stack"
COPIED = (
    "Pulumi.yaml",
    "Pulumi.local.yaml",
    "Pulumi.americas.yaml",
    "Pulumi.europe.yaml",
    "__main__.py",
    "components",
    "example",
    "requirements.txt",
)
REGISTRY = "127.0.0.1:5000"
# Every kind of object the program makes in a namespace (for `kubectl get`); tests that compare the
# cluster with the state check that the state holds no other kind.
OWNED = {
    "Deployment": "deployments",
    "Service": "services",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Secret": "secrets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "HTTPRoute": "httproutes.gateway.networking.k8s.io",
    "Middleware": "middlewares.traefik.io",
}
OWNED_KINDS = ",".join(OWNED.values())
# Written by scripts/services start; git-ignored.
KUBECONFIG = ROOT / "kubeconfigs" / "local.yaml"


def tool_environment() -> dict[str, str]:
    """What scripts/env.sh sets, so the tests also run from a plain `pytest`."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/env.sh && env -0"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def missing_tools(env: dict[str, str]) -> list[str]:
    path = env["PATH"]
    tools = [
        "pulumi",
        "pulumi-language-python",
        "pulumi-resource-kubernetes",
        "pulumi-resource-docker",
        "docker",
        "kubectl",
    ]
    return [tool for tool in tools if shutil.which(tool, path=path) is None]


def kubectl(env: dict[str, str], *args: str, kubeconfig: Path = KUBECONFIG, check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


@dataclass(frozen=True)
class Baseline:
    """What a stack's deployment is made from: its config file and its code's commit."""

    stack_file: str
    head: str


@dataclass
class LocalStack:
    project: Path
    env: dict[str, str]
    registry_path: str
    stack_name: str = "local"
    namespace: str = ""
    host: str = ""
    kubeconfig: Path = KUBECONFIG
    # Set by a successful `up` or `destroy`: the cluster may no longer match the baseline.
    applied: bool = False

    @classmethod
    def create(
        cls,
        tmp: Path,
        *,
        stack_name: str = "local",
        kubeconfig: Path | None = KUBECONFIG,
        config: dict[str, str] | None = None,
    ) -> LocalStack:
        """A scratch stack deploying to `kubeconfig` in a namespace and host of its own.

        `kubeconfig=None` keeps the stack file's target; `config` sets more keys (--path syntax).
        """
        missing = missing_tools(tool_environment())
        assert not missing, f"missing {missing}: run scripts/setup (it builds the toolchain and starts the services)"
        project = tmp / "project"
        project.mkdir()
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, project / name)
        (project / ".venv").symlink_to(ROOT / ".venv")
        (project / ".gitignore").write_text(".venv\n.build/\n.rendered/\n.state/\n")
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "scratch copy")
        (project / ".state").mkdir()
        env = tool_environment() | {
            "PULUMI_BACKEND_URL": f"file://{project / '.state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        }
        scratch = f"it-{uuid.uuid4().hex[:8]}"
        stack = cls(project, env, f"{scratch}/mnist", stack_name=stack_name)
        stack.pulumi("stack", "init", "--secrets-provider", "passphrase")
        stack.pulumi("config", "set", "registry", f"{REGISTRY}/{stack.registry_path}")
        if kubeconfig is not None:
            stack.kubeconfig = kubeconfig
            stack.namespace = scratch
            # A host of its own: scratch stacks share the router, and equal paths on one host
            # would be decided by the Gateway's conflict rules instead of by the test.
            stack.host = f"{scratch}.models.localhost"
            stack.pulumi("config", "set", "--path", "target.kubeconfig", str(kubeconfig))
            stack.pulumi("config", "set", "--path", "target.namespace", scratch)
            stack.pulumi("config", "set", "host", stack.host)
        for key, value in (config or {}).items():
            stack.pulumi("config", "set", "--path", key, value)
        return stack

    @classmethod
    @contextlib.contextmanager
    def scratch(cls, tmp: Path, **options: Any) -> Iterator[LocalStack]:
        """`create`, and `teardown` when the block ends, however it ends."""
        stack = cls.create(tmp, **options)
        try:
            yield stack
        finally:
            stack.teardown()

    @property
    def stack_file(self) -> Path:
        return self.project / f"Pulumi.{self.stack_name}.yaml"

    def baseline(self) -> Baseline:
        self.applied = False
        return Baseline(self.stack_file.read_text(), git(self.project, "rev-parse", "HEAD").strip())

    def restore(self, baseline: Baseline) -> None:
        """Config and code as at `baseline`, and the cluster converged to them when a test changed it.

        Lets every test of a module run alone or in any order: each starts from the deployed baseline.
        """
        # The code first: the stack file is tracked too, and a reset would put back the copy's
        # original (the scratch stack's kubeconfig, namespace and host are set after that commit).
        if git(self.project, "rev-parse", "HEAD").strip() != baseline.head:
            git(self.project, "reset", "-q", "--hard", baseline.head)
        if self.stack_file.read_text() != baseline.stack_file:
            self.stack_file.write_text(baseline.stack_file)
        # A failed `up` changes nothing (the program checks before declaring); a successful one may have.
        if self.applied:
            self.pulumi("up", "--yes", "--skip-preview")
        self.applied = False

    def teardown(self) -> None:
        """Leave nothing of the scratch stack in the cluster, whatever state a failed test left.

        `pulumi destroy` keeps the namespace (it is retained on delete), so it is deleted here too.
        """
        self.pulumi("destroy", "--yes", "--skip-preview", check=False)
        if self.namespace:
            self.kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false", check=False)

    def kubectl(self, *args: str, check: bool = True) -> str:
        return kubectl(self.env, *args, kubeconfig=self.kubeconfig, check=check)

    def inventory(self, *, selector: str | None = None) -> dict[str, str]:
        """kind/name -> what a change by `pulumi up` would move, for every owned object in the namespace.

        `generation` counts changes of an object's spec only; controllers' status writes (a Deployment
        replacing a pod, an HPA's reading, a router's route status) bump `resourceVersion` alone.
        Kinds without a spec (Secrets) have no generation; their resourceVersion moves with their data.
        """
        args = ["get", OWNED_KINDS, "-n", self.namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return {
            f"{i['kind']}/{i['metadata']['name']}": _change_mark(i) for i in json.loads(self.kubectl(*args))["items"]
        }

    def objects(self, kind: str, *, selector: str | None = None) -> list[dict[str, Any]]:
        """Live objects of `kind` in the stack's namespace."""
        args = ["get", kind, "-n", self.namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args))["items"])

    def pulumi(self, *args: str, check: bool = True, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--stack", self.stack_name, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if args and args[0] in ("up", "destroy") and result.returncode == 0:
            self.applied = True
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def preview_steps(self) -> list[dict[str, Any]]:
        result = self.pulumi("preview", "--json")
        return list(json.loads(result.stdout).get("steps", []))

    def state(self) -> dict[str, Any]:
        exported: dict[str, Any] = json.loads(self.pulumi("stack", "export").stdout)
        return exported

    def resources(self) -> list[dict[str, Any]]:
        return list(self.state()["deployment"].get("resources") or [])

    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.pulumi("stack", "output", "--json").stdout))

    @property
    def render_dir(self) -> Path:
        return self.project / ".rendered" / "local"

    def manifests(self) -> list[dict[str, Any]]:
        documents = []
        for path in sorted(self.render_dir.rglob("*.yaml")):
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
        return documents

    def manifest(self, kind: str, name_prefix: str) -> dict[str, Any]:
        matches = [m for m in self.manifests() if m["kind"] == kind and m["metadata"]["name"].startswith(name_prefix)]
        assert len(matches) == 1, f"{kind} {name_prefix}*: {[m['metadata']['name'] for m in matches]}"
        return matches[0]


def _change_mark(item: dict[str, Any]) -> str:
    """uid@version, where the version moves with what `pulumi up` changes. A Deployment's generation
    also moves when its HPA scales it (spec.replicas), so its rollout revision counts instead."""
    metadata = item["metadata"]
    if item["kind"] == "Deployment":
        version = (metadata.get("annotations") or {}).get("deployment.kubernetes.io/revision", "")
    else:
        version = metadata.get("generation") or metadata["resourceVersion"]
    return f"{metadata['uid']}@{version}"


def registry_tags(repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{REGISTRY}/v2/{repository}/tags/list", timeout=10) as response:
        return list(json.load(response).get("tags") or [])


def registry_digest(repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=300).stdout


def environ_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", [])}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def services_dir() -> Path:
    """Where scripts/services keeps pids, logs and cluster state (as scripts/env.sh computes it)."""
    env = tool_environment()
    cache = env.get("VALOHAI_DEPLOY_CACHE") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache"))
    return Path(cache) if env.get("VALOHAI_DEPLOY_CACHE") else Path(cache) / "valohai-deployments"


def services(*args: str) -> str:
    """Run scripts/services (start is idempotent: it brings back whatever is down)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "services"), *args], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"scripts/services {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def service_processes(prefix: str = "") -> dict[int, str]:
    """pid -> service id of every live process scripts/services started (and what they spawned)
    under this cache dir, whose id starts with `prefix` (e.g. `cluster/second/`).

    Read from the markers each daemon carries in its environment (scripts/lib/daemon.sh), not
    from pid files.
    """
    home = str(services_dir())
    found = {}
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = dict(
                item.split("=", 1) for item in environ.read_bytes().decode(errors="replace").split("\0") if "=" in item
            )
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        service = variables.get("VALOHAI_SERVICE")
        if service and variables.get("VALOHAI_SERVICE_HOME") == home and service.startswith(prefix):
            found[int(environ.parent.name)] = service
    return found


def processes_mentioning(text: str, command: str) -> list[int]:
    """pids of live processes running `command` whose command line holds `text` (markers or not)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace")
            comm = (cmdline.parent / "comm").read_text().strip()
        except OSError:
            continue
        if comm == command and text in args:
            pids.append(int(cmdline.parent.name))
    return pids


def services_status() -> subprocess.CompletedProcess[str]:
    """`scripts/services status` (exit 0 when every service is up)."""
    return subprocess.run(
        [str(ROOT / "scripts" / "services"), "status"], capture_output=True, text=True, timeout=120, check=False
    )
