"""A bake: the new version judged on live traffic for `policy.bake` seconds, reading every few seconds.

It ends early on the first failed gate (a breach rolls back as soon as it is seen) and otherwise
judges the last reading as final: gates still waiting for samples then fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from components.inputs.rollout import RolloutPolicy, format_duration
from components.promote.gates import Check, Figures, judge, milliseconds, percent
from components.promote.readings import Readings

# Seconds between readings: at most this, and at least a few readings per bake.
READ_EVERY = 5.0
MIN_READ_EVERY = 1.0


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class BakeResult:
    checks: list[Check]
    figures: Figures
    # Seconds into the bake of the last reading; `at` is the clock's time of that reading.
    elapsed: float
    at: float

    @property
    def passed(self) -> bool:
        return not any(check.failed for check in self.checks)


def read_every(policy: RolloutPolicy) -> float:
    return max(MIN_READ_EVERY, min(READ_EVERY, policy.bake / 6))


def bake(readings: Readings, policy: RolloutPolicy, clock: Clock, show: Callable[[Figures, float], None]) -> BakeResult:
    """Read and judge until a gate fails or the bake is over; `show(figures, seconds left)` prints progress."""
    started = clock.now()
    baseline: int | None = None
    while True:
        now = clock.now()
        elapsed = now - started
        final = elapsed >= policy.bake
        figures = readings.read(math.ceil(elapsed))
        if baseline is None:
            baseline = figures.pods.restarts
        checks = judge(figures, policy, baseline, final=final)
        show(figures, max(0.0, policy.bake - elapsed))
        if final or any(check.failed for check in checks):
            return BakeResult(checks, figures, elapsed, now)
        clock.sleep(min(read_every(policy), policy.bake - elapsed))


def figures_line(figures: Figures) -> str:
    """`new 141 req, 5xx 0.00%, p95 12ms · previous 1203 req, 5xx 0.00% · pods 1/1 ready, 0 restarts`."""
    new, before, pods = figures.new, figures.previous, figures.pods
    via = "" if figures.through_alias else " (all routes: per-alias counts not measured)"
    return (
        f"new {new.count:.0f} req{via}, 5xx {percent(new.error_ratio)}, p95 {milliseconds(new.p95_seconds)}"
        f" · previous {before.count:.0f} req, 5xx {percent(before.error_ratio)}"
        f" · pods {pods.ready}/{pods.total} ready, {pods.restarts} restarts"
    )


def left_line(seconds_left: float) -> str:
    return f"bake {format_duration(max(1.0, round(seconds_left)))} left" if seconds_left > 0 else "bake over"
