"""Which config values are secret, down to the leaf, so none of them reaches state in plain text.

Pulumi tells a program only which top-level keys are secret (`is_config_secret`): a
`pulumi config set --secret --path 'versions.v.env.TOKEN'` marks all of `versions` secret. Making
all of `versions` secret would hide commits, file names and image tags from every preview, so the
secret leaves are read from the stack's config file (`secure:` values), and any env value that
file does not show as the same plain text is treated as secret. When the file cannot be read
(config from elsewhere), every env value of a secret `versions` is secret: never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.inputs.errors import ConfigError

# Keys whose whole value may be secret: the program keeps them Outputs marked secret.
SECRET_KEYS = frozenset({"registryAuth", "registryPullAuth", "basicAuth"})
# Within `versions`, only env values may be secret: everything else names images, objects and URLs.
VERSIONS = "versions"


@dataclass(frozen=True)
class ConfigSecrets:
    """Top-level keys that are secret, and per version the env names whose values are."""

    keys: frozenset[str] = frozenset()
    env: dict[str, frozenset[str]] = field(default_factory=dict)


def find_secrets(
    values: dict[str, Any], secret_keys: frozenset[str], stack_file: dict[str, Any] | None
) -> ConfigSecrets:
    """`values`: this project's config (key -> value); `stack_file`: its keys in Pulumi.<stack>.yaml, if read."""
    problems = [
        f"config: {key}: is set with --secret, but it names images, objects or URLs and would be shown in "
        "plain text; set it without --secret (only registryAuth, registryPullAuth, basicAuth and "
        "versions.<version>.env values can be secret)"
        for key in sorted(secret_keys - SECRET_KEYS - {VERSIONS})
    ]
    env: dict[str, frozenset[str]] = {}
    versions = values.get(VERSIONS)
    if VERSIONS in secret_keys and isinstance(versions, dict):
        file_versions = stack_file.get(VERSIONS) if stack_file is not None else None
        if isinstance(file_versions, dict):
            problems += [
                f"config: versions.{'.'.join(path)}: is set with --secret, but only env values of a version "
                "can be secret (the rest names images and URLs); set it without --secret"
                for path in _secure_paths(file_versions, ())
                if not (len(path) == 3 and path[1] == "env")
            ]
        for version, settings in versions.items():
            own_env = settings.get("env") if isinstance(settings, dict) else None
            if not isinstance(own_env, dict):
                continue
            shown = _plain_env(file_versions, version)
            env[version] = frozenset(name for name, value in own_env.items() if shown.get(name) != value)
    if problems:
        raise ConfigError(problems)
    return ConfigSecrets(keys=frozenset(secret_keys & (SECRET_KEYS | {VERSIONS})), env=env)


def _plain_env(file_versions: Any, version: str) -> dict[str, Any]:
    """The env values the stack file holds in plain text for `version` (secure ones left out)."""
    settings = file_versions.get(version) if isinstance(file_versions, dict) else None
    env = settings.get("env") if isinstance(settings, dict) else None
    if not isinstance(env, dict):
        return {}
    return {name: value for name, value in env.items() if not _is_secure(value)}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _secure_paths(value: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if _is_secure(value):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _secure_paths(item, (*path, str(key)))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _secure_paths(item, (*path, str(index)))]
    return []
