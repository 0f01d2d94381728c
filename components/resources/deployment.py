"""The deployment on one deploy target: provider, namespace, secrets, versions and aliases."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components.inputs import naming
from components.inputs.config_secrets import ConfigSecrets
from components.resources.deployment_version import DeploymentVersion, DeploymentVersionArgs
from components.rendering.build_context import BuildContext, prepare_context
from components.inputs.plan import DeploymentPlan, build_plan
from components.rendering.routing.model import Mirror
from components.resources.routing import AliasRouting, AliasRoutingArgs, RoutingContext, declare_basic_auth
from components.inputs.settings import RegistryPullAuth, StackSettings
from components.rendering.workload_spec import network_policy_spec

# Pod Security Admission: the namespace admits only pods that meet the `restricted` profile,
# and says so in audit logs and client warnings too. https://kubernetes.io/docs/concepts/security/pod-security-admission/
PSA_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}


@dataclass(frozen=True)
class PreparedDeployment:
    """Everything checked and every build context written: declaring resources cannot fail on input."""

    settings: StackSettings
    plan: DeploymentPlan
    contexts: dict[str, dict[str, BuildContext]]
    project_dir: Path
    secrets: ConfigSecrets = field(default_factory=ConfigSecrets)


def prepare(
    settings: StackSettings, project_dir: Path, build_root: Path | None = None, secrets: ConfigSecrets | None = None
) -> PreparedDeployment:
    plan = build_plan(settings, project_dir)
    root = build_root or project_dir / ".build"
    contexts = {
        name: {
            image.key: prepare_context(root, plan.repository, plan.code_directory, version, image)
            for image in version.images
        }
        for name, version in plan.versions.items()
    }
    return PreparedDeployment(
        settings=settings, plan=plan, contexts=contexts, project_dir=project_dir, secrets=secrets or ConfigSecrets()
    )


class ValohaiDeployment(pulumi.ComponentResource):
    def __init__(self, name: str, args: PreparedDeployment, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("valohai:index:Deployment", name, None, opts)
        s = args.settings
        target = s.target
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=target.kubeconfig,
            context=target.context,
            render_yaml_to_directory=target.render_directory,
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace: pulumi.Input[str] = s.namespace
        depends_on: list[pulumi.Resource] = []
        if target.create_namespace:
            ns = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={
                    "name": s.namespace,
                    "labels": {**naming.common_labels(s.project, "namespace"), **PSA_LABELS},
                },
                # Shared-volume claims and other teams' objects may live in it: `pulumi destroy` and a
                # new target.namespace leave it in place (README, "Security notes", says how to remove it).
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(retain_on_delete=True)),
            )
            namespace = ns.metadata.name

        registry_args = None
        if s.registry_auth is not None:
            # Credentials are inputs of the Image, but not part of its diff (toolchain/pulumi-docker):
            # rotating them never rebuilds or re-pushes an image.
            registry_args = docker.RegistryArgs(
                server=s.registry_server,
                username=self._maybe_secret(s.registry_auth.username, "registryAuth", args.secrets),
                password=pulumi.Output.secret(s.registry_auth.password.get_secret_value()),
            )
        pull_secret = None
        if s.pull_auth is not None:
            secret_name = naming.pull_secret_name(s.deployment)
            secret = k8s.core.v1.Secret(
                f"{name}-registry-credentials",
                metadata={
                    "name": secret_name,
                    "namespace": namespace,
                    "labels": naming.common_labels(s.project, "registry-credentials"),
                },
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": _docker_config_output(s.registry_server, s.pull_auth)},
                opts=k8s_opts,
            )
            pull_secret = secret_name
            depends_on.append(secret)

        if s.network_policy.enabled:
            policy: Any = network_policy_spec(s.project, s.network_policy)
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network-policy",
                metadata={
                    "name": naming.network_policy_name(s.deployment),
                    "namespace": namespace,
                    "labels": naming.common_labels(s.project, "network-policy"),
                },
                spec=policy,
                opts=k8s_opts,
            )

        basic_auth = declare_basic_auth(name, s, namespace, k8s_opts)
        if basic_auth is not None:
            depends_on += basic_auth.resources
        routing = RoutingContext(
            settings=s, namespace=namespace, auth_secret=basic_auth.secret_name if basic_auth else None
        )
        if s.ingress_class_name is not None:
            pulumi.log.warn("ingressClassName is deprecated: set routing.ingress.className instead", self)

        children = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        # Today's logical names of every version's images and workloads: an alias to an old name
        # one of them now holds would make two resources claim one URN.
        taken_names = frozenset(
            naming.logical_name(v, part)
            for v, version in args.plan.versions.items()
            for part in [*(e.name for e in version.endpoints), *(f"{i.key}-image" for i in version.images)]
        )
        self.versions: dict[str, DeploymentVersion] = {}
        for version_name, version in args.plan.versions.items():
            self.versions[version_name] = DeploymentVersion(
                version_name,
                DeploymentVersionArgs(
                    plan=version,
                    settings=s,
                    contexts=args.contexts[version_name],
                    project_dir=args.project_dir,
                    namespace=namespace,
                    registry=registry_args,
                    pull_secret=pull_secret,
                    routing=routing,
                    depends_on=depends_on,
                    secret_env=args.secrets.env.get(version_name, frozenset()),
                    taken_names=taken_names,
                ),
                opts=children,
            )

        self.aliases: dict[str, AliasRouting] = {}
        for alias in s.aliases:
            weights = s.alias_weights(alias)
            mirror = s.alias_mirror(alias)
            routed = [*weights, mirror.version] if mirror else list(weights)
            services = {v: {e: w.service_name for e, w in self.versions[v].workloads.items()} for v in routed}
            self.aliases[alias] = AliasRouting(
                alias,
                AliasRoutingArgs(
                    alias=alias,
                    weights=weights,
                    services=services,
                    context=routing,
                    mirror=Mirror(mirror.version, mirror.percent) if mirror else None,
                ),
                opts=children,
            )

        self.outputs: dict[str, Any] = {
            "namespace": namespace,
            "versionUrls": {v: c.urls for v, c in self.versions.items()},
            "aliasUrls": {a: c.urls for a, c in self.aliases.items()},
            "images": {v: c.images for v, c in self.versions.items()},
            "aliases": {a: s.alias_config(a) for a in s.aliases},
        }
        self.register_outputs(self.outputs)

    @staticmethod
    def _maybe_secret(value: str, key: str, secrets: ConfigSecrets) -> pulumi.Input[str]:
        """`value` as a secret Output when its config key was set with --secret."""
        return pulumi.Output.secret(value) if key in secrets.keys else value


def _docker_config_output(server: str, auth: RegistryPullAuth) -> pulumi.Output[str]:
    password = pulumi.Output.secret(auth.password.get_secret_value())
    return password.apply(lambda p: _docker_config(server, auth.username, p))


def _docker_config(server: str, user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": user, "password": password, "auth": token}}}, sort_keys=True)
