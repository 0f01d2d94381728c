"""`alias promote`: move an alias to a version in baked steps, rolling back by itself on a breach."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from components.cli.common import add_stack_arguments, open_stack
from components.inputs.errors import ConfigError
from components.inputs.rollout import RolloutPolicy, format_duration, promoted_version
from components.inputs.settings import StackSettings, settings_from_config
from components.promote.promotion import Outcome, Promotion, PromotionFailed
from components.promote.pulumi_stack import PulumiStack, SystemClock
from components.promote.record import TAG, TagStore
from components.stacks.errors import ToolError

# Command-line option -> policy field, for messages naming the option the user typed.
OPTIONS = {
    "steps": "--steps",
    "bake": "--bake",
    "max_error_ratio": "--max-error-ratio",
    "max_error_ratio_increase": "--max-error-ratio-increase",
    "max_p95": "--max-p95",
    "min_requests": "--min-requests",
}


def parse_steps(text: str) -> list[int]:
    """`10,50` -> [10, 50]; `none` or an empty string -> [] (move at once); an argparse type."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of percents like 10,50") from None


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {field: getattr(args, field) for field in OPTIONS}


def checked_settings(values: dict[str, Any], stack: str) -> StackSettings:
    try:
        return settings_from_config(values, stack)
    except ConfigError as err:
        raise ToolError(
            ["alias promote: the stack's config does not pass the program's checks:"]
            + [f"  {problem}" for problem in err.problems]
        ) from None


def policy_for(values: dict[str, Any], stack: str, alias: str, given: dict[str, Any]) -> RolloutPolicy:
    """The alias's `rollout` policy from config, with the options given on the command line on top."""
    settings = checked_settings(values, stack)
    if alias not in settings.aliases:
        raise ToolError(
            f"alias promote: stack '{stack}' has no alias '{alias}'; name one of: {', '.join(settings.aliases)}"
        )
    try:
        return settings.rollout.policy(alias, **given)
    except ValidationError as err:
        raise ToolError(
            [f"alias promote: {_option(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()]
        ) from None


def moved_aliases(stack: PulumiStack, given: dict[str, Any]) -> dict[str, tuple[str, RolloutPolicy]]:
    """Aliases config moves to one version (from where they are deployed) whose policy is guarded."""
    config = stack.config
    settings = checked_settings(config.values, config.short_stack)
    moves = {}
    for alias in settings.aliases:
        version = promoted_version(stack.deployed(alias), stack.configured(alias))
        if version is None:
            continue
        policy = policy_for(config.values, config.short_stack, alias, given)
        if policy.guarded:
            moves[alias] = (version, policy)
    return moves


def _option(location: tuple[int | str, ...]) -> str:
    field = str(location[0]) if location else "rollout"
    return OPTIONS.get(field, field)


def promote(args: argparse.Namespace) -> int:
    alias: str | None = args.alias
    version: str | None = args.version
    if (args.abort or args.moved) and alias is not None:
        raise ToolError(f"alias promote: {'--abort' if args.abort else '--moved'} takes no ALIAS or VERSION")
    if not (args.abort or args.moved) and (alias is None or version is None):
        raise ToolError("alias promote: name ALIAS and VERSION (or pass --abort to undo a promotion under way)")
    pulumi, config = open_stack(args)
    if args.abort or args.moved:
        stack = PulumiStack(pulumi, config)
        promotion = Promotion(stack, TagStore(pulumi), SystemClock(), _say)
        return _interruptible(args, lambda: promotion.abort() if args.abort else _run_moved(args, stack, promotion))
    assert alias is not None and version is not None
    policy = policy_for(config.values, config.short_stack, alias, overrides(args))
    promotion = Promotion(PulumiStack(pulumi, config), TagStore(pulumi), SystemClock(), _say)
    return _interruptible(args, lambda: _times(promotion.run(alias, version, policy, from_deployed=args.from_deployed)))


def _interruptible(args: argparse.Namespace, run: Callable[[], object]) -> int:
    try:
        run()
    except KeyboardInterrupt:
        print(
            f"interrupted: the promotion is recorded in stack tag {TAG}; run the same command to resume it, "
            f"or `alias promote --stack {args.stack} --abort` to return to where it started",
            file=sys.stderr,
        )
        return 130
    return 0


def _run_moved(args: argparse.Namespace, stack: PulumiStack, promotion: Promotion) -> None:
    moves = moved_aliases(stack, overrides(args))
    if not moves:
        _say(f"==> stack '{args.stack}': no alias moves to one version with guarded steps; nothing to promote")
        return
    try:
        for outcome in promotion.run_moved(moves):
            _times(outcome)
    except PromotionFailed as failure:
        alias = next((a for a in moves if f"{a} is back on" in "\n".join(failure.problems)), None)
        if alias is not None:
            version = moves[alias][0]
            start = stack.deployed(alias)
            failure.problems.append(
                f"revert the change moving {alias} to {version} (Pulumi.{stack.config.short_stack}.yaml: "
                f"aliases.{alias} back to {start.describe() if start else 'its previous target'}), "
                "or the next deploy tries this promotion again"
            )
        raise


def _times(outcome: Outcome) -> None:
    for step in outcome.steps:
        bake = f", baked {format_duration(max(1.0, round(step.bake_seconds)))}" if step.bake_seconds else ""
        _say(f"    {outcome.alias} {step.share}%: applied in {step.apply_seconds:.1f}s{bake}")


def _say(line: str) -> None:
    print(line, flush=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "promote",
        help="move ALIAS to VERSION in baked steps; rolled back by itself when the new version misbehaves",
        description="From where ALIAS points now (one version or a split), shift its traffic to VERSION step by "
        "step. Each step is the checked config write of `alias set` plus `pulumi up`, then a bake judging VERSION on "
        "the requests it got through ALIAS: its 5xx share (alone and against the previous version's), p95 latency, "
        "its pods staying Ready without restarts; too little traffic is a failure. On a breach the alias returns "
        "to where it started (config and cluster) and the command exits 1 naming the step, figures and threshold. "
        f"The promotion under way is recorded in stack tag {TAG}: after Ctrl-C or a crash, the same command "
        "resumes it and --abort returns to the start. Defaults come from the stack's `rollout` config "
        "(Pulumi.yaml describes it); options here win. Gateway routing takes any steps; ingress routing splits "
        "two versions, so promote from one version.",
    )
    add_stack_arguments(parser)
    parser.add_argument("alias", nargs="?", help="alias name, e.g. production")
    parser.add_argument("version", nargs="?", help="the version to move the alias to")
    parser.add_argument("--steps", type=parse_steps, metavar="10,50", help="VERSION's share at each baked step")
    parser.add_argument("--bake", metavar="2m", help="how long each step is judged")
    parser.add_argument("--max-error-ratio", type=float, metavar="0.01", help="VERSION's highest 5xx share")
    parser.add_argument(
        "--max-error-ratio-increase",
        type=float,
        metavar="0.005",
        help="VERSION's highest 5xx share above the previous version's over the same window",
    )
    parser.add_argument("--max-p95", metavar="500ms", help="VERSION's highest 95th percentile latency")
    parser.add_argument("--min-requests", type=int, metavar="100", help="fewer requests in a bake is a failure")
    parser.add_argument(
        "--from-deployed",
        action="store_true",
        help="start from where the last pulumi up left the alias (stack outputs), setting config back to it first: "
        "what a deploy job does when a merged change moves an alias",
    )
    parser.add_argument(
        "--moved",
        action="store_true",
        help="promote every alias the stack's config moves to one version, from where it is deployed, with its "
        "configured policy; the rest of the change is deployed first with those aliases held (the deploy workflow)",
    )
    parser.add_argument(
        "--abort", action="store_true", help="return the promotion under way to where it started, then stop"
    )
    parser.set_defaults(run=promote)
