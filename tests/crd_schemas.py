"""CRD schemas (tests/data/crds, from the pinned releases) as strict JSON Schema validators."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CRDS = Path(__file__).parent / "data" / "crds"


def _strict(schema: Any) -> Any:
    """Refuse unknown fields, as the API server does with strict field validation (kubectl's default)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    group, version = api_version.split("/")
    document = json.loads((CRDS / f"{group}_{kind}_{version}.json").read_text())
    return jsonschema.Draft7Validator(_strict(document["openAPIV3Schema"]))


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of `manifest`, with its path; empty when the object is valid."""
    found = validator(manifest["apiVersion"], manifest["kind"]).iter_errors(manifest)
    return [f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in found]
