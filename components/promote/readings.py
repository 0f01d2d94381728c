"""The figures a bake judges, read from the stack's status (`components/observe`): the requests the
new and the previous versions got through the alias, the new version's latency, and its pods.

    readings = StatusReadings(reader, alias="production", version="20181003.0", previous=("20181002.0",))
    figures = readings.read(window_seconds=42)

`figures_from_status` is pure: the bake's tests hand it statuses built in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from components.observe.figures import Traffic
from components.observe.model import StackStatus, Termination, Workload
from components.observe.status import StatusReader
from components.promote.gates import Figures, PodHealth, Requests


class Readings(Protocol):
    """One reading of the bake's figures over the last `window_seconds`."""

    def read(self, window_seconds: int) -> Figures: ...

    def close(self) -> None: ...


def requests_of(traffic: Traffic | None) -> Requests:
    if traffic is None:
        return Requests()
    latency = max((count for _, count in traffic.buckets), default=0.0)
    return Requests(traffic.requests, traffic.errors, traffic.p95_seconds, latency)


def pod_health(workloads: Iterable[tuple[str, Workload | None]], seen_ready: set[str]) -> PodHealth:
    """The new version's pods over its endpoints; `seen_ready` (pods Ready at an earlier reading of this
    bake) grows as pods come up, so a pod that was Ready and no longer is counts as unready, while a
    pod still starting (the HPA adding one) does not."""
    total = ready = restarts = 0
    unready: list[str] = []
    without: list[str] = []
    ended = []
    for endpoint, workload in workloads:
        if workload is None or not any(pod.ready for pod in workload.pods):
            without.append(endpoint)
        for pod in workload.pods if workload else ():
            total += 1
            restarts += pod.restarts
            if pod.ready:
                ready += 1
                seen_ready.add(pod.name)
            elif pod.name in seen_ready:
                unready.append(pod.name)
        if workload is not None and workload.last_termination is not None:
            ended.append(workload.last_termination)
    last = max(ended, key=lambda t: t.finished_at or "", default=None)
    return PodHealth(
        total=total,
        ready=ready,
        restarts=restarts,
        unready=tuple(sorted(unready)),
        last_termination=_termination(last),
        endpoints_without_ready=tuple(without),
    )


def figures_from_status(
    status: StackStatus,
    alias: str,
    version: str,
    previous: Iterable[str],
    seen_ready: set[str],
) -> Figures:
    """The bake's figures from one status reading (its window: since the bake began)."""
    alias_status = status.aliases.get(alias)
    problems = [p.message for p in status.problems if p.kind == "unreadable"]
    metrics = status.sources.get("metrics")
    if metrics is not None and metrics.error and metrics.error not in problems:
        # No figures at all (no metrics server configured, or routing whose metrics are not read).
        problems.append(metrics.error)
    routed = alias_status.versions if alias_status else {}
    window = status.window_seconds
    # Latency is measured per version, not per (alias, version): it includes the version's own URL.
    latency = requests_of(_version_traffic(status, version, window))
    pair = routed.get(version)
    # Without the router's per-alias label, a split's figures are each version's over every route.
    through_alias = pair is not None
    new = requests_of(pair if pair is not None else _version_traffic(status, version, window))
    before = Traffic.merge(
        window,
        (
            traffic
            for v in previous
            if (traffic := routed.get(v) if through_alias else _version_traffic(status, v, window)) is not None
        ),
    )
    endpoints = status.versions[version].endpoints if version in status.versions else {}
    pods = pod_health(((e, s.workload) for e, s in endpoints.items()), seen_ready)
    return Figures(
        window,
        Requests(new.count, new.errors, latency.p95_seconds, latency.latency_count),
        requests_of(before),
        pods,
        through_alias,
        tuple(problems),
    )


def _version_traffic(status: StackStatus, version: str, window: float) -> Traffic | None:
    found = status.versions.get(version)
    if found is None:
        return None
    return Traffic.merge(window, (e.traffic for e in found.endpoints.values() if e.traffic))


def _termination(ended: Termination | None) -> str | None:
    if ended is None:
        return None
    code = f" (exit {ended.exit_code})" if ended.exit_code is not None else ""
    return f"{ended.pod}: {ended.reason}{code}"


@dataclass
class StatusReadings:
    """Readings through `StatusReader` (the cluster and the metrics server, clients kept between readings)."""

    reader: StatusReader
    alias: str
    version: str
    previous: tuple[str, ...]
    seen_ready: set[str] = field(default_factory=set)

    def read(self, window_seconds: int) -> Figures:
        status = self.reader.read(max(1, window_seconds))
        return figures_from_status(status, self.alias, self.version, self.previous, self.seen_ready)

    def close(self) -> None:
        self.reader.close()
