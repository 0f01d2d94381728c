"""The route model: for each version and alias, its path prefixes, X-VH-Prefix values and backends.

Pure data from user-visible names only; both renderers (gateway, ingress) read it, so a version
and an alias are routed the same way whatever objects the cluster gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from components.inputs import naming
from components.inputs.aliases import Mirror
from components.inputs.contract import url_prefix

RouteKind = Literal["version", "alias"]


@dataclass(frozen=True)
class Backend:
    version: str
    weight: int


@dataclass(frozen=True)
class Rule:
    """One endpoint under one route: requests under `prefix` go to `backends` by weight."""

    endpoint: str
    prefix: str
    backends: tuple[Backend, ...]
    mirror: Mirror | None = None


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    # The version or alias name: the fourth URL segment.
    name: str
    rules: tuple[Rule, ...]
    # The stack the route belongs to: part of every object name it gets.
    scope: naming.Scope

    @property
    def object_name(self) -> str:
        """Kubernetes name of the route object (Ingress or HTTPRoute): the stack and the route's name."""
        if self.kind == "version":
            return naming.version_ingress_name(self.scope, self.name)
        return naming.alias_ingress_name(self.scope, self.name)

    @property
    def component(self) -> str:
        return f"{self.kind}-routing"

    @property
    def labels(self) -> dict[str, str]:
        if self.kind == "version":
            return {naming.VERSION_LABEL: naming.label_value(self.name)}
        return {naming.ALIAS_LABEL: self.name}

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version this route sends traffic to (mirrors included), heaviest first."""
        seen = [b.version for rule in self.rules for b in rule.backends]
        seen += [rule.mirror.version for rule in self.rules if rule.mirror]
        return tuple(dict.fromkeys(seen))


@dataclass(frozen=True)
class Site:
    """The URL segments every route of a deployment starts with."""

    owner: str
    project: str
    deployment: str

    def prefix(self, name: str, endpoint: str) -> str:
        return url_prefix(self.owner, self.project, self.deployment, name, endpoint)

    @property
    def scope(self) -> naming.Scope:
        return naming.Scope(self.owner, self.project, self.deployment)


def version_route(site: Site, version: str, endpoints: Iterable[str]) -> Route:
    rules = tuple(Rule(e, site.prefix(version, e), (Backend(version, 100),)) for e in endpoints)
    return Route("version", version, rules, site.scope)


def alias_route(
    site: Site, alias: str, weights: Mapping[str, int], endpoints: Iterable[str], mirror: Mirror | None = None
) -> Route:
    """`weights` is version -> weight, heaviest first; `endpoints` are those every split version serves."""
    backends = tuple(Backend(v, w) for v, w in weights.items())
    rules = tuple(Rule(e, site.prefix(alias, e), backends, mirror) for e in endpoints)
    return Route("alias", alias, rules, site.scope)


def url(host: str | None, scheme: str, path: str) -> str:
    """The URL a user calls; a trailing slash so relative links in the endpoint resolve under it."""
    if not host:
        return f"{path}/"
    return f"{scheme}://{host}{path}/"
