"""`version create`: a new version in one command, like Valohai's `vh deployment create-version`."""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.cli.common import add_stack_arguments, next_step
from components.inputs.aliases import AliasTarget, describe
from components.inputs.code_repository import CodeRepository
from components.inputs.errors import ConfigError
from components.inputs.plan import VersionPlan, code_location
from components.inputs.settings import settings_from_config
from components.inputs.valohai_config import Endpoint, parse_valohai_yaml
from components.stacks import updates
from components.stacks.endpoint_calls import split_pair
from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi, StackConfig, find_project_dir, validate
from components.stacks.targets import TargetedUpdate, targeted_update

_URL_SOURCE = re.compile(r"(?P<url>https://[^#]+)#sha256=(?P<sha256>[0-9a-fA-F]{64})")


def default_name(existing: Iterable[str], today: datetime.date) -> str:
    """`YYYYMMDD.N`: today's date and the next number not yet used with it in this stack."""
    day = today.strftime("%Y%m%d")
    pattern = re.compile(rf"{day}\.(\d+)")
    used = [int(m.group(1)) for name in existing if (m := pattern.fullmatch(name))]
    return f"{day}.{max(used) + 1 if used else 0}"


@dataclass(frozen=True)
class FileArg:
    endpoint: str
    name: str
    source: str | dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.endpoint}.{self.name}"


def parse_file_arg(
    text: str, endpoints: Iterable[str] = (), cwd: Path | None = None, project_dir: Path | None = None
) -> FileArg:
    """`ENDPOINT.FILE=SOURCE`; SOURCE is a path or `https://...#sha256=<hex>`.

    ENDPOINT is matched against the endpoint names first, so names holding a '.' still work.
    Paths are taken relative to the current directory and written relative to the project.
    """
    key, source = split_pair(text, "--file", "ENDPOINT.FILE=SOURCE (a path, or https://...#sha256=...)")
    owner = next((e for e in sorted(endpoints, key=len, reverse=True) if key.startswith(f"{e}.")), None)
    endpoint, _, name = (owner, ".", key.removeprefix(f"{owner}.")) if owner else key.partition(".")
    if not endpoint or not name:
        raise ToolError(
            f"--file {text!r}: name the endpoint and its file, ENDPOINT.FILE=SOURCE (e.g. predict-digit.model=...)"
        )
    if not source:
        raise ToolError(f"--file {text!r}: give a path or https://...#sha256=... after '='")
    if source.startswith(("https://", "http://")):
        match = _URL_SOURCE.fullmatch(source)
        if not match:
            raise ToolError(
                f"--file {key}: a URL source must be https:// and end in #sha256=<64 hex digits> "
                "(sha256sum FILE), so the version's bytes never drift"
            )
        return FileArg(endpoint, name, {"url": match["url"], "sha256": match["sha256"].lower()})
    return FileArg(endpoint, name, _project_relative(source, cwd, project_dir))


def _project_relative(source: str, cwd: Path | None, project_dir: Path | None) -> str:
    if cwd is None or project_dir is None:
        return source
    absolute = (cwd / source).resolve()
    if absolute.is_relative_to(project_dir):
        return absolute.relative_to(project_dir).as_posix()
    return str(absolute)


def parse_env(items: Iterable[str]) -> dict[str, str]:
    return dict(split_pair(item, "--env") for item in items)


def declared_files(config: StackConfig, values: dict[str, Any], commit: str) -> tuple[tuple[Endpoint, ...], str] | None:
    """The endpoints of valohai.yaml at `commit` and where it was read; None when that cannot be read.

    Only for a precise "missing --file" message: the full check (validate) reports any other problem.
    """
    try:
        repository, _, yaml_path = code_location(settings_from_config(values, config.short_stack), config.project_dir)
    except ConfigError:
        return None
    text = repository.read(commit, yaml_path)
    if text is None:
        return None
    try:
        return parse_valohai_yaml(text, yaml_path).endpoints, f"{yaml_path}@{commit[:12]}"
    except ConfigError:
        return None


def resolve_commit(config: StackConfig, ref: str) -> str:
    repo_setting = config.values.get("codeRepository") or "."
    try:
        repository = CodeRepository((config.project_dir / str(repo_setting)).resolve())
    except ConfigError as err:
        raise ToolError(err.problems) from None
    commit = repository.resolve(ref)
    if commit is None:
        raise ToolError(
            f"--commit {ref!r} is not a commit of {repository.top}; use a branch, tag or commit id there (git log)"
        )
    return commit


def missing_files(
    endpoints: Iterable[Endpoint], chosen: list[str] | None, files: list[FileArg], source: str
) -> list[str]:
    given = {f.key for f in files}
    enabled = [e for e in endpoints if chosen is None or e.name in chosen]
    missing = [(e.name, f) for e in enabled for f in e.files if f"{e.name}.{f.name}" not in given]
    if not missing:
        return []
    return [f"the chosen endpoints declare {len(missing)} file(s) in {source} that were not given:"] + [
        f"  --file {endpoint}.{f.name}=SOURCE   (put at {f.path}; SOURCE is a path or https://...#sha256=...)"
        for endpoint, f in missing
    ]


def create(args: argparse.Namespace, today: datetime.date | None = None) -> int:
    pulumi = Pulumi(find_project_dir(args.cwd), args.stack)
    config = pulumi.read_config()
    versions = config.rewritable("versions")
    aliases = config.rewritable("aliases")
    name = args.name or default_name(versions, today or datetime.date.today())
    if name in versions:
        raise ToolError(f"version '{name}' already exists in stack '{args.stack}'; choose another --name, or omit it")
    commit = resolve_commit(config, args.commit)
    declared = declared_files(config, config.values, commit)
    files = [
        parse_file_arg(text, [e.name for e in declared[0]] if declared else (), Path.cwd(), config.project_dir)
        for text in args.file
    ]
    if declared and (missing := missing_files(declared[0], args.endpoint, files, declared[1])):
        raise ToolError(missing)

    version: dict[str, Any] = {"commit": commit}
    if args.endpoint:
        version["endpoints"] = list(args.endpoint)
    by_endpoint: dict[str, dict[str, Any]] = {}
    for f in files:
        by_endpoint.setdefault(f.endpoint, {})[f.name] = f.source
    if by_endpoint:
        version["files"] = by_endpoint
    if args.env:
        version["env"] = parse_env(args.env)
    versions[name] = version
    before = aliases.get(args.alias) if args.alias else None
    if args.alias:
        aliases[args.alias] = name
    plan = validate(config, config.values | {"versions": versions, "aliases": aliases})

    lines = _described(args, plan.versions[name], files, version.get("env", {}), before)
    if args.dry_run:
        print(f"Stack '{args.stack}' (dry run, nothing written): version {name} would be added")
        print("\n".join(lines))
        return 0
    pulumi.write(config, {"versions": versions, "aliases": aliases} if args.alias else {"versions": versions})
    print(f"Stack '{args.stack}': added version {name}")
    print("\n".join(lines))
    if args.up:
        deploy(pulumi, config, plan.versions[name], args.alias)
    else:
        print(next_step(args.stack))
    return 0


def _described(
    args: argparse.Namespace, version: VersionPlan, files: list[FileArg], env: dict[str, str], before: Any
) -> list[str]:
    lines = [f"  commit     {version.commit} ({args.commit})"]
    lines.append(f"  endpoints  {', '.join(e.name for e in version.endpoints)}")
    lines += [f"  file       {f.key} = {f.source if isinstance(f.source, str) else f.source['url']}" for f in files]
    lines += [f"  env        {k}={v}" for k, v in env.items()]
    if args.alias:
        lines.append(f"  alias      {args.alias}: {describe(before)} → {version.name}")
    return lines


def deploy(pulumi: Pulumi, config: StackConfig, version: VersionPlan, alias: str | None) -> None:
    """`version create --up`: the new version (and the alias moved onto it) only, when it can be."""
    update = new_version_update(config, pulumi.outputs(), version, alias)
    what = f"version {version.name}{f' and alias {alias}' if alias else ''} only" if update else "the whole stack"
    print(f"==> pulumi up of {what}", flush=True)
    result = updates.up(pulumi, update=update, on_line=print)
    print(f"Stack '{config.stack}': version {version.name} deployed in {result.seconds:.0f} s")


def new_version_update(
    config: StackConfig, outputs: dict[str, Any], version: VersionPlan, alias: str | None
) -> TargetedUpdate | None:
    """The update of a new version (and the alias moved onto it) alone on a deployed stack, so its
    cost follows the version, not the stack (stacks/targets.py); None for a plain `pulumi up`, on a
    stack not deployed yet (its shared objects come first) or with other versions not deployed."""
    if not outputs.get("images"):
        return None
    aliases = {alias: AliasTarget.of(version.name)} if alias else {}
    versions = config.values.get("versions") or {}
    return targeted_update(config.short_stack, config.namespace, outputs, versions, aliases=aliases, versions=[version])


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("version", help="create a version (like vh deployment create-version)")
    sub = parser.add_subparsers(dest="version_command", required=True, metavar="{create}")
    create_parser = sub.add_parser(
        "create",
        help="add a version to a stack's config",
        description="Add a version to the stack's config: its commit, endpoints, files and env; optionally "
        "point an alias at it. Checks the result with the program's validation, then writes through "
        "`pulumi config set-all` (comments and secrets in Pulumi.<stack>.yaml survive).",
    )
    add_stack_arguments(create_parser)
    create_parser.add_argument("--name", help="version name (default: YYYYMMDD.N, today and the next free N)")
    create_parser.add_argument(
        "--commit", default="HEAD", help="git ref of the code repository, written as a full commit id (default: HEAD)"
    )
    create_parser.add_argument(
        "--endpoint", action="append", metavar="NAME", help="an endpoint this version serves (repeat; default: all)"
    )
    create_parser.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="ENDPOINT.FILE=SOURCE",
        help="a file an endpoint declares: a path, or https://...#sha256=<hex> (repeat)",
    )
    create_parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment (repeat)")
    create_parser.add_argument("--alias", help="also point this alias at the new version")
    create_parser.add_argument("--dry-run", action="store_true", help="check and show the version, write nothing")
    create_parser.add_argument(
        "--up",
        action="store_true",
        help="also deploy it: `pulumi up` of this version (and --alias) only, on a deployed stack; other "
        "pending changes wait for your next plain `pulumi up`",
    )
    create_parser.set_defaults(run=create)
