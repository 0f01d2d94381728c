"""The Ingress renderer: networking/v1 Ingresses a stock ingress-nginx (v1.12+) accepts.

Two rules of ingress-nginx decide the shape (restated, with their sources, in tests/ingress_nginx_rules.py):
- `annotations-risk-level` defaults to High, so only annotations rated Medium or lower are set by
  default; `configuration-snippet` (Critical) only when the stack opts in.
- `strict-validate-path-type` (on by default from v1.12) lets `Prefix` and `Exact` paths hold only
  letters, digits, '/', '_' and '-' (v1.12 and v1.13 refuse '.'), and exempts
  `ImplementationSpecific`. A version path such as `/acme/mnist/eu/20181002.0/predict` therefore
  gets `ImplementationSpecific`, which ingress-nginx (and Traefik) match as a plain prefix; every
  other path keeps the portable `Prefix`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.inputs import naming
from components.inputs.contract import PORT_NAME, PREFIX_HEADER, PREFIX_SEGMENTS
from components.rendering.routing.model import Route

NGINX = "nginx.ingress.kubernetes.io"
# Models take files; nginx's default 1m body limit would reject ordinary images.
MAX_BODY = "64m"
# ingress-nginx's auth-secret reads the htpasswd file from this key.
AUTH_KEY = "auth"
# ingress-nginx's `validPathType` as of v1.12 (internal/ingress/inspector/rules.go).
STRICT_PATH = re.compile(r"/[A-Za-z0-9_\-/]*")
# The header is set per request from the path, so a client cannot forge it.
PREFIX_SNIPPET = (
    f'if ($uri ~ "^({"/[^/]+" * PREFIX_SEGMENTS})") {{ set $vh_prefix $1; }}\n'
    f"proxy_set_header {PREFIX_HEADER} $vh_prefix;\n"
)


@dataclass(frozen=True)
class IngressOptions:
    class_name: str
    host: str | None
    tls_secret: str | None
    scope: naming.Scope
    namespace: Any
    auth_secret: str | None = None
    realm: str = ""
    prefix_header_snippet: bool = False


@dataclass(frozen=True)
class IngressObject:
    """One Ingress: `canary` is the lighter side of a two-version split (ingress-nginx canary)."""

    canary: bool
    metadata: dict[str, Any]
    spec: dict[str, Any]


def path_type(path: str) -> str:
    return "Prefix" if STRICT_PATH.fullmatch(path) else "ImplementationSpecific"


def ingress_annotations(options: IngressOptions, canary_weight: int | None = None) -> dict[str, str]:
    result = {f"{NGINX}/proxy-body-size": MAX_BODY}
    if options.prefix_header_snippet:
        result[f"{NGINX}/configuration-snippet"] = PREFIX_SNIPPET
    if options.auth_secret:
        result |= {
            f"{NGINX}/auth-type": "basic",
            f"{NGINX}/auth-secret": options.auth_secret,
            f"{NGINX}/auth-realm": options.realm,
        }
    if canary_weight is not None:
        result |= {
            f"{NGINX}/canary": "true",
            f"{NGINX}/canary-weight": str(canary_weight),
            f"{NGINX}/canary-weight-total": "100",
        }
    return result


def ingresses(route: Route, services: Mapping[str, Mapping[str, Any]], options: IngressOptions) -> list[IngressObject]:
    """The route's Ingresses: the primary, plus a canary when traffic is split between two versions.

    `services` is version -> endpoint -> Service name.
    """
    backends = route.rules[0].backends if route.rules else ()
    if len(backends) > 2 or any(rule.mirror for rule in route.rules):
        raise ValueError(f"{route.kind} {route.name}: an Ingress splits across two versions at most and cannot mirror")
    result = [_ingress(route, services, options, index=0, canary_weight=None)]
    if len(backends) == 2:
        result.append(_ingress(route, services, options, index=1, canary_weight=backends[1].weight))
    return result


def _ingress(
    route: Route,
    services: Mapping[str, Mapping[str, Any]],
    options: IngressOptions,
    *,
    index: int,
    canary_weight: int | None,
) -> IngressObject:
    canary = canary_weight is not None
    name = naming.alias_ingress_name(route.scope, route.name, canary=True) if canary else route.object_name
    paths = [
        {
            "path": rule.prefix,
            "pathType": path_type(rule.prefix),
            "backend": {
                "service": {"name": services[rule.backends[index].version][rule.endpoint], "port": {"name": PORT_NAME}}
            },
        }
        for rule in route.rules
    ]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if options.host:
        rule["host"] = options.host
    spec: dict[str, Any] = {"ingressClassName": options.class_name, "rules": [rule]}
    if options.host and options.tls_secret:
        spec["tls"] = [{"hosts": [options.host], "secretName": options.tls_secret}]
    metadata = {
        "name": name,
        "namespace": options.namespace,
        "labels": {**route.labels, **naming.common_labels(options.scope, route.component)},
        "annotations": ingress_annotations(options, canary_weight),
    }
    return IngressObject(canary=canary, metadata=metadata, spec=spec)
