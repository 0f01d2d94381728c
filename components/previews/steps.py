"""`pulumi preview --json` as steps: each change's operation, URN, type and old/new state.

Values are read only through `plain` and `dig`, which treat secrets and unknowns as absent, so
nothing built from them can show a secret; `secret_plaintexts` lists what to mask as a second guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Pulumi's secret envelope (sdk/go/common/resource/sig): {SECRET_SIG: SECRET_VALUE_SIG, "value": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 (a marker, not a secret)
# Pulumi's marker for a value not known until the update runs.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CHANGE_OPS = ("create", "update", "replace", "delete")
# The halves of a replacement are reported once, as the `replace` step.
REPLACEMENT_HALVES = ("create-replacement", "delete-replaced", "discard-replaced", "remove-pending-replace")
# Pulumi's own type tokens of what the program declares.
IMAGE = "docker:index/image:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STACK = "pulumi:pulumi:Stack"


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`."""
    return resource_type.rsplit(":", 1)[-1]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def plain(value: Any) -> Any:
    """`value` if it is readable and known; None for secrets and unknowns."""
    if _is_secret(value) or value in (UNKNOWN, "[secret]"):
        return None
    return value


def dig(value: Any, *path: str | int) -> Any:
    for part in path:
        value = plain(value)
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and len(value) > part else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return plain(value)


def secret_plaintexts(value: Any) -> Iterator[str]:
    """Every string held inside a secret envelope, to be masked should it ever reach the output."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            yield from _strings(value.get("value"))
            yield from _strings(value.get("plaintext"))
            return
        for item in value.values():
            yield from secret_plaintexts(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_plaintexts(item)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        # A plaintext envelope may hold JSON text; its parts are secret too.
        try:
            yield from _strings(json.loads(value))
        except ValueError:
            return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class Step:
    op: str
    urn: str
    type: str
    old: dict[str, Any]
    new: dict[str, Any]
    reasons: list[str]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def kind(self) -> str:
        return kind_of(self.type)

    @property
    def parent_types(self) -> list[str]:
        """The type chain of the URN: `a$b$kubernetes:...:Ingress` -> [a, b]."""
        parts = self.urn.split("::")
        return parts[2].split("$")[:-1] if len(parts) > 3 else []

    def inputs(self, which: str) -> dict[str, Any]:
        state = self.new if which == "new" else self.old
        value = plain(state.get("inputs")) or plain(state.get("outputs")) or {}
        return value if isinstance(value, dict) else {}

    def object_name(self) -> str:
        for which in ("new", "old"):
            name = dig(self.inputs(which), "metadata", "name")
            if isinstance(name, str):
                return name
        return self.name


def parse_steps(document: dict[str, Any]) -> list[Step]:
    steps = []
    for raw in document.get("steps") or []:
        if not isinstance(raw, dict) or "urn" not in raw:
            continue
        old, new = raw.get("oldState") or {}, raw.get("newState") or {}
        reasons = [str(r) for r in (raw.get("detailedDiff") or {})] or [
            str(r) for r in (raw.get("replaceReasons") or raw.get("diffReasons") or [])
        ]
        steps.append(
            Step(
                op=str(raw.get("op", "")),
                urn=str(raw["urn"]),
                type=str(new.get("type") or old.get("type") or raw["urn"].split("::")[2].split("$")[-1]),
                old=old,
                new=new,
                reasons=reasons,
            )
        )
    return steps


def stack_and_project(document: dict[str, Any], steps: list[Step], fallback: str) -> tuple[str, str]:
    for step in steps:
        match = re.match(r"^urn:pulumi:(?P<stack>[^:]+)::(?P<project>[^:]+)::", step.urn)
        if match:
            return match["stack"], match["project"]
    return fallback, ""


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def json_config(document: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A structured config value of the preview (JSON text); None when absent or secret."""
    raw = (document.get("config") or {}).get(key)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None
