"""Small formatting for the templates: ages, traffic figures, one-line errors, preview text."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
# Shown for a figure that could not be read (an en dash, as tables print "none").
NONE = "\u2013"


def lines(problems: Iterable[str]) -> list[str]:
    """Every problem as lines of their own (a pulumi message may hold several), blank ones dropped."""
    return [" ".join(line.split()) for problem in problems for line in str(problem).splitlines() if line.strip()]


def age(timestamp: Any, now: datetime.datetime | None = None) -> str:
    """`2026-12-02T10:00:00Z` -> `3h 12m` (how long ago); empty when unknown."""
    if not isinstance(timestamp, str) or not timestamp:
        return ""
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days}d {hours % 24}h"
    if hours:
        return f"{hours}h {minutes % 60}m"
    return f"{minutes}m"


def rate(value: Any) -> str:
    return NONE if not isinstance(value, int | float) else f"{value:.2f}/s"


def percent(value: Any) -> str:
    return NONE if not isinstance(value, int | float) else f"{100 * value:.1f}%"


def milliseconds(value: Any) -> str:
    return NONE if not isinstance(value, int | float) else f"{1000 * value:.0f} ms"


def weights(value: Any) -> str:
    """`{"20181002.0": 90, "20181003.0": 10}` -> `20181002.0 90% / 20181003.0 10%`."""
    if not isinstance(value, dict) or not value:
        return NONE
    if len(value) == 1:
        return str(next(iter(value)))
    return " / ".join(f"{v} {w}%" for v, w in value.items())


def short_image(value: Any) -> str:
    """`registry/acme/mnist@sha256:0123…` -> `sha256:0123456789ab` (the digest is what identifies it)."""
    if not isinstance(value, str) or not value:
        return NONE
    _, sep, digest = value.partition("@")
    return digest[:19] if sep else value.rsplit("/", 1)[-1]


def inline_md(text: Any) -> Markup:
    """The preview summary's Markdown spans (`code`, **bold**) as HTML; everything else escaped."""
    html = str(escape(str(text)))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return Markup(html)  # noqa: S704 (built from escaped text)


def install_filters(env: Environment) -> None:
    env.filters.update(
        age=age,
        rate=rate,
        percent=percent,
        ms=milliseconds,
        weights=weights,
        short_image=short_image,
        inline_md=inline_md,
    )
