"""The stack's key for digests of secret values: 32 random bytes, made once and kept in state.

A pod-template annotation must change when a secret env value changes (so the Deployment rolls),
yet the annotation is plain text in the cluster. An HMAC under this key says "changed" and
nothing else: without the key, which lives only in Pulumi state as a secret, no value can be
guessed offline from it, however short.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic

KEY_BYTES = 32


def keyed_digest(key: str, values: Mapping[str, str]) -> str:
    """HMAC-SHA256 of `values` (canonical JSON) under `key`."""
    message = json.dumps(dict(values), sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()


class DigestKeyProvider(pulumi.dynamic.ResourceProvider):
    """Create draws the key; nothing ever changes it, so digests stay comparable between runs."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=uuid.uuid4().hex, outs={"key": secrets.token_hex(KEY_BYTES)})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return pulumi.dynamic.DiffResult(changes=False, replaces=[], delete_before_replace=False)


class DigestKey(pulumi.dynamic.Resource, module="secrets", name="DigestKey"):
    key: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["key"])
        super().__init__(DigestKeyProvider(), name, {"key": None}, pulumi.ResourceOptions.merge(opts, secret_outputs))

    def digest(self, values: Mapping[str, str]) -> pulumi.Output[str]:
        """The digest of `values`, as plain (not secret) output: it reveals nothing without the key."""
        frozen = dict(values)
        return pulumi.Output.unsecret(self.key.apply(lambda key: keyed_digest(key, frozen)))
