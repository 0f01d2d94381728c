"""Run the real program (__main__.py) under Pulumi mocks and record what it declares."""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
PROJECT = "valohai-deployments"
V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
# __main__.py imports `components` from the project root, wherever the fixture project lives.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SECRET_KEYS = ("basicAuth", "registryAuth", "registryPullAuth")

from components.inputs import naming  # noqa: E402  (needs ROOT on sys.path)
from components.resources import ownership  # noqa: E402
from components.resources.digest_key import DigestKey, DigestKeyProvider  # noqa: E402
from components.resources.htpasswd import HtpasswdLine, HtpasswdProvider  # noqa: E402

# The scope of `base_config` run as stack `test`.
BASE_SCOPE = naming.Scope("acme", "mnist", "test")
HTPASSWD_TYPE = f"pulumi-python:{HtpasswdLine._resource_type_name}"
DIGEST_KEY_TYPE = f"pulumi-python:{DigestKey._resource_type_name}"
# Dynamic providers run for real under the mocks, as the engine would run them.
DYNAMIC_PROVIDERS: dict[str, Any] = {HTPASSWD_TYPE: HtpasswdProvider, DIGEST_KEY_TYPE: DigestKeyProvider}


SECRET_SIG = "4dabf18193072939515e22adb298388d"


@dataclass
class Declared:
    typ: str
    name: str
    inputs: dict[str, Any]
    secret_fields: set[str] = field(default_factory=set)


def unwrap_secrets(value: Any, path: str, found: set[str]) -> Any:
    """Mocks see secrets as signed envelopes; keep the value, remember where secrets were."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            found.add(path)
            return unwrap_secrets(value["value"], path, found)
        return {k: unwrap_secrets(v, f"{path}.{k}".lstrip("."), found) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v, path, found) for v in value]
    return value


@dataclass
class Run:
    resources: list[Declared] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Dynamic resources' outputs by logical name, like the engine's state: a run that continues
    # from this one (`run_program(..., after=run)`) goes through the provider's diff, not create.
    dynamic_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The objects the ownership check looked up in the (fake) cluster, in order.
    checked: list[ownership.ObjectRef] = field(default_factory=list)

    def of_type(self, suffix: str) -> list[Declared]:
        return [r for r in self.resources if r.typ.endswith(suffix)]

    def by_name(self, name: str) -> Declared:
        return next(r for r in self.resources if r.name == name)

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {(r.typ, r.name) for r in self.resources}


def fake_digest(image_name: str) -> str:
    return f"{image_name}@sha256:{hashlib.sha256(image_name.encode()).hexdigest()}"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self, run: Run) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        secrets: set[str] = set()
        inputs = unwrap_secrets(args.inputs, "", secrets)
        self.run.resources.append(Declared(args.typ, args.name, inputs, secrets))
        outputs = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = fake_digest(args.inputs["imageName"])
        if args.typ in DYNAMIC_PROVIDERS:
            outputs = self._dynamic(args.typ, args.name, inputs)
        return f"{args.name}-id", outputs

    def _dynamic(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        provider = DYNAMIC_PROVIDERS[typ]()
        old = self.run.dynamic_state.get(name)
        if old is None:
            outs = provider.create(inputs).outs or {}
        elif provider.diff(name, old, inputs).changes:
            outs = provider.update(name, old, inputs).outs or {}
        else:
            outs = old
        self.run.dynamic_state[name] = outs
        return dict(outs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def _config(values: dict[str, Any]) -> dict[str, str]:
    return {f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_program(
    config: dict[str, Any],
    project_dir: Path,
    stack: str = "test",
    *,
    run: Run | None = None,
    secret_keys: tuple[str, ...] = SECRET_KEYS,
    after: Run | None = None,
    cluster: dict[tuple[str, str], dict[str, str]] | None = None,
) -> Run:
    """Evaluate __main__.py in `project_dir` with `config`; raises what the program raises.

    Pass `run` to keep what was registered even when the program fails; `secret_keys` are the
    top-level keys Pulumi reports as secret (any key with a `--secret` value, even one leaf);
    `after` a previous run whose state this one continues from (as `pulumi up` after `pulumi up`);
    `cluster` the objects the ownership check finds, (kind, name) -> labels (none by default).
    """
    run = run if run is not None else Run()
    if after is not None:
        run.dynamic_state = dict(after.dynamic_state)
    pulumi.runtime.set_mocks(Recorder(run), project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(_config(config), [f"{PROJECT}:{k}" for k in secret_keys if k in config])
    exported: dict[str, Any] = {}

    def program() -> Any:
        with _cwd(project_dir):
            namespace = runpy.run_path(str(ROOT / "__main__.py"), run_name="__pulumi__")
        outputs = namespace["deployment"].outputs
        return pulumi.Output.from_input(outputs).apply(exported.update)

    live = cluster or {}

    def reader(kubeconfig: str, context: str | None, *, by_kind: bool = True) -> ownership.LabelReader:
        def read(ref: ownership.ObjectRef) -> dict[str, str] | None:
            run.checked.append(ref)
            return live.get((ref.kind, ref.name))

        return read

    real_reader, ownership.cluster_reader = ownership.cluster_reader, reader
    try:
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]  # untyped decorator in the SDK
    finally:
        ownership.cluster_reader = real_reader
    run.outputs = exported
    return run


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def make_project(tmp: Path) -> Path:
    """A Pulumi project directory whose `code/` is a git repository of the example, plus models."""
    project = tmp / "project"
    code = project / "code"
    shutil.copytree(ROOT / "example", code, ignore=shutil.ignore_patterns("__pycache__", "models", "samples"))
    git(code, "init", "-q", "-b", "main")
    git(code, "add", "-A")
    git(code, "commit", "-q", "-m", "first")
    shutil.copytree(ROOT / "example" / "models", project / "models")
    return project


def base_config(**overrides: Any) -> dict[str, Any]:
    """A stack of owner acme, project mnist; the deployment is the stack's name (`test`, see BASE_SCOPE)."""
    config: dict[str, Any] = {
        "owner": "acme",
        "project": "mnist",
        "codeRepository": "code",
        # A '-' in the host (as in Artifact Registry's) must not confuse anything that reads image names.
        "registry": "us-central1-docker.pkg.dev/acme-ml/mnist",
        "target": {"kubeconfig": "kubeconfig.yaml"},
        "host": "models.example.com",
        "tlsSecretName": "models-tls",
        "versions": {
            "20181002.0": {"files": {"predict-digit": {"model": "models/digits-v1.json"}}},
            "20181003.0": {"files": {"predict-digit": {"model": "models/digits-v2.json"}}},
        },
        "aliases": {"production": "20181002.0", "staging": "20181003.0"},
    }
    config.update(overrides)
    return config


def as_manifest(inputs: dict[str, Any]) -> dict[str, Any]:
    """Declared inputs as a manifest: mocks hand numbers over as floats, Kubernetes' schemas want integers."""

    def fix(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return dict(fix(inputs))


def fails(config: dict[str, Any], project_dir: Path) -> str:
    """The program's error; also proves nothing was registered before it."""
    recorded = Run()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, project_dir, run=recorded)
    assert recorded.resources == [], "resources were registered before the error"
    return str(caught.value)


def rich_project(tmp_path: Path) -> Path:
    """The example plus every endpoint field, so the schema check covers all of them."""
    project = make_project(tmp_path)
    full = (DATA / "valid" / "full-endpoint.yaml").read_text()
    (project / "code" / "valohai.yaml").write_text(full)
    git(project / "code", "commit", "-qam", "all fields")
    (project / "models" / "vocab.txt").write_text("a\nb\n")
    return project


def rich_config() -> dict[str, Any]:
    files = {"predict": {"model": "models/digits-v1.json", "vocab": "models/vocab.txt"}}
    return base_config(
        versions={
            V1: {"files": files, "replicas": {"min": 2, "max": 9}, "env": {"LOG_LEVEL": "debug"}},
            V2: {"files": files},
        },
        aliases={"production": V1, "staging": {V2: 90, V1: 10}},
        basicAuth={"alice": "wonderland", "bob": "builder"},
        registryAuth={"username": "ci", "password": "s3cret"},
        registryPullAuth={"username": "puller", "password": "read-only"},
    )
