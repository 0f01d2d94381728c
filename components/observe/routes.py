"""Alias route objects in the cluster (HTTPRoutes, or an Ingress pair) into where they send traffic.

Backends are Services; each Service carries its version's and endpoint's labels, so a route maps
back to versions without re-deriving any name. What the controller said about the route comes
from its status: an HTTPRoute's `status.parents[].conditions` (Accepted, ResolvedRefs), an
Ingress's `status.loadBalancer` (an address once the controller serves it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components.inputs import naming
from components.inputs.aliases import AliasTarget, Mirror
from components.observe.model import RouteStatus

# Service name -> (version, endpoint) of the stack's Services.
ServiceIndex = Mapping[str, tuple[str, str]]
NGINX = "nginx.ingress.kubernetes.io"


def service_index(
    services: Iterable[Mapping[str, Any]], version_named: Callable[[str], str]
) -> dict[str, tuple[str, str]]:
    """Service name -> (version, endpoint) from the labels the program puts on each Service."""
    index = {}
    for service in services:
        metadata = service.get("metadata") or {}
        labels = metadata.get("labels") or {}
        version, endpoint = labels.get(naming.VERSION_LABEL), labels.get(naming.NAME_LABEL)
        if version and endpoint:
            index[str(metadata.get("name"))] = (version_named(version), str(endpoint))
    return index


def by_alias(objects: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Route objects grouped by the alias label, each group sorted by name."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        alias = ((obj.get("metadata") or {}).get("labels") or {}).get(naming.ALIAS_LABEL)
        if alias:
            groups.setdefault(str(alias), []).append(obj)
    return {alias: sorted(group, key=_name) for alias, group in groups.items()}


def http_route_status(route: Mapping[str, Any], services: ServiceIndex) -> RouteStatus:
    """Where an alias's HTTPRoute sends each endpoint, and whether its Gateway accepted it."""
    targets: dict[str, AliasTarget] = {}
    unknown: dict[str, int] = {}
    for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        refs = rule.get("backendRefs") or []
        weights = _percent({str(ref.get("name")): int(ref.get("weight", 1)) for ref in refs})
        versions: dict[str, int] = {}
        for service, weight in weights.items():
            if service in services:
                version = services[service][0]
                versions[version] = versions.get(version, 0) + weight
            else:
                unknown[service] = weight
        endpoint = _rule_endpoint(rule, refs, services) or f"rule {index}"
        targets[endpoint] = AliasTarget.of(versions) if versions else AliasTarget()
        mirror = _mirror(rule, services)
        if mirror:
            targets[endpoint] = AliasTarget(targets[endpoint].weights, mirror)
    first = next(iter(targets.values()), AliasTarget())
    accepted, resolved, conditions = _parent_conditions(route)
    return RouteStatus(
        kind="HTTPRoute",
        names=(_name(route),),
        target=first,
        accepted=accepted,
        resolved_refs=resolved,
        conditions=conditions,
        unknown_backends=unknown,
        rule_targets={endpoint: target for endpoint, target in targets.items() if target != first},
    )


def ingress_status(ingresses: list[Mapping[str, Any]], services: ServiceIndex) -> RouteStatus:
    """An alias's Ingress and optional ingress-nginx canary Ingress: the split, and whether served."""
    primary = [i for i in ingresses if _annotation(i, "canary") != "true"]
    canary = [i for i in ingresses if _annotation(i, "canary") == "true"]
    weights: dict[str, int] = {}
    unknown: dict[str, int] = {}
    canary_weight = 0
    if canary:
        total = int(_annotation(canary[0], "canary-weight-total") or 100)
        canary_weight = round(int(_annotation(canary[0], "canary-weight") or 0) * 100 / total)
    for group, weight in ((primary[:1], 100 - canary_weight), (canary[:1], canary_weight)):
        for service in {name for ingress in group for name in _ingress_services(ingress)}:
            if service in services:
                version = services[service][0]
                weights[version] = weights.get(version, 0) + weight
            else:
                unknown[service] = weight
    served = [bool(((i.get("status") or {}).get("loadBalancer") or {}).get("ingress")) for i in ingresses]
    return RouteStatus(
        kind="Ingress",
        names=tuple(_name(i) for i in ingresses),
        target=AliasTarget.of({v: w for v, w in weights.items() if w > 0}),
        # No address only says the controller has not published one; it is not a refusal.
        accepted=True if served and all(served) else None,
        unknown_backends=unknown,
    )


def rule_endpoints(route: Mapping[str, Any], services: ServiceIndex) -> dict[int, str]:
    """Rule index -> the endpoint it serves, for an HTTPRoute (Traefik names a router per rule index)."""
    endpoints = {}
    for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        endpoint = _rule_endpoint(rule, rule.get("backendRefs") or [], services)
        if endpoint:
            endpoints[index] = endpoint
    return endpoints


def _rule_endpoint(rule: Mapping[str, Any], refs: list[Mapping[str, Any]], services: ServiceIndex) -> str | None:
    """The endpoint a rule serves: its backends' endpoint label, else its path's last segment."""
    for ref in refs:
        if str(ref.get("name")) in services:
            return services[str(ref.get("name"))][1]
    for match in rule.get("matches") or []:
        value = (match.get("path") or {}).get("value")
        if value:
            return str(value).rstrip("/").rsplit("/", 1)[-1]
    return None


def _mirror(rule: Mapping[str, Any], services: ServiceIndex) -> Mirror | None:
    for item in rule.get("filters") or []:
        if item.get("type") != "RequestMirror":
            continue
        spec = item.get("requestMirror") or {}
        service = str((spec.get("backendRef") or {}).get("name"))
        fraction = spec.get("fraction")
        if "percent" in spec:
            percent = int(spec["percent"])
        elif isinstance(fraction, dict) and fraction.get("denominator", 100):
            percent = round(int(fraction.get("numerator", 0)) * 100 / int(fraction.get("denominator", 100)))
        else:
            percent = 100
        version = services[service][0] if service in services else f"(Service {service})"
        return Mirror(version, percent)
    return None


def _parent_conditions(
    route: Mapping[str, Any],
) -> tuple[bool | None, bool | None, tuple[tuple[str, str, str, str], ...]]:
    """(Accepted, ResolvedRefs, every condition) over the route's parents; None where none was written."""
    conditions = [
        (
            str(c.get("type")),
            str(c.get("status")),
            str(c.get("reason", "")),
            " ".join(str(c.get("message", "")).split()),
        )
        for parent in (route.get("status") or {}).get("parents") or []
        for c in parent.get("conditions") or []
    ]

    def verdict(kind: str) -> bool | None:
        found = [status for t, status, _, _ in conditions if t == kind]
        return all(status == "True" for status in found) if found else None

    return verdict("Accepted"), verdict("ResolvedRefs"), tuple(conditions)


def _ingress_services(ingress: Mapping[str, Any]) -> list[str]:
    return [
        str(((path.get("backend") or {}).get("service") or {}).get("name"))
        for rule in (ingress.get("spec") or {}).get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    ]


def _percent(weights: Mapping[str, int]) -> dict[str, int]:
    """Gateway API weights are relative; as percentages of their sum (one backend: 100)."""
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0)
    return {name: round(weight * 100 / total) for name, weight in weights.items()}


def _annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(f"{NGINX}/{key}")
    return str(value) if value is not None else None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))
