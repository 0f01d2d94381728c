"""The endpoint workload: one endpoint of one version as Deployment, Service and HPA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.inputs import naming
from components.rendering import workload_spec as spec


@dataclass(frozen=True)
class EndpointWorkloadArgs:
    workload: spec.WorkloadInput
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    # Keyed digest of the version's secret env values (digest_key.py); None without any.
    secret_env_digest: pulumi.Input[str] | None = None


class EndpointWorkload(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler

    def __init__(self, name: str, args: EndpointWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(naming.WORKLOAD_TYPE, name, None, opts)
        w = args.workload
        child = pulumi.ResourceOptions(parent=self)
        # Plain API dicts; the SDK accepts them as its *ArgsDict types, which mypy cannot relate.
        meta: Any = spec.metadata(w, args.namespace)
        # The image stays an Output inside the spec, so a preview shows every other field.
        deployment: Any = spec.deployment_spec(w, args.image, args.secret_env_digest)
        service: Any = spec.service_spec(w)

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}{naming.DEPLOYMENT_SUFFIX}", metadata=meta, spec=deployment, opts=child
        )
        self.service = k8s.core.v1.Service(f"{name}{naming.SERVICE_SUFFIX}", metadata=meta, spec=service, opts=child)
        hpa: Any = spec.hpa_spec(w, self.deployment.metadata.name)
        self.hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}{naming.HPA_SUFFIX}", metadata=meta, spec=hpa, opts=child
        )
        self.service_name: pulumi.Output[str] = self.service.metadata.name
        self.register_outputs(
            {"deployment": self.deployment.metadata.name, "service": self.service_name, "image": args.image}
        )
