"""The pre-flight ownership check: every object the stack will declare either does not exist yet
or carries this stack's ownership labels; otherwise the run stops before any change.

pulumi-kubernetes creates with a server-side apply patch, which updates an existing object as
if it were new (its await.go: "we currently always upsert the object"), so another team's
Deployment or Secret of the same name would silently become this stack's. The check runs in the
program, before the first resource is declared, and names each such object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from kubernetes import config, dynamic
from kubernetes.client import exceptions
from kubernetes.dynamic import exceptions as dynamic_exceptions

from components.inputs import naming
from components.inputs.declaration import Declaration
from components.inputs.plan import DeploymentPlan
from components.inputs.settings import StackSettings
from components.rendering.routing import gateway, ingress
from components.rendering.routing.model import Route, alias_route, version_route
from components.resources.routing import RoutingContext

TRAEFIK_MIDDLEWARE = (gateway.TRAEFIK_API, "Middleware")
# The API server's metadata-only form of a list (PartialObjectMetadataList): names and labels, no data.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


@dataclass(frozen=True)
class ObjectRef:
    """One Kubernetes object the stack declares; `namespace` None for cluster-scoped kinds."""

    api_version: str
    kind: str
    name: str
    namespace: str | None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


# Reads one object's labels from the cluster: None when it does not exist.
LabelReader = Callable[[ObjectRef], Mapping[str, str] | None]


def declared_objects(
    settings: StackSettings,
    plan: DeploymentPlan,
    secret_env: Mapping[str, frozenset[str]],
    declaration: Declaration | None = None,
) -> list[ObjectRef]:
    """Every object ValohaiDeployment declares for these inputs, or the part a targeted update
    declares (inputs/declaration.py); tests/program compares the two."""
    return _stack_objects(settings) + _version_and_alias_objects(settings, plan, secret_env, declaration)


def _stack_objects(s: StackSettings) -> list[ObjectRef]:
    """The objects a stack has once: namespace, pull Secret, NetworkPolicy, basic auth."""
    scope, ns = s.scope, s.namespace
    refs: list[ObjectRef] = []
    if s.target.create_namespace:
        refs.append(ObjectRef("v1", "Namespace", ns, None))
    if s.pull_auth is not None:
        refs.append(ObjectRef("v1", "Secret", naming.pull_secret_name(scope), ns))
    if s.network_policy.enabled:
        refs.append(ObjectRef("networking.k8s.io/v1", "NetworkPolicy", naming.network_policy_name(scope), ns))
    ref = s.routing.gateway
    if s.basic_auth:
        refs.append(ObjectRef("v1", "Secret", naming.auth_secret_name(scope), ns))
        if ref is not None and ref.implementation == "traefik":
            refs.append(ObjectRef(*TRAEFIK_MIDDLEWARE, naming.auth_middleware_name(scope), ns))
    return refs


def _version_and_alias_objects(
    s: StackSettings,
    plan: DeploymentPlan,
    secret_env: Mapping[str, frozenset[str]],
    declaration: Declaration | None,
) -> list[ObjectRef]:
    scope, ns = s.scope, s.namespace
    refs: list[ObjectRef] = []
    # Every version's Services, declared or not: an alias routes to them by name.
    services = {
        version: {e.name: naming.workload_name(scope, e.name, version) for e in plan_version.endpoints}
        for version, plan_version in plan.versions.items()
    }
    routing = RoutingContext(
        settings=s, namespace=ns, auth_secret=naming.auth_secret_name(scope) if s.basic_auth else None
    )
    routes: list[Route] = []
    for version in plan.versions:
        if declaration is not None and version not in declaration.versions:
            continue
        if secret_env.get(version):
            refs.append(ObjectRef("v1", "Secret", naming.env_secret_name(scope, version), ns))
        for name in services[version].values():
            refs += [
                ObjectRef("apps/v1", "Deployment", name, ns),
                ObjectRef("v1", "Service", name, ns),
                ObjectRef("autoscaling/v2", "HorizontalPodAutoscaler", name, ns),
            ]
        routes.append(version_route(routing.site, version, services[version]))
    for alias in s.aliases:
        if declaration is not None and alias not in declaration.aliases:
            continue
        target = s.alias(alias)
        endpoints = list(services.get(target.primary or "", {}))
        routes.append(alias_route(routing.site, alias, target.weights, endpoints, target.mirror))
    for route in routes:
        refs += _route_objects(route, services, routing)
    return refs


def _route_objects(route: Route, services: Mapping[str, Mapping[str, str]], ctx: RoutingContext) -> list[ObjectRef]:
    ns = ctx.settings.namespace
    if ctx.settings.routing.kind != "gateway":
        return [
            ObjectRef("networking.k8s.io/v1", "Ingress", item.metadata["name"], ns)
            for item in ingress.ingresses(route, services, ctx.ingress_options())
        ]
    options = ctx.gateway_options()
    refs = [ObjectRef(gateway.HTTPROUTE_API, "HTTPRoute", route.object_name, ns)]
    if ctx.auth_secret and options.implementation == "envoy":
        refs.append(ObjectRef(gateway.ENVOY_API, "SecurityPolicy", route.object_name, ns))
    return refs


def foreign_objects(refs: Iterable[ObjectRef], read: LabelReader, scope: naming.Scope) -> list[str]:
    """One line per object that exists and was not made by this stack."""
    problems = []
    for ref in refs:
        labels = read(ref)
        if labels is None or scope.owns(labels) or (ref.kind == "Namespace" and _legacy_namespace(labels, scope)):
            continue
        owner = "/".join(labels.get(key, "?") for key in scope.labels)
        made_by = f"stack {owner}" if any(key in labels for key in scope.labels) else "something else"
        fix = (
            "set target.createNamespace to false to deploy into it"
            if ref.kind == "Namespace"
            else "choose another target.namespace, or remove that object"
        )
        problems.append(f"{ref} exists and was made by {made_by}, not by this stack: {fix}")
    return problems


def _legacy_namespace(labels: Mapping[str, str], scope: naming.Scope) -> bool:
    """A namespace this program made before ownership labels existed: its project's, and no other stack's."""
    return (
        naming.OWNER_LABEL not in labels
        and labels.get(naming.COMPONENT_LABEL) == "namespace"
        and labels.get(naming.PART_OF_LABEL) == naming.label_value(scope.project)
        and labels.get(naming.MANAGED_BY_LABEL) == naming.MANAGED_BY
    )


def cluster_reader(kubeconfig: str, context: str | None, *, by_kind: bool = True) -> LabelReader:
    """Reads labels through the kubernetes client with the stack's own kubeconfig and context.

    `by_kind`: one LIST per kind and namespace, of metadata only (other teams' Secret data never
    reaches this process), so checking a whole stack costs a handful of requests whatever its size;
    where listing a kind is forbidden, one GET per object instead. Without it (a targeted update
    checks a few objects), one GET per object: a list would cost what the namespace holds.
    """
    path = Path(kubeconfig)
    if path.is_file():
        api = config.new_client_from_config(config_file=str(path), context=context)  # type: ignore[no-untyped-call]  # untyped client
    else:
        api = config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)  # type: ignore[no-untyped-call]  # untyped client
    client = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]  # untyped client
    listed: dict[tuple[str, str, str | None], dict[str, dict[str, str]] | None] = {}

    def read(ref: ObjectRef) -> Mapping[str, str] | None:
        try:
            resource = client.resources.get(api_version=ref.api_version, kind=ref.kind)
        except dynamic_exceptions.ResourceNotFoundError:
            return None  # the kind is not installed, so no such object either
        key = (ref.api_version, ref.kind, ref.namespace)
        if key not in listed:
            listed[key] = _labels_by_name(resource, ref.namespace) if by_kind else None
        by_name = listed[key]
        if by_name is not None:
            return by_name.get(ref.name)
        try:
            live = resource.get(name=ref.name, namespace=ref.namespace)
        except exceptions.ApiException as err:
            if err.status == 404:
                return None
            raise
        return dict(live.metadata.labels or {})

    return read


def _labels_by_name(resource: Any, namespace: str | None) -> dict[str, dict[str, str]] | None:
    """Every object of one kind (in `namespace`): name -> labels; None when listing is forbidden."""
    try:
        listing = resource.get(namespace=namespace, header_params={"Accept": METADATA_LIST})
    except exceptions.ApiException as err:
        if err.status in (401, 403):
            return None
        raise
    return {item.metadata.name: dict(item.metadata.labels or {}) for item in listing.items}


def check_ownership(
    settings: StackSettings,
    plan: DeploymentPlan,
    secret_env: Mapping[str, frozenset[str]],
    declaration: Declaration | None = None,
    read: LabelReader | None = None,
) -> None:
    """Raise a RunError naming every object the stack (or a targeted update, `declaration`) would
    adopt; nothing is declared before."""
    kubeconfig = settings.target.kubeconfig
    if settings.target.render_directory or not kubeconfig:
        return  # manifests are written to files; no cluster object is touched
    refs = declared_objects(settings, plan, secret_env, declaration)
    try:
        reader = read or cluster_reader(kubeconfig, settings.target.context, by_kind=declaration is None)
        problems = foreign_objects(refs, reader, settings.scope)
    except Exception as err:  # any client failure (no cluster, no access) ends the run with one line
        raise pulumi.RunError(f"target: cannot read the cluster to check object ownership: {err}") from None
    if problems:
        lines = "\n".join(problems)
        raise pulumi.RunError(f"{len(problems)} object(s) in the way, nothing was changed:\n{lines}")
