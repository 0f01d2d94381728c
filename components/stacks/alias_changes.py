"""Checked changes of aliases: where one points before and after, the would-be `aliases`, the write.

`alias set`, the console and `alias promote` change aliases only through here: the program's own
validation runs on the would-be config first, and nothing is written when it fails (`validate`).
"""

from __future__ import annotations

import difflib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inputs.aliases import AliasTarget, describe
from components.inputs.stack_file import stack_file_path
from components.stacks.errors import ToolError, progress
from components.stacks.stack_config import Pulumi, StackConfig, validate
from components.stacks.targets import TargetedUpdate, targeted_update, update_environment


@dataclass(frozen=True)
class AliasChange:
    """`alias` moves from `before` (None: a new alias) to `after`; `aliases` is the whole would-be key."""

    stack: str
    alias: str
    before: Any
    after: Any
    aliases: dict[str, Any]

    @property
    def line(self) -> str:
        """`production: 20181002.0 → 20181003.0`."""
        return f"{self.alias}: {describe(self.before)} → {describe(self.after)}"

    @property
    def unchanged(self) -> bool:
        return self.before is not None and AliasTarget.of(self.before) == AliasTarget.of(self.after)


def configured(config: StackConfig, alias: str) -> AliasTarget | None:
    """Where config points `alias`; None when config has no such alias."""
    value = (config.values.get("aliases") or {}).get(alias)
    return None if value is None else AliasTarget.of(value)


def checked_aliases(config: StackConfig, targets: Mapping[str, Any]) -> dict[str, Any]:
    """The `aliases` value with each alias pointing at its target (any alias form), checked by the program."""
    aliases = {**config.rewritable("aliases"), **targets}
    validate(config, config.values | {"aliases": aliases})
    return aliases


def write_aliases(pulumi: Pulumi, config: StackConfig, targets: Mapping[str, Any]) -> StackConfig:
    """Check, then write every `alias: target` in one `pulumi config set-all`; the config as it now is."""
    aliases = checked_aliases(config, targets)
    pulumi.write(config, {"aliases": aliases})
    config.values = config.values | {"aliases": aliases}
    return config


def proposed_change(config: StackConfig, alias: str, target: Any) -> AliasChange:
    """The change, not checked yet (`apply_change` checks it)."""
    aliases = config.rewritable("aliases")
    return AliasChange(config.stack, alias, aliases.get(alias), target, {**aliases, alias: target})


def plan_change(config: StackConfig, alias: str, target: Any) -> AliasChange:
    """The change, checked by the program's validation (a ToolError with its messages when refused).

    An unchanged alias is not checked: there is nothing to write.
    """
    change = proposed_change(config, alias, target)
    if not change.unchanged:
        checked_aliases(config, {alias: target})
    return change


def write_change(pulumi: Pulumi, config: StackConfig, change: AliasChange, config_file: Path | None = None) -> None:
    """Write the would-be `aliases` (to the stack's file, or to `config_file`, a copy of it)."""
    pulumi.write(config, {"aliases": change.aliases}, config_file=config_file)


@dataclass(frozen=True)
class PreviewedChange:
    """A change tried on a copy of the stack's config file: that file's diff and `pulumi preview --json`."""

    change: AliasChange
    stack_file: str
    diff: str
    document: dict[str, Any]


def preview_change(pulumi: Pulumi, config: StackConfig, change: AliasChange) -> PreviewedChange:
    """`pulumi preview --json` of the would-be config, run on a temporary copy of `Pulumi.<stack>.yaml`
    (`--config-file`), so the stack's own file is never written."""
    original = stack_file_path(config.project_dir, config.stack)
    try:
        text = original.read_text()
    except OSError as err:
        raise ToolError(f"cannot read {original.name} to preview the change on a copy: {err.strerror}") from None
    with tempfile.TemporaryDirectory(prefix="alias-preview-") as scratch:
        copy = Path(scratch) / original.name
        copy.write_text(text)
        write_change(pulumi, config, change, config_file=copy)
        changed = copy.read_text()
        progress(f"previewing the change on stack '{config.stack}' (pulumi preview --json --config-file ...)")
        result = pulumi.attempt("preview", "--json", config_file=copy)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), changed.splitlines(keepends=True), original.name, original.name
        )
    )
    try:
        document = json.loads(result.stdout)
    except ValueError:
        raise ToolError(
            pulumi_errors(result.stderr or result.stdout, f"pulumi preview failed for stack '{config.stack}'")
        ) from None
    if not isinstance(document, dict):
        raise ToolError(f"pulumi preview printed no JSON object for stack '{config.stack}'")
    return PreviewedChange(change, original.name, diff, document)


@dataclass(frozen=True)
class Applied:
    """What `apply_change` did: always the checked write, and `pulumi up` when it ran."""

    change: AliasChange
    deployed: bool
    summary: str


def apply_change(pulumi: Pulumi, config: StackConfig, change: AliasChange, *, deploy: bool) -> Applied:
    """The one way an alias change is applied: the checked write (as `alias set`), then `pulumi up`
    when `deploy`. A gate (guarded promotion) decides before calling this; it never bypasses it."""
    checked = plan_change(config, change.alias, change.after)
    if checked.unchanged:
        return Applied(checked, deployed=False, summary=f"{checked.alias} already points to {describe(checked.after)}")
    write_change(pulumi, config, checked)
    if not deploy:
        return Applied(
            checked, deployed=False, summary=f"written to {stack_file_path(config.project_dir, config.stack).name}"
        )
    try:
        outputs = pulumi.outputs()
    except ToolError:
        outputs = {}  # never deployed: a plain `pulumi up` creates everything
    update = route_update(config, {checked.alias: checked.after}, outputs)
    progress(f"deploying stack '{config.stack}' ({up_command(update)})")
    with update_environment(update) as environment:
        patterns = update.patterns if update else ()
        result = pulumi.attempt("up", "--yes", "--skip-preview", *(f"--target={p}" for p in patterns), env=environment)
    if result.returncode != 0:
        raise ToolError(
            [
                f"the config was written, but pulumi up failed for stack '{config.stack}':",
                *pulumi_errors(result.stdout + "\n" + result.stderr, "see `pulumi up` output"),
            ]
        )
    return Applied(checked, deployed=True, summary=_last_summary(result.stdout))


def route_update(config: StackConfig, moves: Mapping[str, Any], outputs: Mapping[str, Any]) -> TargetedUpdate | None:
    """The update of these aliases' route objects only (stacks/targets.py: its cost then follows the
    change, not the stack); None for a plain `pulumi up`, needed when a version is not deployed yet."""
    targets = {alias: AliasTarget.of(value) for alias, value in moves.items()}
    versions = config.values.get("versions") or {}
    return targeted_update(config.short_stack, config.namespace, outputs, versions, aliases=targets)


def up_command(update: TargetedUpdate | None) -> str:
    """What a user reads while the update runs."""
    return update.describe() if update else "pulumi up --yes --skip-preview"


def pulumi_errors(output: str, fallback: str) -> list[str]:
    """The error lines of a failed pulumi command's output, one each (its diagnostics repeat them)."""
    lines = [" ".join(line.split()) for line in output.splitlines()]
    errors = [line for line in lines if line.startswith("error:") or " error: " in f" {line}"]
    return list(dict.fromkeys(errors)) or [next((line for line in reversed(lines) if line), fallback)]


def _last_summary(output: str) -> str:
    """`Resources: 1 updated, 40 unchanged` from `pulumi up`'s output, in one line."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Resources:":
            counts = [
                c.strip() for c in lines[index + 1 : index + 6] if c.strip() and not c.strip().startswith("Duration")
            ]
            return "pulumi up: " + ", ".join(counts)
    return "pulumi up finished"
