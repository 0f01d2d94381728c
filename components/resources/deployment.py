"""The deployment on one deploy target: provider, namespace, secrets, versions and aliases."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components.inputs import naming
from components.inputs.config_secrets import ConfigSecrets
from components.inputs.config_sections import RegistryPullAuth
from components.inputs.declaration import Declaration, declared_plan
from components.inputs.plan import DeploymentPlan
from components.inputs.settings import StackSettings
from components.rendering.build_context import BuildContext
from components.rendering.routing.model import version_route
from components.rendering.workload_spec import network_policy_spec
from components.resources.deployment_version import DeploymentVersion, DeploymentVersionArgs
from components.resources.digest_key import DigestKey
from components.resources.routing import (
    AliasRouting,
    AliasRoutingArgs,
    RoutingContext,
    alias_route_of,
    declare_basic_auth,
)

# Pod Security Admission: the namespace admits only pods that meet the `restricted` profile,
# and says so in audit logs and client warnings too. https://kubernetes.io/docs/concepts/security/pod-security-admission/
PSA_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}


@dataclass(frozen=True)
class PreparedDeployment:
    """Everything checked and every build context written (components/resources/stack.py):
    declaring resources cannot fail on input."""

    settings: StackSettings
    plan: DeploymentPlan
    contexts: dict[str, dict[str, BuildContext]]
    project_dir: Path
    secrets: ConfigSecrets = field(default_factory=ConfigSecrets)
    # A targeted update's part of the stack (inputs/declaration.py); None declares it all.
    declaration: Declaration | None = None


class ValohaiDeployment(pulumi.ComponentResource):
    """Declares, in order: the provider, the namespace, pull and network objects, basic auth, every
    version (images, workloads, version routes) and every alias route. For a targeted update
    (`args.declaration`, inputs/declaration.py) only the versions and aliases it names beside the
    shared objects; the outputs cover the whole stack either way."""

    def __init__(self, name: str, args: PreparedDeployment, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(naming.DEPLOYMENT_TYPE, name, None, opts)
        s = args.settings
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=s.target.kubeconfig,
            context=s.target.context,
            render_yaml_to_directory=s.target.render_directory,
            # Secrets (basic-auth hashes, pull credentials, secret env values) are updated in place:
            # by default the provider replaces a Secret whose data changes, deleting it first, and
            # the router and pods would meet a missing Secret in between.
            enable_secret_mutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._k8s_options = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace = self._declare_namespace(name, s)
        depends_on: list[pulumi.Resource] = []
        pull_secret = self._declare_pull_secret(name, s, namespace, depends_on)
        self._declare_network_policy(name, s, namespace)
        basic_auth = declare_basic_auth(name, s, namespace, self._k8s_options)
        if basic_auth is not None:
            depends_on += basic_auth.resources
        routing = RoutingContext(
            settings=s, namespace=namespace, auth_secret=basic_auth.secret_name if basic_auth else None
        )
        if s.ingress_class_name is not None:
            pulumi.log.warn("ingressClassName is deprecated: set routing.ingress.className instead", self)

        self.versions = self._declare_versions(args, namespace, pull_secret, routing, depends_on, name=name)
        self.aliases = self._declare_aliases(args, routing)
        self.outputs: dict[str, Any] = {
            "namespace": namespace,
            "versionUrls": {v: self._version_urls(args, routing, v) for v in args.plan.versions},
            "aliasUrls": {a: self._alias_urls(args, routing, a) for a in s.aliases},
            "images": {v: self._images(args, v) for v in args.plan.versions},
            "aliases": {a: s.alias_config(a) for a in s.aliases},
        }
        self.register_outputs(self.outputs)

    def _declare_namespace(self, name: str, s: StackSettings) -> pulumi.Input[str]:
        if not s.target.create_namespace:
            return s.namespace
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": s.namespace,
                "labels": {**naming.common_labels(s.scope, "namespace"), **PSA_LABELS},
            },
            # Shared-volume claims and other teams' objects may live in it: `pulumi destroy` and a
            # new target.namespace leave it in place (README, "Security notes", says how to remove it).
            opts=pulumi.ResourceOptions.merge(self._k8s_options, pulumi.ResourceOptions(retain_on_delete=True)),
        )
        return namespace.metadata.name

    def _declare_pull_secret(
        self, name: str, s: StackSettings, namespace: pulumi.Input[str], depends_on: list[pulumi.Resource]
    ) -> str | None:
        """The image pull Secret pods use (when the stack names pull credentials), else None."""
        if s.pull_auth is None:
            return None
        secret_name = naming.pull_secret_name(s.scope)
        secret = k8s.core.v1.Secret(
            f"{name}-registry-credentials",
            metadata={
                "name": secret_name,
                "namespace": namespace,
                "labels": naming.common_labels(s.scope, "registry-credentials"),
            },
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": _docker_config_output(s.registry_server, s.pull_auth)},
            opts=self._k8s_options,
        )
        depends_on.append(secret)
        return secret_name

    def _declare_network_policy(self, name: str, s: StackSettings, namespace: pulumi.Input[str]) -> None:
        if not s.network_policy.enabled:
            return
        policy: Any = network_policy_spec(s.scope, s.network_policy)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata={
                "name": naming.network_policy_name(s.scope),
                "namespace": namespace,
                "labels": naming.common_labels(s.scope, "network-policy"),
            },
            spec=policy,
            opts=self._k8s_options,
        )

    def _declare_versions(
        self,
        args: PreparedDeployment,
        namespace: pulumi.Input[str],
        pull_secret: str | None,
        routing: RoutingContext,
        depends_on: list[pulumi.Resource],
        *,
        name: str,
    ) -> dict[str, DeploymentVersion]:
        s = args.settings
        registry = None
        if s.registry_auth is not None:
            # Credentials are inputs of the Image; the project's docker provider stand-in keeps them
            # out of its diff, so rotating them rebuilds nothing (README, "Security notes").
            registry = docker.RegistryArgs(
                server=s.registry_server,
                username=self._maybe_secret(s.registry_auth.username, "registryAuth", args.secrets),
                password=pulumi.Output.secret(s.registry_auth.password.get_secret_value()),
            )
        # Today's logical names of every version's images and workloads: an alias to an old name
        # one of them now holds would make two resources claim one URN.
        taken_names = frozenset(
            naming.logical_name(v, part)
            for v, version in args.plan.versions.items()
            for part in [*(e.name for e in version.endpoints), *(naming.image_part(i.key) for i in version.images)]
        )
        children = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        # One key per stack, made when the first secret env value appears (digest_key.py).
        digest_key = None
        if any(args.secrets.env.get(v) for v in args.plan.versions):
            digest_key = DigestKey(f"{name}-secret-env-key", pulumi.ResourceOptions(parent=self))
        return {
            version_name: DeploymentVersion(
                version_name,
                DeploymentVersionArgs(
                    plan=version,
                    settings=s,
                    contexts=args.contexts[version_name],
                    project_dir=args.project_dir,
                    namespace=namespace,
                    registry=registry,
                    pull_secret=pull_secret,
                    routing=routing,
                    depends_on=depends_on,
                    secret_env=args.secrets.env.get(version_name, frozenset()),
                    taken_names=taken_names,
                    digest_key=digest_key,
                ),
                opts=children,
            )
            for version_name, version in declared_plan(args.plan, args.declaration).versions.items()
        }

    def _declare_aliases(self, args: PreparedDeployment, routing: RoutingContext) -> dict[str, AliasRouting]:
        s = args.settings
        children = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        aliases = {}
        for alias in s.aliases:
            if args.declaration is not None and alias not in args.declaration.aliases:
                continue
            target = s.alias(alias)
            services = {v: self._services(args, v) for v in target.versions}
            aliases[alias] = AliasRouting(
                alias, AliasRoutingArgs(alias=alias, target=target, services=services, context=routing), opts=children
            )
        return aliases

    def _services(self, args: PreparedDeployment, version: str) -> dict[str, pulumi.Input[str]]:
        """endpoint -> the version's Service name: from its Service when declared (so a route
        depends on it), else the name `naming` gives it, which is the one the Service has."""
        if version in self.versions:
            return {e: w.service_name for e, w in self.versions[version].workloads.items()}
        scope = args.settings.scope
        return {e.name: naming.workload_name(scope, e.name, version) for e in args.plan.versions[version].endpoints}

    def _version_urls(self, args: PreparedDeployment, routing: RoutingContext, version: str) -> dict[str, str]:
        if version in self.versions:
            return self.versions[version].urls
        endpoints = [e.name for e in args.plan.versions[version].endpoints]
        return routing.urls(version_route(routing.site, version, endpoints))

    def _alias_urls(self, args: PreparedDeployment, routing: RoutingContext, alias: str) -> dict[str, str]:
        if alias in self.aliases:
            return self.aliases[alias].urls
        target = args.settings.alias(alias)
        services = {v: self._services(args, v) for v in target.versions}
        return routing.urls(alias_route_of(alias, target, services, routing))

    def _images(self, args: PreparedDeployment, version: str) -> Mapping[str, pulumi.Input[str]]:
        if version in self.versions:
            return self.versions[version].images
        assert args.declaration is not None, "every version is declared without a declaration"
        return args.declaration.images[version]

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
