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
from pydantic import ValidationError as PydanticValidationError
from valohai_yaml.lint import lint as valohai_lint
from valohai_yaml.validation import get_validator

from components.inputs.errors import ConfigError, shown
from components.inputs.image_reference import is_image_reference

DEFAULT_PORT = 8000
# valohai.yaml files are a few kilobytes; these bounds keep a hostile one (a "billion laughs" of
# nested aliases) from costing more than a moment: the text, and the nodes it stands for once
# every alias is expanded, which the schema check and the messages would otherwise walk.
MAX_TEXT = 1_000_000
MAX_EXPANDED_NODES = 100_000
MAX_MESSAGE = 300
# valohai.yaml's schema pattern for endpoint names, matched as a whole (jsonschema searches).
ENDPOINT_NAME = re.compile(r"[a-z][a-z0-9-]+")
MAX_ENDPOINT_NAME = 63


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


def load_bounded(text: str, source: str) -> Any:
    """`yaml.safe_load(text)`, refused with one line when the text or its expansion is too large."""
    if len(text) > MAX_TEXT:
        raise ConfigError([f"{source}: {len(text)} characters; a valohai.yaml may have at most {MAX_TEXT}"])
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        # Composing keeps one node per alias target, so this step is linear in the text.
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_EXPANDED_NODES:
            raise ConfigError(
                [
                    f"{source}: its aliases (*name) expand to more than {MAX_EXPANDED_NODES} values; "
                    "write the repeated parts out, or use fewer nested aliases"
                ]
            )
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{source}: not valid YAML{where}: {_clip(problem)}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: nested too deeply (or an alias refers to itself); flatten it"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has with every alias expanded; stops counting past the bound."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > 200:
            raise RecursionError
        sizes[id(node)] = MAX_EXPANDED_NODES + 1  # a node inside itself (a recursive alias) is unbounded
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_EXPANDED_NODES:
                break
        sizes[id(node)] = total
        return total

    return size(root, 0)


def _clip(text: str) -> str:
    """A message part on one line and of bounded length (it may quote the file's own text)."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def parse_valohai_yaml(text: str, source: str) -> ValohaiFile:
    """Validate `text` as Valohai would and return its endpoints, or raise `ConfigError`."""
    data = load_bounded(text, source)
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
        f"{source}: {_clip(message['message'].strip())}"
        for message in valohai_lint(data, validate_schema=False, ansi_colors=False).errors
    ]
    if problems:
        raise ConfigError(problems)
    try:
        return ValohaiFile(source=source, endpoints=tuple(Endpoint.model_validate(e) for e in raw_endpoints))
    except PydanticValidationError as err:
        # The schema above admits only what the model reads; this is a backstop, still one line each.
        raise ConfigError(
            [f"{source}: {'.'.join(map(str, e['loc']))}: {_clip(e['msg'])}" for e in err.errors()]
        ) from None


def _structure_problems(source: str, endpoints: list[dict[str, Any]]) -> list[str]:
    """Rules Valohai's schema cannot express but a deployment depends on."""
    problems = [
        f"{source}: endpoint '{name}': defined {count} times; endpoint names must be unique"
        for name, count in Counter(e["name"] for e in endpoints).items()
        if count > 1
    ]
    for endpoint in endpoints:
        where = f"{source}: endpoint {shown(endpoint['name'])}"
        if not ENDPOINT_NAME.fullmatch(endpoint["name"]) or len(endpoint["name"]) > MAX_ENDPOINT_NAME:
            problems.append(
                f"{where}: name: lowercase letters, digits and '-', starting with a letter, "
                f"at most {MAX_ENDPOINT_NAME} characters (it is a URL segment and a label value)"
            )
        problems += _resource_problems(where, endpoint.get("resources"))
        image = endpoint.get("image")
        if isinstance(image, str) and not is_image_reference(image):
            problems.append(
                f"{where}: image: {shown(image)} is not an image reference; write it like python:3.11 or "
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


def _resource_problems(where: str, resources: Any) -> list[str]:
    """`min` at most `max`, neither negative: Kubernetes refuses requests above limits, and negative sizes."""
    problems: list[str] = []
    if not isinstance(resources, dict):
        return problems
    for key in ("cpu", "memory", "ephemeral-storage"):
        bounds = resources.get(key)
        if not isinstance(bounds, dict):
            continue
        low, high = bounds.get("min"), bounds.get("max")
        for side, value in (("min", low), ("max", high)):
            if isinstance(value, int | float) and value < 0:
                problems.append(f"{where}: resources.{key}.{side}: must be >= 0 (got {shown(value)})")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            problems.append(
                f"{where}: resources.{key}: min ({shown(low)}) is above max ({shown(high)}); "
                "min is the request, max the limit"
            )
    for device, count in (resources.get("devices") or {}).items() if isinstance(resources.get("devices"), dict) else ():
        if isinstance(count, int | float) and count < 0:
            problems.append(f"{where}: resources.devices.{shown(device)}: must be >= 0 (got {shown(count)})")
    return problems


def _describe_schema_error(source: str, data: list[Any], error: ValidationError) -> str:
    path = list(error.absolute_path)
    where = source
    if len(path) >= 2 and isinstance(path[0], int):
        kind = path[1]
        item = data[path[0]].get(kind) if isinstance(data[path[0]], dict) else None
        label = item.get("name") if isinstance(item, dict) else None
        where += f": {kind} {shown(label)}" if label else f": item {path[0] + 1} ({kind})"
        path = path[2:]
    elif path:
        where += f": item {int(path[0]) + 1}"
        path = path[1:]
    field = ".".join(str(p) for p in path)
    prefix = f"{where}: {_clip(field)}: " if field else f"{where}: "
    return prefix + _clip(_schema_message(error))


def _schema_message(error: ValidationError) -> str:  # noqa: PLR0911 (one answer per schema rule)
    value = error.validator_value
    match error.validator:
        case "minimum":
            return f"must be >= {value} (got {shown(error.instance)})"
        case "maximum":
            return f"must be <= {value} (got {shown(error.instance)})"
        case "required":
            return str(error.message).replace("is a required property", "is required")
        case "additionalProperties":
            allowed = ", ".join(sorted(error.schema.get("properties", {})))
            return f"{error.message}; allowed keys: {allowed}"
        case "oneOf" if "server-command" in str(value):
            return "give exactly one of 'server-command' or 'wsgi'"
        case "type":
            return f"must be of type {value} (got {shown(error.instance)})"
        case "pattern":
            return f"{shown(error.instance)} does not match {value}"
        case _:
            return str(error.message)
