"""The status model: frozen dataclasses with a stable `to_json()` (README, "status --json").

One model for the command line, the console and alias promotion. Every figure that could not be
read is None (null in JSON), never a made-up zero; why it could not be read is in `problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from components.inputs.aliases import AliasTarget, Mirror
from components.observe.figures import Traffic, traffic_json

JsonObject = dict[str, Any]

# Exit codes of `status`: everything was read; something could not be read (the rest is shown).
EXIT_OK = 0
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class Termination:
    """How a container last ended: OOMKilled, Error, Completed, ... with its exit code."""

    reason: str
    pod: str
    exit_code: int | None = None
    message: str | None = None
    finished_at: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "reason": self.reason,
            "exitCode": self.exit_code,
            "message": self.message,
            "finishedAt": self.finished_at,
            "pod": self.pod,
        }


@dataclass(frozen=True)
class Waiting:
    """Why a container is not running now: CrashLoopBackOff, ImagePullBackOff, ContainerCreating, ..."""

    reason: str
    pod: str
    message: str | None = None

    def to_json(self) -> JsonObject:
        return {"reason": self.reason, "message": self.message, "pod": self.pod}


@dataclass(frozen=True)
class Warning:
    """A Warning event about the workload, its pods or its HPA (a failing probe, a back-off, ...)."""

    reason: str
    message: str
    object: str
    count: int = 1
    last_seen: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "reason": self.reason,
            "message": self.message,
            "object": self.object,
            "count": self.count,
            "lastSeen": self.last_seen,
        }


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    ready: bool
    restarts: int
    created_at: str | None = None
    waiting: Waiting | None = None
    last_termination: Termination | None = None

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "createdAt": self.created_at,
            "waiting": self.waiting.to_json() if self.waiting else None,
            "lastTermination": self.last_termination.to_json() if self.last_termination else None,
        }


@dataclass(frozen=True)
class Autoscaler:
    """The HPA's bounds and what it reads and wants now."""

    name: str
    min: int
    max: int
    current: int | None = None
    desired: int | None = None
    cpu_percent: int | None = None
    target_cpu_percent: int | None = None
    scale_down_stabilization_seconds: int | None = None
    # Conditions that are not fine (ScalingActive False: it cannot read CPU), as "Type: reason: message".
    problems: tuple[str, ...] = ()

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "min": self.min,
            "max": self.max,
            "current": self.current,
            "desired": self.desired,
            "cpuPercent": self.cpu_percent,
            "targetCpuPercent": self.target_cpu_percent,
            "scaleDownStabilizationSeconds": self.scale_down_stabilization_seconds,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Workload:
    """One version's endpoint as the cluster runs it: its Deployment, pods, HPA and Service."""

    name: str
    image: str | None
    desired: int
    ready: int
    available: int
    updated: int
    created_at: str | None
    pods: tuple[Pod, ...] = ()
    autoscaler: Autoscaler | None = None
    service: str | None = None
    warnings: tuple[Warning, ...] = ()
    # Deployment conditions that are not fine (Progressing False: ProgressDeadlineExceeded, ...).
    conditions: tuple[str, ...] = ()

    @property
    def restarts(self) -> int:
        return sum(pod.restarts for pod in self.pods)

    @property
    def last_termination(self) -> Termination | None:
        ended = [pod.last_termination for pod in self.pods if pod.last_termination]
        return max(ended, key=lambda t: t.finished_at or "", default=None)

    @property
    def waiting(self) -> Waiting | None:
        """The first pod's reason for not running, if any pod is waiting (CrashLoopBackOff first)."""
        waits = [pod.waiting for pod in self.pods if pod.waiting]
        return min(waits, key=lambda w: (w.reason == "ContainerCreating", w.pod), default=None)


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint of one version: what config and state say, and what the cluster runs."""

    version: str
    endpoint: str
    in_config: bool
    in_state: bool
    state_image: str | None = None
    workload: Workload | None = None
    traffic: Traffic | None = None

    def to_json(self) -> JsonObject:
        w = self.workload
        return {
            "inConfig": self.in_config,
            "inState": self.in_state,
            "inCluster": w is not None,
            "deployment": w.name if w else None,
            "service": w.service if w else None,
            "image": w.image if w else None,
            "stateImage": self.state_image,
            "desired": w.desired if w else None,
            "ready": w.ready if w else None,
            "available": w.available if w else None,
            "updated": w.updated if w else None,
            "restarts": w.restarts if w else None,
            "lastTermination": w.last_termination.to_json() if w and w.last_termination else None,
            "waiting": w.waiting.to_json() if w and w.waiting else None,
            "hpa": w.autoscaler.to_json() if w and w.autoscaler else None,
            "createdAt": w.created_at if w else None,
            "pods": [pod.to_json() for pod in w.pods] if w else [],
            "warnings": [warning.to_json() for warning in w.warnings] if w else [],
            "conditions": list(w.conditions) if w else [],
            **traffic_json(self.traffic),
        }


@dataclass(frozen=True)
class VersionStatus:
    name: str
    in_config: bool
    in_state: bool
    endpoints: Mapping[str, EndpointStatus] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {
            "inConfig": self.in_config,
            "inState": self.in_state,
            "endpoints": {name: self.endpoints[name].to_json() for name in sorted(self.endpoints)},
        }


@dataclass(frozen=True)
class RouteStatus:
    """An alias's route objects in the cluster: where they send traffic, and what the controller said."""

    kind: Literal["HTTPRoute", "Ingress"]
    names: tuple[str, ...]
    target: AliasTarget
    # None: the controller has not written a status (yet), or the kind has none (an Ingress without address).
    accepted: bool | None = None
    resolved_refs: bool | None = None
    # Every condition the controller wrote, as (type, status, reason, message).
    conditions: tuple[tuple[str, str, str, str], ...] = ()
    # Backend Services that belong to no version (missing, or not this stack's), with their weights.
    unknown_backends: Mapping[str, int] = field(default_factory=dict)
    # Route rules (endpoints) that send traffic elsewhere than the first rule, by endpoint.
    rule_targets: Mapping[str, AliasTarget] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasStatus:
    name: str
    config: AliasTarget | None
    state: AliasTarget | None
    route: RouteStatus | None
    traffic: Traffic | None = None
    endpoints: Mapping[str, Traffic | None] = field(default_factory=dict)
    # Per routed version: the requests that reached it through this alias (None: not measurable).
    versions: Mapping[str, Traffic | None] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        cluster = self.route.target if self.route else None
        return {
            "config": _weights(self.config),
            "state": _weights(self.state),
            "cluster": _weights(cluster),
            "mirror": {
                "config": _mirror(self.config),
                "state": _mirror(self.state),
                "cluster": _mirror(cluster),
            },
            "route": {"kind": self.route.kind, "names": list(self.route.names)} if self.route else None,
            "accepted": self.route.accepted if self.route else None,
            "resolvedRefs": self.route.resolved_refs if self.route else None,
            "conditions": [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in self.route.conditions]
            if self.route
            else [],
            "unknownBackends": dict(self.route.unknown_backends) if self.route else {},
            **traffic_json(self.traffic),
            "endpoints": {name: traffic_json(self.endpoints[name]) for name in sorted(self.endpoints)},
            "versions": {name: traffic_json(self.versions[name]) for name in sorted(self.versions)},
        }


ProblemKind = Literal["unreadable", "config", "drift", "workload", "route"]


@dataclass(frozen=True)
class Problem:
    """One line for a person: a source that could not be read, a difference, a failing workload or route."""

    kind: ProblemKind
    message: str

    def to_json(self) -> JsonObject:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Source:
    """Where a part of the status came from; `error` when it could not be read."""

    address: str | None
    error: str | None = None

    def to_json(self) -> JsonObject:
        return {"address": self.address, "ok": self.error is None, "error": self.error}


@dataclass(frozen=True)
class StackStatus:
    stack: str
    namespace: str | None
    window_seconds: float
    read_at: str
    versions: Mapping[str, VersionStatus]
    aliases: Mapping[str, AliasStatus]
    problems: tuple[Problem, ...]
    sources: Mapping[str, Source]

    @property
    def exit_code(self) -> int:
        return EXIT_UNREADABLE if any(p.kind == "unreadable" for p in self.problems) else EXIT_OK

    def to_json(self) -> JsonObject:
        return {
            "stack": self.stack,
            "namespace": self.namespace,
            "windowSeconds": self.window_seconds,
            "readAt": self.read_at,
            "sources": {name: self.sources[name].to_json() for name in sorted(self.sources)},
            "versions": {name: self.versions[name].to_json() for name in sorted(self.versions)},
            "aliases": {name: self.aliases[name].to_json() for name in sorted(self.aliases)},
            "problems": [problem.to_json() for problem in self.problems],
        }


def _weights(target: AliasTarget | None) -> dict[str, int] | None:
    return dict(target.weights) if target is not None else None


def _mirror(target: AliasTarget | None) -> JsonObject | None:
    mirror: Mirror | None = target.mirror if target is not None else None
    return {"version": mirror.version, "percent": mirror.percent} if mirror else None
