"""API objects as the cluster returns them (the fields `status` and `logs` read, with the labels the
program sets), and a stack's config and state through the program's own settings and plan."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from components.inputs import naming
from components.observe.declared import Declared, declared
from components.observe.model import Source, StackStatus
from components.observe.snapshot import Snapshot
from components.observe.status import assemble
from components.stacks.stack_config import StackConfig
from tests.harness import base_config, make_project

V1, V2 = "20181002.0", "20181003.0"
NS = "mnist-local"
NOW = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)
RECENT = "2026-12-05T09:58:00Z"
WINDOW = 300
DIGEST = {V1: "sha256:" + "1" * 64, V2: "sha256:" + "2" * 64}
GATEWAY_ROUTING = {
    "kind": "gateway",
    "gateway": {"name": "models", "namespace": "valohai-router", "implementation": "traefik", "scheme": "http"},
}


def image_of(version: str) -> str:
    return f"127.0.0.1:5000/acme/mnist/greet-me@{DIGEST[version]}"


def declared_stack(
    tmp_path: Path, *, aliases: dict[str, Any] | None = None, routing: dict[str, Any] | None = None, **outputs: Any
) -> Declared:
    values = base_config(
        deployment="local",
        routing=routing or GATEWAY_ROUTING,
        observability={"prometheus": "http://127.0.0.1:8428"},
        aliases=aliases or {"production": V1, "staging": V2},
    )
    values.pop("tlsSecretName")
    config = StackConfig(make_project(tmp_path), "local", "valohai-deployments", values, frozenset())
    deployed = {
        "namespace": NS,
        "images": {v: {"greet-me": image_of(v), "predict-digit": image_of(v)} for v in (V1, V2)},
        "aliases": {"production": V1, "staging": V2},
    }
    return declared(config, deployed | outputs)


def service_name(version: str, endpoint: str) -> str:
    return f"{endpoint}-{version.replace('.', '-')}"


def labels_of(version: str, endpoint: str) -> dict[str, str]:
    return {
        naming.MANAGED_BY_LABEL: naming.MANAGED_BY,
        naming.PART_OF_LABEL: "mnist",
        naming.VERSION_LABEL: version,
        naming.NAME_LABEL: endpoint,
        naming.INSTANCE_LABEL: service_name(version, endpoint),
    }


def deployment(version: str, endpoint: str, *, image: str | None = None, ready: int = 1) -> dict[str, Any]:
    name = service_name(version, endpoint)
    return {
        "metadata": {"name": name, "labels": labels_of(version, endpoint), "creationTimestamp": "2026-12-05T09:00:00Z"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {naming.INSTANCE_LABEL: name}},
            "template": {"spec": {"containers": [{"name": "endpoint", "image": image or image_of(version)}]}},
        },
        "status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": 1},
    }


def pod(version: str, endpoint: str, *, restarts: int = 0, **container_status: Any) -> dict[str, Any]:
    name = service_name(version, endpoint)
    ready = "False" if "state" in container_status else "True"
    return {
        "metadata": {
            "name": f"{name}-5d9c7b-abcde",
            "labels": {naming.INSTANCE_LABEL: name},
            "creationTimestamp": "2026-12-05T09:00:05Z",
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [{"name": "endpoint", "restartCount": restarts, **container_status}],
        },
    }


def service(version: str, endpoint: str) -> dict[str, Any]:
    return {"metadata": {"name": service_name(version, endpoint), "labels": labels_of(version, endpoint)}}


def hpa(version: str, endpoint: str, *, current: int = 1, cpu: int = 12) -> dict[str, Any]:
    name = service_name(version, endpoint)
    return {
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 70}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}},
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": current,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}
            ],
        },
    }


def route(alias: str, weights: dict[str, int], *, accepted: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """An alias's HTTPRoute: one rule per endpoint, weighted backends, the controller's conditions."""
    status, reason, message = accepted or ("True", "Accepted", "")
    return {
        "metadata": {
            "name": f"alias-{alias}-1a2b3c4d",
            "labels": {naming.MANAGED_BY_LABEL: naming.MANAGED_BY, naming.ALIAS_LABEL: alias},
        },
        "spec": {
            "parentRefs": [{"name": "models", "namespace": "valohai-router"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/acme/mnist/local/{alias}/{endpoint}"}}],
                    "backendRefs": [
                        {"name": service_name(v, endpoint), "port": 80, "weight": w} for v, w in weights.items()
                    ],
                }
                for endpoint in ("greet-me", "predict-digit")
            ],
        },
        "status": {
            "parents": [
                {
                    "parentRef": {"name": "models"},
                    "conditions": [
                        {"type": "Accepted", "status": status, "reason": reason, "message": message},
                        {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": ""},
                    ],
                }
            ]
        },
    }


def healthy(**changes: Any) -> Snapshot:
    """Both versions running, production on V1 and staging on V2, as `pulumi up` left them."""
    pairs = [(v, e) for v in (V1, V2) for e in ("greet-me", "predict-digit")]
    objects: dict[str, Any] = {
        "deployments": tuple(deployment(v, e) for v, e in pairs),
        "pods": tuple(pod(v, e) for v, e in pairs),
        "services": tuple(service(v, e) for v, e in pairs),
        "autoscalers": tuple(hpa(v, e) for v, e in pairs),
        "httproutes": (route("production", {V1: 1}), route("staging", {V2: 1})),
    }
    return Snapshot(**(objects | changes))


def status_of(d: Declared, snapshot: Snapshot | None, **options: Any) -> StackStatus:
    return assemble(
        d,
        snapshot,
        options.pop("report", None),
        window_seconds=WINDOW,
        read_at=NOW,
        reading=options.pop("reading", []),
        sources=options.pop("sources", {"cluster": Source("https://127.0.0.1:6443")}),
    )


def messages(status: StackStatus, kind: str) -> list[str]:
    return [p.message for p in status.problems if p.kind == kind]
