"""`preview-summary`: `pulumi preview --json` as Markdown a reviewer reads in ten seconds.

Per stack: aliases that move (and weight or mirror changes), versions added or removed, images to
build, Deployments that roll, counts per operation, and a warning for every replace or delete of
an object that serves traffic. Then the full list of changes, trimmed to fit one GitHub comment.

Only names are printed (URN names, object names, image names, version and alias names, property
paths): never input values. As a second guard, any plaintext found inside a secret envelope of the
preview is masked if it ever appears in the output.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.inputs import naming
from components.cli.alias import describe, normalize

# GitHub's limit on a comment body; the summary keeps a margin for the workflow's own lines.
GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_LIMIT = GITHUB_COMMENT_LIMIT - 1_536
MARKER = "<!-- valohai-preview-summary:{stack} -->"
# Pulumi's secret envelope (sdk/go/common/resource/sig): {SECRET_SIG: SECRET_VALUE_SIG, "value": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 (a marker, not a secret)
# Pulumi's marker for a value not known until the update runs.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CHANGE_OPS = ("create", "update", "replace", "delete")
# The halves of a replacement are reported once, as the `replace` step.
REPLACEMENT_HALVES = ("create-replacement", "delete-replaced", "discard-replaced", "remove-pending-replace")
LIST_LIMIT = 25

IMAGE = "docker:index/image:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
VERSION_COMPONENT = "valohai:index:DeploymentVersion"
ALIAS_COMPONENT = "valohai:index:AliasRouting"
STACK = "pulumi:pulumi:Stack"
# Route objects: Ingresses today, Gateway API routes in gateway mode.
ROUTE_KINDS = ("Ingress", "HTTPRoute", "GRPCRoute")
# Objects whose replacement or deletion interrupts or drops traffic.
SERVING_KINDS = ("Deployment", "Service", "Namespace", "Gateway", *ROUTE_KINDS)
ALIAS_LABEL = "valohai.com/alias"
VERSION_LABEL = "app.kubernetes.io/version"
NGINX = "nginx.ingress.kubernetes.io"
_ROUTE_NAME = re.compile(r"^(?P<alias>[a-z][a-z0-9-]*?)-(?:canary-|mirror-)?(?:ingress|route|httproute)$")


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`."""
    return resource_type.rsplit(":", 1)[-1]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def plain(value: Any) -> Any:
    """`value` if it is readable and known; None for secrets and unknowns."""
    if _is_secret(value) or value in (UNKNOWN, "[secret]"):
        return None
    return value


def dig(value: Any, *path: str | int) -> Any:
    for part in path:
        value = plain(value)
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and len(value) > part else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return plain(value)


def secret_plaintexts(value: Any) -> Iterator[str]:
    """Every string held inside a secret envelope, to be masked should it ever reach the output."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            yield from _strings(value.get("value"))
            yield from _strings(value.get("plaintext"))
            return
        for item in value.values():
            yield from secret_plaintexts(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_plaintexts(item)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        # A plaintext envelope may hold JSON text; its parts are secret too.
        try:
            yield from _strings(json.loads(value))
        except ValueError:
            return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class Step:
    op: str
    urn: str
    type: str
    old: dict[str, Any]
    new: dict[str, Any]
    reasons: list[str]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def kind(self) -> str:
        return kind_of(self.type)

    @property
    def parent_types(self) -> list[str]:
        """The type chain of the URN: `a$b$kubernetes:...:Ingress` -> [a, b]."""
        parts = self.urn.split("::")
        return parts[2].split("$")[:-1] if len(parts) > 3 else []

    def inputs(self, which: str) -> dict[str, Any]:
        state = self.new if which == "new" else self.old
        value = plain(state.get("inputs")) or plain(state.get("outputs")) or {}
        return value if isinstance(value, dict) else {}

    def object_name(self) -> str:
        for which in ("new", "old"):
            name = dig(self.inputs(which), "metadata", "name")
            if isinstance(name, str):
                return name
        return self.name


def parse_steps(document: dict[str, Any]) -> list[Step]:
    steps = []
    for raw in document.get("steps") or []:
        if not isinstance(raw, dict) or "urn" not in raw:
            continue
        old, new = raw.get("oldState") or {}, raw.get("newState") or {}
        reasons = [str(r) for r in (raw.get("detailedDiff") or {})] or [
            str(r) for r in (raw.get("replaceReasons") or raw.get("diffReasons") or [])
        ]
        steps.append(
            Step(
                op=str(raw.get("op", "")),
                urn=str(raw["urn"]),
                type=str(new.get("type") or old.get("type") or raw["urn"].split("::")[2].split("$")[-1]),
                old=old,
                new=new,
                reasons=reasons,
            )
        )
    return steps


def stack_and_project(document: dict[str, Any], steps: list[Step], fallback: str) -> tuple[str, str]:
    for step in steps:
        match = re.match(r"^urn:pulumi:(?P<stack>[^:]+)::(?P<project>[^:]+)::", step.urn)
        if match:
            return match["stack"], match["project"]
    return fallback, ""


# --- aliases -------------------------------------------------------------------------------------


def version_by_service(document: dict[str, Any], steps: list[Step], project: str) -> dict[str, str]:
    """Service name -> version: a preview lists only changed objects, so unchanged Services are
    named the way the program names them (naming.workload_name) from the versions and endpoints
    the preview mentions; the version labels of Services and Deployments in the preview add to that.
    """
    versions = set(_json_config(document, f"{project}:versions") or {})
    versions |= {s.name for s in steps if s.type == VERSION_COMPONENT}
    endpoints: set[str] = set()
    for step in steps:
        if step.type == STACK:
            urls = dig(step.old, "outputs", "versionUrls")
            for version, by_endpoint in (urls or {}).items() if isinstance(urls, dict) else ():
                versions.add(version)
                endpoints |= set(by_endpoint) if isinstance(by_endpoint, dict) else set()
        if step.kind in ROUTE_KINDS:
            endpoints |= {path.rstrip("/").rsplit("/", 1)[-1] for path in _route_paths(step)}
    result = {naming.workload_name(e, v): v for v in versions for e in endpoints if e}
    for step in steps:
        if step.kind not in ("Service", "Deployment"):
            continue
        for which in ("old", "new"):
            name = dig(step.inputs(which), "metadata", "name")
            version = dig(step.inputs(which), "metadata", "labels", VERSION_LABEL)
            if isinstance(name, str) and isinstance(version, str):
                result[name] = version
    return result


def _route_paths(step: Step) -> set[str]:
    paths: set[str] = set()
    for which in ("old", "new"):
        for rule in dig(step.inputs(which), "spec", "rules") or []:
            paths |= {p for p in (dig(path, "path") for path in dig(rule, "http", "paths") or []) if isinstance(p, str)}
            paths |= {p for p in (dig(m, "path", "value") for m in dig(rule, "matches") or []) if isinstance(p, str)}
    return paths


def _route_alias(step: Step, which: str) -> str | None:
    label = dig(step.inputs(which), "metadata", "labels", ALIAS_LABEL)
    if isinstance(label, str):
        return label
    if ALIAS_COMPONENT in step.parent_types:
        match = _ROUTE_NAME.match(step.name)
        return match["alias"] if match else None
    return None


def _route_backends(inputs: dict[str, Any]) -> tuple[dict[str, int | None], dict[str, int]]:
    """Service -> weight (None: the primary of an Ingress pair) and mirrored service -> percent."""
    weights: dict[str, int | None] = {}
    mirrors: dict[str, int] = {}
    annotations = dig(inputs, "metadata", "annotations") or {}
    canary = isinstance(annotations, dict) and annotations.get(f"{NGINX}/canary") == "true"
    canary_weight = _int(annotations.get(f"{NGINX}/canary-weight")) if canary else None
    for rule in dig(inputs, "spec", "rules") or []:
        for path in dig(rule, "http", "paths") or []:
            service = dig(path, "backend", "service", "name")
            if isinstance(service, str):
                weights[service] = canary_weight
        for ref in dig(rule, "backendRefs") or []:
            service = dig(ref, "name")
            if isinstance(service, str):
                weights[service] = _int(dig(ref, "weight"), default=1)
        for flt in dig(rule, "filters") or []:
            service = dig(flt, "requestMirror", "backendRef", "name")
            if isinstance(service, str):
                mirrors[service] = _mirror_percent(dig(flt, "requestMirror"))
    return weights, mirrors


def _mirror_percent(mirror: Any) -> int:
    if not isinstance(mirror, dict):
        return 100
    if "percent" in mirror:
        return _int(mirror["percent"], default=100)
    fraction = mirror.get("fraction")
    if isinstance(fraction, dict) and _int(fraction.get("denominator"), default=100):
        return round(100 * _int(fraction.get("numerator")) / _int(fraction.get("denominator"), default=100))
    return 100


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def aliases_from_routes(steps: list[Step], which: str, services: dict[str, str]) -> dict[str, Any]:
    """Alias -> target in config form, read from the alias route objects' old or new inputs."""
    collected: dict[str, tuple[dict[str, int | None], dict[str, int]]] = {}
    for step in steps:
        if step.kind not in ROUTE_KINDS or step.op in REPLACEMENT_HALVES:
            continue
        if (which == "old" and step.op == "create") or (which == "new" and step.op == "delete"):
            continue
        alias = _route_alias(step, which)
        if alias is None:
            continue
        weights, mirrors = _route_backends(step.inputs(which))
        into = collected.setdefault(alias, ({}, {}))
        into[0].update({services.get(s, s): w for s, w in weights.items()})
        into[1].update({services.get(s, s): p for s, p in mirrors.items()})
    result: dict[str, Any] = {}
    for alias, (weights, mirrors) in collected.items():
        explicit = sum(w for w in weights.values() if w is not None)
        resolved = {v: (w if w is not None else 100 - explicit) for v, w in weights.items()}
        total = sum(resolved.values()) or 1
        if len(resolved) > 1:
            resolved = {v: round(100 * w / total) for v, w in resolved.items()}
        target: Any = next(iter(resolved)) if len(resolved) == 1 else resolved
        if mirrors:
            version, percent = next(iter(mirrors.items()))
            target = {"versions": target, "mirror": {"version": version, "percent": percent}}
        result[alias] = target
    return result


def _json_config(document: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A structured config value of the preview (JSON text); None when absent or secret."""
    raw = (document.get("config") or {}).get(key)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def _output_aliases(steps: list[Step]) -> dict[str, Any] | None:
    for step in steps:
        if step.type == STACK:
            value = dig(step.old, "outputs", "aliases")
            return value if isinstance(value, dict) else None
    return None


def alias_changes(document: dict[str, Any], steps: list[Step], project: str) -> list[str]:
    """`production: 20181002.0 → 20181003.0` per alias whose routing changes."""
    services = version_by_service(document, steps, project)
    route_old, route_new = aliases_from_routes(steps, "old", services), aliases_from_routes(steps, "new", services)
    deployed = _output_aliases(steps)
    configured = _json_config(document, f"{project}:aliases")
    # The last deployed `aliases` output and the previewed config are exact; route objects fill in.
    first_deploy = any(s.type == STACK and s.op == "create" for s in steps)
    old = deployed if deployed is not None else ({} if first_deploy else route_old)
    new = configured if configured is not None else {**old, **route_new}
    if deployed is None and not first_deploy:
        # Without recorded outputs only aliases whose route objects change are known to move.
        new = {a: t for a, t in new.items() if a in route_new or a in route_old}
    lines = []
    for alias in sorted(set(old) | set(new)):
        before, after = old.get(alias), new.get(alias)
        if before is not None and after is not None and normalize(before) == normalize(after):
            continue
        tag = _alias_tag(before, after)
        lines.append(f"`{alias}`{tag}: {describe(before)} → {describe(after)}")
    return lines


def _alias_tag(before: Any, after: Any) -> str:
    if before is None:
        return " (new alias)"
    if after is None:
        return " (removed)"
    (old_w, old_m), (new_w, new_m) = normalize(before), normalize(after)
    if set(old_w) == set(new_w) and old_w != new_w and old_m == new_m:
        return " (weights)"
    if old_w == new_w and old_m != new_m:
        return " (mirror)"
    return ""


# --- the report ----------------------------------------------------------------------------------


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
    report.same = _int((document.get("changeSummary") or {}).get("same"), default=report.same)
    report.aliases = alias_changes(document, steps, project)
    report.added = [s.name for s in report.changes if s.type == VERSION_COMPONENT and s.op == "create"]
    report.removed = [s.name for s in report.changes if s.type == VERSION_COMPONENT and s.op == "delete"]
    for step in report.changes:
        if step.type == IMAGE and step.op != "delete":
            image = dig(step.inputs("new"), "imageName")
            report.images.append(f"`{image if isinstance(image, str) else step.name}`")
        if step.type == DEPLOYMENT and step.op in ("update", "replace"):
            why = ", ".join(step.reasons[:3]) + (", …" if len(step.reasons) > 3 else "")
            report.rolls.append(f"`{step.object_name()}` ({step.op}{': ' + why if why else ''})")
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
            grouped.setdefault((step.op, step.kind), []).append(f"`{step.object_name()}`")
    lines = []
    for (op, kind), names in grouped.items():
        effect = _EFFECTS.get((op, kind), _EFFECTS[(op, "")])
        what = (
            f"{kind} {names[0]}"
            if len(names) == 1
            else f"{len(names)} {kind}{'es' if kind.endswith('s') else 's'} ({_first(names, 5)})"
        )
        lines.append(f"- ⚠️ **{op}** {what}: serves traffic; {effect}")
    return lines


def _first(names: list[str], count: int) -> str:
    return ", ".join(names[:count]) + (f", …and {len(names) - count} more" if len(names) > count else "")


def _bullet_list(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    shown = items[:LIST_LIMIT]
    more = f" …and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT else ""
    if len(shown) == 1:
        return [f"- **{title}**: {shown[0]}{more}"]
    return [f"- **{title}**:", *(f"  - {item}" for item in shown), *([f"  - {more.strip()}"] if more else [])]


def render(report: Report, limit: int = DEFAULT_LIMIT) -> str:
    counts = report.counts
    total = sum(counts.values())
    if report.errors:
        title = "the preview failed"
    elif total:
        title = ", ".join(f"{n} to {op}" for op, n in counts.items() if n) + f" ({report.same} unchanged)"
    else:
        title = f"no changes ({report.same} unchanged)"
    head = [MARKER.format(stack=report.stack), f"### `{report.stack}`: {title}", ""]
    if report.errors:
        head += ["❌ **The preview failed:**", "", "```", *_clip_lines(report.errors, 40), "```", ""]
    body = [
        *report.warnings,
        *_bullet_list("Aliases", report.aliases),
        *_bullet_list("Versions added", report.added),
        *_bullet_list("Versions removed", report.removed),
        *_bullet_list("Images to build", report.images),
        *_bullet_list("Deployments that roll", report.rolls),
    ]
    # A blank line ends the list, so <details> renders as a block of its own.
    summary = "\n".join(head + body) + "\n\n"
    details = _details(report.changes, limit - len(summary) - 200)
    return _mask(summary + details, report.secrets)[:limit]


def _clip_lines(messages: list[str], max_lines: int) -> list[str]:
    lines = [line for message in messages for line in message.splitlines()]
    return lines[:max_lines] + ([f"…and {len(lines) - max_lines} more lines"] if len(lines) > max_lines else [])


def _details(changes: list[Step], budget: int) -> str:
    if not changes:
        return ""
    header = [
        f"<details><summary>All {len(changes)} changes</summary>",
        "",
        "| op | kind | name | changed |",
        "|---|---|---|---|",
    ]
    footer = ["", "</details>", ""]
    rows: list[str] = []
    used = sum(len(line) + 1 for line in header + footer)
    for index, step in enumerate(changes):
        changed = ", ".join(step.reasons[:5]) + (", …" if len(step.reasons) > 5 else "")
        row = f"| {step.op} | {step.kind} | `{step.name}` | {changed.replace('|', '/')} |"
        note = f"\n_…{len(changes) - index} more changes not shown (GitHub's comment limit); see the workflow log._"
        if used + len(row) + 1 + len(note) > budget:
            rows.append(note.strip())
            break
        rows.append(row)
        used += len(row) + 1
    return "\n".join(header + rows + footer)


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


def read_documents(paths: list[str]) -> list[tuple[str, dict[str, Any] | str]]:
    """(name, parsed preview) per input; a problem reading one becomes its message."""
    sources = paths or ["-"]
    result: list[tuple[str, dict[str, Any] | str]] = []
    for path in sources:
        name = "stdin" if path == "-" else Path(path).stem
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
        except OSError as err:
            result.append((name, f"cannot read {path}: {err.strerror}"))
            continue
        try:
            document = json.loads(text)
        except ValueError:
            result.append((name, f"{path} is not `pulumi preview --json` output (no JSON); see the preview's log"))
            continue
        result.append((name, document if isinstance(document, dict) else f"{path}: expected a JSON object"))
    return result


def summarize(paths: list[str], limit: int = DEFAULT_LIMIT) -> str:
    documents = read_documents(paths)
    share = limit // max(len(documents), 1)
    parts = []
    for name, document in documents:
        if isinstance(document, str):
            parts.append(f"{MARKER.format(stack=name)}\n### `{name}`\n\n❌ {document}\n")
        else:
            parts.append(render(build_report(document, name), share))
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    text = summarize(args.previews, args.limit)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "preview-summary",
        help="Markdown summary of `pulumi preview --json` for a pull request",
        description="Read `pulumi preview --json` output (files, or stdin) of one or more stacks and write "
        "Markdown: alias moves, versions added/removed, images to build, Deployments that roll, counts, "
        "and warnings for replaced or deleted objects that serve traffic. Secrets never appear.",
    )
    parser.add_argument("previews", nargs="*", metavar="PREVIEW.json", help="files (default: stdin, or '-')")
    parser.add_argument("--output", "-o", help="write the Markdown here instead of stdout")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"maximum characters in total (default {DEFAULT_LIMIT})"
    )
    parser.set_defaults(run=run)
