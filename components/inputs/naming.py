"""Naming rules: Kubernetes object names, labels, URL paths and image tags.

Every name here is a pure function of user-visible names (owner, project, deployment, version,
alias, endpoint), so a name never changes unless the thing it names does. Object names include the
stack's `Scope` (owner, project, deployment), so stacks sharing a namespace never share an object.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_DNS_LABEL = 63
HASH_LENGTH = 8

# Every pattern here is used with `fullmatch`, never anchored with `^...$`: `$` also matches
# before a trailing newline, so `prod\n` would pass as `prod`.
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# Version names become URL segments, label values and image tags, so they are held to the
# intersection of those alphabets (Valohai's own versions look like 20181002.0).
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# Aliases share the URL segment with versions and name a stable Ingress.
ALIAS_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
# owner / project / deployment are URL segments and part of the default namespace.
URL_SEGMENT = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")

MANAGED_BY = "pulumi"

# Labels the program sets and the tools (status, logs, preview summary) select by.
NAME_LABEL = "app.kubernetes.io/name"  # the endpoint
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the workload (Deployment, Service, HPA) name
VERSION_LABEL = "app.kubernetes.io/version"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ALIAS_LABEL = "valohai.com/alias"
# Ownership: which stack made an object. Every object carries all three; the pre-flight check
# (components/resources/ownership.py) refuses to touch an object whose values differ.
OWNER_LABEL = "valohai.com/owner"
PROJECT_LABEL = "valohai.com/project"
DEPLOYMENT_LABEL = "valohai.com/deployment"
# The pod-template annotation holding a keyed digest of a version's secret env values: a new
# value changes it, and the Deployment rolls its pods (deployment_version.py).
SECRET_ENV_DIGEST_ANNOTATION = "valohai.com/secret-env-digest"  # noqa: S105  (a key name, no secret)

# Type tokens of the program's components (part of every URN beneath them).
DEPLOYMENT_TYPE = "valohai:index:Deployment"
VERSION_TYPE = "valohai:index:DeploymentVersion"
WORKLOAD_TYPE = "valohai:index:EndpointWorkload"
ALIAS_TYPE = "valohai:index:AliasRouting"

# Logical names of a version's or alias's route objects are `<version or alias><suffix>`; the
# Ingress names stay those of the Ingress-only program, so existing stacks keep their objects.
INGRESS_SUFFIX = "-ingress"
CANARY_INGRESS_SUFFIX = "-ingress-canary"
# Before `-ingress-canary`: it could be alias `<alias>-canary`'s own `-ingress` as well.
LEGACY_CANARY_INGRESS_SUFFIX = "-canary-ingress"
ROUTE_SUFFIX = "-route"
SECURITY_POLICY_SUFFIX = "-security-policy"
# A version's other children: `<version>-env-secret`, `<version>-<key>-image` (`image_part`), and
# `<workload><suffix>` for each endpoint workload's objects (workload: `logical_name(version, endpoint)`).
ENV_SECRET_SUFFIX = "-env-secret"  # noqa: S105 (a name, not a password)
IMAGE_SUFFIX = "-image"
DEPLOYMENT_SUFFIX = "-deployment"
SERVICE_SUFFIX = "-service"
HPA_SUFFIX = "-hpa"
WORKLOAD_CHILD_SUFFIXES = (DEPLOYMENT_SUFFIX, SERVICE_SUFFIX, HPA_SUFFIX)
_ROUTE_SUFFIXES = (
    CANARY_INGRESS_SUFFIX,
    LEGACY_CANARY_INGRESS_SUFFIX,
    SECURITY_POLICY_SUFFIX,
    INGRESS_SUFFIX,
    ROUTE_SUFFIX,
)


def short_hash(*parts: str) -> str:
    """A stable digest of `parts`; NUL-separated so ('a-b', 'c') and ('a', 'b-c') differ."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def slug(text: str) -> str:
    """Lowercase DNS-friendly form of `text`; not injective on its own, see `object_name`."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned or "x"


def object_name(*parts: str) -> str:
    """A DNS-1035 label (valid for every Kubernetes kind we declare) unique to `parts`.

    A readable prefix keeps `kubectl get` useful; the hash of the exact parts makes the name
    unique even when two inputs slug alike (`1.0` and `1-0`) or join alike (`a-b`+`c`, `a`+`b-c`).
    """
    return _hashed_name(parts, parts)


@dataclass(frozen=True)
class Scope:
    """A stack's identity in a cluster, the first three URL segments: what every object name and
    ownership label is made from."""

    owner: str
    project: str
    deployment: str

    @property
    def labels(self) -> dict[str, str]:
        """The ownership labels: on every object, and what the pre-flight check compares."""
        return {
            OWNER_LABEL: label_value(self.owner),
            PROJECT_LABEL: label_value(self.project),
            DEPLOYMENT_LABEL: label_value(self.deployment),
        }

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels was made by this stack."""
        labels = labels or {}
        return all(labels.get(key) == value for key, value in self.labels.items())


def scoped_name(scope: Scope, *parts: str) -> str:
    """`object_name` within one stack: project and deployment lead the readable prefix (the owner
    would only lengthen it), and the hash covers owner, project, deployment and `parts`, so two
    stacks of one namespace with the same versions and aliases get different names."""
    return _hashed_name(
        (scope.project, scope.deployment, *parts), (scope.owner, scope.project, scope.deployment, *parts)
    )


def _hashed_name(readable_parts: tuple[str, ...], hashed_parts: tuple[str, ...]) -> str:
    readable = "-".join(slug(p) for p in readable_parts)
    if not readable[0].isalpha():
        readable = "x-" + readable
    digest = short_hash(*hashed_parts)
    readable = readable[: MAX_DNS_LABEL - HASH_LENGTH - 1].rstrip("-")
    name = f"{readable}-{digest}"
    assert _DNS_LABEL.fullmatch(name), name
    return name


def logical_name(version: str, *rest: str) -> str:
    """A Pulumi logical name for something of `version`: `<version>-<rest...>`, injective.

    Every '-' of the version is doubled, so the first single '-' always ends it (the parts after
    it start with a letter: endpoint names and image keys do). `v1`+`predict-digit` and
    `v1-predict`+`digit` no longer meet; versions without '-' (like 20181002.0) keep the names
    they always had, and `legacy_logical_name` gives the old spelling for `aliases`.
    """
    return "-".join((version.replace("-", "--"), *rest))


def image_part(key: str) -> str:
    """The part after the version in an image's logical name (`logical_name(version, image_part(key))`)."""
    return f"{key}{IMAGE_SUFFIX}"


def legacy_logical_name(version: str, *rest: str) -> str:
    """The logical name before `logical_name` (plain '-' join); ambiguous, kept only for aliases."""
    return "-".join((version, *rest))


def workload_name(scope: Scope, endpoint: str, version: str) -> str:
    """Deployment, Service and HPA name of one endpoint of one version."""
    return scoped_name(scope, endpoint, version)


def pull_secret_name(scope: Scope) -> str:
    """The image pull Secret (`kubernetes.io/dockerconfigjson`)."""
    return scoped_name(scope, "registry-credentials")


def auth_secret_name(scope: Scope) -> str:
    """The htpasswd Secret the routes' basic auth reads."""
    return scoped_name(scope, "basic-auth")


def auth_middleware_name(scope: Scope) -> str:
    """Traefik's basic-auth Middleware (another kind than the Secret, so the same name is free)."""
    return scoped_name(scope, "basic-auth")


def network_policy_name(scope: Scope) -> str:
    return scoped_name(scope, "endpoints")


def env_secret_name(scope: Scope, version: str) -> str:
    """The Secret holding a version's secret env values (the hash keeps `1.0` and `1-0` apart)."""
    return scoped_name(scope, "env", version)


def version_ingress_name(scope: Scope, version: str) -> str:
    return scoped_name(scope, "version", version)


def alias_ingress_name(scope: Scope, alias: str, canary: bool = False) -> str:
    """Stable per alias: moving the alias updates this object, never replaces it."""
    return scoped_name(scope, "alias", alias, "canary") if canary else scoped_name(scope, "alias", alias)


def route_owner(logical_name: str) -> str | None:
    """The version or alias a route object's logical name belongs to; None for other names."""
    for suffix in _ROUTE_SUFFIXES:
        if logical_name.endswith(suffix) and len(logical_name) > len(suffix):
            return logical_name.removesuffix(suffix)
    return None


def common_labels(scope: Scope, component: str) -> dict[str, str]:
    """The labels every object carries besides its own name/instance/version: the recommended
    ones and the stack's ownership labels."""
    return {
        COMPONENT_LABEL: component,
        PART_OF_LABEL: label_value(scope.project),
        MANAGED_BY_LABEL: MANAGED_BY,
        **scope.labels,
    }


def label_value(text: str) -> str:
    """`text` if it is a valid label value, else a truncated form made unique by a hash."""
    if len(text) <= MAX_DNS_LABEL and _LABEL_VALUE.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    return f"{cleaned[: MAX_DNS_LABEL - HASH_LENGTH - 1].rstrip('-_.')}-{short_hash(text)}"


def is_dns_label(text: str) -> bool:
    return len(text) <= MAX_DNS_LABEL and bool(_DNS_LABEL.fullmatch(text))


def image_tag(version: str, content_hash: str) -> str:
    """Docker tag naming the version for humans and the content for caching."""
    return f"{version}-{content_hash[:16]}"


def default_namespace(project: str, deployment: str) -> str:
    name = f"{project}-{deployment}"
    return name if is_dns_label(name) else object_name(project, deployment)


MAX_DNS_SUBDOMAIN = 253
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_dns_subdomain(text: str) -> bool:
    """A DNS-1123 subdomain: the names of Secrets, IngressClasses, Gateways and listeners (sectionName)."""
    return len(text) <= MAX_DNS_SUBDOMAIN and _DNS_SUBDOMAIN.fullmatch(text) is not None


def is_route_hostname(text: str) -> bool:
    """A host an Ingress rule and an HTTPRoute both accept: a lowercase DNS name, optionally `*.` first
    (a wildcard stands for exactly one label), never an IP address (Gateway API `Hostname`, Ingress `host`)."""
    name = text.removeprefix("*.")
    labels = name.split(".")
    if not is_dns_subdomain(name) or any(len(label) > MAX_DNS_LABEL for label in labels):
        return False
    # An all-numeric last label would read as an IP address (both APIs refuse IPs).
    return not labels[-1].isdigit()
