"""A deployment version: its images, one workload per enabled endpoint, and its version routes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components import naming
from components.endpoint_workload import EndpointWorkload, EndpointWorkloadArgs
from components.image import BuildContext
from components.plan import VersionPlan
from components.routing.model import version_route
from components.routing.resources import RoutingContext, declare_route
from components.settings import StackSettings
from components.workload_spec import WorkloadInput


@dataclass(frozen=True)
class DeploymentVersionArgs:
    plan: VersionPlan
    settings: StackSettings
    contexts: dict[str, BuildContext]
    project_dir: Path
    namespace: pulumi.Input[str]
    registry: docker.RegistryArgs | None = None
    pull_secret: str | None = None
    routing: RoutingContext | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class DeploymentVersion(pulumi.ComponentResource):
    def __init__(self, name: str, args: DeploymentVersionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("valohai:index:DeploymentVersion", name, None, opts)
        s, plan = args.settings, args.plan
        child = pulumi.ResourceOptions(parent=self)

        self.images: dict[str, pulumi.Output[str]] = {}
        for image in plan.images:
            context = args.contexts[image.key]
            built = docker.Image(
                f"{name}-{image.key}-image",
                image_name=f"{s.registry}/{s.deployment}:{naming.image_tag(plan.name, context.key)}",
                build=docker.DockerBuildArgs(
                    # Relative to the project, so state does not depend on where it is checked out.
                    context=os.path.relpath(context.directory, args.project_dir),
                    dockerfile=os.path.relpath(context.dockerfile, args.project_dir),
                    builder_version=docker.BuilderVersion.BUILDER_V1,
                    network=s.build_network,
                ),
                registry=args.registry,
                build_on_preview=False,
                opts=child,
            )
            for endpoint in image.endpoints:
                # Deployments pull by digest: a tag can move, a digest cannot.
                self.images[endpoint.name] = built.repo_digest

        replicas = s.replicas(plan.name)
        workload_opts = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        self.workloads: dict[str, EndpointWorkload] = {}
        for endpoint in plan.endpoints:
            workload = WorkloadInput(
                owner=s.owner,
                project=s.project,
                deployment=s.deployment,
                version=plan.name,
                endpoint=endpoint,
                env=plan.settings.env,
                min_replicas=replicas.min,
                max_replicas=replicas.max,
                target_cpu=s.autoscaling.target_cpu_utilization_percentage,
                pull_secret=args.pull_secret,
            )
            self.workloads[endpoint.name] = EndpointWorkload(
                f"{name}-{endpoint.name}",
                EndpointWorkloadArgs(workload=workload, namespace=args.namespace, image=self.images[endpoint.name]),
                opts=workload_opts,
            )

        routing = args.routing or RoutingContext(settings=s, namespace=args.namespace)
        self.route = version_route(routing.site, plan.name, self.workloads)
        services = {plan.name: {e: w.service_name for e, w in self.workloads.items()}}
        self.route_objects = declare_route(name, self.route, services, routing, child)
        self.urls = routing.urls(self.route)
        self.register_outputs({"urls": self.urls, "images": self.images})
