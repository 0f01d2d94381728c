"""The gates a new version passes at each step: named checks with a threshold, judged on enough samples.

Shaped like Flagger's metric checks (request-success-rate, request-duration) and Argo Rollouts'
analysis: each reading over the bake so far gives every check a status with its figures. A check
with too few samples is `waiting` during the bake; at the bake's end the version must have had
`minRequests` requests, or the step fails: too little traffic to judge is not a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from components.inputs.rollout import RolloutPolicy, format_duration

Status = Literal["pass", "fail", "waiting", "skipped"]


@dataclass(frozen=True)
class Requests:
    """Requests over the bake so far: counts of all and of 5xx answers, and the latency they took."""

    count: float = 0.0
    errors: float = 0.0
    # The 95th percentile and how many requests the latency histogram holds (it may count other routes').
    p95_seconds: float | None = None
    latency_count: float = 0.0

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.count if self.count > 0 else None


@dataclass(frozen=True)
class PodHealth:
    """The new version's pods (every endpoint the alias routes to)."""

    total: int = 0
    ready: int = 0
    restarts: int = 0
    # Pods that were there when the bake began and are not Ready now (new pods may still be starting).
    unready: tuple[str, ...] = ()
    # "pod/container: OOMKilled (exit 137)" for the latest termination, when any container ended.
    last_termination: str | None = None
    # Endpoints without a single ready pod.
    endpoints_without_ready: tuple[str, ...] = ()


@dataclass(frozen=True)
class Figures:
    """One reading over [bake start, now]."""

    seconds: float
    new: Requests
    previous: Requests
    pods: PodHealth
    # True: `new`/`previous` count requests through the alias only; False: every request the versions got.
    through_alias: bool = True
    # Why a part could not be read (the metrics server, the cluster), one line each.
    problems: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    value: str
    threshold: str
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def line(self) -> str:
        mark = {"pass": "ok  ", "fail": "FAIL", "waiting": "wait", "skipped": "skip"}[self.status]
        note = f"  ({self.note})" if self.note else ""
        return f"{mark} {self.name:<24} {self.value} (threshold {self.threshold}){note}"


def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.2f}%"


def threshold_percent(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def milliseconds(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f}ms"


def judge(figures: Figures, policy: RolloutPolicy, baseline_restarts: int, *, final: bool) -> list[Check]:
    """Every gate's status for this reading; `final` is the bake's last reading."""
    return [
        _request_count(figures.new, policy, final),
        _error_ratio(figures.new, policy, final),
        _error_ratio_vs_previous(figures.new, figures.previous, policy, final),
        _p95(figures.new, policy, final),
        _pods_ready(figures.pods),
        _restarts(figures.pods, baseline_restarts),
        *_readable(figures, final),
    ]


def _readable(figures: Figures, final: bool) -> list[Check]:
    """A source that cannot be read leaves the version unjudged: wait for it, then fail at the bake's end."""
    if not figures.problems:
        return []
    return [
        Check("figures-readable", "fail" if final else "waiting", "unreadable", "readable", "; ".join(figures.problems))
    ]


def _request_count(new: Requests, policy: RolloutPolicy, final: bool) -> Check:
    enough = new.count >= policy.min_requests
    status: Status = "pass" if enough else ("fail" if final else "waiting")
    note = "" if enough or not final else "too little traffic to judge the new version: a failure, not a pass"
    return Check("request-count", status, f"{new.count:.0f}", f">= {policy.min_requests}", note)


def _error_ratio(new: Requests, policy: RolloutPolicy, final: bool) -> Check:
    threshold = f"<= {threshold_percent(policy.max_error_ratio)}"
    value = f"{percent(new.error_ratio)} ({new.errors:.0f} of {new.count:.0f})"
    if new.count < policy.min_requests or new.error_ratio is None:
        return Check("error-ratio", "skipped" if final else "waiting", value, threshold, "too few requests")
    status: Status = "fail" if new.error_ratio > policy.max_error_ratio else "pass"
    return Check("error-ratio", status, value, threshold)


def _error_ratio_vs_previous(new: Requests, previous: Requests, policy: RolloutPolicy, final: bool) -> Check:
    name = "error-ratio-vs-previous"
    base = previous.error_ratio
    threshold = f"<= previous {percent(base)} + {threshold_percent(policy.max_error_ratio_increase)}"
    value = percent(new.error_ratio)
    if new.count < policy.min_requests or new.error_ratio is None:
        return Check(name, "skipped" if final else "waiting", value, threshold, "too few requests")
    if previous.count < policy.min_requests or base is None:
        # The new version is still judged on its own figures; only the comparison lacks samples.
        note = f"the previous version got {previous.count:.0f} requests, fewer than {policy.min_requests}"
        return Check(name, "skipped" if final else "waiting", value, threshold, note)
    status: Status = "fail" if new.error_ratio - base > policy.max_error_ratio_increase else "pass"
    return Check(name, status, value, threshold)


def _p95(new: Requests, policy: RolloutPolicy, final: bool) -> Check:
    threshold = f"<= {format_duration(policy.max_p95)}"
    value = milliseconds(new.p95_seconds)
    if new.latency_count < policy.min_requests:
        return Check("p95-latency", "skipped" if final else "waiting", value, threshold, "too few requests")
    if new.p95_seconds is None:
        # Requests were counted but their latency was not: cannot judge, so it cannot pass.
        return Check("p95-latency", "fail" if final else "waiting", value, threshold, "latency not measured")
    status: Status = "fail" if new.p95_seconds > policy.max_p95 else "pass"
    return Check("p95-latency", status, value, threshold)


def _pods_ready(pods: PodHealth) -> Check:
    value = f"{pods.ready}/{pods.total} ready"
    if pods.total == 0:
        return Check("pods-ready", "fail", value, "every pod Ready", "the version has no pods")
    if pods.endpoints_without_ready:
        note = f"no ready pod for {', '.join(pods.endpoints_without_ready)}"
        return Check("pods-ready", "fail", value, "every pod Ready", note)
    if pods.unready:
        return Check("pods-ready", "fail", value, "every pod Ready", f"not Ready: {', '.join(pods.unready)}")
    return Check("pods-ready", "pass", value, "every pod Ready")


def _restarts(pods: PodHealth, baseline: int) -> Check:
    new = max(0, pods.restarts - baseline)
    if new:
        return Check("restarts", "fail", f"{new}", "0", pods.last_termination or "")
    return Check("restarts", "pass", "0", "0")


def summary(checks: list[Check]) -> str:
    """The failed checks in one line: `error-ratio 30.00% (43 of 141) above <= 1%; ...`."""
    return "; ".join(
        f"{c.name} {c.value}, threshold {c.threshold}" + (f" ({c.note})" if c.note else "") for c in checks if c.failed
    )
