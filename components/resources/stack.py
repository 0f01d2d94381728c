"""Reading a stack: Pulumi config -> checked settings -> plan -> build contexts, or one clean error.

Every problem is collected before anything is declared: the settings, which config leaves are
secret, and (when the settings fail elsewhere) the plan's own keys checked alone, so one run
names them all. Then the cluster is read once: no object of another stack is in the way.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, is_config_secret

from components.inputs.config_secrets import ConfigSecrets, find_secrets
from components.inputs.declaration import declared_plan, from_environment
from components.inputs.errors import ConfigError
from components.inputs.plan import DeploymentPlan, build_plan
from components.inputs.settings import (
    PlanInput,
    StackSettings,
    parse_config_value,
    plan_input_alone,
    settings_from_config,
)
from components.inputs.stack_file import read_stack_config
from components.rendering.build_context import prepare_contexts
from components.resources import ownership
from components.resources.deployment import PreparedDeployment


def config_values() -> dict[str, object]:
    """Every config value of this project's namespace, including keys we do not know (typos)."""
    namespace = pulumi.get_project() + ":"
    return {
        key.removeprefix(namespace): parse_config_value(key.removeprefix(namespace), value)
        for key, value in CONFIG.get().items()
        if key.startswith(namespace)
    }


def load(project_dir: Path | None = None) -> PreparedDeployment:
    """The stack's deployment, ready to declare; bad input ends the run before any resource exists."""
    project_dir = project_dir or Path.cwd()
    try:
        settings, plan, secrets = check(config_values(), project_dir, pulumi.get_project(), pulumi.get_stack())
        declaration = from_environment()
        contexts = prepare_contexts(declared_plan(plan, declaration), project_dir / ".build")
    except ConfigError as err:
        # RunError prints just the message: one line per problem, no stack trace.
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack's configuration:\n{err}") from None
    ownership.check_ownership(settings, plan, secrets.env, declaration)
    return PreparedDeployment(
        settings=settings,
        plan=plan,
        contexts=contexts,
        project_dir=project_dir,
        secrets=secrets,
        declaration=declaration,
    )


def check(
    values: dict[str, object], project_dir: Path, project: str, stack: str
) -> tuple[StackSettings, DeploymentPlan, ConfigSecrets]:
    """Settings, plan and secret leaves of the config `values`, or a ConfigError naming every problem."""
    problems: list[str] = []
    secrets = ConfigSecrets()
    secret_keys = frozenset(key for key in values if is_config_secret(f"{project}:{key}"))
    try:
        secrets = find_secrets(values, secret_keys, read_stack_config(project_dir, project, stack))
    except ConfigError as err:
        problems += err.problems

    settings: StackSettings | None = None
    plan_input: PlanInput | None = None
    try:
        plan_input = settings = settings_from_config(values, stack)
    except ConfigError as err:
        problems += err.problems
        plan_input, more = plan_input_alone(values)
        problems += more

    plan: DeploymentPlan | None = None
    if plan_input is not None:
        try:
            plan = build_plan(plan_input, project_dir)
        except ConfigError as err:
            problems += err.problems
    if problems or settings is None or plan is None:
        raise ConfigError(dict.fromkeys(problems))
    return settings, plan, secrets
