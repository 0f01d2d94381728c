"""The stack settings: one pydantic model for every config key, its defaults and its checks.

Key names are the user interface (README "Configuration"); they are declared in Pulumi.yaml too.
`PlanInput` is the part that decides what gets built and routed (code, versions, aliases, routing):
when other keys are wrong, it is still checked on its own, so one run reports every problem.
"""

from __future__ import annotations

import json
import re
from difflib import get_close_matches
from typing import Any

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from components.inputs import aliases, naming
from components.inputs.aliases import AliasConfig, AliasTarget
from components.inputs.config_sections import (
    Autoscaling,
    Console,
    NetworkPolicy,
    Observability,
    PathText,
    RegistryAuth,
    RegistryPullAuth,
    Replicas,
    Routing,
    Section,
    Target,
    Version,
)
from components.inputs.errors import ConfigError, pydantic_location, shown, shown_name
from components.inputs.image_reference import is_repository_prefix
from components.inputs.rollout import RolloutConfig

_DOCKER_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# bcrypt reads the first 72 bytes of a password and the library refuses longer ones.
BCRYPT_MAX_PASSWORD = 72


class PlanInput(Section):
    """The keys a deployment plan reads; extra keys are ignored, so it can be checked on its own."""

    model_config = ConfigDict(extra="ignore")

    code_repository: PathText = "."
    code_directory: PathText = "."
    valohai_yaml: PathText = "valohai.yaml"
    versions: dict[str, Version] = Field(default_factory=dict)
    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    routing: Routing = Field(default_factory=Routing)

    @field_validator("versions")
    @classmethod
    def _version_names(cls, value: dict[str, Version]) -> dict[str, Version]:
        for name in value:
            if not naming.VERSION_NAME.fullmatch(name):
                raise ValueError(
                    f"version name {shown(name)} must be letters, digits, '.', '_' or '-' (like 20181002.0), "
                    "at most 63, starting with a letter or digit"
                )
        return value

    @model_validator(mode="after")
    def _cross_key(self) -> PlanInput:
        problems = self.cross_key_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def cross_key_problems(self) -> list[str]:
        """Rules across keys; pydantic runs one model validator per model, so subclasses extend this list."""
        gateway = self.routing.gateway
        implementation = gateway.implementation if gateway is not None else None
        problems = []
        for alias in self.aliases:
            where = f"aliases.{shown_name(alias)}"
            if not naming.ALIAS_NAME.fullmatch(alias):
                problems.append(
                    f"{where}: alias names are lowercase letters, digits and '-', starting with a letter, at most 40"
                )
            if alias in self.versions:
                problems.append(f"{where}: an alias cannot share its name with a version (both are URL segments)")
            problems += aliases.problems(where, self.alias(alias), self.versions, self.routing.kind, implementation)
        return problems

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
    observability: Observability = Field(default_factory=Observability)
    console: Console = Field(default_factory=Console)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)

    @field_validator("owner", "project", "deployment")
    @classmethod
    def _url_segment(cls, value: str) -> str:
        if not naming.URL_SEGMENT.fullmatch(value):
            raise ValueError(
                f"{shown(value)} must be lowercase letters, digits and '-', at most 40 characters, "
                "not starting or ending with '-'"
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        # Images are `<registry>/<deployment>:<tag>`; a deployment is at most 40 characters.
        if not is_repository_prefix(value, longest_name=40):
            raise ValueError(
                f"{shown(value)} must be an image repository prefix like registry.example.com/acme/mnist "
                "(no scheme, tag or trailing '/'; lowercase path)"
            )
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not naming.is_route_hostname(value):
            raise ValueError(
                f"{shown(value)} is not a host name routes accept: lowercase DNS name like models.example.com "
                "(optionally *. first), no port, scheme, path or IP address"
            )
        return value

    @field_validator("build_network")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        # A Docker network name or mode (host, none, bridge, a user network).
        if value is not None and not _DOCKER_NETWORK.fullmatch(value):
            raise ValueError(f"{shown(value)} is not a Docker network name (like host or build-net)")
        return value

    @field_validator("tls_secret_name", mode="before")
    @classmethod
    def _blank_secret_name(cls, value: object) -> object:
        # `pulumi config set tlsSecretName ""` is how a stack file's value is switched off.
        return None if value == "" else value

    @field_validator("tls_secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not naming.is_dns_subdomain(value):
            raise ValueError(f"{shown(value)} is not a Secret name (lowercase DNS subdomain, like models-tls)")
        return value

    @field_validator("ingress_class_name")
    @classmethod
    def _class_name(cls, value: str | None) -> str | None:
        if value is not None and not naming.is_dns_subdomain(value):
            raise ValueError(f"{shown(value)} is not an IngressClass name (lowercase DNS subdomain, like nginx)")
        return value

    @field_validator("basic_auth")
    @classmethod
    def _users(cls, value: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        problems = []
        for user, password in (value or {}).items():
            # One htpasswd line per user: `user:hash`, so no ':' and nothing that ends or hides a line.
            if not user or ":" in user or not user.isprintable() or user != user.strip():
                problems.append(
                    f"basicAuth.{shown_name(user)}: a user name must be non-empty, printable, without ':' "
                    "and without leading or trailing spaces (no newline)"
                )
            secret = password.get_secret_value()
            if not secret:
                problems.append(f"basicAuth.{shown_name(user)}: the password is empty; set one with --secret")
            elif "\0" in secret:
                problems.append(f"basicAuth.{shown_name(user)}: the password holds a NUL character; choose another")
        if problems:
            raise ValueError("\n".join(problems))
        return value

    def cross_key_problems(self) -> list[str]:
        problems = super().cross_key_problems()
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
        bcrypt_hashed = gateway is None or gateway.implementation == "traefik"
        for user, password in (self.basic_auth or {}).items() if bcrypt_hashed else ():
            if len(password.get_secret_value().encode()) > BCRYPT_MAX_PASSWORD:
                problems.append(
                    f"basicAuth.{shown_name(user)}: the password is longer than {BCRYPT_MAX_PASSWORD} bytes, "
                    "all bcrypt (which this routing hashes with) reads; choose a shorter one"
                )
        problems += self._rollout_problems()
        if self.registry_pull_auth is not None and self.registry_auth is not None and self.registry_auth.used_for_pull:
            problems.append(
                "registryAuth.usedForPull and registryPullAuth both name pull credentials; keep one of them"
            )
        return problems

    def _rollout_problems(self) -> list[str]:
        # A policy for an alias that does not exist is a typo that would silently not apply.
        known = ", ".join(self.aliases) or "(no aliases)"
        return [
            f"rollout.aliases.{shown_name(alias)}: no such alias; name one of: {known}"
            for alias in self.rollout.aliases
            if alias not in self.aliases
        ]

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
        "observability",
        "console",
        "rollout",
    }
)
CONFIG_KEYS = tuple(field.alias or name for name, field in StackSettings.model_fields.items())
# Keys whose value is text (Pulumi.yaml: `type: string`), read without JSON parsing.
STRING_KEYS = frozenset(
    field.alias or name for name, field in StackSettings.model_fields.items() if field.annotation in (str, str | None)
)


def settings_from_config(values: dict[str, Any], stack: str) -> StackSettings:
    """Validate raw config values (key -> parsed value); `deployment` defaults to the stack name."""
    data, problems = _known(values, stack)
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as err:
        problems += [line for e in err.errors() for line in _describe(e).splitlines()]
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
            problems += [line for e in err.errors() for line in _describe(e).splitlines()]
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


def parse_config_value(key: str, raw: str) -> Any:
    """Pulumi hands structured config over as JSON text and plain values as strings.

    A key that holds a string keeps its text as written: `2024` or `null` is not a number or "unset".
    """
    if key in STRING_KEYS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _unknown_key(key: str) -> str:
    guess = get_close_matches(key, CONFIG_KEYS, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else f"; known keys: {', '.join(CONFIG_KEYS)}"
    return f"config: unknown key '{shown_name(key)}'{hint}"


def _describe(error: Any) -> str:
    location = pydantic_location(tuple(part for part in error["loc"] if part not in aliases.UNION_TAGS))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required; set it with `pulumi config set` (see README, Configuration)"
    elif error["type"] == "extra_forbidden":
        message = "unknown key; see README, Configuration, for the keys this section takes"
    if "\n" in message or message.startswith((f"{location}.", f"{location}:")):
        # The validator named each key itself (one line per problem).
        return "\n".join(f"config: {line}" for line in message.splitlines())
    return f"config: {location}: {message}" if location else f"config: {message}"
