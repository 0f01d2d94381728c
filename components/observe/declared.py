"""What config and state say a stack holds: its versions and endpoints, aliases, cluster and metrics.

Config is read through the program's own settings (and plan, for each version's endpoints); state is
the stack outputs of the last `pulumi up` (`namespace`, `versionUrls`, `aliasUrls`, `images`,
`aliases`). When config does not pass the program's checks, the raw values still name the cluster
and the versions, so `status` shows what it can, with the config's problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.inputs import naming
from components.inputs.aliases import AliasTarget
from components.inputs.contract import url_prefix
from components.inputs.errors import ConfigError
from components.inputs.settings import StackSettings, settings_from_config
from components.stacks.stack_config import StackConfig

RoutingKind = Literal["ingress", "gateway"]


@dataclass(frozen=True)
class Declared:
    stack: str
    project_dir: Path
    owner: str
    project: str
    deployment: str
    namespace: str | None
    kubeconfig: str | None
    context: str | None
    render_directory: str | None
    prometheus: str | None
    routing_kind: RoutingKind
    # `routing.gateway.implementation` (traefik, envoy, other); None with ingress routing.
    gateway_implementation: str | None
    # Config: version -> its endpoints (empty when the plan could not be built), alias -> target.
    config_versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    config_aliases: dict[str, AliasTarget] = field(default_factory=dict)
    # State: version -> endpoint -> image (by digest), alias -> target, as the last `pulumi up` left them.
    state_images: dict[str, dict[str, str]] = field(default_factory=dict)
    state_aliases: dict[str, AliasTarget] = field(default_factory=dict)
    deployed: bool = False
    config_problems: tuple[str, ...] = ()

    @property
    def versions(self) -> list[str]:
        """Every version config or state names, config's order first."""
        return list(dict.fromkeys([*self.config_versions, *self.state_images]))

    @property
    def aliases(self) -> list[str]:
        return list(dict.fromkeys([*self.config_aliases, *self.state_aliases]))

    def endpoints(self, version: str) -> list[str]:
        """The endpoints config or state give a version."""
        return list(dict.fromkeys([*self.config_versions.get(version, ()), *self.state_images.get(version, {})]))

    def prefix(self, route: str, endpoint: str) -> str:
        """The URL prefix of a version's or alias's endpoint; the router sets it as `X-VH-Prefix`."""
        return url_prefix(self.owner, self.project, self.deployment, route, endpoint)

    def version_named(self, label: str) -> str:
        """The version whose `app.kubernetes.io/version` label is `label` (label values may be shortened)."""
        return next((v for v in self.versions if naming.label_value(v) == label), label)

    def resolve(self, path: str) -> str:
        """A path from config (kubeconfig), relative to the project directory as Pulumi runs the program."""
        expanded = Path(path).expanduser()
        return str(expanded if expanded.is_absolute() else self.project_dir / expanded)


def declared(config: StackConfig, outputs: dict[str, Any]) -> Declared:
    """Config (checked by the program's settings when it can be) joined with the stack outputs."""
    values = config.values
    problems: list[str] = []
    settings: StackSettings | None = None
    try:
        settings = settings_from_config(values, config.short_stack)
    except ConfigError as err:
        problems += err.problems
    config_versions = _config_versions(config, settings, values, problems)
    base = _from_settings(settings) if settings is not None else _from_raw(values, config.short_stack)
    raw_aliases = settings.aliases if settings is not None else _mapping(values.get("aliases"))
    return Declared(
        stack=config.stack,
        project_dir=config.project_dir,
        **base,
        namespace=_text(outputs.get("namespace")) or base_namespace(settings, values, config.short_stack),
        config_versions=config_versions,
        config_aliases={name: AliasTarget.of(target) for name, target in raw_aliases.items()},
        state_images={
            str(v): {str(e): str(image) for e, image in _mapping(images).items()}
            for v, images in _mapping(outputs.get("images")).items()
        },
        state_aliases={str(a): AliasTarget.of(t) for a, t in _mapping(outputs.get("aliases")).items()},
        deployed=bool(outputs),
        config_problems=tuple(problems),
    )


def base_namespace(settings: StackSettings | None, values: dict[str, Any], stack: str) -> str | None:
    """The namespace config names (before any `pulumi up`); None when config cannot say."""
    if settings is not None:
        return settings.namespace
    target = _mapping(values.get("target"))
    if target.get("namespace"):
        return str(target["namespace"])
    project, deployment = values.get("project"), values.get("deployment") or stack
    return naming.default_namespace(str(project), str(deployment)) if project else None


def _config_versions(
    config: StackConfig, settings: StackSettings | None, values: dict[str, Any], problems: list[str]
) -> dict[str, tuple[str, ...]]:
    names = list(settings.versions) if settings is not None else [str(v) for v in _mapping(values.get("versions"))]
    if settings is None:
        return dict.fromkeys(names, ())
    try:
        plan = config.plan(values)
    except ConfigError as err:
        problems += err.problems
        return dict.fromkeys(names, ())
    return {name: tuple(e.name for e in plan.versions[name].endpoints) for name in names}


def _from_settings(s: StackSettings) -> dict[str, Any]:
    gateway = s.routing.gateway
    return {
        "owner": s.owner,
        "project": s.project,
        "deployment": s.deployment,
        "kubeconfig": s.target.kubeconfig,
        "context": s.target.context,
        "render_directory": s.target.render_directory,
        "prometheus": s.observability.prometheus,
        "routing_kind": s.routing.kind,
        "gateway_implementation": gateway.implementation if gateway is not None else None,
    }


def _from_raw(values: dict[str, Any], stack: str) -> dict[str, Any]:
    target, routing = _mapping(values.get("target")), _mapping(values.get("routing"))
    gateway = _mapping(routing.get("gateway"))
    kind: RoutingKind = "gateway" if routing.get("kind") == "gateway" else "ingress"
    return {
        "owner": str(values.get("owner") or ""),
        "project": str(values.get("project") or ""),
        "deployment": str(values.get("deployment") or stack),
        "kubeconfig": _text(target.get("kubeconfig")),
        "context": _text(target.get("context")),
        "render_directory": _text(target.get("renderDirectory")),
        "prometheus": _text(_mapping(values.get("observability")).get("prometheus")),
        "routing_kind": kind,
        "gateway_implementation": str(gateway.get("implementation") or "other") if kind == "gateway" else None,
    }


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None
