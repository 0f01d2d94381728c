"""Guarded promotion: the `rollout` policy users configure, and the weights of each step.

    rollout:
      steps: [10, 50]          # the new version's share at each baked step; 100 follows the last
      bake: 2m                 # how long each step is judged on live traffic
      maxErrorRatio: 0.01      # the new version's 5xx share
      maxErrorRatioIncrease: 0.005   # ... above the previous version's over the same window
      maxP95: 500ms            # the new version's 95th percentile latency
      minRequests: 100         # fewer requests than this in a bake: too little to judge, a failure
      aliases:
        staging: {steps: []}   # moves at once, unguarded
        production: {bake: 5m}

The settings (`settings.StackSettings.rollout`), `alias promote`, the deploy command and the preview
summary all read the policy through `RolloutConfig.policy(alias)`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from components.inputs.aliases import AliasTarget

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """`90` or `90s`, `2m`, `1m30s`, `500ms`, `1.5s` -> seconds; anything else is a ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 2m, 90s or 500ms (got {value!r})")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"must be a duration like 2m, 90s or 500ms (got {value!r})")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Seconds as people write them: `500ms`, `45s`, `2m`, `1m30s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60 or seconds % 1:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


def _check_steps(steps: list[int]) -> list[int]:
    if any(step < 1 or step > 99 for step in steps):
        raise ValueError(
            f"each step is the new version's share in percent, 1 to 99 (got {steps}); 100 follows the last"
        )
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        raise ValueError(f"steps must increase (got {steps})")
    return steps


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class RolloutPolicy(_Section):
    """How one alias is promoted: the steps, the bake of each, and the gates the new version must pass."""

    steps: list[int] = Field(default_factory=lambda: [10, 50])
    bake: Seconds = 120.0
    max_error_ratio: Ratio = 0.01
    max_error_ratio_increase: Ratio = 0.005
    max_p95: Seconds = 0.5
    min_requests: Annotated[int, Field(ge=1)] = 100

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        return _check_steps(value)

    @property
    def guarded(self) -> bool:
        """False when `steps` is empty: the alias moves at once, as with `alias set`."""
        return bool(self.steps)

    def describe(self, start_share: int = 0) -> str:
        """One line for a reviewer: the steps from `start_share`, the bake and the gates."""
        shares = " → ".join(f"{share}%" for share in shares_after(self.steps, start_share))
        if not self.guarded:
            return "moves at once (rollout steps: [])"
        return (
            f"{shares}, {format_duration(self.bake)} bake per step; rolled back on 5xx above "
            f"{self.max_error_ratio * 100:g}% (or above the previous version's "
            f"+ {self.max_error_ratio_increase * 100:g}%), "
            f"p95 above {format_duration(self.max_p95)}, a pod restart or unready pod, "
            f"or fewer than {self.min_requests} requests in a bake"
        )


class RolloutOverrides(_Section):
    """An alias's own policy: any key of `rollout` except `aliases`; unset keys come from `rollout`."""

    steps: list[int] | None = None
    bake: Seconds | None = None
    max_error_ratio: Ratio | None = None
    max_error_ratio_increase: Ratio | None = None
    max_p95: Seconds | None = None
    min_requests: Annotated[int, Field(ge=1)] | None = None

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _check_steps(value)


class RolloutConfig(RolloutPolicy):
    """The `rollout` config key: the stack's policy, and per alias what differs from it."""

    aliases: dict[str, RolloutOverrides] = Field(default_factory=dict)

    def policy(self, alias: str, **overrides: Any) -> RolloutPolicy:
        """The alias's policy; `overrides` (command-line options, None: not given) win over config."""
        own = self.aliases.get(alias)
        merged = self.model_dump(exclude={"aliases"})
        if own is not None:
            merged |= own.model_dump(exclude_none=True)
        merged |= {key: value for key, value in overrides.items() if value is not None}
        return RolloutPolicy.model_validate(merged)


def shares_after(steps: list[int], start_share: int) -> list[int]:
    """The new version's shares a promotion goes through from `start_share`: the larger steps, then 100."""
    return [step for step in steps if step > start_share] + [100]


def step_target(start: AliasTarget, version: str, share: int) -> AliasTarget:
    """`start` with `share` % of its traffic on `version`; the other versions keep their proportions.

    Whole percents by largest remainder (Gateway API and ingress-nginx take integer weights); a
    version whose part rounds to 0 leaves the split, since a weight must be at least 1.
    """
    if share >= 100:
        return AliasTarget({version: 100})
    others = {v: w for v, w in start.weights.items() if v != version and w > 0}
    if not others:
        raise ValueError(f"{start.describe()} has no other version to move traffic from")
    rest, total = 100 - share, sum(others.values())
    exact = {v: rest * w / total for v, w in others.items()}
    parts = {v: int(x) for v, x in exact.items()}
    by_remainder = sorted(others, key=lambda v: (-(exact[v] - parts[v]), -others[v]))
    for v in by_remainder[: rest - sum(parts.values())]:
        parts[v] += 1
    return AliasTarget.of({version: share, **{v: p for v, p in parts.items() if p > 0}})


def promoted_version(before: AliasTarget | None, after: AliasTarget | None) -> str | None:
    """The version a move hands all of an existing alias's traffic to: a promotion (`alias promote`)."""
    if before is None or after is None or after.mirror is not None or len(after.weights) != 1 or before == after:
        return None
    return next(iter(after.weights))


def start_share(start: AliasTarget, version: str) -> int:
    return start.weights.get(version, 0)


def steps_of(start: AliasTarget, version: str, steps: list[int]) -> list[AliasTarget]:
    """Where the alias points at each step of promoting `version` from `start`; the last is `version` alone."""
    return [step_target(start, version, share) for share in shares_after(steps, start_share(start, version))]


def read_rollout(values: Mapping[str, Any]) -> RolloutConfig:
    """The `rollout` key of raw config values (checked again by the settings); defaults when unset."""
    raw = values.get("rollout")
    return RolloutConfig.model_validate(raw if isinstance(raw, dict) and raw else {})
