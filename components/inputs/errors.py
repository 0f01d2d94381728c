"""The one error type users see: every problem on its own line, naming file, key and fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# How much of a user's value a message quotes: enough to recognise it, never the whole of a huge one.
SHOWN_CHARACTERS = 80


class ConfigError(Exception):
    """Bad input, found before anything is declared; carries one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def pydantic_location(loc: tuple[int | str, ...]) -> str:
    """`('versions', '20181002.0', 'replicas', 'min')` -> `versions.20181002.0.replicas.min`."""
    return ".".join(shown_name(str(part)) for part in loc)


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """`repr(value)` on one line, at most about `limit` characters: a message never embeds a huge input.

    Containers are not walked (a YAML alias bomb expands to billions of items); their size is named instead.
    """
    if isinstance(value, dict | list | tuple | set):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"… ({len(value)} characters)"
    if isinstance(value, int) and value.bit_length() > limit * 3:
        # Python refuses to print ints of more than 4300 digits; the size says enough.
        return f"a number of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def shown_name(name: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A key or name as it goes into a message (`versions.<name>`): unquoted, one line, clipped."""
    if name.isprintable() and len(name) <= limit:
        return name
    text = repr(name)[1:-1]
    return text if len(text) <= limit else text[:limit] + f"… ({len(name)} characters)"
