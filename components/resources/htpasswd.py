"""Basic-auth hashes: one htpasswd line per user, hashed once with a random salt and then kept.

A Pulumi dynamic resource per user holds the line in state: `create` hashes with a fresh random
salt, `diff` reports a change only when the configured password no longer verifies against the
stored hash or a bcrypt hash has another cost than `BCRYPT_COST`, so a re-run shows no diff, a
password change makes a new hash and hashes of an older cost are re-hashed once.
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
# The router verifies the hash on every request (Traefik and nginx keep no cache of verified
# credentials), so the cost is paid per request: cost 12 took about 245 ms a request, cost 5
# (Apache's `htpasswd -B` default) about 2 ms. The cost only slows offline guessing of a leaked
# Secret, which long random passwords defeat at any cost; README, "Basic auth", has the figures.
BCRYPT_COST = 5
# Shorter passwords get a warning: below this, a leaked fast hash may be guessed offline.
MIN_PASSWORD_LENGTH = 16


def hash_password(password: str, scheme: Scheme) -> str:
    if scheme == "sha":
        # The {SHA} format is defined on SHA-1; Envoy Gateway accepts only it.
        digest = hashlib.sha1(password.encode()).digest()  # noqa: S324
        return SHA_PREFIX + base64.b64encode(digest).decode()
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def verifies(password: str, hashed: str, scheme: Scheme) -> bool:
    if scheme == "sha":
        return hmac.compare_digest(hash_password(password, "sha"), hashed)
    if not hashed.startswith("$2"):
        return False
    return bcrypt.checkpw(password.encode(), hashed.encode())


def bcrypt_cost(hashed: str) -> int | None:
    """The cost of a `$2?$NN$...` hash, None for anything else."""
    parts = hashed.split("$")
    if len(parts) < 4 or not parts[1].startswith("2") or not parts[2].isdigit():
        return None
    return int(parts[2])


def is_current(hashed: str, scheme: Scheme) -> bool:
    """Whether `hashed` is in the form `hash_password` makes today (bcrypt: at `BCRYPT_COST`)."""
    return scheme != "bcrypt" or bcrypt_cost(hashed) == BCRYPT_COST


def _outputs(props: dict[str, Any], hashed: str) -> dict[str, Any]:
    return {"user": props["user"], "scheme": props["scheme"], "hash": hashed, "line": f"{props['user']}:{hashed}"}


class HtpasswdProvider(pulumi.dynamic.ResourceProvider):
    """CRUD of one htpasswd line; the password input is never an output."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        hashed = hash_password(props["password"], props["scheme"])
        return pulumi.dynamic.CreateResult(id_=uuid.uuid4().hex, outs=_outputs(props, hashed))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("user", "scheme") if olds.get(key) != news.get(key)]
        stored = olds.get("hash", "")
        if not changed and not verifies(news["password"], stored, news["scheme"]):
            changed.append("password")
        elif not changed and not is_current(stored, news["scheme"]):
            # Made at another cost (12 before BCRYPT_COST): re-hashed once, in place; the Secret
            # then changes in place too, and the router accepts the same password throughout.
            changed.append("hash")
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
