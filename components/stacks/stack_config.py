"""A stack's config and outputs, read and written only through the Pulumi CLI.

Writes go through `pulumi config set-all`, which edits `Pulumi.<stack>.yaml` in place (comments,
`secure:` values and key order survive); this module never writes that file itself. Reads use
`pulumi config --json` without `--show-secrets`, so secret values never reach this process
unless a command asks for one credential on purpose (`secret_at`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inputs.errors import ConfigError
from components.inputs.plan import DeploymentPlan, build_plan
from components.inputs.settings import parse_config_value, settings_from_config
from components.inputs.stack_file import project_name, read_stack_config, short_stack
from components.stacks.errors import ToolError, progress

# Stands in for a secret value during validation: settings only need secrets to be non-empty.
# It is never shown: secrets' values are not part of any message settings produce.
SECRET_PLACEHOLDER = "<secret>"  # noqa: S105 (a placeholder, not a credential)
# Keys whose values these commands rewrite as a whole; they never hold secrets.
REWRITABLE = ("versions", "aliases")


def find_project_dir(start: Path | None = None) -> Path:
    """The directory holding Pulumi.yaml: `start` (default: cwd) or the nearest parent, as Pulumi looks."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise ToolError(f"no Pulumi.yaml in {here} or its parents; run this inside the project or pass --cwd")


def _with_placeholders(value: Any) -> Any:
    """A stack file's config value with every `{secure: ...}` replaced by the placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _with_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(v) for v in value]
    return value


@dataclass
class StackConfig:
    """Config of one stack: `values` as the program sees them, secrets replaced by placeholders."""

    project_dir: Path
    stack: str
    namespace: str
    values: dict[str, Any]
    secret_keys: frozenset[str]

    @property
    def short_stack(self) -> str:
        return short_stack(self.stack)

    def plan(self, values: dict[str, Any] | None = None) -> DeploymentPlan:
        """Run the program's own checks (components/stack.py) on `values`; raises ConfigError."""
        settings = settings_from_config(self.values if values is None else values, self.short_stack)
        return build_plan(settings, self.project_dir)

    def rewritable(self, key: str) -> dict[str, Any]:
        if key in self.secret_keys:
            raise ToolError(
                f"config: {key}: holds a secret value, so it cannot be rewritten without decrypting it; "
                f"edit it with `pulumi config set --path` instead"
            )
        value = self.values.get(key) or {}
        if not isinstance(value, dict):
            raise ToolError(
                f"config: {key}: must be a map (got {type(value).__name__}); fix it in Pulumi.{self.short_stack}.yaml"
            )
        return copy.deepcopy(value)  # the caller edits its own copy


class Pulumi:
    """The Pulumi CLI for one project directory and stack, with the caller's environment."""

    def __init__(self, project_dir: Path, stack: str) -> None:
        self.project_dir = project_dir
        self.stack = stack
        if shutil.which("pulumi") is None:
            raise ToolError(
                "the pulumi CLI is not on PATH; in this repository run `. scripts/env.sh` "
                "(after scripts/setup), elsewhere install Pulumi"
            )

    def run(self, *args: str, secret_output: bool = False, config_file: Path | None = None) -> str:
        result = self.attempt(*args, config_file=config_file)
        if result.returncode != 0:
            # A failing command may echo what it read; keep secrets out of the message.
            detail = "" if secret_output else (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise ToolError(
                f"pulumi {args[0]} {args[1] if len(args) > 1 else ''} failed for stack "
                f"'{self.stack}': {detail or 'see `pulumi` output'}"
            )
        return result.stdout

    def stack_names(self) -> list[str]:
        """The stacks of this project in the current backend (`pulumi stack ls`)."""
        result = subprocess.run(
            ["pulumi", "stack", "ls", "--json", "--non-interactive"],
            cwd=self.project_dir,
            capture_output=True,
            text=True,
            check=False,
            env=os.environ | {"PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
        try:
            listed = json.loads(result.stdout) if result.returncode == 0 else []
        except ValueError:
            listed = []
        return [str(item.get("name")) for item in listed if isinstance(item, dict)]

    def attempt(
        self, *args: str, config_file: Path | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a pulumi command whatever its exit status (`preview --json` prints its errors as JSON);
        `env` adds to the caller's environment."""
        extra = ["--config-file", str(config_file)] if config_file else []
        return subprocess.run(
            ["pulumi", *args, *extra, "--stack", self.stack, "--non-interactive"],
            cwd=self.project_dir,
            capture_output=True,
            text=True,
            check=False,
            env=os.environ | {"PULUMI_SKIP_UPDATE_CHECK": "true"} | dict(env or {}),
        )

    def read_config(self) -> StackConfig:
        progress(f"reading the config of stack '{self.stack}'")
        raw: dict[str, Any] = json.loads(self.run("config", "--json") or "{}")
        namespace = project_name(self.project_dir)
        prefix = f"{namespace}:"
        stack_file = read_stack_config(self.project_dir, namespace, self.stack) or {}
        values: dict[str, Any] = {}
        secret_keys = set()
        for full_key, entry in raw.items():
            if not full_key.startswith(prefix):
                continue
            key = full_key.removeprefix(prefix)
            if entry.get("secret"):
                secret_keys.add(key)
            if "value" in entry:
                # The program reads each value with parse_config_value too (components/stack.py).
                values[key] = parse_config_value(key, entry["value"])
            elif key in stack_file:
                # Without --show-secrets Pulumi hides the whole value; the stack file still has its shape.
                values[key] = _with_placeholders(stack_file[key])
            else:
                values[key] = SECRET_PLACEHOLDER
        return StackConfig(self.project_dir, self.stack, namespace, values, frozenset(secret_keys))

    def write(self, config: StackConfig, changes: dict[str, dict[str, Any]], config_file: Path | None = None) -> None:
        """Replace whole top-level keys (`versions`, `aliases`) in one `pulumi config set-all` call.

        One call is one write of the stack file, so a failure leaves the old config intact, and JSON
        keeps types exact (`--path` would turn a digits-only commit or env value into a number).
        """
        assert set(changes) <= set(REWRITABLE), changes
        payload = {
            f"{config.namespace}:{key}": {"value": json.dumps(value), "objectValue": value, "secret": False}
            for key, value in changes.items()
        }
        where = f"a copy of its config ({config_file.name})" if config_file else "its config"
        progress(f"writing {', '.join(changes)} of stack '{self.stack}' to {where} (pulumi config set-all)")
        self.run("config", "set-all", "--json", json.dumps(payload), config_file=config_file)

    def outputs(self) -> dict[str, Any]:
        progress(f"reading the outputs of stack '{self.stack}'")
        return dict(json.loads(self.run("stack", "output", "--json") or "{}"))

    def secret_at(self, path: str) -> str:
        """One decrypted config value (needs the stack's passphrase or secrets provider)."""
        try:
            return self.run("config", "get", "--path", path, secret_output=True).rstrip("\n")
        except ToolError:
            raise ToolError(
                f"cannot decrypt {path} of stack '{self.stack}': set PULUMI_CONFIG_PASSPHRASE (or log in to the "
                "stack's secrets provider), or pass the credentials with --user NAME:PASSWORD"
            ) from None


def validate(config: StackConfig, values: dict[str, Any]) -> DeploymentPlan:
    """The program's checks on would-be config; every problem becomes one line of a ToolError."""
    progress("checking the result with the program's own validation")
    try:
        return config.plan(values)
    except ConfigError as err:
        raise ToolError(
            [f"the change was not written: the program would refuse this config ({len(err.problems)} problem(s)):"]
            + [f"  {problem}" for problem in err.problems]
        ) from None
