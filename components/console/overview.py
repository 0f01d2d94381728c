"""What a stack's page shows, as plain data (its JSON form and the template's context are the same):
the deployment's URLs, versions (commit, file sources, endpoints), aliases as config writes them,
and the status model of `components/observe` (workloads, routes, traffic) as `status --json` prints it.
"""

from __future__ import annotations

from typing import Any

from components.console.stack_source import StackSource
from components.inputs.aliases import AliasTarget, describe
from components.inputs.errors import ConfigError
from components.stacks.stack_config import StackConfig

JsonObject = dict[str, Any]


def stack_overview(source: StackSource, status: JsonObject | None, status_problems: list[str]) -> JsonObject:
    """The page's data; `status` is the observe model's JSON (None when it could not be read)."""
    config = source.config()
    outputs = source.outputs()
    settings, problems = source.console_settings()
    values = config.values
    planned, plan_problems = _planned_endpoints(config)
    versions = {
        name: _version(name, _mapping(spec), planned.get(name), outputs, status)
        for name, spec in _mapping(values.get("versions")).items()
    }
    return {
        "stack": config.stack,
        "deployment": _deployment(config),
        "allowApply": not problems and settings.allows_apply(config.short_stack),
        "deployed": bool(outputs),
        "urls": {
            "aliases": _mapping(outputs.get("aliasUrls")),
            "versions": _mapping(outputs.get("versionUrls")),
        },
        "versions": versions,
        "endpoints": list(dict.fromkeys(e for version in versions.values() for e in version["endpoints"])),
        "aliases": _aliases(_mapping(values.get("aliases")), _mapping(_mapping(status).get("aliases"))),
        "status": status,
        "problems": [*problems, *plan_problems, *status_problems],
    }


def _deployment(config: StackConfig) -> JsonObject:
    values = config.values
    routing = _mapping(values.get("routing"))
    gateway = _mapping(routing.get("gateway"))
    kind = str(routing.get("kind") or "ingress")
    return {
        "owner": values.get("owner"),
        "project": values.get("project"),
        "name": values.get("deployment") or config.short_stack,
        "host": values.get("host") or None,
        "routing": kind
        + (f" ({gateway['implementation']})" if kind == "gateway" and "implementation" in gateway else ""),
    }


def _planned_endpoints(config: StackConfig) -> tuple[dict[str, list[str]], list[str]]:
    """Each version's endpoints as the program plans them; the program's messages when it refuses."""
    try:
        plan = config.plan()
    except ConfigError as err:
        return {}, [f"config: {line}" if not line.startswith("config") else line for line in err.problems]
    return {name: [e.name for e in version.endpoints] for name, version in plan.versions.items()}, []


def _version(
    name: str, spec: JsonObject, planned: list[str] | None, outputs: JsonObject, status: JsonObject | None
) -> JsonObject:
    urls = _mapping(_mapping(outputs.get("versionUrls")).get(name))
    observed = _mapping(_mapping(_mapping(_mapping(status).get("versions")).get(name)).get("endpoints"))
    endpoints = list(dict.fromkeys([*(planned or []), *urls, *observed]))
    return {
        "commit": str(spec.get("commit") or "HEAD"),
        # Sources only: a version's env may hold secrets and is never shown.
        "files": {
            endpoint: {file: _source(source) for file, source in _mapping(files).items()}
            for endpoint, files in _mapping(spec.get("files")).items()
        },
        "endpoints": endpoints,
    }


def _aliases(configured: JsonObject, observed: JsonObject) -> JsonObject:
    """Per alias: where config points it and where the cluster's route does, and whether they agree."""
    result = {}
    for name in dict.fromkeys([*configured, *observed]):
        target = configured.get(name)
        seen = _mapping(observed.get(name))
        weights = seen.get("cluster")
        cluster = (
            AliasTarget.of({"versions": weights, "mirror": _mapping(seen.get("mirror")).get("cluster")})
            if isinstance(weights, dict) and weights
            else None
        )
        result[name] = {
            "config": target,
            "describe": describe(target) if target is not None else "(not in config)",
            "cluster": cluster.describe() if cluster else None,
            "inSync": None if cluster is None or target is None else cluster == AliasTarget.of(target),
        }
    return result


def _source(source: Any) -> str:
    if isinstance(source, dict):
        return str(source.get("url") or source)
    return str(source)


def _mapping(value: Any) -> JsonObject:
    return dict(value) if isinstance(value, dict) else {}
