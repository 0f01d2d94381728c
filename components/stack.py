"""Reading a stack: Pulumi config -> checked settings -> prepared deployment, or one clean error."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG

from components.deployment import PreparedDeployment, prepare
from components.errors import ConfigError
from components.settings import StackSettings, parse_config_value, settings_from_config


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
    try:
        settings: StackSettings = settings_from_config(config_values(), pulumi.get_stack())
        return prepare(settings, project_dir or Path.cwd())
    except ConfigError as err:
        # RunError prints just the message: one line per problem, no stack trace.
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack's configuration:\n{err}") from None
