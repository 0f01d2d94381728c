"""The one error type users see: every problem on its own line, naming file, key and fix."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """Bad input, found before anything is declared; carries one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def pydantic_location(loc: tuple[int | str, ...]) -> str:
    """`('versions', '20181002.0', 'replicas', 'min')` -> `versions.20181002.0.replicas.min`."""
    return ".".join(str(part) for part in loc)
