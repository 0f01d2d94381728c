"""An alias's entry in stack config: the one checked write `alias set` and `alias promote` share.

The would-be config goes through the program's own validation first, so a target the program would
refuse (a version not in `versions`, three versions with ingress routing) is one error line and
nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.inputs.aliases import AliasTarget
from components.stacks.stack_config import Pulumi, StackConfig, validate


def configured(config: StackConfig, alias: str) -> AliasTarget | None:
    """Where config points `alias`; None when config has no such alias."""
    value = (config.values.get("aliases") or {}).get(alias)
    return None if value is None else AliasTarget.of(value)


def check(config: StackConfig, targets: Mapping[str, Any]) -> dict[str, Any]:
    """The `aliases` value with each alias pointing at its target (any alias form), checked by the program."""
    aliases = config.rewritable("aliases")
    aliases.update(targets)
    validate(config, config.values | {"aliases": aliases})
    return aliases


def write(pulumi: Pulumi, config: StackConfig, targets: Mapping[str, Any]) -> StackConfig:
    """Check, then write every `alias: target` in one `pulumi config set-all`; the config as it now is."""
    aliases = check(config, targets)
    pulumi.write(config, {"aliases": aliases})
    config.values = config.values | {"aliases": aliases}
    return config
