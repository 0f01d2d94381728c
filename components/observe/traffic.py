"""The traffic reader: request figures per version endpoint, per alias endpoint and per (alias, version).

    report = read_traffic(prometheus, targets, window_seconds=300)
    report.versions[("20181002.0", "greet-me")].requests_per_second
    report.aliases[("production", "greet-me")].p95_seconds
    report.pair("production", "20181002.0")      # all endpoints; None when not measurable

`targets` says which of the router's series belong to the stack (built by `status` from the
cluster's Services and routes); four named queries (`promql.traffic_queries`) read everything at
one moment, and `from_samples` (pure) turns their answers into `Traffic` figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from components.observe import promql
from components.observe.figures import Traffic
from components.observe.prometheus import Prometheus, Sample

VersionKey = tuple[str, str]  # (version, endpoint)
AliasKey = tuple[str, str]  # (alias, endpoint)
PairKey = tuple[str, str, str]  # (alias, version, endpoint)
Key = TypeVar("Key", VersionKey, PairKey)


@dataclass(frozen=True)
class TrafficTargets:
    """Which series are the stack's: Traefik service -> (version, endpoint); HTTPRoute -> (alias, rule
    index -> endpoint); an alias endpoint's X-VH-Prefix -> (alias, endpoint)."""

    namespace: str
    services: Mapping[str, VersionKey] = field(default_factory=dict)
    alias_routes: Mapping[str, tuple[str, Mapping[int, str]]] = field(default_factory=dict)
    alias_prefixes: Mapping[str, AliasKey] = field(default_factory=dict)


@dataclass(frozen=True)
class TrafficReport:
    window_seconds: float
    versions: Mapping[VersionKey, Traffic]
    aliases: Mapping[AliasKey, Traffic]
    # Requests and 5xx only (latency per pair is not measured); empty unless `pairs_measured`.
    pairs: Mapping[PairKey, Traffic]
    # The router labels service requests with their X-VH-Prefix (or there was no request at all).
    pairs_measured: bool

    def version(self, version: str, endpoint: str) -> Traffic:
        return self.versions.get((version, endpoint)) or Traffic(self.window_seconds)

    def alias(self, alias: str, endpoint: str | None = None) -> Traffic:
        """An alias's traffic on one endpoint, or on all of them."""
        return Traffic.merge(
            self.window_seconds,
            (t for (a, e), t in self.aliases.items() if a == alias and endpoint in (None, e)),
        )

    def pair(self, alias: str, version: str, endpoint: str | None = None) -> Traffic | None:
        """The requests `version` got through `alias` (one endpoint, or all); None when not measurable."""
        if not self.pairs_measured:
            return None
        return Traffic.merge(
            self.window_seconds,
            (t for (a, v, e), t in self.pairs.items() if a == alias and v == version and endpoint in (None, e)),
        )


def read_traffic(
    prometheus: Prometheus, targets: TrafficTargets, window_seconds: int, at: float | None = None
) -> TrafficReport:
    """Every figure at one moment `at` (default: now); raises `MetricsError` when the server cannot answer."""
    moment = time.time() if at is None else at
    answers = {q.name: prometheus.query(q, moment) for q in promql.traffic_queries(targets.namespace, window_seconds)}
    return from_samples(targets, window_seconds, answers)


def from_samples(targets: TrafficTargets, window_seconds: float, answers: Mapping[str, list[Sample]]) -> TrafficReport:
    """The figures from the four queries' answers (query name -> samples)."""
    versions, pairs = Tally[VersionKey](), Tally[PairKey]()
    prefixed = False
    for sample in answers.get("service-requests", []):
        key = targets.services.get(sample.labels.get("service", ""))
        if key is None:
            continue
        versions.add(key, sample)
        prefix = sample.labels.get(promql.PREFIX_LABEL, "")
        prefixed = prefixed or bool(prefix)
        via = targets.alias_prefixes.get(prefix)
        if via is not None:
            pairs.add((via[0], key[0], key[1]), sample)
    for sample in answers.get("service-latency", []):
        if (key := targets.services.get(sample.labels.get("service", ""))) is not None:
            versions.bucket(key, sample)
    aliases = Tally[AliasKey]()
    for sample in answers.get("router-requests", []):
        if (alias_key := _alias_key(targets, sample)) is not None:
            aliases.add(alias_key, sample)
    for sample in answers.get("router-latency", []):
        if (alias_key := _alias_key(targets, sample)) is not None:
            aliases.bucket(alias_key, sample)
    # Without any request there is nothing to label; zero per pair is then exact.
    measured = prefixed or not answers.get("service-requests")
    return TrafficReport(
        window_seconds=window_seconds,
        versions=versions.figures(window_seconds),
        aliases=aliases.figures(window_seconds),
        pairs=pairs.figures(window_seconds) if measured else {},
        pairs_measured=measured,
    )


def _alias_key(targets: TrafficTargets, sample: Sample) -> AliasKey | None:
    """The alias and endpoint of a router's sample; None for routers of anything else."""
    found = promql.router_rule(sample.labels.get("router", ""), targets.namespace, set(targets.alias_routes))
    if found is None:
        return None
    alias, endpoints = targets.alias_routes[found[0]]
    endpoint = endpoints.get(found[1])
    return (alias, endpoint) if endpoint else None


class Tally(Generic[Key]):
    """Requests, 5xx (by `status_label`: Traefik's `code`, ingress-nginx's `status`) and bucket increases
    per key, summed over the labels a key does not name."""

    def __init__(self) -> None:
        self.requests: dict[Key, float] = {}
        self.errors: dict[Key, float] = {}
        self.buckets: dict[Key, dict[float, float]] = {}

    def add(self, key: Key, sample: Sample, status_label: str = "code") -> None:
        self.requests[key] = self.requests.get(key, 0.0) + sample.value
        if sample.labels.get(status_label, "").startswith("5"):
            self.errors[key] = self.errors.get(key, 0.0) + sample.value

    def bucket(self, key: Key, sample: Sample) -> None:
        try:
            bound = float(sample.labels["le"])
        except (KeyError, ValueError):
            return
        per_bound = self.buckets.setdefault(key, {})
        per_bound[bound] = per_bound.get(bound, 0.0) + sample.value

    def figures(self, window_seconds: float) -> dict[Key, Traffic]:
        keys: Iterable[Key] = dict.fromkeys(list(self.requests) + list(self.buckets))
        return {
            key: Traffic(
                window_seconds,
                requests=self.requests.get(key, 0.0),
                errors=self.errors.get(key, 0.0),
                buckets=tuple(sorted(self.buckets.get(key, {}).items())),
            )
            for key in keys
        }
