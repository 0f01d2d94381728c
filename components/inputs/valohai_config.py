"""The valohai.yaml model: Valohai's own validation, then typed endpoints.

A file Valohai would reject is rejected whole (schema and lint from `valohai-yaml`); steps,
pipelines and other items are accepted and ignored. Field names mirror valohai.yaml's keys.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from typing import Any, Literal

import yaml
from jsonschema import ValidationError
from pydantic import BaseModel, ConfigDict, field_validator
from valohai_yaml.lint import lint as valohai_lint
from valohai_yaml.validation import get_validator

from components.inputs.errors import ConfigError

DEFAULT_PORT = 8000

# The image reference grammar of distribution/reference (regexp.go), which docker parses `FROM`
# with: [host[:port]/]path[:tag][@digest], the repository path lowercase. Anything else (a space,
# a newline, a second instruction) is refused here, before it can reach a Dockerfile.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_NAME = rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
MAX_IMAGE_NAME = 255


def is_image_reference(text: str) -> bool:
    """True if docker would read `text` as one image reference (and nothing more)."""
    match = IMAGE_REFERENCE.fullmatch(text)
    return match is not None and len(match["name"]) <= MAX_IMAGE_NAME


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=_kebab, populate_by_name=True)


class EndpointFile(_Model):
    name: str
    path: str
    description: str | None = None


# `int | float` keeps a whole number whole, so `--json` echoes valohai.yaml's own values.
Number = int | float


class MinMax(_Model):
    min: Number | None = None
    max: Number | None = None


class EndpointResources(_Model):
    cpu: MinMax | None = None
    memory: MinMax | None = None
    ephemeral_storage: MinMax | None = None
    devices: dict[str, Number] | None = None


class Toleration(_Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["PreferNoSchedule", "NoSchedule", "NoExecute"] | None = None


class WorkspaceVolume(_Model):
    mount_path: str
    size: int
    storage_class_name: str | None = None


class SharedVolume(_Model):
    pvc_name: str
    mount_path: str
    sub_path: str | None = None
    read_only: bool | None = None


class Endpoint(_Model):
    """One `endpoint` item of valohai.yaml, with every key Valohai's schema accepts."""

    name: str
    image: str
    description: str | None = None
    port: int = DEFAULT_PORT
    server_command: str | list[str] | None = None
    wsgi: str | None = None
    files: tuple[EndpointFile, ...] = ()
    resources: EndpointResources | None = None
    node_selector: str | None = None
    tolerations: tuple[Toleration, ...] = ()
    workspace_volume: WorkspaceVolume | None = None
    shared_volumes: tuple[SharedVolume, ...] = ()

    @field_validator("port", mode="before")
    @classmethod
    def _whole_port(cls, value: Any) -> Any:
        # The schema says "number"; a fractional port cannot be bound.
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"must be a whole number (got {value})")
        return int(value) if isinstance(value, float) else value

    @property
    def node_selector_map(self) -> dict[str, str]:
        """`a=b,c=d` -> {'a': 'b', 'c': 'd'}; Valohai writes node selectors as one string."""
        if not self.node_selector:
            return {}
        pairs = (item.split("=", 1) for item in self.node_selector.split(",") if item.strip())
        return {key.strip(): value.strip() for key, value in pairs}

    @property
    def wsgi_target(self) -> str | None:
        """`module:callable`; a bare module means gunicorn's default callable `application`."""
        if self.wsgi is None:
            return None
        return self.wsgi if ":" in self.wsgi else f"{self.wsgi}:application"

    def to_valohai_dict(self) -> dict[str, Any]:
        """valohai.yaml's own keys, `port` filled with its default, absent optional keys left out."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {key: value for key, value in data.items() if value != []}


class ValohaiFile(_Model):
    """The endpoints of one valohai.yaml; `source` names the file in every error."""

    source: str
    endpoints: tuple[Endpoint, ...]

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    @property
    def endpoint_names(self) -> list[str]:
        return [e.name for e in self.endpoints]


def parse_valohai_yaml(text: str, source: str) -> ValohaiFile:
    """Validate `text` as Valohai would and return its endpoints, or raise `ConfigError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    if not isinstance(data, list):
        raise ConfigError(
            [f"{source}: must be a list of items (- step: ..., - endpoint: ...), got {type(data).__name__}"]
        )

    schema_errors = [_describe_schema_error(source, data, e) for e in get_validator().iter_errors(data)]
    if schema_errors:
        raise ConfigError(sorted(set(schema_errors)))

    raw_endpoints = [item["endpoint"] for item in data if isinstance(item, dict) and "endpoint" in item]
    problems = _structure_problems(source, raw_endpoints)
    problems += [
        f"{source}: {message['message'].strip()}"
        for message in valohai_lint(data, validate_schema=False, ansi_colors=False).errors
    ]
    if problems:
        raise ConfigError(problems)
    return ValohaiFile(source=source, endpoints=tuple(Endpoint.model_validate(e) for e in raw_endpoints))


def _structure_problems(source: str, endpoints: list[dict[str, Any]]) -> list[str]:
    """Rules Valohai's schema cannot express but a deployment depends on."""
    problems = [
        f"{source}: endpoint '{name}': defined {count} times; endpoint names must be unique"
        for name, count in Counter(e["name"] for e in endpoints).items()
        if count > 1
    ]
    for endpoint in endpoints:
        where = f"{source}: endpoint '{endpoint['name']}'"
        image = endpoint.get("image")
        if isinstance(image, str) and not is_image_reference(image):
            problems.append(
                f"{where}: image: {image!r} is not an image reference; write it like python:3.11 or "
                "registry.example.com/team/image:tag[@sha256:...] (lowercase repository, no spaces or newlines)"
            )
        port = endpoint.get("port", DEFAULT_PORT)
        if not float(port).is_integer():
            problems.append(f"{where}: port: must be a whole number (got {port})")
        names = Counter(f["name"] for f in endpoint.get("files", ()))
        problems += [
            f"{where}: files: name '{name}' is used {count} times; give each file its own name"
            for name, count in names.items()
            if count > 1
        ]
        for item in endpoint.get("files", ()):
            path = item["path"]
            normal = posixpath.normpath(path)
            if path.startswith("/") or normal == ".." or normal.startswith("../") or normal == ".":
                problems.append(
                    f"{where}: files: '{item['name']}': path '{path}' must be a file path relative to "
                    "the code directory, inside it (no leading '/', no '..')"
                )
        if "node-selector" in endpoint and any(
            "=" not in pair for pair in endpoint["node-selector"].split(",") if pair.strip()
        ):
            problems.append(f"{where}: node-selector: write it as 'key=value[,key=value]'")
    return problems


def _describe_schema_error(source: str, data: list[Any], error: ValidationError) -> str:
    path = list(error.absolute_path)
    where = source
    if len(path) >= 2 and isinstance(path[0], int):
        kind = path[1]
        item = data[path[0]].get(kind) if isinstance(data[path[0]], dict) else None
        label = item.get("name") if isinstance(item, dict) else None
        where += f": {kind} '{label}'" if label else f": item {path[0] + 1} ({kind})"
        path = path[2:]
    elif path:
        where += f": item {int(path[0]) + 1}"
        path = path[1:]
    field = ".".join(str(p) for p in path)
    prefix = f"{where}: {field}: " if field else f"{where}: "
    return prefix + _schema_message(error)


def _schema_message(error: ValidationError) -> str:  # noqa: PLR0911 (one answer per schema rule)
    value = error.validator_value
    match error.validator:
        case "minimum":
            return f"must be >= {value} (got {error.instance})"
        case "maximum":
            return f"must be <= {value} (got {error.instance})"
        case "required":
            return str(error.message).replace("is a required property", "is required")
        case "additionalProperties":
            allowed = ", ".join(sorted(error.schema.get("properties", {})))
            return f"{error.message}; allowed keys: {allowed}"
        case "oneOf" if "server-command" in str(value):
            return "give exactly one of 'server-command' or 'wsgi'"
        case "type":
            return f"must be of type {value} (got {error.instance!r})"
        case "pattern":
            return f"{error.instance!r} does not match {value}"
        case _:
            return str(error.message)
