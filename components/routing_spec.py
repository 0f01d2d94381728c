"""Pure builders for URL routing: version and alias Ingresses (ingress-nginx), and basic auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from components import naming
from components.workload_spec import PORT_NAME

NGINX = "nginx.ingress.kubernetes.io"
# Every route path is /<owner>/<project>/<deployment>/<version or alias>/<endpoint>: the first five
# segments are the prefix actually used, which Valohai endpoints read from X-VH-Prefix. The
# header is set here, per request, so a client cannot forge it.
PREFIX_SNIPPET = (
    'if ($uri ~ "^(/[^/]+/[^/]+/[^/]+/[^/]+/[^/]+)") { set $vh_prefix $1; }\nproxy_set_header X-VH-Prefix $vh_prefix;\n'
)
# Models take files; nginx's default 1m body limit would reject ordinary images.
MAX_BODY = "64m"
AUTH_KEY = "auth"


@dataclass(frozen=True)
class Route:
    path: str
    service: Any


def ingress_annotations(auth_secret: str | None, realm: str, canary_weight: int | None = None) -> dict[str, str]:
    result = {
        f"{NGINX}/configuration-snippet": PREFIX_SNIPPET,
        f"{NGINX}/proxy-body-size": MAX_BODY,
    }
    if auth_secret:
        result |= {
            f"{NGINX}/auth-type": "basic",
            f"{NGINX}/auth-secret": auth_secret,
            f"{NGINX}/auth-realm": realm,
        }
    if canary_weight is not None:
        result |= {
            f"{NGINX}/canary": "true",
            f"{NGINX}/canary-weight": str(canary_weight),
            f"{NGINX}/canary-weight-total": "100",
        }
    return result


def ingress_metadata(
    *,
    name: str,
    namespace: Any,
    project: str,
    component: str,
    labels: dict[str, str],
    auth_secret: str | None,
    realm: str,
    canary_weight: int | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**labels, **naming.common_labels(project, component)},
        "annotations": ingress_annotations(auth_secret, realm, canary_weight),
    }


def ingress_spec(routes: list[Route], class_name: str, host: str | None, tls_secret: str | None) -> dict[str, Any]:
    paths = [
        {
            "path": route.path,
            "pathType": "Prefix",
            "backend": {"service": {"name": route.service, "port": {"name": PORT_NAME}}},
        }
        for route in routes
    ]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"ingressClassName": class_name, "rules": [rule]}
    if host and tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return spec


def url(host: str | None, tls: bool, path: str) -> str:
    """The URL a user calls; a trailing slash so relative links in the endpoint resolve under it."""
    if not host:
        return f"{path}/"
    return f"{'https' if tls else 'http'}://{host}{path}/"


_APR1_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def htpasswd_line(user: str, password: str) -> str:
    """`user:$apr1$...` with a salt derived from the credentials.

    A random salt would change the Secret on every run (a diff in every preview); deriving it
    from user and password keeps re-runs quiet while a password change still changes the hash.
    """
    digest = hmac.new(password.encode(), user.encode(), hashlib.sha256).digest()
    salt = "".join(_APR1_ALPHABET[b % 64] for b in digest[:8])
    return f"{user}:{apr1(password, salt)}"


def apr1(password: str, salt: str) -> str:
    """Apache's MD5-based crypt ($apr1$), which ingress-nginx's auth_basic accepts."""
    pw, sl = password.encode(), salt.encode()[:8]
    # apr1 is defined on MD5; it is the format nginx verifies, not a choice made here.
    final = hashlib.md5(pw + sl + pw).digest()  # noqa: S324
    ctx = pw + b"$apr1$" + sl
    for i in range(len(pw), 0, -16):
        ctx += final[: min(16, i)]
    i = len(pw)
    while i:
        ctx += b"\0" if i & 1 else pw[:1]
        i >>= 1
    result = hashlib.md5(ctx).digest()  # noqa: S324
    for i in range(1000):
        step = (pw if i & 1 else result) + (sl if i % 3 else b"") + (pw if i % 7 else b"")
        step += result if i & 1 else pw
        result = hashlib.md5(step).digest()  # noqa: S324

    def to64(value: int, length: int) -> str:
        out = ""
        for _ in range(length):
            out += _APR1_ALPHABET[value & 0x3F]
            value >>= 6
        return out

    groups = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
    encoded = "".join(to64((result[a] << 16) | (result[b] << 8) | result[c], 4) for a, b, c in groups)
    encoded += to64(result[11], 2)
    return f"$apr1${sl.decode()}${encoded}"


def htpasswd(users: dict[str, str]) -> str:
    return "".join(f"{htpasswd_line(user, users[user])}\n" for user in sorted(users))


def basic_auth_data(users: dict[str, str]) -> dict[str, str]:
    """Secret `data` for ingress-nginx's auth-secret (base64, as the API stores it)."""
    return {AUTH_KEY: base64.b64encode(htpasswd(users).encode()).decode()}
