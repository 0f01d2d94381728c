"""Basic-auth hashes: one htpasswd line per user, hashed once with a random salt and then kept.

A Pulumi dynamic resource per user holds the line in state: `create` hashes with a fresh random
salt, `diff` reports a change only when the configured password no longer verifies against the
stored hash, so a re-run shows no diff and a password change makes a new hash.
Formats: bcrypt (`$2b$`, verified by nginx's auth_basic through crypt(3) and by Traefik) and, for
Envoy Gateway, which verifies nothing else, `{SHA}`: unsalted SHA-1, weak against offline guessing
if the Secret leaks (README, "Basic auth").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any, Literal

import bcrypt
import pulumi
import pulumi.dynamic

Scheme = Literal["bcrypt", "sha"]
SHA_PREFIX = "{SHA}"


def hash_password(password: str, scheme: Scheme) -> str:
    if scheme == "sha":
        # The {SHA} format is defined on SHA-1; Envoy Gateway accepts only it.
        digest = hashlib.sha1(password.encode()).digest()  # noqa: S324
        return SHA_PREFIX + base64.b64encode(digest).decode()
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def verifies(password: str, hashed: str, scheme: Scheme) -> bool:
    if scheme == "sha":
        return hmac.compare_digest(hash_password(password, "sha"), hashed)
    if not hashed.startswith("$2"):
        return False
    return bcrypt.checkpw(password.encode(), hashed.encode())


def _outputs(props: dict[str, Any], hashed: str) -> dict[str, Any]:
    return {"user": props["user"], "scheme": props["scheme"], "hash": hashed, "line": f"{props['user']}:{hashed}"}


class HtpasswdProvider(pulumi.dynamic.ResourceProvider):
    """CRUD of one htpasswd line; the password input is never an output."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        hashed = hash_password(props["password"], props["scheme"])
        return pulumi.dynamic.CreateResult(id_=uuid.uuid4().hex, outs=_outputs(props, hashed))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("user", "scheme") if olds.get(key) != news.get(key)]
        if not changed and not verifies(news["password"], olds.get("hash", ""), news["scheme"]):
            changed.append("password")
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=_outputs(news, hash_password(news["password"], news["scheme"])))


class HtpasswdLine(pulumi.dynamic.Resource, module="routing", name="HtpasswdLine"):
    line: pulumi.Output[str]

    def __init__(
        self, name: str, user: str, password: pulumi.Input[str], scheme: Scheme, opts: pulumi.ResourceOptions
    ) -> None:
        props = {"user": user, "password": pulumi.Output.secret(password), "scheme": scheme, "line": None, "hash": None}
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["line", "hash", "password"])
        super().__init__(HtpasswdProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret_outputs))
