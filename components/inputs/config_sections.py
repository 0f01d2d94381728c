"""The sections of the stack settings: one pydantic model per structured config key.

`settings.StackSettings` holds them; each checks what it can on its own, with the key in every
message (README, "Configuration").
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.inputs import contract, naming
from components.inputs.errors import shown

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# What `git rev-parse` reads as one revision (HEAD~1, v1.2, a commit id), never as an option.
_GIT_REF = re.compile(r"[A-Za-z0-9_./~^@{}+][!-~]{0,254}")


def is_https_url(text: str) -> bool:
    """An https URL with a host, all of it printable ASCII without spaces (what urllib sends as is)."""
    if not text.isascii() or not text.isprintable() or " " in text:
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


MAX_PATH = 4096
MAX_PATH_PART = 255


def _path_text(value: str) -> str:
    """A path the file system can take: printable, no NUL, within the kernel's length limits."""
    if (
        not value
        or not value.isprintable()
        or len(value) > MAX_PATH
        or any(len(part.encode()) > MAX_PATH_PART for part in value.split("/"))
    ):
        raise ValueError(
            f"{shown(value)} is not a usable path (non-empty, printable, at most {MAX_PATH} characters "
            f"and {MAX_PATH_PART} bytes per part)"
        )
    return value


PathText = Annotated[str, AfterValidator(_path_text)]


def _bool_text(value: Any) -> Any:
    # `pulumi config set --path ... true` stores a boolean; as an env value it is the text the user typed.
    return ("true" if value else "false") if isinstance(value, bool) else value


# Text that `pulumi config set --path` may have stored as a number or boolean.
ConfigText = Annotated[str, BeforeValidator(_bool_text)]


class Section(BaseModel):
    # `pulumi config set --path ... 2024` stores a number; where a string is meant it is that text.
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, coerce_numbers_to_str=True
    )


class Target(Section):
    """Where the stack deploys: an explicit cluster, never the ambient kube context."""

    kubeconfig: PathText | None = None
    context: str | None = None
    namespace: str | None = None
    render_directory: PathText | None = None
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


class RegistryPullAuth(Section):
    """Credentials the cluster pulls images with; they should be read-only on the registry."""

    username: str
    password: SecretStr


class RegistryAuth(RegistryPullAuth):
    """Credentials `docker push` uses; pods get them only when `usedForPull` says so."""

    # Push credentials can overwrite any image; a pod (and anyone who can read its namespace's
    # Secrets) should not hold them unless the stack chooses that explicitly.
    used_for_pull: bool = False


class NetworkPolicy(Section):
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


class UrlSource(Section):
    """A file fetched over HTTPS and pinned by digest, so a version's bytes never drift."""

    url: str
    sha256: str

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not is_https_url(value):
            raise ValueError(
                f"must be an https:// URL with a host, in printable ASCII without spaces (got {shown(value)})"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _SHA256.fullmatch(value.lower()):
            raise ValueError("must be the file's 64-hex-digit sha256 (sha256sum FILE)")
        return value.lower()


def _by_shape(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "plain"


# Discriminated by shape, so a bad URL source reports the URL problem alone, not also "not a string".
FileSource = Annotated[
    Annotated[PathText, Tag("plain")] | Annotated[UrlSource, Tag("mapping")], Discriminator(_by_shape)
]


class Replicas(Section):
    min: Annotated[int, Field(ge=1)]
    max: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Version(Section):
    commit: str = "HEAD"

    @field_validator("commit")
    @classmethod
    def _git_ref(cls, value: str) -> str:
        # Handed to `git rev-parse`: a leading '-' would read as an option.
        if not _GIT_REF.fullmatch(value):
            raise ValueError(
                f"{shown(value)} is not a git ref; give a branch, tag or commit id "
                "(no leading '-', no spaces or control characters)"
            )
        return value

    files: dict[str, dict[str, FileSource]] = Field(default_factory=dict)
    endpoints: list[str] | None = None
    replicas: Replicas | None = None
    env: dict[str, ConfigText] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"{shown(key)} is not a valid environment variable name (letters, digits, '_')")
            if contract.is_platform_env(key):
                knobs = ", ".join(contract.TUNABLE_ENV)
                raise ValueError(f"{key!r} is set by the platform (PORT, VH_* but {knobs}); pick another name")
        return value


class Autoscaling(Section):
    min_replicas: Annotated[int, Field(ge=1)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 3
    target_cpu_utilization_percentage: Annotated[int, Field(ge=1, le=100, alias="targetCPUUtilizationPercentage")] = 70
    # The HPA's scale-down stabilization window (`behavior.scaleDown.stabilizationWindowSeconds`);
    # unset keeps Kubernetes' default (300 s), which damps flapping. Tests shorten it to see a scale-in.
    scale_down_stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be >= minReplicas ({self.min_replicas})")
        return self


class Observability(Section):
    """Where `status` reads request metrics: a Prometheus-compatible HTTP API that scrapes the router."""

    prometheus: str | None = None

    @field_validator("prometheus")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"must be the metrics server's base URL, like http://prometheus.monitoring:9090 (got {value!r})"
            )
        return value.rstrip("/")


class Console(Section):
    """What the web console (`python -m components console`) may do to this stack."""

    # Apply alias changes from the page (checked write + `pulumi up`). Unset: only the embedded
    # `local` stack allows it; a shared target's changes go through review (a pull request).
    allow_apply: bool | None = None

    def allows_apply(self, stack: str) -> bool:
        return self.allow_apply if self.allow_apply is not None else stack == "local"


class GatewayRef(Section):
    """The Gateway (Gateway API) every HTTPRoute attaches to; the cluster admin owns it."""

    name: str
    namespace: str
    section_name: str | None = None

    @field_validator("name", "section_name")
    @classmethod
    def _subdomain(cls, value: str | None) -> str | None:
        if value is not None and not naming.is_dns_subdomain(value):
            raise ValueError(f"{shown(value)} is not a Gateway API name (lowercase DNS subdomain, like models)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not naming.is_dns_label(value):
            raise ValueError(f"{shown(value)} is not a namespace name (a DNS-1123 label, like gateway-system)")
        return value

    # Basic auth and mirrors are not in the core API: what the implementation offers decides.
    implementation: Literal["traefik", "envoy", "other"] = "other"
    # TLS is terminated at the Gateway's listener, so only the URLs this program prints need it.
    scheme: Literal["https", "http"] = "https"
    # The listener's port as clients reach it, when not the scheme's default (a local router on
    # 8080): only the printed URLs use it, since an HTTPRoute's hostnames carry no port.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class IngressRouting(Section):
    class_name: str | None = None

    @field_validator("class_name")
    @classmethod
    def _class_name(cls, value: str | None) -> str | None:
        if value is not None and not naming.is_dns_subdomain(value):
            raise ValueError(f"{shown(value)} is not an IngressClass name (lowercase DNS subdomain, like nginx)")
        return value

    # Critical risk in ingress-nginx's annotation table: only when the cluster admin allows it.
    prefix_header_snippet: bool = False


class Routing(Section):
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
