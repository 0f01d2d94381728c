"""The one error type the tools show users, and progress lines while something slow runs."""

from __future__ import annotations

import sys
from collections.abc import Iterable


class ToolError(Exception):
    """A problem the user can fix; one line per problem, each naming what is wrong and the fix."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def progress(message: str) -> None:
    """A line on stderr while something slow runs, so stdout stays the result alone."""
    print(f"==> {message}", file=sys.stderr, flush=True)
