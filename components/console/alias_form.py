"""Alias changes from the page: the form's weights as an alias target, its preview, and applying it.

The change is the one `alias set` makes (`components/stacks/alias_changes.py`): checked by the
program's validation, previewed on a temporary copy of the stack's config file, applied by the one
`apply_change` (the seam guarded promotion builds on) where the stack allows it from the console.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from components.console.stack_source import StackSource
from components.inputs.aliases import AliasTarget, Mirror
from components.previews.markdown import mask
from components.previews.report import Report, build_report
from components.stacks.alias_changes import AliasChange, Applied, apply_change, plan_change, preview_change
from components.stacks.errors import ToolError


@dataclass(frozen=True)
class AliasForm:
    alias: str
    weights: dict[str, str]
    mirror_version: str = ""
    mirror_percent: str = ""

    def target(self) -> Any:
        """The alias's config value, in the shortest form a person writes (as `alias set` writes it)."""
        alias = self.alias.strip()
        if not alias:
            raise ToolError("Alias: name the alias to change (e.g. production)")
        weights: dict[str, int] = {}
        for version, text in self.weights.items():
            if not text.strip():
                continue
            try:
                weight = int(text)
            except ValueError:
                raise ToolError(f"Weight of {version}: {text!r} must be a whole number (0-100)") from None
            if weight:
                weights[version] = weight
        if not weights:
            raise ToolError("Weights: give the version the alias should point to 100 (or split 100 across versions)")
        if len(weights) == 1 and next(iter(weights.values())) != 100:
            only = next(iter(weights))
            raise ToolError(
                f"Weights: a single version takes all traffic; give {only} 100, or a second version a weight to split"
            )
        mirror = None
        if self.mirror_version:
            try:
                mirror = Mirror(self.mirror_version, int(self.mirror_percent or "0"))
            except ValueError:
                raise ToolError(f"Mirror: {self.mirror_percent!r} must be a whole percent (1-100)") from None
        return AliasTarget(weights, mirror).to_config()


def alias_set_command(stack: str, alias: str, target: Any) -> str:
    """The `alias set` command that makes the same change from a terminal."""
    parsed = AliasTarget.of(target)
    if len(parsed.weights) == 1:
        targets = [next(iter(parsed.weights))]
    else:
        targets = [f"{version}={weight}" for version, weight in parsed.weights.items()]
    words = ["python", "-m", "components", "alias", "set", "--stack", stack, alias, *targets]
    if parsed.mirror:
        words += ["--mirror", f"{parsed.mirror.version}={parsed.mirror.percent}"]
    return shlex.join(words)


@dataclass(frozen=True)
class AliasPreview:
    change: AliasChange
    stack_file: str
    diff: str
    report: Report | None
    allow_apply: bool
    command: str

    def to_json(self) -> dict[str, Any]:
        report = self.report
        return {
            "change": self.change.line,
            "alias": self.change.alias,
            "before": self.change.before,
            "after": self.change.after,
            "unchanged": self.change.unchanged,
            "stackFile": self.stack_file,
            "diff": self.diff,
            "allowApply": self.allow_apply,
            "command": self.command,
            "preview": None
            if report is None
            else {
                "counts": report.counts,
                "same": report.same,
                "aliases": report.aliases,
                "added": report.added,
                "removed": report.removed,
                "images": report.images,
                "rolls": report.rolls,
                "warnings": report.warnings,
                "errors": report.errors,
                "changes": [{"op": s.op, "kind": s.kind, "name": s.name} for s in report.changes],
            },
        }


def preview(source: StackSource, form: AliasForm) -> AliasPreview:
    config = source.config()
    change = plan_change(config, form.alias.strip(), form.target())
    command = alias_set_command(config.stack, change.alias, change.after)
    if change.unchanged:
        return AliasPreview(change, "", "", None, source.allows_apply(), command)
    previewed = preview_change(source.pulumi, config, change)
    report = _masked_report(build_report(previewed.document, config.stack))
    return AliasPreview(change, previewed.stack_file, _masked(previewed.diff), report, source.allows_apply(), command)


def apply(source: StackSource, form: AliasForm) -> Applied:
    """Apply from the page: refused unless the stack allows it (`console.allowApply`)."""
    if not source.allows_apply():
        raise ToolError(
            f"stack '{source.stack}' does not allow applying from the console (console.allowApply); "
            "commit the change and deploy it the way this stack is deployed"
        )
    with source.changing():
        config = source.config()
        change = plan_change(config, form.alias.strip(), form.target())
        return apply_change(source.pulumi, config, change, deploy=True)


def _masked_report(report: Report) -> Report:
    """The report's lines with every secret the preview held replaced (diagnostics may quote one)."""
    for name in ("aliases", "added", "removed", "images", "rolls", "warnings", "errors"):
        setattr(report, name, [mask(line, report.secrets) for line in getattr(report, name)])
    return report


def _masked(diff: str) -> str:
    """The stack file's diff with encrypted values elided (they are long and mean nothing to a reader)."""
    lines = []
    for line in diff.splitlines():
        head, sep, _ = line.partition("secure: ")
        lines.append(head + sep + "[encrypted]" if sep else line)
    return "\n".join(lines)
