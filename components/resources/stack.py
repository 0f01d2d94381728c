"""Reading a stack: Pulumi config -> checked settings -> prepared deployment, or one clean error."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, is_config_secret

from components.inputs.config_secrets import find_secrets, read_stack_file
from components.resources.deployment import PreparedDeployment, prepare
from components.inputs.errors import ConfigError
from components.inputs.plan import build_plan
from components.inputs.settings import StackSettings, parse_config_value, settings_from_config


def config_values() -> dict[str, object]:
    """Every config value of this project's namespace, including keys we do not know (typos)."""
    namespace = pulumi.get_project() + ":"
    return {
        key.removeprefix(namespace): parse_config_value(value)
        for key, value in CONFIG.get().items()
        if key.startswith(namespace)
    }


def load(project_dir: Path | None = None) -> PreparedDeployment:
    """The stack's deployment, ready to declare; bad input ends the run before any resource exists."""
    project_dir = project_dir or Path.cwd()
    project, stack = pulumi.get_project(), pulumi.get_stack()
    values = config_values()
    problems: list[str] = []
    try:
        secret_keys = frozenset(key for key in values if is_config_secret(f"{project}:{key}"))
        secrets = find_secrets(values, secret_keys, read_stack_file(project_dir, project, stack))
        settings: StackSettings = settings_from_config(values, stack)
    except ConfigError as err:
        problems += err.problems
    try:
        if problems:
            problems += _plan_problems(values, project_dir)
            raise ConfigError(dict.fromkeys(problems))
        return prepare(settings, project_dir, secrets=secrets)
    except ConfigError as err:
        # RunError prints just the message: one line per problem, no stack trace.
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack's configuration:\n{err}") from None


# What the plan and the alias checks read; the other required keys get placeholders neither looks at.
_PLAN_KEYS = ("codeRepository", "codeDirectory", "valohaiYaml", "versions")
_PLACEHOLDERS = {"owner": "x", "project": "x", "registry": "x/x", "target": {"renderDirectory": "x"}}


def _plan_problems(values: dict[str, object], project_dir: Path) -> list[str]:
    """Problems the settings check could not reach, so one run reports them all.

    pydantic skips the cross-key (alias) checks once a field is bad, and the plan needs valid
    settings: both run again here on just the keys they read.
    """
    chosen = {key: values[key] for key in (*_PLAN_KEYS, "aliases") if key in values}
    problems: list[str] = []
    try:
        settings = settings_from_config(_PLACEHOLDERS | chosen, "x")
    except ConfigError as err:
        problems += err.problems
        chosen.pop("aliases", None)
        try:
            settings = settings_from_config(_PLACEHOLDERS | chosen, "x")
        except ConfigError:
            return problems  # the versions' own problems are among the settings problems already
    try:
        build_plan(settings, project_dir)
    except ConfigError as err:
        problems += err.problems
    return problems
