"""Routing under Pulumi mocks, both kinds: identity, what a config edit changes, schema validity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.inputs import naming
from tests.crd_schemas import crd_errors
from tests.harness import BASE_SCOPE, Declared, Run, as_manifest, base_config, run_program
from tests.ingress_nginx_rules import annotation_problems, path_problems

V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:Middleware"
POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def _gateway(implementation: str = "traefik", **overrides: Any) -> dict[str, Any]:
    config = base_config(
        routing={
            "kind": "gateway",
            "gateway": {"name": "models", "namespace": "gateway-system", "implementation": implementation},
        },
        **overrides,
    )
    del config["tlsSecretName"]
    return config


def _three_versions(config: dict[str, Any]) -> dict[str, Any]:
    config["versions"][V3] = {"files": {"predict-digit": {"model": "models/digits-v2.json"}}}
    return config


def _changed(before: Run, after: Run) -> set[str]:
    old = {r.name: r.inputs for r in before.resources}
    return {r.name for r in after.resources if r.name in old and old[r.name] != r.inputs}


def _custom_resources(run: Run) -> list[Declared]:
    return [r for r in run.resources if r.typ in (HTTPROUTE, MIDDLEWARE, POLICY)]


def test_gateway_stack_identity(project_dir: Path) -> None:
    run = run_program(_gateway(basicAuth={"alice": "wonderland"}), project_dir)
    routing = {(t, n) for t, n in run.pairs if t in (HTTPROUTE, MIDDLEWARE, POLICY, INGRESS)}
    assert routing == {
        (HTTPROUTE, f"{V1}-route"),
        (HTTPROUTE, f"{V2}-route"),
        (HTTPROUTE, "production-route"),
        (HTTPROUTE, "staging-route"),
        (MIDDLEWARE, "deployment-basic-auth-middleware"),
    }
    assert ("valohai:index:AliasRouting", "production") in run.pairs


@pytest.mark.parametrize("implementation", ["traefik", "envoy", "other"])
def test_every_gateway_object_validates_against_its_crd(implementation: str, project_dir: Path) -> None:
    config = _three_versions(_gateway(implementation))
    mirror = {"mirror": {"version": V3, "percent": 10}} if implementation != "traefik" else {}
    config["aliases"] = {"production": {"versions": {V1: 50, V2: 30, V3: 20}, **mirror}, "staging": V2}
    if implementation != "other":
        config["basicAuth"] = {"alice": "wonderland", "bob": "builder"}
    run = run_program(config, project_dir)
    objects = _custom_resources(run)
    assert len([r for r in objects if r.typ == HTTPROUTE]) == 5
    assert len([r for r in objects if r.typ == POLICY]) == (5 if implementation == "envoy" else 0)
    assert len([r for r in objects if r.typ == MIDDLEWARE]) == (1 if implementation == "traefik" else 0)
    for resource in objects:
        assert crd_errors(as_manifest(resource.inputs)) == [], resource.name


def test_gateway_alias_splits_and_mirrors(project_dir: Path) -> None:
    config = _three_versions(_gateway("envoy"))
    config["aliases"] = {"production": {"versions": {V1: 50, V2: 30, V3: 20}, "mirror": {"version": V3, "percent": 10}}}
    run = run_program(config, project_dir)
    rule = as_manifest(run.by_name("production-route").inputs)["spec"]["rules"][0]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [
        (naming.workload_name(BASE_SCOPE, "greet-me", v), w) for v, w in ((V1, 50), (V2, 30), (V3, 20))
    ]
    mirror = next(f for f in rule["filters"] if f["type"] == "RequestMirror")["requestMirror"]
    assert mirror == {
        "backendRef": {"name": naming.workload_name(BASE_SCOPE, "greet-me", V3), "port": 80},
        "percent": 10,
    }
    assert run.outputs["aliases"]["production"]["mirror"] == {"version": V3, "percent": 10}


@pytest.mark.parametrize("kind", ["gateway", "ingress"])
def test_moving_an_alias_updates_only_its_route_object_in_place(kind: str, project_dir: Path) -> None:
    config = _gateway if kind == "gateway" else base_config
    before = run_program(config(), project_dir)
    moved = run_program(config(aliases={"production": V2, "staging": V2}), project_dir)
    name = "production-route" if kind == "gateway" else "production-ingress"
    assert moved.pairs == before.pairs
    assert _changed(before, moved) == {name}
    assert moved.by_name(name).inputs["metadata"]["name"] == before.by_name(name).inputs["metadata"]["name"]


@pytest.mark.parametrize("kind", ["gateway", "ingress"])
def test_a_new_version_adds_only_its_own_routes(kind: str, project_dir: Path) -> None:
    config = _gateway if kind == "gateway" else base_config
    before = run_program(config(basicAuth={"alice": "wonderland"}), project_dir)
    after = run_program(_three_versions(config(basicAuth={"alice": "wonderland"})), project_dir, after=before)
    assert before.pairs <= after.pairs
    assert _changed(before, after) == set()
    added = {(t, n) for t, n in after.pairs - before.pairs if t in (HTTPROUTE, INGRESS, POLICY)}
    assert added == ({(HTTPROUTE, f"{V3}-route")} if kind == "gateway" else {(INGRESS, f"{V3}-ingress")})


def test_envoy_gets_sha_lines_under_its_own_key(project_dir: Path) -> None:
    run = run_program(_gateway("envoy", basicAuth={"alice": "password"}), project_dir)
    assert run.by_name("deployment-basic-auth").inputs["stringData"] == {
        ".htpasswd": "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
    }
    policy = as_manifest(run.by_name("production-security-policy").inputs)
    assert policy["spec"]["targetRefs"][0]["name"] == naming.alias_ingress_name(BASE_SCOPE, "production")


def test_traefik_gets_bcrypt_lines_in_a_single_key_secret(project_dir: Path) -> None:
    run = run_program(_gateway("traefik", basicAuth={"alice": "wonderland"}), project_dir)
    data = run.by_name("deployment-basic-auth").inputs["stringData"]
    # Cost 5: the router checks it on every request (README, "Basic auth").
    assert list(data) == ["users"] and data["users"].startswith("alice:$2b$05$")
    middleware = as_manifest(run.by_name("deployment-basic-auth-middleware").inputs)
    # Stack-scoped, like the Secret: two stacks sharing a namespace keep separate users.
    secret_name = run.by_name("deployment-basic-auth").inputs["metadata"]["name"]
    assert middleware["metadata"]["name"] == secret_name != "basic-auth"
    assert middleware["spec"]["basicAuth"]["secret"] == secret_name
    for route in run.of_type("HTTPRoute"):
        for rule in route.inputs["spec"]["rules"]:
            assert rule["filters"][0]["extensionRef"]["name"] == middleware["metadata"]["name"], route.name


def test_a_short_basic_auth_password_gets_a_warning_without_its_value(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_args, **_kwargs: warnings.append(message))
    run_program(_gateway("traefik", basicAuth={"alice": "wonderland", "bob": "k3Jq9vXz2LmP8wRt4YbN"}), project_dir)
    auth_warnings = [w for w in warnings if "basicAuth" in w]
    assert len(auth_warnings) == 1 and auth_warnings[0].startswith("basicAuth.alice: the password is shorter than 16")
    assert "wonderland" not in auth_warnings[0]


def test_alias_names_that_used_to_collide_now_coexist(project_dir: Path) -> None:
    config = base_config(aliases={"prod": {V1: 90, V2: 10}, "prod-canary": V2})
    run = run_program(config, project_dir)
    assert {"prod-ingress", "prod-ingress-canary", "prod-canary-ingress"} <= {n for _, n in run.pairs}
    assert len(run.resources) == len(run.pairs)


def test_ingress_objects_pass_ingress_nginx_admission_by_default(project_dir: Path) -> None:
    config = base_config(aliases={"production": V1, "staging": {V2: 90, V1: 10}}, basicAuth={"alice": "wonderland"})
    run = run_program(config, project_dir)
    ingresses = run.of_type(":Ingress")
    assert len(ingresses) == 5
    for resource in ingresses:
        assert annotation_problems(resource.inputs["metadata"]["annotations"]) == [], resource.name
        for path in resource.inputs["spec"]["rules"][0]["http"]["paths"]:
            assert path_problems(path["path"], path["pathType"]) == [], resource.name


def test_prefix_header_snippet_and_class_name_come_from_routing_ingress(project_dir: Path) -> None:
    config = base_config(routing={"kind": "ingress", "ingress": {"className": "public", "prefixHeaderSnippet": True}})
    run = run_program(config, project_dir)
    ingress = run.by_name("production-ingress").inputs
    assert ingress["spec"]["ingressClassName"] == "public"
    assert "X-VH-Prefix" in ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/configuration-snippet"]


def test_the_deprecated_ingress_class_name_still_works(project_dir: Path) -> None:
    run = run_program(base_config(ingressClassName="legacy"), project_dir)
    assert run.by_name(f"{V1}-ingress").inputs["spec"]["ingressClassName"] == "legacy"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"routing": {"kind": "gateway"}}, "config: routing: kind gateway needs gateway:"),
        (
            {"routing": {"kind": "gateway", "gateway": {"name": "g", "namespace": "n"}}, "basicAuth": {"a": "b"}},
            "config: basicAuth: Gateway API has no basic auth of its own; set routing.gateway.implementation",
        ),
        (
            {"aliases": {"production": {V1: 50, V2: 30, "x": 20}}},
            "config: aliases.production: a traffic split takes exactly 2 versions with routing.kind ingress (got 3)",
        ),
        (
            {"aliases": {"production": {"versions": {V1: 100}, "mirror": {"version": V2, "percent": 10}}}},
            "config: aliases.production.mirror: mirrored traffic needs routing.kind gateway",
        ),
        ({"routing": {"kind": "ingress", "ingres": {}}}, "config: routing.ingres: unknown key"),
        (
            {"ingressClassName": "a", "routing": {"ingress": {"className": "b"}}},
            "config: ingressClassName: deprecated, and routing.ingress.className is set too",
        ),
    ],
    ids=[
        "gateway-without-ref",
        "auth-without-implementation",
        "three-way-ingress",
        "mirror-on-ingress",
        "typo",
        "both-class-names",
    ],
)
def test_bad_routing_settings_fail_before_any_resource(
    change: dict[str, Any], expected: str, project_dir: Path
) -> None:
    recorded = Run()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(base_config(**change), project_dir, run=recorded)
    assert recorded.resources == []
    assert any(line.startswith(expected) for line in str(caught.value).splitlines()), str(caught.value)


def test_a_mirror_on_traefik_is_refused(project_dir: Path) -> None:
    config = _gateway(
        "traefik", aliases={"production": {"versions": {V1: 100}, "mirror": {"version": V2, "percent": 5}}}
    )
    with pytest.raises(pulumi.RunError, match="Traefik does not implement RequestMirror"):
        run_program(config, project_dir)


def test_a_mirror_must_serve_the_aliases_endpoints(project_dir: Path) -> None:
    config = _gateway("envoy", aliases={"production": {"versions": {V1: 100}, "mirror": {"version": V3, "percent": 5}}})
    config["versions"][V3] = {
        "files": {"predict-digit": {"model": "models/digits-v2.json"}},
        "endpoints": ["predict-digit"],
    }
    with pytest.raises(pulumi.RunError, match="versions in a split must enable the same endpoints"):
        run_program(config, project_dir)


@pytest.mark.parametrize(
    ("aliases", "kept"), [({"prod": {V1: 90, V2: 10}}, True), ({"prod": {V1: 90, V2: 10}, "prod-canary": V2}, False)]
)
def test_the_canary_keeps_its_old_logical_name_as_a_pulumi_alias(
    aliases: dict[str, Any], kept: bool, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Existing stacks' `<alias>-canary-ingress` is adopted, unless alias `<alias>-canary` now owns that name."""
    import pulumi_kubernetes as k8s

    seen: dict[str, list[Any]] = {}
    real = k8s.networking.v1.Ingress

    def recording(name: str, **kwargs: Any) -> Any:
        seen[name] = list(kwargs["opts"].aliases or [])
        return real(name, **kwargs)

    monkeypatch.setattr(k8s.networking.v1, "Ingress", recording)
    run_program(base_config(aliases=aliases), project_dir)
    legacy = [a.name for a in seen["prod-ingress-canary"]]
    assert legacy == (["prod-canary-ingress"] if kept else [])
    assert seen["prod-ingress"] == []
