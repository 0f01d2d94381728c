"""`preview-summary`: `pulumi preview --json` as Markdown a reviewer reads in ten seconds.

Per stack: aliases that move (and weight or mirror changes), versions added or removed, images to
build, Deployments that roll, counts per operation, and a warning for every replace or delete of
an object that serves traffic. Then the full list of changes, trimmed to fit one GitHub comment
(`components/previews/`). Only names are printed, never input values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.previews.markdown import DEFAULT_LIMIT, read_documents, render_documents
from components.stacks.errors import ToolError


def run(args: argparse.Namespace) -> int:
    """Writes the Markdown even when an input is unreadable (the comment says so), then exits 1 for it."""
    if args.limit < 1_000:
        raise ToolError(f"--limit {args.limit}: give at least 1000 characters (GitHub allows {DEFAULT_LIMIT})")
    documents = read_documents(args.previews)
    text = render_documents(documents, args.limit)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as err:
            raise ToolError(f"--output {args.output}: cannot write: {err.strerror or err}") from None
    else:
        sys.stdout.write(text)
    unreadable = [(name, problem) for name, problem in documents if isinstance(problem, str)]
    if unreadable:
        raise ToolError([f"preview-summary: {name}: {problem.replace('`', '')}" for name, problem in unreadable])
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
