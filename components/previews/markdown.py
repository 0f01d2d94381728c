"""The Markdown of a preview summary: a title and the summary first, then the changes, trimmed to fit
one GitHub comment; any secret plaintext the preview held is masked should it appear."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.previews.escape import code, fence_for, marker_name, text
from components.previews.report import Report, build_report
from components.previews.steps import Step

# GitHub's limit on a comment body; the summary keeps a margin for the workflow's own lines.
GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_LIMIT = GITHUB_COMMENT_LIMIT - 1_536
MARKER = "<!-- valohai-preview-summary:{stack} -->"
LIST_LIMIT = 25


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
    head = [MARKER.format(stack=marker_name(report.stack)), f"### {code(report.stack)}: {title}", ""]
    if report.errors:
        errors = _clip_lines(report.errors, 40)
        fence = fence_for(errors)
        head += ["❌ **The preview failed:**", "", fence, *errors, fence, ""]
    body = [
        *report.warnings,
        *_bullet_list("Aliases", report.aliases),
        *_bullet_list("Versions added", report.added),
        *_bullet_list("Versions removed", report.removed),
        *_bullet_list("Images to build", report.images),
        *_bullet_list("Files in images", report.files),
        *_bullet_list("Deployments that roll", report.rolls),
    ]
    # A blank line ends the list, so <details> renders as a block of its own.
    summary = "\n".join(head + body) + "\n\n"
    details = _details(report.changes, limit - len(summary) - 200)
    return mask(summary + details, report.secrets)[:limit]


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
        row = f"| {text(step.op)} | {text(step.kind)} | {code(step.name, in_table=True)} | {text(changed)} |"
        note = f"\n_…{len(changes) - index} more changes not shown (GitHub's comment limit); see the workflow log._"
        if used + len(row) + 1 + len(note) > budget:
            rows.append(note.strip())
            break
        rows.append(row)
        used += len(row) + 1
    return "\n".join(header + rows + footer)


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret plaintext replaced by `[secret]` (longest first: one may hold another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


def read_documents(paths: list[str]) -> list[tuple[str, dict[str, Any] | str]]:
    """(name, parsed preview) per input; a problem reading one becomes its message (Markdown)."""
    sources = paths or ["-"]
    result: list[tuple[str, dict[str, Any] | str]] = []
    for path in sources:
        name = "stdin" if path == "-" else Path(path).stem
        try:
            raw = sys.stdin.read() if path == "-" else Path(path).read_text()
        except OSError as err:
            result.append((name, f"cannot read {code(path)}: {text(err.strerror or err)}"))
            continue
        except UnicodeDecodeError:
            result.append((name, f"{code(path)} is not text; give the output of `pulumi preview --json`"))
            continue
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            result.append(
                (name, f"{code(path)} is not `pulumi preview --json` output (no JSON); see the preview's log")
            )
            continue
        result.append((name, document if isinstance(document, dict) else f"{code(path)}: expected a JSON object"))
    return result


def summarize(paths: list[str], limit: int = DEFAULT_LIMIT) -> str:
    return render_documents(read_documents(paths), limit)


def render_documents(documents: list[tuple[str, dict[str, Any] | str]], limit: int = DEFAULT_LIMIT) -> str:
    """One section per stack; an input that could not be read gets a section saying so."""
    share = limit // max(len(documents), 1)
    parts = []
    for name, document in documents:
        if isinstance(document, str):
            parts.append(f"{MARKER.format(stack=marker_name(name))}\n### {code(name)}\n\n❌ {document}\n")
        else:
            parts.append(render(build_report(document, name), share))
    return "\n".join(parts)
