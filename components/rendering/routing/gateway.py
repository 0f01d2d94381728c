"""The Gateway API renderer: one HTTPRoute per route, plus basic auth for Traefik or Envoy Gateway.

Shapes follow Gateway API's own examples (examples/standard: http-request-header-set,
http-request-mirroring, traffic splitting) and are tested against the CRD schemas of the pinned
releases (tests/data/crds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.inputs import naming
from components.inputs.contract import PREFIX_HEADER, SERVICE_PORT
from components.rendering.routing.model import Route, Rule

GATEWAY_API = "gateway.networking.k8s.io"
HTTPROUTE_API = f"{GATEWAY_API}/v1"
TRAEFIK_API = "traefik.io/v1alpha1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
Implementation = Literal["traefik", "envoy", "other"]
# Secret keys each implementation reads its htpasswd lines from: Traefik takes the Secret's only
# key (conventionally `users`), Envoy Gateway exactly `.htpasswd`.
AUTH_KEYS: dict[str, str] = {"traefik": "users", "envoy": ".htpasswd"}


@dataclass(frozen=True)
class GatewayOptions:
    gateway_name: str
    gateway_namespace: str
    section_name: str | None
    implementation: Implementation
    host: str | None
    scope: naming.Scope
    namespace: Any
    # Traefik: the Middleware every rule runs first; Envoy: the Secret its SecurityPolicy names.
    auth_middleware: str | None = None


def http_route(route: Route, services: Mapping[str, Mapping[str, Any]], options: GatewayOptions) -> dict[str, Any]:
    """`services` is version -> endpoint -> Service name."""
    parent: dict[str, Any] = {"name": options.gateway_name, "namespace": options.gateway_namespace}
    if options.section_name:
        parent["sectionName"] = options.section_name
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [_rule(rule, services, options) for rule in route.rules],
    }
    if options.host:
        spec["hostnames"] = [options.host]
    return {
        "apiVersion": HTTPROUTE_API,
        "kind": "HTTPRoute",
        "metadata": _metadata(route.object_name, route, options),
        "spec": spec,
    }


def _rule(rule: Rule, services: Mapping[str, Mapping[str, Any]], options: GatewayOptions) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if options.auth_middleware and options.implementation == "traefik":
        # First, so an unauthenticated request is refused before anything else runs.
        filters.append(
            {
                "type": "ExtensionRef",
                "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": options.auth_middleware},
            }
        )
    # `set` replaces whatever the client sent, so the header cannot be forged: it is the prefix the
    # request matched (the alias's, under an alias URL), never the version's own.
    filters.append(
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": PREFIX_HEADER, "value": rule.prefix}]},
        }
    )
    if rule.mirror:
        filters.append(
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": services[rule.mirror.version][rule.endpoint], "port": SERVICE_PORT},
                    "percent": rule.mirror.percent,
                },
            }
        )
    split = len(rule.backends) > 1
    backend_refs = [
        {
            "name": services[backend.version][rule.endpoint],
            "port": SERVICE_PORT,
            **({"weight": backend.weight} if split else {}),
        }
        for backend in rule.backends
    ]
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": rule.prefix}}],
        "filters": filters,
        "backendRefs": backend_refs,
    }


def traefik_middleware(name: str, secret: str, realm: str, scope: naming.Scope, namespace: Any) -> dict[str, Any]:
    return {
        "apiVersion": TRAEFIK_API,
        "kind": "Middleware",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": naming.common_labels(scope, "basic-auth"),
        },
        # removeHeader: the credentials stop at the proxy and never reach the model's code.
        "spec": {"basicAuth": {"secret": secret, "realm": realm, "removeHeader": True}},
    }


def envoy_security_policy(route: Route, secret: str, options: GatewayOptions) -> dict[str, Any]:
    """Basic auth on one HTTPRoute: a policy per route, so adding a route never edits another object."""
    return {
        "apiVersion": ENVOY_API,
        "kind": "SecurityPolicy",
        "metadata": _metadata(route.object_name, route, options),
        "spec": {
            "targetRefs": [{"group": GATEWAY_API, "kind": "HTTPRoute", "name": route.object_name}],
            "basicAuth": {"users": {"name": secret}},
        },
    }


def _metadata(name: str, route: Route, options: GatewayOptions) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": options.namespace,
        "labels": {**route.labels, **naming.common_labels(options.scope, route.component)},
    }
