"""Routing as Pulumi resources: route objects per version and alias, the alias component, basic auth.

Route objects are named `<version or alias><suffix>` with the suffixes in `naming` (Ingresses keep
the names of the Ingress-only program; gateway objects are `-route` and `-security-policy`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.inputs import naming
from components.inputs.aliases import AliasTarget
from components.inputs.settings import StackSettings
from components.rendering.routing import gateway, ingress
from components.rendering.routing.model import Route, Site, alias_route, url
from components.resources.htpasswd import MIN_PASSWORD_LENGTH, HtpasswdLine, Scheme


@dataclass(frozen=True)
class RoutingContext:
    """What every route of a deployment shares: settings, namespace, and the basic-auth Secret's name."""

    settings: StackSettings
    namespace: pulumi.Input[str]
    auth_secret: str | None = None

    @property
    def site(self) -> Site:
        s = self.settings
        return Site(s.owner, s.project, s.deployment)

    @property
    def scheme(self) -> str:
        s = self.settings
        if s.routing.gateway is not None:
            return s.routing.gateway.scheme
        return "https" if s.tls_secret_name else "http"

    @property
    def authority(self) -> str | None:
        s = self.settings
        port = s.routing.gateway.port if s.routing.gateway is not None else None
        return f"{s.host}:{port}" if s.host and port else s.host

    def urls(self, route: Route) -> dict[str, str]:
        return {rule.endpoint: url(self.authority, self.scheme, rule.prefix) for rule in route.rules}

    def ingress_options(self) -> ingress.IngressOptions:
        s = self.settings
        return ingress.IngressOptions(
            class_name=s.ingress_class,
            host=s.host,
            tls_secret=s.tls_secret_name,
            scope=s.scope,
            namespace=self.namespace,
            auth_secret=self.auth_secret,
            realm=f"{s.owner}/{s.project}",
            prefix_header_snippet=s.routing.ingress.prefix_header_snippet,
        )

    def gateway_options(self) -> gateway.GatewayOptions:
        s = self.settings
        ref = s.routing.gateway
        assert ref is not None, "settings validation requires routing.gateway with kind gateway"
        return gateway.GatewayOptions(
            gateway_name=ref.name,
            gateway_namespace=ref.namespace,
            section_name=ref.section_name,
            implementation=ref.implementation,
            host=s.host,
            scope=s.scope,
            namespace=self.namespace,
            auth_middleware=naming.auth_middleware_name(s.scope) if self.auth_secret else None,
        )


def declare_route(
    name: str,
    route: Route,
    services: Mapping[str, Mapping[str, pulumi.Input[str]]],
    ctx: RoutingContext,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.CustomResource]:
    """The route's objects as children of `opts.parent`; `name` is the version or alias (the parent's name)."""
    if ctx.settings.routing.kind == "gateway":
        return _gateway_objects(name, route, services, ctx, opts)
    declared: list[pulumi.CustomResource] = []
    for item in ingress.ingresses(route, services, ctx.ingress_options()):
        logical, options = f"{name}{naming.INGRESS_SUFFIX}", opts
        if item.canary:
            # `<alias>-canary-ingress` was also alias `<alias>-canary`'s own Ingress; the new name
            # cannot collide, and the old one is kept as a Pulumi alias when no such alias exists.
            logical = f"{name}{naming.CANARY_INGRESS_SUFFIX}"
            if f"{name}-canary" not in ctx.settings.aliases:
                legacy_name = f"{name}{naming.LEGACY_CANARY_INGRESS_SUFFIX}"
                legacy = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=legacy_name)])
                options = pulumi.ResourceOptions.merge(opts, legacy)
        # Plain API dicts; the SDK accepts them as its *ArgsDict types, which mypy cannot relate.
        metadata: Any = item.metadata
        spec: Any = item.spec
        declared.append(k8s.networking.v1.Ingress(logical, metadata=metadata, spec=spec, opts=options))
    return declared


def _gateway_objects(
    name: str,
    route: Route,
    services: Mapping[str, Mapping[str, pulumi.Input[str]]],
    ctx: RoutingContext,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.CustomResource]:
    options = ctx.gateway_options()
    manifest = _awaited_until_accepted(gateway.http_route(route, services, options), options)
    route_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=ROUTE_TIMEOUTS))
    declared: list[pulumi.CustomResource] = [_custom(f"{name}{naming.ROUTE_SUFFIX}", manifest, route_opts)]
    if ctx.auth_secret and options.implementation == "envoy":
        policy = gateway.envoy_security_policy(route, ctx.auth_secret, options)
        declared.append(_custom(f"{name}{naming.SECURITY_POLICY_SUFFIX}", policy, opts))
    return declared


# How long `up` waits for the Gateway's controller to accept a route before it fails (a Gateway
# without a controller, or a listener that does not admit the namespace, never accepts it).
ROUTE_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m")


def _awaited_until_accepted(manifest: dict[str, Any], options: gateway.GatewayOptions) -> dict[str, Any]:
    """The HTTPRoute with `pulumi.com/waitFor`: its create or update returns once the Gateway's
    controller reports, for this spec generation, the route Accepted and its references resolved,
    so `up` does not print URLs the router does not know yet (pulumi-kubernetes >= 4.18 reads it;
    the condition sits on the parent in `status.parents`, where `condition=` cannot look).
    """
    parent = f'@.parentRef.name=="{options.gateway_name}" && @.parentRef.namespace=="{options.gateway_namespace}"'
    wait_for = [
        f'jsonpath={{.status.parents[?{parent}].conditions[?@.type=="{condition}"'
        " && @.observedGeneration==$.metadata.generation].status}=True"
        for condition in ("Accepted", "ResolvedRefs")
    ]
    metadata = dict(manifest["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), "pulumi.com/waitFor": json.dumps(wait_for)}
    return {**manifest, "metadata": metadata}


def _custom(logical: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


@dataclass(frozen=True)
class AliasRoutingArgs:
    alias: str
    target: AliasTarget
    # Each routed version's endpoint -> Service name.
    services: Mapping[str, Mapping[str, pulumi.Input[str]]]
    context: RoutingContext


class AliasRouting(pulumi.ComponentResource):
    """An alias's route objects; named from the alias alone, so a move is an in-place update."""

    def __init__(self, name: str, args: AliasRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(naming.ALIAS_TYPE, name, None, opts)
        target = args.target
        self.route = alias_route_of(args.alias, target, args.services, args.context)
        self.objects = declare_route(name, self.route, args.services, args.context, pulumi.ResourceOptions(parent=self))
        self.urls = args.context.urls(self.route)
        self.register_outputs({"urls": self.urls, "versions": dict(target.weights)})


def alias_route_of(
    alias: str, target: AliasTarget, services: Mapping[str, Mapping[str, object]], ctx: RoutingContext
) -> Route:
    """The alias's route: the endpoints its primary version serves, to every version it routes to."""
    endpoints = list(services[target.primary or ""])
    return alias_route(ctx.site, alias, target.weights, endpoints, target.mirror)


@dataclass(frozen=True)
class BasicAuth:
    secret: k8s.core.v1.Secret
    middleware: pulumi.CustomResource | None
    secret_name: str

    @property
    def resources(self) -> list[pulumi.Resource]:
        return [self.secret, *([self.middleware] if self.middleware else [])]


def declare_basic_auth(
    name: str, settings: StackSettings, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> BasicAuth | None:
    """The htpasswd Secret in the key and format the routing reads, plus Traefik's Middleware."""
    if not settings.basic_auth:
        return None
    ref = settings.routing.gateway
    implementation = ref.implementation if ref is not None else None
    scheme: Scheme = "sha" if implementation == "envoy" else "bcrypt"
    key = gateway.AUTH_KEYS.get(implementation or "", ingress.AUTH_KEY)
    # The hashes live in Pulumi state only; they need the parent, not the Kubernetes provider.
    hash_opts = pulumi.ResourceOptions(parent=opts.parent)
    # Named after the stack, so two stacks sharing a namespace keep separate users.
    secret_name = naming.auth_secret_name(settings.scope)
    lines = []
    for user, password in sorted(settings.basic_auth.items()):
        if len(password.get_secret_value()) < MIN_PASSWORD_LENGTH:
            pulumi.log.warn(
                f"basicAuth.{user}: the password is shorter than {MIN_PASSWORD_LENGTH} characters; its hash is"
                " fast to check (README, Basic auth), so a leaked Secret could be guessed offline. Set a random"
                f' one: pulumi config set --secret --path basicAuth.{user} "$(openssl rand -base64 18)"'
            )
        line = HtpasswdLine(f"{name}-basic-auth-{user}", user, password.get_secret_value(), scheme, opts=hash_opts)
        lines.append(line.line)
    joined = pulumi.Output.all(*lines).apply(lambda values: "".join(f"{v}\n" for v in values))
    content: pulumi.Output[str] = pulumi.Output.secret(joined)
    secret = k8s.core.v1.Secret(
        f"{name}-basic-auth",
        metadata={
            "name": secret_name,
            "namespace": namespace,
            "labels": naming.common_labels(settings.scope, "basic-auth"),
        },
        type="Opaque",
        string_data={key: content},
        opts=opts,
    )
    middleware = None
    if implementation == "traefik":
        manifest = gateway.traefik_middleware(
            naming.auth_middleware_name(settings.scope),
            secret_name,
            f"{settings.owner}/{settings.project}",
            settings.scope,
            namespace,
        )
        # A renamed Middleware is replaced, created before the old one goes, and the routes move to
        # it in the same run. After its Secret: a Middleware whose Secret Traefik cannot read yet is
        # dropped, and every route through it answers 404 until Traefik rebuilds its configuration.
        after_secret = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret]))
        middleware = _custom(f"{name}-basic-auth-middleware", manifest, after_secret)
    return BasicAuth(secret=secret, middleware=middleware, secret_name=secret_name)
