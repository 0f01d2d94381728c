"""Aliases: the forms a user writes, parsed in one place, and the rules a routing kind sets on them.

    production: "20181002.0"                                  one version takes all traffic
    production: {"20181002.0": 90, "20181003.0": 10}          a weighted split
    production: {versions: {...} or "v", mirror: {version, percent}}   plus shadow traffic

The program (settings, plan, routes), every command and the preview summary read aliases through
`AliasTarget`; the pydantic types below are the schema `settings` validates config against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.alias_generators import to_camel

RoutingKind = Literal["ingress", "gateway"]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class MirrorConfig(_Schema):
    """Shadow traffic: a copy of `percent` % of the alias's requests also goes to `version`."""

    version: str
    percent: Annotated[int, Field(ge=1, le=100)]


class SplitConfig(_Schema):
    """The long alias form: `{versions: {version: weight}, mirror: {version, percent}}`."""

    versions: dict[str, int]
    mirror: MirrorConfig | None = None


def _shape(value: Any) -> str:
    # A version may be named "versions", so the long form is recognised by its value's shape too.
    if isinstance(value, dict) and isinstance(value.get("versions"), dict):
        return "split"
    return "mapping" if isinstance(value, dict) else "plain"


# Tags pydantic adds to error locations of a discriminated union; messages leave them out.
UNION_TAGS = ("plain", "mapping", "split")
AliasConfig = Annotated[
    Annotated[str, Tag("plain")] | Annotated[dict[str, int], Tag("mapping")] | Annotated[SplitConfig, Tag("split")],
    Discriminator(_shape),
]


@dataclass(frozen=True)
class Mirror:
    version: str
    percent: int


@dataclass(frozen=True)
class AliasTarget:
    """Where an alias sends traffic: version -> weight (heaviest first) and an optional mirror.

    Equality ignores the order versions were written in: two targets route alike when equal.
    """

    weights: Mapping[str, int] = field(default_factory=dict)
    mirror: Mirror | None = None

    @classmethod
    def of(cls, value: Any) -> AliasTarget:
        """Any of the forms above (config, stack outputs, a preview); a shape it cannot read routes nowhere."""
        if isinstance(value, AliasTarget):
            return value
        if isinstance(value, SplitConfig):
            mirror = Mirror(value.mirror.version, value.mirror.percent) if value.mirror else None
            return cls(_heaviest_first(value.versions), mirror)
        if isinstance(value, str):
            return cls({value: 100})
        if not isinstance(value, Mapping):
            return cls()
        # The long form; `versions` may also name one version. A version named "versions" has a number.
        if isinstance(value.get("versions"), Mapping | str):
            raw_mirror = value.get("mirror")
            mirror = None
            if isinstance(raw_mirror, Mapping) and raw_mirror.get("version"):
                mirror = Mirror(str(raw_mirror["version"]), _int(raw_mirror.get("percent", 100)))
            return cls(cls.of(value["versions"]).weights, mirror)
        return cls(_heaviest_first({str(v): _int(w) for v, w in value.items()}))

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version the alias sends requests to (the mirror included), heaviest first."""
        routed = [*self.weights, *([self.mirror.version] if self.mirror else [])]
        return tuple(dict.fromkeys(routed))

    @property
    def primary(self) -> str | None:
        """The heaviest version: it takes an Ingress pair's primary route."""
        return next(iter(self.weights), None)

    @property
    def is_split(self) -> bool:
        return len(self.weights) > 1

    def to_config(self) -> str | dict[str, Any]:
        """The shortest form a user writes for this target."""
        weights: str | dict[str, int] = dict(self.weights)
        if len(self.weights) == 1 and next(iter(self.weights.values())) == 100:
            weights = next(iter(self.weights))
        if self.mirror is None:
            return weights
        return {"versions": weights, "mirror": {"version": self.mirror.version, "percent": self.mirror.percent}}

    def describe(self) -> str:
        """`20181002.0`, `20181002.0 90% / 20181003.0 10%`, `... + mirror 20181004.0 5%`, or `(none)`."""
        if not self.weights:
            return "(none)"
        if len(self.weights) == 1:
            text = next(iter(self.weights))
        else:
            text = " / ".join(f"{v} {w}%" for v, w in self.weights.items())
        if self.mirror:
            text += f" + mirror {self.mirror.version} {self.mirror.percent}%"
        return text


def describe(value: Any) -> str:
    """`AliasTarget.describe` of any alias form; `(none)` for an alias that does not exist (None)."""
    return "(none)" if value is None else AliasTarget.of(value).describe()


def problems(
    where: str,
    target: AliasTarget,
    versions: Mapping[str, object],
    kind: RoutingKind,
    implementation: str | None,
) -> list[str]:
    """What is wrong with `target` for a stack with these versions and this routing, one line each."""
    found = _weight_problems(where, target.weights, kind)
    found += [
        f"{where}: points to version '{version}', which is not in versions; "
        f"point it at one of: {', '.join(versions) or '(no versions)'}, or add that version back"
        for version in target.versions
        if version not in versions
    ]
    if target.mirror is not None:
        found += _mirror_problems(where, kind, implementation)
    return found


def _weight_problems(where: str, weights: Mapping[str, int], kind: RoutingKind) -> list[str]:
    if not weights:
        return [f"{where}: name a version, or a map of version: weight"]
    gateway = kind == "gateway"
    if len(weights) == 1 and not gateway:
        return []
    found = []
    if len(weights) > 2 and not gateway:
        # ingress-nginx routes one canary per host and path, so a split has two sides.
        found.append(
            f"{where}: a traffic split takes exactly 2 versions with routing.kind ingress (got {len(weights)}); "
            "routing.kind gateway splits across any number"
        )
    low, high = (1, 100) if gateway else (1, 99)
    if any(w < low or w > high for w in weights.values()):
        found.append(f"{where}: each weight of a split must be between {low} and {high}")
    if sum(weights.values()) != 100:
        found.append(f"{where}: weights must sum to 100 (got {sum(weights.values())})")
    return found


def _mirror_problems(where: str, kind: RoutingKind, implementation: str | None) -> list[str]:
    if kind != "gateway":
        return [f"{where}.mirror: mirrored traffic needs routing.kind gateway (an Ingress cannot mirror)"]
    if implementation == "traefik":
        # Traefik refuses a route with a filter it does not implement, RequestMirror among them
        # (pkg/provider/kubernetes/gateway/httproute.go, loadMiddlewares: "unsupported filter").
        return [f"{where}.mirror: Traefik does not implement RequestMirror; remove the mirror"]
    return []


def _heaviest_first(weights: Mapping[str, int]) -> dict[str, int]:
    # Stable: versions of equal weight keep the order they were written in.
    return dict(sorted(weights.items(), key=lambda kv: -kv[1]))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
