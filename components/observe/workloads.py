"""Deployments, pods, HPAs, Services and Warning events (the API's JSON) into the status model.

Pure functions: objects are matched to a version and endpoint by the labels the program sets
(`naming.VERSION_LABEL`, `naming.NAME_LABEL`), pods to their Deployment by its selector, an HPA by
its `scaleTargetRef`, events by the object they are about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.inputs import naming
from components.observe.model import Autoscaler, Pod, Termination, Waiting, Warning, Workload
from components.observe.snapshot import Snapshot

# Warning events kept per workload, newest first.
MAX_WARNINGS = 5
# Conditions whose False status means trouble (Deployment, HPA); others are informational.
_MUST_BE_TRUE = {"Available", "Progressing", "AbleToScale", "ScalingActive"}
_MUST_BE_FALSE = {"ReplicaFailure"}

WorkloadKey = tuple[str, str]  # (version label value, endpoint label value)


def key_of(obj: Mapping[str, Any]) -> WorkloadKey | None:
    """(version, endpoint) label values of a Deployment, Service or HPA the program made."""
    labels = _labels(obj)
    version, endpoint = labels.get(naming.VERSION_LABEL), labels.get(naming.NAME_LABEL)
    return (version, endpoint) if version and endpoint else None


def workloads(snapshot: Snapshot) -> dict[WorkloadKey, Workload]:
    """Every Deployment of the stack as a `Workload`, keyed by its version and endpoint labels."""
    services = {key: _name(s) for s in snapshot.services if (key := key_of(s))}
    by_target = {_scale_target(h): h for h in snapshot.autoscalers}
    result = {}
    for deployment in snapshot.deployments:
        key = key_of(deployment)
        if key is None:
            continue
        name = _name(deployment)
        pods = [p for p in snapshot.pods if _selects(deployment, p)]
        hpa = by_target.get(name)
        result[key] = workload(deployment, pods, hpa, services.get(key), snapshot.events)
    return result


def workload(
    deployment: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    hpa: Mapping[str, Any] | None,
    service: str | None,
    events: Iterable[Mapping[str, Any]],
) -> Workload:
    name = _name(deployment)
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    autoscaler = parse_autoscaler(hpa) if hpa else None
    return Workload(
        name=name,
        image=containers[0].get("image"),
        desired=int(spec.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        created_at=(deployment.get("metadata") or {}).get("creationTimestamp"),
        pods=tuple(sorted((parse_pod(p) for p in pods), key=lambda p: p.name)),
        autoscaler=autoscaler,
        service=service,
        warnings=warnings_about(events, name, autoscaler.name if autoscaler else None),
        conditions=_bad_conditions(status.get("conditions")),
    )


def parse_pod(pod: Mapping[str, Any]) -> Pod:
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    name = str(metadata.get("name", ""))
    statuses = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    waiting = _waiting(name, statuses) or _unscheduled(name, status)
    ended = [t for c in statuses if (t := _termination(name, c))]
    phase = "Terminating" if metadata.get("deletionTimestamp") else str(status.get("phase") or "Unknown")
    return Pod(
        name=name,
        phase=phase,
        ready=_condition(status.get("conditions"), "Ready") == "True",
        restarts=restarts,
        created_at=metadata.get("creationTimestamp"),
        waiting=waiting,
        last_termination=max(ended, key=lambda t: t.finished_at or "", default=None),
    )


def parse_autoscaler(hpa: Mapping[str, Any]) -> Autoscaler:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    target = next(
        (
            m["resource"].get("target", {}).get("averageUtilization")
            for m in spec.get("metrics") or []
            if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"
        ),
        None,
    )
    current = next(
        (
            m["resource"].get("current", {}).get("averageUtilization")
            for m in status.get("currentMetrics") or []
            if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"
        ),
        None,
    )
    scale_down = ((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds")
    return Autoscaler(
        name=_name(hpa),
        min=int(spec.get("minReplicas") or 1),
        max=int(spec.get("maxReplicas") or 0),
        current=status.get("currentReplicas"),
        desired=status.get("desiredReplicas"),
        cpu_percent=current,
        target_cpu_percent=target,
        scale_down_stabilization_seconds=scale_down,
        problems=_bad_conditions(status.get("conditions")),
    )


def warnings_about(events: Iterable[Mapping[str, Any]], deployment: str, hpa: str | None) -> tuple[Warning, ...]:
    """Warning events about the Deployment, its ReplicaSets and pods (current or gone), or its HPA."""
    found = []
    for event in events:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        kind, name = involved.get("kind"), str(involved.get("name", ""))
        ours = (
            (kind == "Deployment" and name == deployment)
            or (kind in ("ReplicaSet", "Pod") and name.startswith(f"{deployment}-"))
            or (kind == "HorizontalPodAutoscaler" and name == hpa)
        )
        if not ours or event.get("type", "Warning") != "Warning":
            continue
        found.append(
            Warning(
                reason=str(event.get("reason", "")),
                message=" ".join(str(event.get("message") or event.get("note") or "").split()),
                object=f"{kind}/{name}",
                count=int(event.get("count") or (event.get("series") or {}).get("count") or 1),
                last_seen=_last_seen(event),
            )
        )
    found.sort(key=lambda w: w.last_seen or "", reverse=True)
    return tuple(found[:MAX_WARNINGS])


def _waiting(pod: str, statuses: Iterable[Mapping[str, Any]]) -> Waiting | None:
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return Waiting(str(waiting.get("reason") or "Waiting"), pod, waiting.get("message"))
    return None


def _unscheduled(pod: str, status: Mapping[str, Any]) -> Waiting | None:
    """A pod no node would take: its PodScheduled condition says why."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return Waiting(str(condition.get("reason") or "Unschedulable"), pod, condition.get("message"))
    return None


def _termination(pod: str, container: Mapping[str, Any]) -> Termination | None:
    """The container's current termination if it is stopped now, else how its previous run ended."""
    ended = (container.get("state") or {}).get("terminated") or (container.get("lastState") or {}).get("terminated")
    if not ended:
        return None
    message = ended.get("message")
    return Termination(
        reason=str(ended.get("reason") or "Terminated"),
        pod=pod,
        exit_code=ended.get("exitCode"),
        message=" ".join(str(message).split()) if message else None,
        finished_at=ended.get("finishedAt"),
    )


def _bad_conditions(conditions: Any) -> tuple[str, ...]:
    found = []
    for condition in conditions or []:
        kind, status = condition.get("type"), condition.get("status")
        if (kind in _MUST_BE_TRUE and status == "False") or (kind in _MUST_BE_FALSE and status == "True"):
            found.append(
                f"{kind}: {condition.get('reason', '')}: {' '.join(str(condition.get('message', '')).split())}"
            )
    return tuple(found)


def _condition(conditions: Any, kind: str) -> str | None:
    return next((c.get("status") for c in conditions or [] if c.get("type") == kind), None)


def _selects(deployment: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    wanted = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels = _labels(pod)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _scale_target(hpa: Mapping[str, Any]) -> str:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("name", "")) if ref.get("kind") == "Deployment" else ""


def _last_seen(event: Mapping[str, Any]) -> str | None:
    series = event.get("series") or {}
    value = series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")
    return str(value) if value else None


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))
