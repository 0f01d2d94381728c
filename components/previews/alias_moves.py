"""Where each alias pointed before a preview and where it points after, and the lines saying so.

The last deployed `aliases` output and the previewed config are exact; the alias route objects'
old and new inputs fill in when either is missing (a first deploy, an older stack).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from components.inputs import naming
from components.inputs.aliases import AliasTarget, describe
from components.inputs.rollout import RolloutConfig, promoted_version, start_share
from components.previews.escape import code, text
from components.previews.steps import REPLACEMENT_HALVES, STACK, Step, as_int, dig, json_config

# Route objects: Ingresses today, Gateway API routes in gateway mode.
ROUTE_KINDS = ("Ingress", "HTTPRoute", "GRPCRoute")
NGINX = "nginx.ingress.kubernetes.io"


def version_by_service(document: dict[str, Any], steps: list[Step], project: str) -> dict[str, str]:
    """Service name -> version: a preview lists only changed objects, so unchanged Services are
    named the way the program names them (naming.workload_name) from the stack, versions and
    endpoints the preview mentions (route paths name the stack); the version labels of Services
    and Deployments in the preview add to that.
    """
    versions = set(json_config(document, f"{project}:versions") or {})
    versions |= {s.name for s in steps if s.type == naming.VERSION_TYPE}
    endpoints, scope = _routed_endpoints(steps)
    for step in steps:
        if step.type == STACK:
            urls = dig(step.old, "outputs", "versionUrls")
            for version, by_endpoint in (urls or {}).items() if isinstance(urls, dict) else ():
                versions.add(version)
                endpoints |= set(by_endpoint) if isinstance(by_endpoint, dict) else set()
    result = {naming.workload_name(scope, e, v): v for v in versions for e in endpoints if e} if scope else {}
    for step in steps:
        if step.kind not in ("Service", "Deployment"):
            continue
        for which in ("old", "new"):
            name = dig(step.inputs(which), "metadata", "name")
            version = dig(step.inputs(which), "metadata", "labels", naming.VERSION_LABEL)
            if isinstance(name, str) and isinstance(version, str):
                result[name] = version
    return result


def _routed_endpoints(steps: list[Step]) -> tuple[set[str], naming.Scope | None]:
    """Endpoints the route objects' paths name, and the stack: paths are
    /<owner>/<project>/<deployment>/<version or alias>/<endpoint>."""
    endpoints: set[str] = set()
    scope = None
    for step in steps:
        if step.kind not in ROUTE_KINDS:
            continue
        for path in _route_paths(step):
            segments = path.strip("/").split("/")
            endpoints.add(segments[-1])
            if len(segments) >= 5:
                scope = naming.Scope(*segments[:3])
    return endpoints, scope


def _route_paths(step: Step) -> set[str]:
    paths: set[str] = set()
    for which in ("old", "new"):
        for rule in dig(step.inputs(which), "spec", "rules") or []:
            paths |= {p for p in (dig(path, "path") for path in dig(rule, "http", "paths") or []) if isinstance(p, str)}
            paths |= {p for p in (dig(m, "path", "value") for m in dig(rule, "matches") or []) if isinstance(p, str)}
    return paths


def _route_alias(step: Step, which: str) -> str | None:
    label = dig(step.inputs(which), "metadata", "labels", naming.ALIAS_LABEL)
    if isinstance(label, str):
        return label
    if naming.ALIAS_TYPE in step.parent_types:
        return naming.route_owner(step.name)
    return None


def _route_backends(inputs: dict[str, Any]) -> tuple[dict[str, int | None], dict[str, int]]:
    """Service -> weight (None: the primary of an Ingress pair) and mirrored service -> percent."""
    weights: dict[str, int | None] = {}
    mirrors: dict[str, int] = {}
    annotations = dig(inputs, "metadata", "annotations") or {}
    canary = isinstance(annotations, dict) and annotations.get(f"{NGINX}/canary") == "true"
    canary_weight = as_int(annotations.get(f"{NGINX}/canary-weight")) if canary else None
    for rule in dig(inputs, "spec", "rules") or []:
        for path in dig(rule, "http", "paths") or []:
            service = dig(path, "backend", "service", "name")
            if isinstance(service, str):
                weights[service] = canary_weight
        for ref in dig(rule, "backendRefs") or []:
            service = dig(ref, "name")
            if isinstance(service, str):
                weights[service] = as_int(dig(ref, "weight"), default=1)
        for flt in dig(rule, "filters") or []:
            service = dig(flt, "requestMirror", "backendRef", "name")
            if isinstance(service, str):
                mirrors[service] = _mirror_percent(dig(flt, "requestMirror"))
    return weights, mirrors


def _mirror_percent(mirror: Any) -> int:
    if not isinstance(mirror, dict):
        return 100
    if "percent" in mirror:
        return as_int(mirror["percent"], default=100)
    fraction = mirror.get("fraction")
    if isinstance(fraction, dict) and as_int(fraction.get("denominator"), default=100):
        return round(100 * as_int(fraction.get("numerator")) / as_int(fraction.get("denominator"), default=100))
    return 100


def aliases_from_routes(steps: list[Step], which: str, services: dict[str, str]) -> dict[str, AliasTarget]:
    """Alias -> where its route objects' old or new inputs send traffic."""
    collected: dict[str, tuple[dict[str, int | None], dict[str, int]]] = {}
    for step in steps:
        if step.kind not in ROUTE_KINDS or step.op in REPLACEMENT_HALVES:
            continue
        if (which == "old" and step.op == "create") or (which == "new" and step.op == "delete"):
            continue
        alias = _route_alias(step, which)
        if alias is None:
            continue
        weights, mirrors = _route_backends(step.inputs(which))
        into = collected.setdefault(alias, ({}, {}))
        into[0].update({services.get(s, s): w for s, w in weights.items()})
        into[1].update({services.get(s, s): p for s, p in mirrors.items()})
    result: dict[str, AliasTarget] = {}
    for alias, (weights, mirrors) in collected.items():
        explicit = sum(w for w in weights.values() if w is not None)
        resolved = {v: (w if w is not None else 100 - explicit) for v, w in weights.items()}
        total = sum(resolved.values()) or 1
        if len(resolved) > 1:
            resolved = {v: round(100 * w / total) for v, w in resolved.items()}
        else:  # one backend takes all traffic, whatever weight it carries
            resolved = dict.fromkeys(resolved, 100)
        mirror = next(({"version": v, "percent": p} for v, p in mirrors.items()), None)
        result[alias] = AliasTarget.of({"versions": resolved, "mirror": mirror})
    return result


def _output_aliases(steps: list[Step]) -> dict[str, Any] | None:
    for step in steps:
        if step.type == STACK:
            value = dig(step.old, "outputs", "aliases")
            return value if isinstance(value, dict) else None
    return None


Move = tuple[str, AliasTarget | None, AliasTarget | None]


def alias_moves(document: dict[str, Any], steps: list[Step], project: str) -> list[Move]:
    """(alias, before, after) per alias whose routing changes; None where it does not exist."""
    services = version_by_service(document, steps, project)
    route_old, route_new = aliases_from_routes(steps, "old", services), aliases_from_routes(steps, "new", services)
    deployed = _output_aliases(steps)
    configured = json_config(document, f"{project}:aliases")
    # The last deployed `aliases` output and the previewed config are exact; route objects fill in.
    first_deploy = any(s.type == STACK and s.op == "create" for s in steps)
    old: dict[str, Any] = deployed if deployed is not None else ({} if first_deploy else {**route_old})
    new: dict[str, Any] = configured if configured is not None else {**old, **route_new}
    if deployed is None and not first_deploy:
        # Without recorded outputs only aliases whose route objects change are known to move.
        new = {a: t for a, t in new.items() if a in route_new or a in route_old}
    moves: list[Move] = []
    for alias in sorted(set(old) | set(new)):
        before = AliasTarget.of(old[alias]) if alias in old else None
        after = AliasTarget.of(new[alias]) if alias in new else None
        if before is None or after is None or before != after:
            moves.append((alias, before, after))
    return moves


def alias_changes(moves: list[Move]) -> list[str]:
    """`production: 20181002.0 → 20181003.0` per alias whose routing changes."""
    return [
        f"{code(alias)}{_alias_tag(before, after)}: {text(describe(before))} → {text(describe(after))}"
        for alias, before, after in moves
    ]


def promotions(document: dict[str, Any], moves: list[Move], project: str) -> list[str]:
    """How the deploy moves each promoted alias: in guarded steps per the `rollout` config, or at once."""
    raw = json_config(document, f"{project}:rollout")
    try:
        rollout = RolloutConfig.model_validate(raw or {})
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        return [f"⚠️ `rollout` config is refused ({text(where)}: {text(problem['msg'])}); the deploy will fail"]
    lines = []
    for alias, before, after in moves:
        version = promoted_version(before, after)
        if version is None or before is None:
            continue
        policy = rollout.policy(alias)
        if policy.guarded:
            lines.append(f"{code(alias)} → {text(version)}: {text(policy.describe(start_share(before, version)))}")
        else:
            lines.append(f"{code(alias)} → {text(version)}: all at once (`rollout` steps: [] for this alias)")
    return lines


def _alias_tag(before: AliasTarget | None, after: AliasTarget | None) -> str:
    if before is None:
        return " (new alias)"
    if after is None:
        return " (removed)"
    same_versions = set(before.weights) == set(after.weights)
    if same_versions and before.weights != after.weights and before.mirror == after.mirror:
        return " (weights)"
    if before.weights == after.weights and before.mirror != after.mirror:
        return " (mirror)"
    return ""
