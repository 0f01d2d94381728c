"""The stack settings: one pydantic model for every config key, its defaults and its checks.

Key names are the user interface (README "Configuration"); they are declared in Pulumi.yaml too.
`PlanInput` is the part that decides what gets built and routed (code, versions, aliases, routing):
when other keys are wrong, it is still checked on its own, so one run reports every problem.
"""

from __future__ import annotations

import json
from difflib import get_close_matches
from typing import Any

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from components.inputs import aliases, naming
from components.inputs.aliases import AliasConfig, AliasTarget
from components.inputs.config_sections import (
    Autoscaling,
    NetworkPolicy,
    RegistryAuth,
    RegistryPullAuth,
    Replicas,
    Routing,
    Section,
    Target,
    Version,
)
from components.inputs.errors import ConfigError, pydantic_location


class PlanInput(Section):
    """The keys a deployment plan reads; extra keys are ignored, so it can be checked on its own."""

    model_config = ConfigDict(extra="ignore")

    code_repository: str = "."
    code_directory: str = "."
    valohai_yaml: str = "valohai.yaml"
    versions: dict[str, Version] = Field(default_factory=dict)
    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    routing: Routing = Field(default_factory=Routing)

    @field_validator("versions")
    @classmethod
    def _version_names(cls, value: dict[str, Version]) -> dict[str, Version]:
        for name in value:
            if not naming.VERSION_NAME.match(name):
                raise ValueError(
                    f"version name {name!r} must be letters, digits, '.', '_' or '-' (like 20181002.0), at most 63"
                )
        return value

    @model_validator(mode="after")
    def _aliases(self) -> PlanInput:
        gateway = self.routing.gateway
        implementation = gateway.implementation if gateway is not None else None
        problems = []
        for alias in self.aliases:
            where = f"aliases.{alias}"
            if not naming.ALIAS_NAME.match(alias):
                problems.append(f"{where}: alias names are lowercase letters, digits and '-', starting with a letter")
            if alias in self.versions:
                problems.append(f"{where}: an alias cannot share its name with a version (both are URL segments)")
            problems += aliases.problems(where, self.alias(alias), self.versions, self.routing.kind, implementation)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def alias(self, name: str) -> AliasTarget:
        """Where alias `name` routes: version -> weight (heaviest first) and its mirror."""
        return AliasTarget.of(self.aliases[name])

    def alias_config(self, name: str) -> str | dict[str, Any]:
        """The alias as the user wrote it, in plain data (for outputs)."""
        target = self.aliases[name]
        if isinstance(target, str):
            return target
        if isinstance(target, dict):
            return dict(target)
        return target.model_dump(by_alias=True, exclude_none=True)


class StackSettings(PlanInput):
    model_config = ConfigDict(extra="forbid")

    owner: str
    project: str
    deployment: str
    registry: str
    registry_auth: RegistryAuth | None = None
    registry_pull_auth: RegistryPullAuth | None = None
    target: Target
    host: str | None = None
    # Deprecated: routing.ingress.className replaces it; still read so existing stacks keep working.
    ingress_class_name: str | None = None
    tls_secret_name: str | None = None
    build_network: str | None = None
    basic_auth: dict[str, SecretStr] | None = None
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)

    @field_validator("owner", "project", "deployment")
    @classmethod
    def _url_segment(cls, value: str) -> str:
        if not naming.URL_SEGMENT.match(value):
            raise ValueError(f"{value!r} must be lowercase letters, digits and '-', at most 40 characters")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        has_tag = "/" in value and ":" in value.rsplit("/", 1)[-1]
        if "://" in value or value.endswith("/") or has_tag or not value:
            raise ValueError(f"{value!r} must be an image repository prefix like registry.example.com/acme/mnist")
        return value

    @field_validator("basic_auth")
    @classmethod
    def _users(cls, value: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        for user, password in (value or {}).items():
            if not user or ":" in user:
                raise ValueError(f"user {user!r} must be non-empty and contain no ':'")
            if not password.get_secret_value():
                raise ValueError(f"user {user!r} has an empty password")
        return value

    @model_validator(mode="after")
    def _routing(self) -> StackSettings:
        problems = []
        ingress = self.routing.ingress
        if self.ingress_class_name is not None and ingress.class_name is not None:
            problems.append(
                "ingressClassName: deprecated, and routing.ingress.className is set too; "
                "remove ingressClassName (routing.ingress.className wins)"
            )
        gateway = self.routing.gateway
        if gateway is not None:
            if self.ingress_class_name is not None:
                problems.append("ingressClassName: only used with routing.kind ingress; remove it")
            if self.tls_secret_name is not None:
                problems.append(
                    "tlsSecretName: with routing.kind gateway the Gateway's listener holds the certificate; "
                    "remove tlsSecretName (routing.gateway.scheme sets the URLs' scheme)"
                )
            if self.basic_auth and gateway.implementation == "other":
                problems.append(
                    "basicAuth: Gateway API has no basic auth of its own; set routing.gateway.implementation "
                    "to traefik or envoy (the Gateway's implementation), or remove basicAuth"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _one_pull_credential(self) -> StackSettings:
        if self.registry_pull_auth is not None and self.registry_auth is not None and self.registry_auth.used_for_pull:
            raise ValueError(
                "registryAuth.usedForPull and registryPullAuth both name pull credentials; keep one of them"
            )
        return self

    @property
    def ingress_class(self) -> str:
        return self.routing.ingress.class_name or self.ingress_class_name or "nginx"

    @property
    def registry_server(self) -> str:
        """The host of `registry` as `docker login` names it; a bare Docker Hub path means docker.io."""
        first = self.registry.split("/", 1)[0]
        return first if "." in first or ":" in first or first == "localhost" else "docker.io"

    @property
    def pull_auth(self) -> RegistryPullAuth | None:
        """What pods pull with: `registryPullAuth`, else the push credentials only if `usedForPull`."""
        if self.registry_pull_auth is not None:
            return self.registry_pull_auth
        if self.registry_auth is not None and self.registry_auth.used_for_pull:
            return self.registry_auth
        return None

    @property
    def scope(self) -> naming.Scope:
        return naming.Scope(self.owner, self.project, self.deployment)

    @property
    def namespace(self) -> str:
        return self.target.namespace or naming.default_namespace(self.project, self.deployment)

    def replicas(self, version: str) -> Replicas:
        own = self.versions[version].replicas
        return own or Replicas(min=self.autoscaling.min_replicas, max=self.autoscaling.max_replicas)


OPTIONAL_KEYS = frozenset(
    {
        "deployment",
        "registryAuth",
        "registryPullAuth",
        "networkPolicy",
        "host",
        "ingressClassName",
        "tlsSecretName",
        "buildNetwork",
        "basicAuth",
        "routing",
    }
)
CONFIG_KEYS = tuple(field.alias or name for name, field in StackSettings.model_fields.items())


def settings_from_config(values: dict[str, Any], stack: str) -> StackSettings:
    """Validate raw config values (key -> parsed value); `deployment` defaults to the stack name."""
    data, problems = _known(values, stack)
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as err:
        problems += [_describe(e) for e in err.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


def plan_input_alone(values: dict[str, Any]) -> tuple[PlanInput | None, list[str]]:
    """When the whole settings fail: the plan's own keys checked alone, and the problems found on the way.

    pydantic skips the cross-key (alias) checks once any field is bad; checked alone they still run.
    With aliases that cannot be read, the versions are still planned (their own problems matter too).
    """
    data, _ = _known(values, stack="")
    data = {key: value for key, value in data.items() if key in _PLAN_KEYS}
    problems: list[str] = []
    for attempt in (data, {key: value for key, value in data.items() if key != "aliases"}):
        try:
            return PlanInput.model_validate(attempt), problems
        except ValidationError as err:
            problems += [_describe(e) for e in err.errors()]
    return None, problems


_PLAN_KEYS = frozenset(field.alias or name for name, field in PlanInput.model_fields.items())


def _known(values: dict[str, Any], stack: str) -> tuple[dict[str, Any], list[str]]:
    """The known keys' values, and one problem per unknown key (a typo, usually)."""
    problems = [_unknown_key(key) for key in values if key not in CONFIG_KEYS]
    # Pulumi.yaml declares optional keys with "" / {} defaults: those mean "not set".
    data = {
        key: value
        for key, value in values.items()
        if key in CONFIG_KEYS and not (key in OPTIONAL_KEYS and value in ("", {}))
    }
    data.setdefault("deployment", stack)
    return data, problems


def parse_config_value(raw: str) -> Any:
    """Pulumi hands structured config over as JSON text and plain values as strings."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _unknown_key(key: str) -> str:
    guess = get_close_matches(key, CONFIG_KEYS, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else f"; known keys: {', '.join(CONFIG_KEYS)}"
    return f"config: unknown key '{key}'{hint}"


def _describe(error: Any) -> str:
    location = pydantic_location(tuple(part for part in error["loc"] if part not in aliases.UNION_TAGS))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required; set it with `pulumi config set` (see README, Configuration)"
    elif error["type"] == "extra_forbidden":
        message = "unknown key; see README, Configuration, for the keys this section takes"
    if "\n" in message:
        return "\n".join(f"config: {line}" for line in message.splitlines())
    return f"config: {location}: {message}" if location else f"config: {message}"
