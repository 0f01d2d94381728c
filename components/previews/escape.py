"""Markdown for text that comes from config, valohai.yaml or the preview: shown as text, never as markup.

A pull request controls version, alias and file names and error messages; in the comment they must
not open links, images, HTML, tables or code fences of their own.
"""

from __future__ import annotations

import re

# Characters that start markup anywhere in a line (emphasis, code, links, HTML, entities, table
# cells, strikethrough), escaped with a backslash. Text never starts a line, so `#`, `-` and `1.` stay.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def text(value: object) -> str:
    """`value` as plain Markdown text on one line: every special character escaped."""
    return _SPECIAL.sub(r"\\\1", _one_line(str(value)))


def code(value: object, *, in_table: bool = False) -> str:
    """`value` as inline code on one line: the fence is longer than any run of backticks inside it.

    In a table cell a `|` would end the cell even inside code, so there it is escaped (GitHub shows `|`).
    """
    body = _one_line(str(value))
    if in_table:
        body = body.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def fence_for(lines: list[str]) -> str:
    """A code-block fence that no line of `lines` can close (longer than any backtick run in them)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def marker_name(value: object) -> str:
    """A stack name as it goes into an HTML comment: nothing that could end the comment."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._/-]", "-", str(value)))


def _one_line(value: str) -> str:
    # A newline would end a list item or a table row; control characters show as nothing useful.
    return "".join(ch if ch.isprintable() else " " for ch in value)
