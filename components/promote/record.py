"""The record of a promotion under way, kept as a stack tag so every machine that deploys sees it.

A stack tag lives beside the stack's state in its backend (Pulumi Cloud, or `<stack>.pulumi-tags`
next to the checkpoint in a file or S3 backend; an update leaves tags alone), so a laptop and the
CI deploy job find the same record. The stack's config file would not do: CI's copy is a checkout
that is thrown away, and a laptop's is not what CI reads. One record per stack: two promotions in
one stack would rewrite each other's `aliases`.

Written before each change (config write and `pulumi up`, or a rollback) and removed once the alias
is at its end point, so after a crash at any moment the record says where to go back to.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from components.inputs.aliases import AliasTarget
from components.inputs.rollout import step_target
from components.stacks import updates
from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi

TAG = "valohai:rollout"
# Pulumi's limit on a tag's value (pkg/util/validation/stack.go, ValidateStackTags).
MAX_TAG_VALUE = 256

# apply: the step's config is being written and deployed; bake: it is deployed and being judged;
# rollback: the alias is going back to where it started.
Phase = Literal["apply", "bake", "rollback"]


@dataclass(frozen=True)
class Rollout:
    alias: str
    version: str
    start: AliasTarget
    # The new version's share at each step; the last is 100.
    shares: tuple[int, ...]
    step: int
    phase: Phase
    started_at: int

    @classmethod
    def begin(cls, alias: str, version: str, start: AliasTarget, shares: list[int]) -> Rollout:
        return cls(alias, version, start, tuple(shares), 0, "apply", int(time.time()))

    def at(self, step: int, phase: Phase) -> Rollout:
        return replace(self, step=step, phase=phase)

    def target(self, step: int | None = None) -> AliasTarget:
        return step_target(self.start, self.version, self.shares[self.step if step is None else step])

    def where(self) -> str:
        """`step 2 of 3 (50%), baking`, for people."""
        doing = {"apply": "being applied", "bake": "baking", "rollback": "rolling back"}[self.phase]
        return f"step {self.step + 1} of {len(self.shares)} ({self.shares[self.step]}%), {doing}"

    def to_tag(self) -> str:
        value = json.dumps(
            {
                "alias": self.alias,
                "to": self.version,
                "from": self.start.to_config(),
                "shares": list(self.shares),
                "step": self.step,
                "phase": self.phase,
                "at": self.started_at,
            },
            separators=(",", ":"),
        )
        if len(value) > MAX_TAG_VALUE:
            raise ToolError(
                f"alias promote: the record of this promotion ({len(value)} characters) does not fit a stack tag "
                f"({MAX_TAG_VALUE}); point {self.alias} at fewer versions first (`alias set`), then promote"
            )
        return value

    @classmethod
    def from_tag(cls, value: str) -> Rollout:
        try:
            raw: dict[str, Any] = json.loads(value)
            shares = tuple(int(s) for s in raw["shares"])
            phase = raw["phase"]
            if phase not in ("apply", "bake", "rollback") or not shares or shares[-1] != 100:
                raise ValueError(phase)
            step = int(raw["step"])
            if not 0 <= step < len(shares):
                raise ValueError(step)
            return cls(
                str(raw["alias"]),
                str(raw["to"]),
                AliasTarget.of(raw["from"]),
                shares,
                step,
                phase,
                int(raw.get("at", 0)),
            )
        except (ValueError, KeyError, TypeError):
            raise ToolError(
                f"stack tag {TAG} holds {value!r}, which is not a promotion record; "
                f"remove it with `pulumi stack tag rm {TAG}` once the alias points where it should"
            ) from None


class RecordStore(Protocol):
    def read(self) -> Rollout | None: ...

    def write(self, rollout: Rollout) -> None: ...

    def clear(self) -> None: ...


class TagStore:
    """The record as the stack tag `valohai:rollout`."""

    def __init__(self, pulumi: Pulumi) -> None:
        self.pulumi = pulumi

    def read(self) -> Rollout | None:
        # An empty value (a record emptied by hand) is no promotion under way, like no tag.
        value = updates.tags(self.pulumi).get(TAG)
        return Rollout.from_tag(value) if value else None

    def write(self, rollout: Rollout) -> None:
        updates.set_tag(self.pulumi, TAG, rollout.to_tag())

    def clear(self) -> None:
        updates.remove_tag(self.pulumi, TAG)
