"""The route model and its renderers, without Pulumi: prefixes, headers, weights, mirrors, names."""

from __future__ import annotations

import itertools
import random
import string
from typing import Any

import pytest

from components.inputs import naming
from components.inputs.aliases import Mirror
from components.rendering.routing import gateway, ingress
from components.rendering.routing.model import Backend, Route, Site, alias_route, version_route
from tests.crd_schemas import crd_errors
from tests.ingress_nginx_rules import annotation_problems, path_problems

SITE = Site("acme", "mnist", "eu")
SCOPE = SITE.scope
V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
ENDPOINTS = ("greet-me", "predict-digit")


def _services(*versions: str) -> dict[str, dict[str, str]]:
    return {v: {e: naming.workload_name(SCOPE, e, v) for e in ENDPOINTS} for v in versions}


def _gateway_options(implementation: Any = "envoy", auth: bool = False) -> gateway.GatewayOptions:
    return gateway.GatewayOptions(
        gateway_name="models",
        gateway_namespace="gateway-system",
        section_name="https",
        implementation=implementation,
        host="models.example.com",
        scope=SCOPE,
        namespace="mnist-eu",
        auth_middleware="basic-auth" if auth else None,
    )


def _ingress_options(**overrides: Any) -> ingress.IngressOptions:
    values: dict[str, Any] = {
        "class_name": "nginx",
        "host": "models.example.com",
        "tls_secret": "tls",
        "scope": SCOPE,
        "namespace": "mnist-eu",
        "auth_secret": "basic-auth",
        "realm": "acme/mnist",
    }
    return ingress.IngressOptions(**(values | overrides))


def test_version_route_has_one_rule_per_endpoint_with_its_own_prefix() -> None:
    route = version_route(SITE, V1, ENDPOINTS)
    assert [(r.endpoint, r.prefix, r.prefix) for r in route.rules] == [
        ("greet-me", f"/acme/mnist/eu/{V1}/greet-me", f"/acme/mnist/eu/{V1}/greet-me"),
        ("predict-digit", f"/acme/mnist/eu/{V1}/predict-digit", f"/acme/mnist/eu/{V1}/predict-digit"),
    ]
    assert all(r.backends == (Backend(V1, 100),) and r.mirror is None for r in route.rules)


def test_alias_route_uses_the_alias_prefix_and_weighted_backends() -> None:
    route = alias_route(SITE, "production", {V1: 60, V2: 30, V3: 10}, ENDPOINTS, Mirror(V3, 5))
    rule = route.rules[0]
    assert rule.prefix == "/acme/mnist/eu/production/greet-me"
    assert rule.backends == (Backend(V1, 60), Backend(V2, 30), Backend(V3, 10))
    assert rule.mirror == Mirror(V3, 5)
    assert route.versions == (V1, V2, V3)


def test_route_object_names_depend_on_the_stack_and_route_name_alone() -> None:
    moved = alias_route(SITE, "production", {V2: 100}, ENDPOINTS)
    assert alias_route(SITE, "production", {V1: 100}, ENDPOINTS).object_name == moved.object_name
    assert moved.object_name == naming.alias_ingress_name(SCOPE, "production")
    assert version_route(SITE, V1, ENDPOINTS).object_name == naming.version_ingress_name(SCOPE, V1)


def test_route_object_names_are_injective() -> None:
    rng = random.Random(3)
    aliases = ["prod", "prod-canary", "canary", "a", "a-canary", "x" * 40]
    aliases += ["".join(rng.choices(string.ascii_lowercase + "-", k=rng.randint(1, 39))) for _ in range(200)]
    aliases = [a for a in dict.fromkeys(aliases) if naming.ALIAS_NAME.fullmatch(a)]
    versions = [V1, "1.0", "1-0", "1_0", "prod", "prod-canary"]
    names = [naming.alias_ingress_name(SCOPE, a, canary) for a, canary in itertools.product(aliases, (False, True))]
    names += [naming.version_ingress_name(SCOPE, v) for v in versions]
    assert len(set(names)) == len(names)


def test_ingress_logical_names_of_aliases_are_injective() -> None:
    """`prod`'s canary and alias `prod-canary` were both `prod-canary-ingress`; now they differ."""
    aliases = ["prod", "prod-canary", "prod-ingress", "prod-canary-ingress", "a", "a-ingress"]
    logical = [f"{a}-ingress" for a in aliases] + [f"{a}-ingress-canary" for a in aliases]
    assert len(set(logical)) == len(logical)


def test_gateway_route_sets_the_prefix_header_and_weights_per_rule() -> None:
    route = alias_route(SITE, "production", {V1: 60, V2: 30, V3: 10}, ENDPOINTS, Mirror(V3, 5))
    manifest = gateway.http_route(route, _services(V1, V2, V3), _gateway_options())
    assert crd_errors(manifest) == []
    spec = manifest["spec"]
    assert spec["parentRefs"] == [{"name": "models", "namespace": "gateway-system", "sectionName": "https"}]
    assert spec["hostnames"] == ["models.example.com"]
    rule = spec["rules"][1]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/acme/mnist/eu/production/predict-digit"}}]
    header, mirror = rule["filters"]
    assert header["requestHeaderModifier"]["set"] == [
        {"name": "X-VH-Prefix", "value": "/acme/mnist/eu/production/predict-digit"}
    ]
    assert mirror["requestMirror"] == {
        "backendRef": {"name": naming.workload_name(SCOPE, "predict-digit", V3), "port": 80},
        "percent": 5,
    }
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [
        (naming.workload_name(SCOPE, "predict-digit", v), w) for v, w in ((V1, 60), (V2, 30), (V3, 10))
    ]


def test_gateway_version_route_has_no_weights_and_accepts_dotted_paths() -> None:
    manifest = gateway.http_route(version_route(SITE, V1, ENDPOINTS), _services(V1), _gateway_options())
    assert crd_errors(manifest) == []
    rule = manifest["spec"]["rules"][0]
    assert rule["backendRefs"] == [{"name": naming.workload_name(SCOPE, "greet-me", V1), "port": 80}]
    assert rule["matches"][0]["path"]["value"] == f"/acme/mnist/eu/{V1}/greet-me"


def test_traefik_basic_auth_runs_first_through_an_extension_ref() -> None:
    route = version_route(SITE, V1, ENDPOINTS)
    manifest = gateway.http_route(route, _services(V1), _gateway_options("traefik", auth=True))
    assert crd_errors(manifest) == []
    assert manifest["spec"]["rules"][0]["filters"][0] == {
        "type": "ExtensionRef",
        "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "basic-auth"},
    }
    middleware = gateway.traefik_middleware("basic-auth", "basic-auth", "acme/mnist", SCOPE, "mnist-eu")
    assert crd_errors(middleware) == []
    assert middleware["spec"]["basicAuth"]["secret"] == "basic-auth"


def test_envoy_security_policy_targets_its_route() -> None:
    route = alias_route(SITE, "staging", {V2: 100}, ENDPOINTS)
    policy = gateway.envoy_security_policy(route, "basic-auth", _gateway_options("envoy", auth=True))
    assert crd_errors(policy) == []
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route.object_name}
    ]
    assert policy["spec"]["basicAuth"] == {"users": {"name": "basic-auth"}}
    # Envoy's filters: no ExtensionRef in the route itself.
    manifest = gateway.http_route(route, _services(V2), _gateway_options("envoy", auth=True))
    assert all(f["type"] != "ExtensionRef" for r in manifest["spec"]["rules"] for f in r["filters"])


def test_the_crd_check_catches_bad_objects() -> None:
    manifest = gateway.http_route(version_route(SITE, V1, ENDPOINTS), _services(V1), _gateway_options())
    manifest["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    manifest["spec"]["rules"][0]["matches"][0]["path"]["kind"] = "typo"
    assert len(crd_errors(manifest)) == 2


@pytest.mark.parametrize("version", [V1, "1_0", "v2", "2018-10-02"])
def test_ingress_paths_pass_strict_path_validation(version: str) -> None:
    route = version_route(SITE, version, ENDPOINTS)
    (item,) = ingress.ingresses(route, _services(version), _ingress_options())
    for path in item.spec["rules"][0]["http"]["paths"]:
        assert path_problems(path["path"], path["pathType"]) == []
        # The portable Prefix wherever ingress-nginx allows it.
        assert path["pathType"] == ("ImplementationSpecific" if "." in version else "Prefix")


def test_the_strict_path_rule_refuses_what_the_controller_refuses() -> None:
    assert path_problems(f"/acme/mnist/eu/{V1}/greet-me", "Prefix")
    assert path_problems("/a/(.*)", "Exact")
    assert not path_problems("/acme/mnist/eu/production/greet-me", "Prefix")


def test_default_ingress_annotations_are_at_most_medium_risk() -> None:
    route = alias_route(SITE, "production", {V1: 90, V2: 10}, ENDPOINTS)
    items = ingress.ingresses(route, _services(V1, V2), _ingress_options())
    assert [i.canary for i in items] == [False, True]
    for item in items:
        assert annotation_problems(item.metadata["annotations"]) == []
    assert items[1].metadata["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert items[1].metadata["name"] == naming.alias_ingress_name(SCOPE, "production", canary=True)


def test_the_prefix_header_snippet_is_opt_in_and_critical() -> None:
    route = version_route(SITE, V1, ENDPOINTS)
    (plain,) = ingress.ingresses(route, _services(V1), _ingress_options())
    (snippet,) = ingress.ingresses(route, _services(V1), _ingress_options(prefix_header_snippet=True))
    assert "nginx.ingress.kubernetes.io/configuration-snippet" not in plain.metadata["annotations"]
    assert annotation_problems(snippet.metadata["annotations"]) == [
        "nginx.ingress.kubernetes.io/configuration-snippet: risk 3 is above 1"
    ]


def test_an_ingress_cannot_split_three_ways_or_mirror() -> None:
    three = alias_route(SITE, "p", {V1: 50, V2: 30, V3: 20}, ENDPOINTS)
    mirrored = alias_route(SITE, "p", {V1: 100}, ENDPOINTS, Mirror(V2, 10))
    for route in (three, mirrored):
        with pytest.raises(ValueError, match="two versions at most"):
            ingress.ingresses(route, _services(V1, V2, V3), _ingress_options())


def test_route_labels_name_the_version_or_alias() -> None:
    assert version_route(SITE, V1, ENDPOINTS).labels == {"app.kubernetes.io/version": V1}
    route: Route = alias_route(SITE, "staging", {V1: 100}, ENDPOINTS)
    assert route.labels == {"valohai.com/alias": "staging"} and route.component == "alias-routing"
