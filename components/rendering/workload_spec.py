"""Pure builders for an endpoint's workload: labels, container, pod, Deployment, Service, HPA.

Plain data in, plain Kubernetes dicts (API field names) out; no Pulumi here, so every rule is
testable on its own and checkable against Kubernetes' schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.inputs import naming
from components.inputs.config_sections import NetworkPolicy
from components.inputs.contract import (
    CODE_DIR,
    ENV_DEFAULT_PREFIX,
    ENV_ENDPOINT,
    ENV_PORT,
    ENV_VERSION,
    ENV_WSGI_APP,
    PORT_NAME,
    RUN_AS_USER,
    SERVE_DIR,
    SERVICE_PORT,
    url_prefix,
)
from components.inputs.valohai_config import Endpoint, MinMax

GUNICORN_COMMAND = ["gunicorn", "--config", f"{SERVE_DIR}/gunicorn_conf.py"]
# An HPA on CPU utilisation needs a CPU request; this one applies when valohai.yaml gives none.
DEFAULT_CPU_REQUEST = "100m"
# A terminating pod keeps serving this long after SIGTERM is due: its endpoint is already marked
# terminating, and the router needs a moment to stop sending it new requests. Without it, every
# rollout and scale-down drops the requests that race the router's update.
DRAIN_SECONDS = 5


@dataclass(frozen=True)
class WorkloadInput:
    """What one endpoint of one version needs to run."""

    owner: str
    project: str
    deployment: str
    version: str
    endpoint: Endpoint
    env: dict[str, str]
    min_replicas: int
    max_replicas: int
    target_cpu: int
    pull_secret: str | None = None
    # Env names whose values live in the Secret `env_secret` (set with --secret), never in the pod spec.
    secret_env: frozenset[str] = frozenset()
    env_secret: str | None = None
    # The HPA's scale-down stabilization window; None keeps Kubernetes' default (300 s).
    scale_down_stabilization: int | None = None

    @property
    def scope(self) -> naming.Scope:
        return naming.Scope(self.owner, self.project, self.deployment)

    @property
    def name(self) -> str:
        return naming.workload_name(self.scope, self.endpoint.name, self.version)

    @property
    def default_prefix(self) -> str:
        return url_prefix(self.owner, self.project, self.deployment, self.version, self.endpoint.name)


def selector_labels(w: WorkloadInput) -> dict[str, str]:
    """Identity of the pods; the version is deliberately absent (it lives in `instance`'s value)."""
    return {
        naming.NAME_LABEL: naming.label_value(w.endpoint.name),
        naming.INSTANCE_LABEL: w.name,
    }


def labels(w: WorkloadInput) -> dict[str, str]:
    return {
        **selector_labels(w),
        naming.VERSION_LABEL: naming.label_value(w.version),
        **naming.common_labels(w.scope, "endpoint"),
    }


def command(endpoint: Endpoint) -> list[str]:
    if endpoint.wsgi is not None:
        return list(GUNICORN_COMMAND)
    if isinstance(endpoint.server_command, list):
        return list(endpoint.server_command)
    # A string is a shell command line in Valohai, with its quoting and operators.
    return ["sh", "-c", str(endpoint.server_command)]


def env(w: WorkloadInput) -> list[dict[str, Any]]:
    platform = {
        ENV_PORT: str(w.endpoint.port),
        ENV_DEFAULT_PREFIX: w.default_prefix,
        ENV_VERSION: w.version,
        ENV_ENDPOINT: w.endpoint.name,
    }
    if w.endpoint.wsgi_target:
        platform[ENV_WSGI_APP] = w.endpoint.wsgi_target
    if w.secret_env and not w.env_secret:
        raise ValueError("secret env values need the Secret that holds them")
    merged: dict[str, dict[str, Any]] = {key: {"value": value} for key, value in w.env.items()}
    merged |= {key: {"valueFrom": {"secretKeyRef": {"name": w.env_secret, "key": key}}} for key in w.secret_env}
    merged |= {key: {"value": value} for key, value in platform.items()}
    return [{"name": key, **merged[key]} for key in sorted(merged)]


def _mebibytes(value: float) -> str:
    return f"{int(value)}Mi" if float(value).is_integer() else f"{int(value * 1024 * 1024)}"


def _cpu(value: float) -> str:
    return f"{round(value * 1000)}m"


def _millicores(quantity: str) -> int:
    """`250m` -> 250; the only CPU form `_cpu` and DEFAULT_CPU_REQUEST write."""
    return int(quantity.removesuffix("m"))


def resources(endpoint: Endpoint) -> dict[str, dict[str, str]]:
    """valohai.yaml min -> requests, max -> limits; MB are read as MiB; devices are limits."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    spec = endpoint.resources

    def put(kind: str, value: MinMax | None, unit: Callable[[float], str]) -> None:
        if value is None:
            return
        if value.min is not None:
            requests[kind] = unit(value.min)
        if value.max is not None:
            limits[kind] = unit(value.max)

    if spec is not None:
        put("cpu", spec.cpu, _cpu)
        put("memory", spec.memory, _mebibytes)
        put("ephemeral-storage", spec.ephemeral_storage, _mebibytes)
        for device, count in (spec.devices or {}).items():
            limits[device] = str(int(count))
    if "cpu" not in requests:
        # The API server rejects a request above the limit, so a small limit lowers the default.
        limit = limits.get("cpu")
        requests["cpu"] = (
            limit if limit and _millicores(limit) < _millicores(DEFAULT_CPU_REQUEST) else DEFAULT_CPU_REQUEST
        )
    result = {"requests": requests}
    if limits:
        result["limits"] = limits
    return result


def _probe(failure_threshold: int, period: int) -> dict[str, Any]:
    # TCP, not HTTP: endpoints answer only on their own routes, and a model may take a while to load.
    return {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": period, "failureThreshold": failure_threshold}


def volumes(endpoint: Endpoint) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container mounts) for the workspace and shared volumes."""
    pod: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    ws = endpoint.workspace_volume
    if ws is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{ws.size}Gi"}},
        }
        if ws.storage_class_name:
            claim["storageClassName"] = ws.storage_class_name
        pod.append({"name": "workspace", "ephemeral": {"volumeClaimTemplate": {"spec": claim}}})
        mounts.append({"name": "workspace", "mountPath": ws.mount_path})
    for index, shared in enumerate(endpoint.shared_volumes):
        name = f"shared-{index}"
        pod.append(
            {"name": name, "persistentVolumeClaim": {"claimName": shared.pvc_name, "readOnly": bool(shared.read_only)}}
        )
        mount: dict[str, Any] = {"name": name, "mountPath": shared.mount_path, "readOnly": bool(shared.read_only)}
        if shared.sub_path:
            mount["subPath"] = shared.sub_path
        mounts.append(mount)
    return pod, mounts


def container(w: WorkloadInput, image: Any) -> dict[str, Any]:
    _, mounts = volumes(w.endpoint)
    spec: dict[str, Any] = {
        "name": "endpoint",
        "image": image,
        "command": command(w.endpoint),
        "workingDir": CODE_DIR,
        "ports": [{"name": PORT_NAME, "containerPort": w.endpoint.port, "protocol": "TCP"}],
        "env": env(w),
        "resources": resources(w.endpoint),
        # Probed every second while starting (up to 5 minutes for a model to load), so a new
        # version takes traffic as soon as it listens.
        "startupProbe": _probe(failure_threshold=300, period=1),
        "readinessProbe": _probe(failure_threshold=2, period=5),
        "livenessProbe": _probe(failure_threshold=6, period=20),
        # The kubelet's own sleep: images need no `sleep` binary.
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            # Ordinary ML code writes caches next to itself; a read-only root would break it.
            "readOnlyRootFilesystem": False,
        },
    }
    if mounts:
        spec["volumeMounts"] = mounts
    return spec


def pod_spec(w: WorkloadInput, image: Any) -> dict[str, Any]:
    pod_volumes, _ = volumes(w.endpoint)
    spec: dict[str, Any] = {
        "containers": [container(w, image)],
        "automountServiceAccountToken": False,
        # Service links would inject one variable per Service in the namespace into every pod.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            # Chown a volume only when its root is not already ours: a large shared volume is
            # otherwise walked on every pod start.
            "fsGroupChangePolicy": "OnRootMismatch",
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if w.endpoint.node_selector_map:
        spec["nodeSelector"] = w.endpoint.node_selector_map
    if w.endpoint.tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in w.endpoint.tolerations]
    if pod_volumes:
        spec["volumes"] = pod_volumes
    if w.pull_secret:
        spec["imagePullSecrets"] = [{"name": w.pull_secret}]
    return spec


def metadata(w: WorkloadInput, namespace: Any) -> dict[str, Any]:
    return {"name": w.name, "namespace": namespace, "labels": labels(w)}


def deployment_spec(w: WorkloadInput, image: Any, secret_env_digest: Any = None) -> dict[str, Any]:
    """`secret_env_digest` (a keyed digest of the secret env values) goes on the pod template: the
    pods read the Secret only when they start, so a new value must change the template to roll them."""
    template_metadata: dict[str, Any] = {"labels": labels(w)}
    if secret_env_digest is not None:
        template_metadata["annotations"] = {naming.SECRET_ENV_DIGEST_ANNOTATION: secret_env_digest}
    # No `replicas`: the HPA owns the count, and a declared count would fight it on every update.
    return {
        "selector": {"matchLabels": selector_labels(w)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": template_metadata,
            "spec": pod_spec(w, image),
        },
    }


def service_spec(w: WorkloadInput) -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": selector_labels(w),
        "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
    }


def hpa_spec(w: WorkloadInput, deployment_name: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "minReplicas": w.min_replicas,
        "maxReplicas": w.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": w.target_cpu}},
            }
        ],
    }
    if w.scale_down_stabilization is not None:
        # Only when set: an HPA without `behavior` keeps Kubernetes' defaults, and existing stacks no diff.
        spec["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": w.scale_down_stabilization}}
    return spec


def network_policy_spec(scope: naming.Scope, policy: NetworkPolicy) -> dict[str, Any]:
    """Endpoint pods of this stack (its ownership labels; another stack in the namespace has its
    own policy) accept traffic on their own named port only, from their namespace, the router's
    namespaces and `ipBlocks`; other traffic to them is dropped (egress is not limited)."""
    sources: list[dict[str, Any]] = [{"podSelector": {}}]
    if policy.router_namespaces:
        sources.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": list(policy.router_namespaces),
                        }
                    ]
                }
            }
        )
    sources += [{"ipBlock": {"cidr": cidr}} for cidr in policy.ip_blocks]
    return {
        "podSelector": {"matchLabels": {naming.COMPONENT_LABEL: "endpoint", **scope.labels}},
        "policyTypes": ["Ingress"],
        # The port by name: each pod's own endpoint port, whatever number valohai.yaml gave it.
        "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": PORT_NAME}]}],
    }
