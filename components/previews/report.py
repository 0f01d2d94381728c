"""What a reviewer needs from one stack's preview: counts, alias moves, versions, images, rolls, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.inputs import naming
from components.previews.alias_moves import ROUTE_KINDS, alias_changes
from components.previews.escape import code, text
from components.previews.steps import (
    CHANGE_OPS,
    DEPLOYMENT,
    IMAGE,
    Step,
    as_int,
    dig,
    parse_steps,
    secret_plaintexts,
    stack_and_project,
)

# Objects whose replacement or deletion interrupts or drops traffic.
SERVING_KINDS = ("Deployment", "Service", "Namespace", "Gateway", *ROUTE_KINDS)


@dataclass
class Report:
    stack: str
    counts: dict[str, int] = field(default_factory=dict)
    same: int = 0
    aliases: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    rolls: list[str] = field(default_factory=list)
    # What goes into the images of added or changed versions: `version`: endpoint.file ← source.
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: list[Step] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


def build_report(document: dict[str, Any], fallback_stack: str = "stack") -> Report:
    steps = parse_steps(document)
    stack, project = stack_and_project(document, steps, fallback_stack)
    report = Report(stack=stack)
    report.secrets = {s for s in secret_plaintexts(document) if len(s) >= 3}
    report.counts = {op: 0 for op in CHANGE_OPS}
    for step in steps:
        if step.op in CHANGE_OPS:
            report.counts[step.op] += 1
            report.changes.append(step)
        elif step.op == "same":
            report.same += 1
    # `pulumi preview --json` lists unchanged resources only in its changeSummary.
    report.same = as_int((document.get("changeSummary") or {}).get("same"), default=report.same)
    report.aliases = alias_changes(document, steps, project)
    report.added = [text(s.name) for s in report.changes if s.type == naming.VERSION_TYPE and s.op == "create"]
    report.removed = [text(s.name) for s in report.changes if s.type == naming.VERSION_TYPE and s.op == "delete"]
    for step in report.changes:
        if step.type == naming.VERSION_TYPE and step.op != "delete":
            report.files += version_files(step)
        if step.type == IMAGE and step.op != "delete":
            image = dig(step.inputs("new"), "imageName")
            report.images.append(code(image if isinstance(image, str) else step.name))
        if step.type == DEPLOYMENT and step.op in ("update", "replace"):
            why = ", ".join(step.reasons[:3]) + (", …" if len(step.reasons) > 3 else "")
            report.rolls.append(f"{code(step.object_name())} ({step.op}{': ' + text(why) if why else ''})")
    report.warnings = warnings(report.changes)
    report.errors = [
        str(d.get("message", "")).strip()
        for d in document.get("diagnostics") or []
        if isinstance(d, dict) and d.get("severity") == "error"
    ]
    return report


# What a replace or delete of a serving object does to traffic, per kind.
_EFFECTS = {
    ("replace", "Deployment"): "its pods are recreated (requests fail until new pods are ready)",
    ("replace", "Namespace"): "everything in it is deleted and created again",
    ("delete", "Namespace"): "everything in it is deleted",
    ("delete", "Deployment"): "its pods stop",
    ("replace", "Service"): "it is recreated (requests fail meanwhile)",
    # Routes (Ingress, HTTPRoute) and anything else that serves.
    ("replace", ""): "it is recreated (requests may fail meanwhile)",
    ("delete", ""): "its URLs stop answering",
}


def warnings(changes: list[Step]) -> list[str]:
    """One line per (operation, kind) of serving objects replaced or deleted, naming them."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for step in changes:
        if step.kind in SERVING_KINDS and step.op in ("replace", "delete") and step.type.startswith("kubernetes:"):
            grouped.setdefault((step.op, step.kind), []).append(code(step.object_name()))
    lines = []
    for (op, kind), names in grouped.items():
        effect = _EFFECTS.get((op, kind), _EFFECTS[(op, "")])
        what = (
            f"{text(kind)} {names[0]}"
            if len(names) == 1
            else f"{len(names)} {text(kind)}{'es' if kind.endswith('s') else 's'} ({_first(names, 5)})"
        )
        lines.append(f"- ⚠️ **{text(op)}** {what}: serves traffic; {effect}")
    return lines


def version_files(step: Step) -> list[str]:
    """The file sources a version's images hold (its component's `files` input), one line each."""
    files = step.inputs("new").get("files")
    if not isinstance(files, dict):
        return []
    before = step.inputs("old").get("files") if step.op != "create" else None
    return [
        f"{code(step.name)}: {code(key)} ← {code(source)}"
        + (" (changed)" if isinstance(before, dict) and before.get(key) != source else "")
        for key, source in sorted(files.items())
    ]


def _first(names: list[str], count: int) -> str:
    return ", ".join(names[:count]) + (f", …and {len(names) - count} more" if len(names) > count else "")
