"""The project file and a stack's config file, read the way Pulumi finds them.

`Pulumi.yaml` names the project and may move stack files (`stackConfigDir`); a stack's file is
`Pulumi.<stack>.yaml` there, and a fully qualified stack (`org/project/stack`) keeps its file under
the last part. The program (which config leaves are `secure:`) and the commands (the shape of a
secret they may not decrypt) read it only through this module, and only read: writes go through
the Pulumi CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def project_file(project_dir: Path) -> dict[str, Any]:
    """`Pulumi.yaml` as data; empty when it cannot be read."""
    try:
        data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def project_name(project_dir: Path) -> str:
    return str(project_file(project_dir).get("name", ""))


def short_stack(stack: str) -> str:
    """`org/project/dev` -> `dev`: the program's `pulumi.get_stack()` and the stack file's name."""
    return stack.rsplit("/", 1)[-1]


def stack_file_path(project_dir: Path, stack: str) -> Path:
    directory = project_file(project_dir).get("stackConfigDir")
    base = project_dir / directory if isinstance(directory, str) else project_dir
    return base / f"Pulumi.{short_stack(stack)}.yaml"


def read_stack_config(project_dir: Path, project: str, stack: str) -> dict[str, Any] | None:
    """This project's keys (without the `<project>:` prefix) in the stack's file, values as written
    (`{secure: ...}` for secrets); None when the file cannot be read."""
    try:
        data = yaml.safe_load(stack_file_path(project_dir, stack).read_text())
    except (OSError, yaml.YAMLError):
        return None
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return None
    prefix = f"{project}:"
    return {key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)}
