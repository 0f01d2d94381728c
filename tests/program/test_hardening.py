"""Issue 9 under mocks: secrets stay secret, inputs cannot escape, pods meet `restricted`, names cannot collide."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.inputs import naming
from components.inputs.config_secrets import find_secrets
from components.inputs.errors import ConfigError
from components.inputs.valohai_config import parse_valohai_yaml
from components.rendering import workload_spec
from components.resources.endpoint_workload import EndpointWorkload
from tests.harness import (
    BASE_SCOPE,
    V1,
    V2,
    Run,
    as_manifest,
    base_config,
    fails,
    make_project,
    rich_config,
    rich_project,
    run_program,
)

# A test value that must never show in plain text.
TOKEN = "t0p-s3cret-token"


def _plaintext(run: Run, needle: str) -> list[str]:
    """Resources whose inputs hold `needle` outside a Pulumi secret."""
    found = []
    for resource in run.resources:
        clean = {k: v for k, v in resource.inputs.items() if k not in resource.secret_fields}
        if needle in json.dumps(clean):
            found.append(resource.name)
    return found


def _secret_env_project(tmp_path: Path, stack_file: bool) -> Path:
    project = make_project(tmp_path)
    if stack_file:
        # What `pulumi config set --secret --path 'versions["20181002.0"].env.API_TOKEN'` leaves behind.
        config = {
            "valohai-deployments:versions": {
                V1: {
                    "files": {"predict-digit": {"model": "models/digits-v1.json"}},
                    "env": {"LOG_LEVEL": "debug", "API_TOKEN": {"secure": "v1:abc:def"}},
                }
            }
        }
        (project / "Pulumi.test.yaml").write_text(yaml.safe_dump({"config": config}))
    return project


def _secret_env_config() -> dict[str, Any]:
    config = base_config(aliases={"production": V1})
    config["versions"] = {
        V1: {
            "files": {"predict-digit": {"model": "models/digits-v1.json"}},
            "env": {"LOG_LEVEL": "debug", "API_TOKEN": TOKEN},
        }
    }
    return config


def _container_env(run: Run, name: str) -> dict[str, Any]:
    container = run.by_name(name).inputs["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_a_secret_env_value_reaches_pods_only_through_a_secret(tmp_path: Path) -> None:
    project = _secret_env_project(tmp_path, stack_file=True)
    run = run_program(_secret_env_config(), project, secret_keys=("versions",))
    assert _plaintext(run, TOKEN) == []
    env = _container_env(run, f"{V1}-predict-digit-deployment")
    secret_name = naming.env_secret_name(BASE_SCOPE, V1)
    assert env["API_TOKEN"] == {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "API_TOKEN"}},
    }
    # The stack file shows LOG_LEVEL in plain text: it stays readable in the pod spec.
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    secret = run.by_name(f"{V1}-env-secret")
    assert secret.inputs["metadata"]["name"] == secret_name
    assert secret.inputs["stringData"] == {"API_TOKEN": TOKEN}
    assert "stringData" in secret.secret_fields
    for resource in run.resources:
        if resource.typ.startswith("kubernetes:"):
            import kubernetes_validate

            kubernetes_validate.validate(as_manifest(resource.inputs), "1.32", strict=True)


def test_without_the_stack_file_every_env_value_of_a_secret_versions_key_is_secret(tmp_path: Path) -> None:
    project = _secret_env_project(tmp_path, stack_file=False)
    run = run_program(_secret_env_config(), project, secret_keys=("versions",))
    assert _plaintext(run, TOKEN) == [] and _plaintext(run, "debug") == []
    env = _container_env(run, f"{V1}-greet-me-deployment")
    assert "valueFrom" in env["API_TOKEN"] and "valueFrom" in env["LOG_LEVEL"]


def test_plain_env_values_stay_in_the_pod_spec_and_no_secret_is_made(project_dir: Path) -> None:
    config = base_config()
    config["versions"][V1]["env"] = {"LOG_LEVEL": "debug"}
    run = run_program(config, project_dir)
    assert _container_env(run, f"{V1}-greet-me-deployment")["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    assert not [r for r in run.resources if r.name.endswith("-env-secret")]


def test_secret_leaves_that_are_not_env_values_are_refused() -> None:
    values = {"versions": {V1: {"commit": "abc"}}, "host": "x"}
    stack_file = {"versions": {V1: {"commit": {"secure": "v1:x"}}}}
    with pytest.raises(ConfigError) as caught:
        find_secrets(values, frozenset({"versions", "host"}), stack_file)
    assert caught.value.problems == [
        "config: host: is set with --secret, but it names images, objects or URLs and would be shown in plain text; "
        "set it without --secret (only registryAuth, registryPullAuth, basicAuth and versions.<version>.env values "
        "can be secret)",
        f"config: versions.{V1}.commit: is set with --secret, but only env values of a version can be secret "
        "(the rest names images and URLs); set it without --secret",
    ]


def test_an_env_value_the_stack_file_shows_differently_is_secret() -> None:
    """Config from another file (--config-file) than Pulumi.<stack>.yaml: never trust a mismatch."""
    values = {"versions": {V1: {"env": {"A": "runtime", "B": "same"}}}}
    stack_file = {"versions": {V1: {"env": {"A": "file", "B": "same"}}}}
    secrets = find_secrets(values, frozenset({"versions"}), stack_file)
    assert secrets.env == {V1: frozenset({"A"})}


# --- registry credentials ---


def _pull_secrets(run: Run) -> list[str]:
    pods = [r.inputs["spec"]["template"]["spec"] for r in run.of_type("apps/v1:Deployment")]
    return sorted({s["name"] for pod in pods for s in pod.get("imagePullSecrets", [])})


def test_push_credentials_never_reach_pods_unless_the_stack_says_so(project_dir: Path) -> None:
    push = {"username": "ci", "password": "push-only"}
    run = run_program(base_config(registryAuth=push), project_dir)
    assert _pull_secrets(run) == []
    assert not [r for r in run.resources if r.name.endswith("registry-credentials")]
    image = run.of_type("image:Image")[0]
    assert image.inputs["registry"]["password"] == "push-only" and "registry" in image.secret_fields

    explicit = run_program(base_config(registryAuth={**push, "usedForPull": True}), project_dir)
    assert _pull_secrets(explicit) == [naming.pull_secret_name(BASE_SCOPE)]
    secret = explicit.by_name("deployment-registry-credentials")
    assert "push-only" in secret.inputs["stringData"][".dockerconfigjson"]

    pull = {"username": "reader", "password": "read-only"}
    separate = run_program(base_config(registryAuth=push, registryPullAuth=pull), project_dir)
    config_json = json.loads(
        separate.by_name("deployment-registry-credentials").inputs["stringData"][".dockerconfigjson"]
    )
    assert config_json["auths"]["us-central1-docker.pkg.dev"]["username"] == "reader"
    assert "push-only" not in json.dumps(config_json)
    assert "stringData" in separate.by_name("deployment-registry-credentials").secret_fields
    assert _pull_secrets(separate) == [naming.pull_secret_name(BASE_SCOPE)]


def test_two_pull_credentials_are_refused(project_dir: Path) -> None:
    message = fails(
        base_config(
            registryAuth={"username": "ci", "password": "p", "usedForPull": True},
            registryPullAuth={"username": "r", "password": "q"},
        ),
        project_dir,
    )
    assert "registryAuth.usedForPull and registryPullAuth both name pull credentials; keep one of them" in message


def test_secret_names_differ_between_stacks_sharing_a_namespace(tmp_path: Path) -> None:
    project = rich_project(tmp_path)
    names: dict[str, set[str]] = {}
    for deployment in ("americas", "europe"):
        config = rich_config() | {"deployment": deployment, "target": {"kubeconfig": "k", "namespace": "shared"}}
        run = run_program(config, project)
        names[deployment] = {r.inputs["metadata"]["name"] for r in run.of_type("core/v1:Secret")}
        names[deployment] |= {r.inputs["metadata"]["name"] for r in run.of_type("NetworkPolicy")}
        auth = {
            i.inputs["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-secret"]
            for i in run.of_type("Ingress")
        }
        scope = naming.Scope("acme", "mnist", deployment)
        assert auth == {naming.auth_secret_name(scope)}
        assert _pull_secrets(run) == [naming.pull_secret_name(scope)]
    assert names["americas"].isdisjoint(names["europe"]), names


# --- the namespace and the pods ---


def test_the_namespace_is_kept_on_delete_and_admits_only_restricted_pods(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[pulumi.ResourceOptions] = []

    class Recording(k8s.core.v1.Namespace):
        def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> None:
            seen.append(opts or pulumi.ResourceOptions())
            super().__init__(name, opts=opts, **kwargs)

    monkeypatch.setattr(k8s.core.v1, "Namespace", Recording)
    run = run_program(base_config(), project_dir)
    assert [o.retain_on_delete for o in seen] == [True]
    labels = run.by_name("deployment-namespace").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


# The Pod Security Standards, restricted profile (which includes baseline), as written at
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ for the fields our pods can set.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:  # noqa: C901, PLR0912 (one branch per rule)
    """Every way `pod` (a PodSpec) breaks the restricted profile; [] if it meets it."""
    problems = []
    pod_sc = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if field == "hostUsers" and pod.get(field) is False:
            continue
        if pod.get(field) is True or (field == "hostUsers" and field in pod and pod[field] is not False):
            problems.append(f"{field} must not be true")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: type {kinds - RESTRICTED_VOLUME_TYPES} not allowed")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']} not allowed")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser must not be 0")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod seccompProfile {pod_seccomp} not allowed")
    containers = [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]
    for container in containers:
        where = f"container {container['name']}"
        sc = container.get("securityContext") or {}
        if sc.get("privileged") is True:
            problems.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost (got {seccomp})")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities must drop ALL")
        added = set(capabilities.get("add") or [])
        if not added <= {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: capabilities may add only NET_BIND_SERVICE (got {sorted(added)})")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount must be Default")
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("user") or selinux.get("role"):
            problems.append(f"{where}: seLinuxOptions user/role not allowed")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort not allowed")
    return problems


def test_the_restricted_check_catches_what_it_should() -> None:
    good = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
        ],
    }
    assert restricted_violations(good) == []
    bad_pods: list[dict[str, Any]] = [
        {**good, "hostNetwork": True},
        {**good, "volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
        {**good, "securityContext": {"runAsNonRoot": True}},
        {**good, "containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]},
        {
            **good,
            "containers": [
                {
                    "name": "c",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                    },
                }
            ],
        },
    ]
    for bad in bad_pods:
        assert restricted_violations(bad), bad


def test_every_pod_meets_the_restricted_profile(tmp_path: Path) -> None:
    run = run_program(rich_config(), rich_project(tmp_path))
    deployments = run.of_type("apps/v1:Deployment")
    assert len(deployments) == 4
    for deployment in deployments:
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], deployment.name
        # Where fsGroup is set, a large volume is chowned only when its root does not match.
        assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_the_network_policy_admits_the_port_from_the_namespace_and_the_router(project_dir: Path) -> None:
    run = run_program(
        base_config(networkPolicy={"routerNamespaces": ["traefik", "ingress-nginx"], "ipBlocks": ["127.0.0.1/32"]}),
        project_dir,
    )
    policy = run.by_name("deployment-network-policy").inputs
    assert policy["metadata"]["name"] == naming.network_policy_name(BASE_SCOPE)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "endpoint", **BASE_SCOPE.labels}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert rule["from"] == [
        {"podSelector": {}},
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["traefik", "ingress-nginx"]}
                ]
            }
        },
        {"ipBlock": {"cidr": "127.0.0.1/32"}},
    ]
    # The policy's selector matches every endpoint pod.
    for deployment in run.of_type("apps/v1:Deployment"):
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items()
        assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] == "http"
    disabled = run_program(base_config(networkPolicy={"enabled": False}), project_dir)
    assert disabled.of_type("NetworkPolicy") == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"ipBlocks": ["localhost"]}, "config: networkPolicy.ipBlocks: 'localhost' is not a CIDR"),
        (
            {"routerNamespaces": ["Ingress"]},
            "config: networkPolicy.routerNamespaces: 'Ingress' is not a namespace name",
        ),
    ],
)
def test_bad_network_policy_settings(policy: dict[str, Any], expected: str, project_dir: Path) -> None:
    message = fails(base_config(networkPolicy=policy), project_dir)
    assert any(line.startswith(expected) for line in message.splitlines()), message


# --- inputs from a pull request ---


def test_a_file_source_cannot_leave_the_project(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    os.symlink(outside, project / "models" / "link.json")
    for source in ["../outside.json", str(outside), "models/link.json"]:
        config = base_config()
        config["versions"][V1]["files"]["predict-digit"]["model"] = source
        message = fails(config, project)
        assert (
            f"config: versions.{V1}.files.predict-digit.model: '{source}' is outside the Pulumi project directory "
            "(symlinks followed); use a path inside the project, or {url: https://..., sha256: ...}"
        ) in message.splitlines(), message


def test_a_bad_image_reference_never_reaches_a_dockerfile(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    text = (
        (project / "code" / "valohai.yaml")
        .read_text()
        .replace("image: python:3.11-slim", 'image: "python:3.11-slim\\nUSER root"')
    )
    (project / "code" / "valohai.yaml").write_text(text)
    from tests.harness import git

    git(project / "code", "commit", "-qam", "inject")
    message = fails(base_config(), project)
    assert "endpoint 'greet-me': image: 'python:3.11-slim\\nUSER root' is not an image reference" in message
    assert not (project / ".build").exists() or not list((project / ".build").rglob("Dockerfile"))


def test_valid_image_references() -> None:
    for image in [
        "python:3.11",
        "us-central1-docker.pkg.dev/acme-ml/base/python:3.11-slim",
        "127.0.0.1:5000/acme/base@sha256:" + "a" * 64,
        "ghcr.io/acme/ml__base:v1.2.3",
    ]:
        text = f"- endpoint: {{name: e1, image: '{image}', server-command: x}}\n"
        assert parse_valohai_yaml(text, "valohai.yaml").endpoints[0].image == image


def test_a_cpu_limit_below_the_default_request_lowers_the_request() -> None:
    def requests(resources: str) -> dict[str, str]:
        text = f"- endpoint: {{name: e1, image: python, server-command: x, resources: {resources}}}\n"
        return workload_spec.resources(parse_valohai_yaml(text, "v").endpoints[0])["requests"]

    assert requests("{cpu: {max: 0.05}}") == {"cpu": "50m"}
    assert requests("{cpu: {max: 0.5}}") == {"cpu": "100m"}
    assert requests("{cpu: {min: 0.02, max: 0.05}}") == {"cpu": "20m"}
    assert requests("{memory: {max: 64}}") == {"cpu": "100m"}


# --- names ---


def test_versions_and_endpoints_that_join_alike_get_different_logical_names() -> None:
    assert naming.logical_name("v1", "predict-digit") != naming.logical_name("v1-predict", "digit")
    # Ordinary versions keep the names existing stacks have.
    assert naming.logical_name("20181002.0", "predict-digit") == "20181002.0-predict-digit"


def test_a_version_with_a_dash_keeps_its_resources_through_an_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aliases: dict[str, list[Any]] = {}

    class Recording(EndpointWorkload):
        def __init__(self, name: str, args: Any, opts: pulumi.ResourceOptions | None = None) -> None:
            aliases[name] = list((opts.aliases if opts else None) or [])
            super().__init__(name, args, opts)

    monkeypatch.setattr("components.resources.deployment_version.EndpointWorkload", Recording)
    project = make_project(tmp_path)
    config = base_config(aliases={})
    config["versions"] = {"v1-rc": config["versions"][V1], V2: config["versions"][V2]}
    run_program(config, project)
    assert [a.name for a in aliases["v1--rc-greet-me"]] == ["v1-rc-greet-me"]
    assert aliases[f"{V2}-greet-me"] == []


def test_registry_hosts_with_dashes_work(project_dir: Path) -> None:
    run = run_program(base_config(registry="europe-west4-docker.pkg.dev/acme-ml/mnist-models"), project_dir)
    for image in run.of_type("image:Image"):
        assert image.inputs["imageName"].startswith("europe-west4-docker.pkg.dev/acme-ml/mnist-models/test:")
    images = _images(run)
    assert images and all(d.startswith("europe-west4-docker.pkg.dev/acme-ml/mnist-models/test") for d in images)
    assert all("@sha256:" in d for d in images)


def _images(run: Run) -> list[str]:
    return [d.inputs["spec"]["template"]["spec"]["containers"][0]["image"] for d in run.of_type("apps/v1:Deployment")]


def test_settings_and_plan_problems_come_in_one_run(project_dir: Path) -> None:
    config = base_config(aliases={"production": "nope"}, owner="Acme")
    config["versions"][V2]["files"] = {}
    lines = fails(config, project_dir).splitlines()
    assert lines[0] == "3 problem(s) in the stack's configuration:"
    assert any(line.startswith("config: owner: 'Acme' must be") for line in lines)
    assert any(line.startswith("config: aliases.production: points to version 'nope'") for line in lines)
    assert any(line.startswith(f"config: versions.{V2}.files.predict-digit.model: missing") for line in lines)


def test_a_copied_project_keeps_secret_detection(tmp_path: Path) -> None:
    """stackConfigDir in Pulumi.yaml moves the stack files; the secret leaves are still found."""
    project = _secret_env_project(tmp_path, stack_file=True)
    (project / "stacks").mkdir()
    shutil.move(project / "Pulumi.test.yaml", project / "stacks" / "Pulumi.test.yaml")
    (project / "Pulumi.yaml").write_text("name: valohai-deployments\nruntime: python\nstackConfigDir: stacks\n")
    run = run_program(_secret_env_config(), project, secret_keys=("versions",))
    assert _container_env(run, f"{V1}-greet-me-deployment")["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    assert _plaintext(run, TOKEN) == []


# --- every value checked before anything is declared (issue 14) ---


def test_a_password_bcrypt_cannot_hash_stops_the_run_before_any_resource(project_dir: Path) -> None:
    message = fails(base_config(basicAuth={"alice": "p" * 73}), project_dir)
    assert message.splitlines()[1:] == [
        "config: basicAuth.alice: the password is longer than 72 bytes, all bcrypt (which this routing hashes "
        "with) reads; choose a shorter one"
    ]


def test_traefik_and_a_mirror_give_one_message_that_matches_the_config(project_dir: Path) -> None:
    routing = {"kind": "gateway", "gateway": {"name": "models", "namespace": "gw", "implementation": "traefik"}}
    mirrored = {"versions": {V1: 100}, "mirror": {"version": V2, "percent": 10}}
    config = base_config(routing=routing, aliases={"production": mirrored})
    del config["tlsSecretName"]
    assert fails(config, project_dir).splitlines()[1:] == [
        "config: aliases.production.mirror: Traefik does not implement RequestMirror; remove the mirror"
    ]


def test_string_config_values_stay_strings(project_dir: Path) -> None:
    """`pulumi config set tlsSecretName null` names the Secret "null"; it does not unset the key."""
    message = fails(base_config(host="2024"), project_dir)
    assert any(line.startswith("config: host: '2024' is not a host name") for line in message.splitlines())
    run = run_program(base_config(tlsSecretName="null"), project_dir)
    ingress = run.of_type("networking.k8s.io/v1:Ingress")[0]
    assert ingress.inputs["spec"]["tls"][0]["secretName"] == "null"


def test_credential_and_state_files_never_become_image_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{project}/state")
    for path in [
        "kubeconfigs/americas.yaml",
        ".pulumi-state/.pulumi/stacks/valohai-deployments/test.json",
        "state/.pulumi/meta.yaml",
        "state/notes.txt",
        "Pulumi.test.yaml",
        "clusters/prod.yaml",
        "models/prod.env",
        "models/deploy.pem",
    ]:
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text("credentials\n")
    os.symlink(project / "code" / ".git" / "config", project / "models" / "innocent.json")
    sources = {
        "code/.git/config": "'.git' is hidden (repository data, state, credentials)",
        "models/innocent.json": "'.git' is hidden",
        "kubeconfigs/americas.yaml": "it is in kubeconfigs/, which holds credentials or state",
        ".pulumi-state/.pulumi/stacks/valohai-deployments/test.json": "'.pulumi-state' is hidden",
        "state/notes.txt": "it is in state/, which holds credentials or state",
        "Pulumi.test.yaml": "its name matches Pulumi.*.yaml",
        "clusters/prod.yaml": "it is the stack's target.kubeconfig (cluster credentials)",
        "models/prod.env": "its name matches *.env",
        "models/deploy.pem": "its name matches *.pem",
    }
    for source, reason in sources.items():
        config = base_config(target={"kubeconfig": "clusters/prod.yaml"})
        config["versions"][V1]["files"]["predict-digit"]["model"] = source
        lines = fails(config, project).splitlines()
        key = f"config: versions.{V1}.files.predict-digit.model: '{source}' may not go into an image: "
        assert any(line.startswith(key + reason) for line in lines), (source, lines)


def test_ordinary_model_files_are_still_file_sources(project_dir: Path) -> None:
    run = run_program(base_config(), project_dir)
    assert run.of_type("docker:index/image:Image")


def test_each_version_lists_its_file_sources_for_the_preview(project_dir: Path) -> None:
    """The version component's inputs name every file its images hold: a preview shows them."""
    run = run_program(base_config(), project_dir)
    versions = {r.name: r.inputs["files"] for r in run.of_type(naming.VERSION_TYPE)}
    digest = hashlib.sha256((project_dir / "models" / "digits-v1.json").read_bytes()).hexdigest()
    assert versions[V1] == {"predict-digit.model": f"models/digits-v1.json (sha256 {digest[:12]})"}
    assert set(versions) == {V1, V2}
