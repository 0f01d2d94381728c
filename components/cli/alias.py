"""`alias set` and `alias list`: point an alias at a version, or split it across versions."""

from __future__ import annotations

import argparse
from typing import Any

from components.cli import promote
from components.cli.common import add_stack_arguments, next_step
from components.inputs.aliases import describe
from components.stacks.alias_changes import apply_change, plan_change, proposed_change, write_change
from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi, find_project_dir


def parse_targets(items: list[str]) -> str | dict[str, int]:
    """`VERSION` or `VERSION=WEIGHT VERSION=WEIGHT` -> the config value; the program checks the weights."""
    if len(items) == 1:
        version, sep, weight = items[0].partition("=")
        if sep and weight != "100":
            raise ToolError(
                f"alias set: a single version takes all traffic; drop '={weight}' or name a second version to split"
            )
        return version
    weights: dict[str, int] = {}
    for item in items:
        version, sep, weight = item.partition("=")
        if not version or not sep:
            raise ToolError(f"alias set: {item!r}: each version of a split needs a weight (VERSION=WEIGHT, sum 100)")
        if version in weights:
            raise ToolError(f"alias set: version '{version}' is named twice; name each version once")
        try:
            weights[version] = int(weight)
        except ValueError:
            raise ToolError(f"alias set: weight {weight!r} of version '{version}' must be a whole number") from None
    return weights


def with_mirror(target: str | dict[str, int], mirror: str | None) -> Any:
    """Add `--mirror VERSION=PERCENT`: the `{versions, mirror}` alias form (gateway routing)."""
    if mirror is None:
        return target
    version, sep, percent = mirror.partition("=")
    if not version or not sep or not percent.isdigit():
        raise ToolError(f"--mirror {mirror!r}: expected VERSION=PERCENT, e.g. 20181003.0=10")
    return {
        "versions": {target: 100} if isinstance(target, str) else target,
        "mirror": {"version": version, "percent": int(percent)},
    }


def set_alias(args: argparse.Namespace) -> int:
    pulumi = Pulumi(find_project_dir(args.cwd), args.stack)
    config = pulumi.read_config()
    target = with_mirror(parse_targets(args.targets), args.mirror)
    # With --up, apply_change checks the change (the check reads valohai.yaml at every version's
    # commit, so it runs once).
    change = (proposed_change if args.up and not args.dry_run else plan_change)(config, args.alias, target)
    if change.unchanged:
        print(f"Stack '{args.stack}': alias {args.alias} already points to {describe(target)}; nothing to change")
        return 0
    if args.dry_run:
        print(f"Stack '{args.stack}' (dry run, nothing written): {change.line}")
        return 0
    if args.up:
        applied = apply_change(pulumi, config, change, deploy=True)
        print(f"Stack '{args.stack}': {change.line}; {applied.summary}")
        return 0
    write_change(pulumi, config, change)
    print(f"Stack '{args.stack}': {change.line}")
    print(next_step(args.stack))
    return 0


def list_aliases(args: argparse.Namespace) -> int:
    config = Pulumi(find_project_dir(args.cwd), args.stack).read_config()
    aliases = config.values.get("aliases") or {}
    if not aliases:
        print(f"Stack '{args.stack}' has no aliases; add one with `alias set --stack {args.stack} ALIAS VERSION`")
        return 0
    width = max(len(a) for a in aliases)
    for alias, target in aliases.items():
        print(f"{alias.ljust(width)}  {describe(target)}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("alias", help="point an alias at a version, or list aliases")
    sub = parser.add_subparsers(dest="alias_command", required=True, metavar="{set,list,promote}")
    set_parser = sub.add_parser(
        "set",
        help="point ALIAS at a version, or split it: VERSION=WEIGHT VERSION=WEIGHT",
        description="Point ALIAS at one version, or split its traffic (weights sum to 100; "
        "with routing.kind ingress, two versions). "
        "Checks the result with the program's validation, then writes the stack config through "
        "`pulumi config set-all` (comments and secrets in Pulumi.<stack>.yaml survive).",
    )
    add_stack_arguments(set_parser)
    set_parser.add_argument("alias", help="alias name, e.g. production")
    set_parser.add_argument("targets", nargs="+", metavar="VERSION[=WEIGHT]")
    set_parser.add_argument(
        "--mirror",
        metavar="VERSION=PERCENT",
        help="also mirror PERCENT of the alias's requests to VERSION (responses ignored; needs gateway routing)",
    )
    set_parser.add_argument("--dry-run", action="store_true", help="check and show the change, write nothing")
    set_parser.add_argument(
        "--up",
        action="store_true",
        help="also deploy it: `pulumi up` of the alias's route objects only when its versions are deployed "
        "(other pending changes wait for your next plain `pulumi up`), else a plain `pulumi up`",
    )
    set_parser.set_defaults(run=set_alias)
    list_parser = sub.add_parser("list", help="the stack's aliases and where they point")
    add_stack_arguments(list_parser)
    list_parser.set_defaults(run=list_aliases)
    promote.register(sub)
