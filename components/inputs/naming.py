"""Naming rules: Kubernetes object names, labels, URL paths and image tags.

Every name here is a pure function of user-visible names (owner, project, deployment, version,
alias, endpoint), so a name never changes unless the thing it names does.
"""

from __future__ import annotations

import hashlib
import re

MAX_DNS_LABEL = 63
HASH_LENGTH = 8

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Secret and NetworkPolicy names are DNS-1123 subdomains; ours are single labels, which may start with a digit.
_DNS_SUBDOMAIN_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Version names become URL segments, label values and image tags, so they are held to the
# intersection of those alphabets (Valohai's own versions look like 20181002.0).
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Aliases share the URL segment with versions and name a stable Ingress.
ALIAS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# owner / project / deployment are URL segments and part of the default namespace.
URL_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")

MANAGED_BY = "pulumi"

# Labels the program sets and the tools (status, logs, preview summary) select by.
NAME_LABEL = "app.kubernetes.io/name"  # the endpoint
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the workload (Deployment, Service, HPA) name
VERSION_LABEL = "app.kubernetes.io/version"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ALIAS_LABEL = "valohai.com/alias"

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
    readable = "-".join(slug(p) for p in parts)
    if not readable[0].isalpha():
        readable = "x-" + readable
    digest = short_hash(*parts)
    readable = readable[: MAX_DNS_LABEL - HASH_LENGTH - 1].rstrip("-")
    name = f"{readable}-{digest}"
    assert _DNS_LABEL.match(name), name
    return name


def logical_name(version: str, *rest: str) -> str:
    """A Pulumi logical name for something of `version`: `<version>-<rest...>`, injective.

    Every '-' of the version is doubled, so the first single '-' always ends it (the parts after
    it start with a letter: endpoint names and image keys do). `v1`+`predict-digit` and
    `v1-predict`+`digit` no longer meet; versions without '-' (like 20181002.0) keep the names
    they always had, and `legacy_logical_name` gives the old spelling for `aliases`.
    """
    return "-".join((version.replace("-", "--"), *rest))


def legacy_logical_name(version: str, *rest: str) -> str:
    """The logical name before `logical_name` (plain '-' join); ambiguous, kept only for aliases."""
    return "-".join((version, *rest))


def workload_name(endpoint: str, version: str) -> str:
    """Deployment, Service and HPA name of one endpoint of one version."""
    return object_name(endpoint, version)


def _stack_scoped(deployment: str, role: str) -> str:
    """`<deployment>-<role>`: an object that exists once per stack, distinct between stacks sharing a namespace.

    Roles are fixed words none of which ends another, and a deployment is at most 40 characters,
    so the result is a valid name and `(deployment, role)` can be read back from it.
    """
    name = f"{deployment}-{role}"
    assert len(name) <= MAX_DNS_LABEL and _DNS_SUBDOMAIN_LABEL.match(name), name
    return name


def pull_secret_name(deployment: str) -> str:
    """The image pull Secret (`kubernetes.io/dockerconfigjson`)."""
    return _stack_scoped(deployment, "registry-credentials")


def auth_secret_name(deployment: str) -> str:
    """The htpasswd Secret the routes' basic auth reads."""
    return _stack_scoped(deployment, "basic-auth")


def auth_middleware_name(deployment: str) -> str:
    """Traefik's basic-auth Middleware (another kind than the Secret, so the same name is free)."""
    return _stack_scoped(deployment, "basic-auth")


def network_policy_name(deployment: str) -> str:
    return _stack_scoped(deployment, "endpoints")


def env_secret_name(deployment: str, version: str) -> str:
    """The Secret holding a version's secret env values (the hash keeps `1.0` and `1-0` apart)."""
    return object_name(deployment, "env", version)


def version_ingress_name(version: str) -> str:
    return object_name("version", version)


def alias_ingress_name(alias: str, canary: bool = False) -> str:
    """Stable per alias: moving the alias updates this object, never replaces it."""
    return object_name("alias", alias, "canary") if canary else object_name("alias", alias)


def route_owner(logical_name: str) -> str | None:
    """The version or alias a route object's logical name belongs to; None for other names."""
    for suffix in _ROUTE_SUFFIXES:
        if logical_name.endswith(suffix) and len(logical_name) > len(suffix):
            return logical_name.removesuffix(suffix)
    return None


def common_labels(project: str, component: str) -> dict[str, str]:
    """The recommended labels every object carries besides its own name/instance/version."""
    return {
        COMPONENT_LABEL: component,
        PART_OF_LABEL: label_value(project),
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def label_value(text: str) -> str:
    """`text` if it is a valid label value, else a truncated form made unique by a hash."""
    if len(text) <= MAX_DNS_LABEL and _LABEL_VALUE.match(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    return f"{cleaned[: MAX_DNS_LABEL - HASH_LENGTH - 1].rstrip('-_.')}-{short_hash(text)}"


def is_dns_label(text: str) -> bool:
    return len(text) <= MAX_DNS_LABEL and bool(_DNS_LABEL.match(text))


def image_tag(version: str, content_hash: str) -> str:
    """Docker tag naming the version for humans and the content for caching."""
    return f"{version}-{content_hash[:16]}"


def default_namespace(project: str, deployment: str) -> str:
    name = f"{project}-{deployment}"
    return name if is_dns_label(name) else object_name(project, deployment)
