"""The promotion's stack through the Pulumi CLI: config (read and checked writes), outputs, `pulumi up`,
and readings from its cluster and metrics server."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from components.inputs.aliases import AliasTarget
from components.observe.declared import declared
from components.observe.status import StatusReader
from components.promote.readings import Readings, StatusReadings
from components.stacks import alias_changes, updates
from components.stacks.errors import progress
from components.stacks.stack_config import Pulumi, StackConfig


class PulumiStack:
    def __init__(self, pulumi: Pulumi, config: StackConfig) -> None:
        self.pulumi = pulumi
        self.config = config
        self.name = pulumi.stack
        self.outputs: dict[str, Any] = pulumi.outputs()

    def configured(self, alias: str) -> AliasTarget | None:
        return alias_changes.configured(self.config, alias)

    def deployed(self, alias: str) -> AliasTarget | None:
        value = (self.outputs.get("aliases") or {}).get(alias)
        return None if value is None else AliasTarget.of(value)

    def deployed_versions(self) -> set[str]:
        return set(self.outputs.get("images") or {})

    def check(self, alias: str, target: AliasTarget) -> None:
        alias_changes.checked_aliases(self.config, {alias: target.to_config()})

    def apply(self, targets: Mapping[str, AliasTarget]) -> float:
        started = time.monotonic()
        changed = {alias: t.to_config() for alias, t in targets.items() if self.configured(alias) != t}
        if changed:
            self.config = alias_changes.write_aliases(self.pulumi, self.config, changed)
        moves = ", ".join(f"{alias} → {t.describe()}" for alias, t in targets.items())
        # Only the aliases' route objects change, so only they are updated (stacks/targets.py).
        update = alias_changes.route_update(
            self.config, {alias: t.to_config() for alias, t in targets.items()}, self.outputs
        )
        progress(f"{alias_changes.up_command(update)} of stack '{self.name}' ({moves})")
        updates.up(self.pulumi, update=update)
        self.outputs = self.pulumi.outputs()
        return time.monotonic() - started

    def readings(self, alias: str, version: str, previous: tuple[str, ...]) -> Readings:
        return StatusReadings(StatusReader(declared(self.config, self.outputs)), alias, version, previous)


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
