"""The stack settings: one pydantic model for every config key, its defaults and its checks.

Key names are the user interface (README "Configuration"); they are declared in Pulumi.yaml too.
"""

from __future__ import annotations

import ipaddress
import json
import re
from difflib import get_close_matches
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.inputs import naming
from components.inputs.errors import ConfigError, pydantic_location

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Set by the platform in every endpoint container; a version cannot override them.
RESERVED_ENV_NAME, RESERVED_ENV_PREFIX = "PORT", "VH_"


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Target(_Settings):
    """Where the stack deploys: an explicit cluster, never the ambient kube context."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    render_directory: str | None = None
    create_namespace: bool = True

    @model_validator(mode="after")
    def _one_destination(self) -> Target:
        if self.render_directory and (self.kubeconfig or self.context):
            raise ValueError(
                "renderDirectory writes manifests instead of deploying: "
                "drop kubeconfig/context, or drop renderDirectory"
            )
        if not self.render_directory and not self.kubeconfig:
            raise ValueError(
                "set target.kubeconfig (path to the cluster's kubeconfig) or target.renderDirectory; "
                "the program never deploys through the ambient kube context"
            )
        if self.namespace is not None and not naming.is_dns_label(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS-1123 label (lowercase, digits, '-')")
        return self


class RegistryPullAuth(_Settings):
    """Credentials the cluster pulls images with; they should be read-only on the registry."""

    username: str
    password: SecretStr


class RegistryAuth(RegistryPullAuth):
    """Credentials `docker push` uses; pods get them only when `usedForPull` says so."""

    # Push credentials can overwrite any image; a pod (and anyone who can read its namespace's
    # Secrets) should not hold them unless the stack chooses that explicitly.
    used_for_pull: bool = False


class NetworkPolicy(_Settings):
    """Who may reach endpoint pods: their own namespace, the router's namespaces and these CIDRs."""

    enabled: bool = True
    router_namespaces: list[str] = Field(default_factory=lambda: ["ingress-nginx"])
    # For a router that is not a pod (e.g. on the node's or another host's network).
    ip_blocks: list[str] = Field(default_factory=list)

    @field_validator("router_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if not naming.is_dns_label(name):
                raise ValueError(f"{name!r} is not a namespace name (a DNS-1123 label)")
        return value

    @field_validator("ip_blocks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR like 10.0.0.0/8 or 127.0.0.1/32") from None
        return value


class UrlSource(_Settings):
    """A file fetched over HTTPS and pinned by digest, so a version's bytes never drift."""

    url: str
    sha256: str

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"must be an https:// URL (got {value!r})")
        return value

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _SHA256.match(value.lower()):
            raise ValueError("must be the file's 64-hex-digit sha256 (sha256sum FILE)")
        return value.lower()


def _by_shape(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "plain"


# Discriminated by shape, so a bad URL source reports the URL problem alone, not also "not a string".
_UNION_TAGS = ("plain", "mapping", "split")
FileSource = Annotated[Annotated[str, Tag("plain")] | Annotated[UrlSource, Tag("mapping")], Discriminator(_by_shape)]


class Replicas(_Settings):
    min: Annotated[int, Field(ge=1)]
    max: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Version(_Settings):
    commit: str = "HEAD"
    files: dict[str, dict[str, FileSource]] = Field(default_factory=dict)
    endpoints: list[str] | None = None
    replicas: Replicas | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
            if key == RESERVED_ENV_NAME or key.startswith(RESERVED_ENV_PREFIX):
                raise ValueError(f"{key!r} is set by the platform (PORT, VH_*); pick another name")
        return value


class Autoscaling(_Settings):
    min_replicas: Annotated[int, Field(ge=1)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 3
    target_cpu_utilization_percentage: Annotated[int, Field(ge=1, le=100, alias="targetCPUUtilizationPercentage")] = 70

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be >= minReplicas ({self.min_replicas})")
        return self


class AliasMirror(_Settings):
    """Shadow traffic: a copy of `percent` % of the alias's requests also goes to `version`."""

    version: str
    percent: Annotated[int, Field(ge=1, le=100)]


class AliasSplit(_Settings):
    """The long alias form: `{versions: {version: weight}, mirror: {version, percent}}`."""

    versions: dict[str, int]
    mirror: AliasMirror | None = None


def _alias_shape(value: Any) -> str:
    # A version may be named "versions", so the long form is recognised by its value's shape too.
    if isinstance(value, dict) and isinstance(value.get("versions"), dict):
        return "split"
    return _by_shape(value)


AliasTarget = Annotated[
    Annotated[str, Tag("plain")] | Annotated[dict[str, int], Tag("mapping")] | Annotated[AliasSplit, Tag("split")],
    Discriminator(_alias_shape),
]


class GatewayRef(_Settings):
    """The Gateway (Gateway API) every HTTPRoute attaches to; the cluster admin owns it."""

    name: str
    namespace: str
    section_name: str | None = None
    # Basic auth and mirrors are not in the core API: what the implementation offers decides.
    implementation: Literal["traefik", "envoy", "other"] = "other"
    # TLS is terminated at the Gateway's listener, so only the URLs this program prints need it.
    scheme: Literal["https", "http"] = "https"
    # The listener's port as clients reach it, when not the scheme's default (a local router on
    # 8080): only the printed URLs use it, since an HTTPRoute's hostnames carry no port.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class IngressRouting(_Settings):
    class_name: str | None = None
    # Critical risk in ingress-nginx's annotation table: only when the cluster admin allows it.
    prefix_header_snippet: bool = False


class Routing(_Settings):
    kind: Literal["ingress", "gateway"] = "ingress"
    gateway: GatewayRef | None = None
    ingress: IngressRouting = Field(default_factory=IngressRouting)

    @model_validator(mode="after")
    def _matching_section(self) -> Routing:
        if self.kind == "gateway" and self.gateway is None:
            raise ValueError(
                "kind gateway needs gateway: {name, namespace, implementation}, the Gateway the routes attach to"
            )
        if self.kind == "ingress" and self.gateway is not None:
            raise ValueError("gateway is only used with kind gateway; set kind: gateway or remove gateway")
        if self.kind == "gateway" and self.ingress != IngressRouting():
            raise ValueError("ingress is only used with kind ingress; remove ingress or set kind: ingress")
        return self


class StackSettings(_Settings):
    owner: str
    project: str
    deployment: str
    code_repository: str = "."
    code_directory: str = "."
    valohai_yaml: str = "valohai.yaml"
    registry: str
    registry_auth: RegistryAuth | None = None
    registry_pull_auth: RegistryPullAuth | None = None
    target: Target
    host: str | None = None
    # Deprecated: routing.ingress.className replaces it; still read so existing stacks keep working.
    ingress_class_name: str | None = None
    routing: Routing = Field(default_factory=Routing)
    tls_secret_name: str | None = None
    build_network: str | None = None
    versions: dict[str, Version] = Field(default_factory=dict)
    aliases: dict[str, AliasTarget] = Field(default_factory=dict)
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

    @field_validator("versions")
    @classmethod
    def _version_names(cls, value: dict[str, Version]) -> dict[str, Version]:
        for name in value:
            if not naming.VERSION_NAME.match(name):
                raise ValueError(
                    f"version name {name!r} must be letters, digits, '.', '_' or '-' (like 20181002.0), at most 63"
                )
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
    def _aliases(self) -> StackSettings:
        problems = []
        for alias, target in self.aliases.items():
            where = f"aliases.{alias}"
            if not naming.ALIAS_NAME.match(alias):
                problems.append(f"{where}: alias names are lowercase letters, digits and '-', starting with a letter")
            if alias in self.versions:
                problems.append(f"{where}: an alias cannot share its name with a version (both are URL segments)")
            weights = self._weights(target)
            problems += self._weight_problems(where, weights)
            mirror = target.mirror if isinstance(target, AliasSplit) else None
            named = [*weights, mirror.version] if mirror else list(weights)
            problems += [
                f"{where}: points to version '{version}', which is not in versions; "
                f"point it at one of: {', '.join(self.versions) or '(no versions)'}, or add that version back"
                for version in dict.fromkeys(named)
                if version not in self.versions
            ]
            if mirror:
                problems += self._mirror_problems(where, mirror)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _weight_problems(self, where: str, weights: dict[str, int]) -> list[str]:
        if not weights:
            return [f"{where}: name a version, or a map of version: weight"]
        gateway = self.routing.kind == "gateway"
        if len(weights) == 1 and not gateway:
            return []
        problems = []
        if len(weights) > 2 and not gateway:
            # ingress-nginx routes one canary per host and path, so a split has two sides.
            problems.append(
                f"{where}: a traffic split takes exactly 2 versions with routing.kind ingress (got {len(weights)}); "
                "routing.kind gateway splits across any number"
            )
        low, high = (1, 100) if gateway else (1, 99)
        if any(w < low or w > high for w in weights.values()):
            problems.append(f"{where}: each weight of a split must be between {low} and {high}")
        if sum(weights.values()) != 100:
            problems.append(f"{where}: weights must sum to 100 (got {sum(weights.values())})")
        return problems

    def _mirror_problems(self, where: str, mirror: AliasMirror) -> list[str]:
        gateway = self.routing.gateway
        if gateway is None:
            return [f"{where}.mirror: mirrored traffic needs routing.kind gateway (an Ingress cannot mirror)"]
        if gateway.implementation == "traefik":
            # Traefik refuses a route with a filter it does not implement, RequestMirror among them
            # (pkg/provider/kubernetes/gateway/httproute.go, loadMiddlewares: "unsupported filter").
            return [f"{where}.mirror: Traefik does not implement RequestMirror; remove the mirror"]
        return []

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

    @staticmethod
    def _weights(target: str | dict[str, int] | AliasSplit) -> dict[str, int]:
        if isinstance(target, str):
            return {target: 100}
        return dict(target.versions if isinstance(target, AliasSplit) else target)

    def alias_weights(self, alias: str) -> dict[str, int]:
        """Version -> weight, heaviest first (it takes the primary route); a plain alias is 100."""
        weights = self._weights(self.aliases[alias])
        return dict(sorted(weights.items(), key=lambda kv: -kv[1]))

    def alias_mirror(self, alias: str) -> AliasMirror | None:
        target = self.aliases[alias]
        return target.mirror if isinstance(target, AliasSplit) else None

    def alias_config(self, alias: str) -> str | dict[str, Any]:
        """The alias as the user wrote it, in plain data (for outputs)."""
        target = self.aliases[alias]
        if isinstance(target, AliasSplit):
            return target.model_dump(by_alias=True, exclude_none=True)
        return target if isinstance(target, str) else dict(target)

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
    unknown = [key for key in values if key not in CONFIG_KEYS]
    problems = [_unknown_key(key) for key in unknown]
    # Pulumi.yaml declares optional keys with "" / {} defaults: those mean "not set".
    data = {
        key: value
        for key, value in values.items()
        if key in CONFIG_KEYS and not (key in OPTIONAL_KEYS and value in ("", {}))
    }
    data.setdefault("deployment", stack)
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as err:
        problems += [_describe(e) for e in err.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


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
    location = pydantic_location(tuple(part for part in error["loc"] if part not in _UNION_TAGS))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required; set it with `pulumi config set` (see README, Configuration)"
    elif error["type"] == "extra_forbidden":
        message = "unknown key; see README, Configuration, for the keys this section takes"
    if "\n" in message:
        return "\n".join(f"config: {line}" for line in message.splitlines())
    return f"config: {location}: {message}" if location else f"config: {message}"
