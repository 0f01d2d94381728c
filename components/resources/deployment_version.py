"""A deployment version: its images, one workload per enabled endpoint, and its version routes."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components.inputs import naming
from components.inputs.config_sections import UrlSource
from components.inputs.plan import VersionPlan
from components.inputs.settings import StackSettings
from components.rendering.build_context import BuildContext, sha256_file
from components.rendering.routing.model import version_route
from components.rendering.workload_spec import WorkloadInput
from components.resources.digest_key import DigestKey
from components.resources.endpoint_workload import EndpointWorkload, EndpointWorkloadArgs
from components.resources.routing import RoutingContext, declare_route


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
    # Env names of this version set with --secret: their values go to a Secret, not the pod spec.
    secret_env: frozenset[str] = frozenset()
    # Every version's image and workload logical names in this run (see `_renamed_from`).
    taken_names: frozenset[str] = frozenset()
    # The stack's key for the digest that rolls pods when a secret env value changes.
    digest_key: DigestKey | None = None


class DeploymentVersion(pulumi.ComponentResource):
    def __init__(self, name: str, args: DeploymentVersionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The file sources are the component's inputs, so a preview lists what goes into each image.
        super().__init__(naming.VERSION_TYPE, name, {"files": file_sources(args.plan, args.project_dir)}, opts)
        s, plan = args.settings, args.plan
        child = pulumi.ResourceOptions(parent=self)

        self.images: dict[str, pulumi.Output[str]] = {}
        for image in plan.images:
            context = args.contexts[image.key]
            image_name = naming.logical_name(plan.name, naming.image_part(image.key))
            built = docker.Image(
                image_name,
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
                opts=pulumi.ResourceOptions(
                    parent=self,
                    aliases=_renamed_from(image_name, plan.name, naming.image_part(image.key), args.taken_names),
                ),
            )
            for endpoint in image.endpoints:
                # Deployments pull by digest: a tag can move, a digest cannot.
                self.images[endpoint.name] = built.repo_digest

        env_secret = self._env_secret(name, args) if args.secret_env else None
        secret_values = {key: plan.settings.env[key] for key in sorted(args.secret_env)}
        secret_digest = args.digest_key.digest(secret_values) if env_secret and args.digest_key else None
        depends_on = [*args.depends_on, *([env_secret] if env_secret else [])]
        plain_env = {key: value for key, value in plan.settings.env.items() if key not in args.secret_env}
        replicas = s.replicas(plan.name)
        self.workloads: dict[str, EndpointWorkload] = {}
        for endpoint in plan.endpoints:
            workload = WorkloadInput(
                owner=s.owner,
                project=s.project,
                deployment=s.deployment,
                version=plan.name,
                endpoint=endpoint,
                env=plain_env,
                min_replicas=replicas.min,
                max_replicas=replicas.max,
                target_cpu=s.autoscaling.target_cpu_utilization_percentage,
                scale_down_stabilization=s.autoscaling.scale_down_stabilization_seconds,
                pull_secret=args.pull_secret,
                secret_env=args.secret_env,
                env_secret=naming.env_secret_name(s.scope, plan.name) if args.secret_env else None,
            )
            workload_name = naming.logical_name(plan.name, endpoint.name)
            self.workloads[endpoint.name] = EndpointWorkload(
                workload_name,
                EndpointWorkloadArgs(
                    workload=workload,
                    namespace=args.namespace,
                    image=self.images[endpoint.name],
                    secret_env_digest=secret_digest,
                ),
                # Children (`<name>-deployment`, ...) follow the component's alias, since their names start with it.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=depends_on,
                    aliases=_renamed_from(workload_name, plan.name, endpoint.name, args.taken_names),
                ),
            )

        routing = args.routing or RoutingContext(settings=s, namespace=args.namespace)
        self.route = version_route(routing.site, plan.name, self.workloads)
        services = {plan.name: {e: w.service_name for e, w in self.workloads.items()}}
        self.route_objects = declare_route(name, self.route, services, routing, child)
        self.urls = routing.urls(self.route)
        self.register_outputs({"urls": self.urls, "images": self.images})

    def _env_secret(self, name: str, args: DeploymentVersionArgs) -> k8s.core.v1.Secret:
        """The Secret holding this version's secret env values; its data stays a Pulumi secret."""
        s, plan = args.settings, args.plan
        values = {key: plan.settings.env[key] for key in sorted(args.secret_env)}
        return k8s.core.v1.Secret(
            f"{name}{naming.ENV_SECRET_SUFFIX}",
            metadata={
                "name": naming.env_secret_name(s.scope, plan.name),
                "namespace": args.namespace,
                "labels": {
                    naming.VERSION_LABEL: naming.label_value(plan.name),
                    **naming.common_labels(s.scope, "env"),
                },
            },
            type="Opaque",
            string_data=pulumi.Output.secret(values),
            opts=pulumi.ResourceOptions(parent=self),
        )


def file_sources(plan: VersionPlan, project_dir: Path) -> dict[str, str]:
    """`endpoint.file` -> `source (sha256 <12 hex>)` for every file the version's images hold.

    A URL is shown without its query or user part, which may carry a token (a signed URL).
    """
    sources: dict[str, str] = {}
    for image in plan.images:
        for item in image.files:
            if isinstance(item.source, UrlSource):
                parts = urllib.parse.urlsplit(item.source.url)
                where, digest = f"https://{parts.hostname}{parts.path}", item.source.sha256
            else:
                where = os.path.relpath(item.source, project_dir.resolve())
                digest = sha256_file(item.source)
            sources[f"{item.endpoint}.{item.name}"] = f"{where} (sha256 {digest[:12]})"
    return sources


def _renamed_from(name: str, version: str, rest: str, taken: frozenset[str]) -> list[pulumi.Input[pulumi.Alias]]:
    """The logical name a version with '-' had before `naming.logical_name`, so its live objects stay.

    Skipped when another resource now holds that name: two such inputs could never have deployed.
    """
    old = naming.legacy_logical_name(version, rest)
    return [pulumi.Alias(name=old)] if old != name and old not in taken else []
