"""Property-based tests over the input surface: stack settings and valohai.yaml.

For arbitrary strings and structures the program either accepts the input or stops with the one
config error (one line per problem), before any resource is declared; it never ends in a traceback.
Example counts are set per test so the fast tier stays fast.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from components.inputs.config_sections import UrlSource
from components.inputs.errors import ConfigError
from components.inputs.settings import CONFIG_KEYS, settings_from_config
from components.inputs.valohai_config import parse_valohai_yaml
from components.rendering import build_context
from components.resources.stack import check
from tests.harness import PROJECT, V1, V2, Run, base_config, run_program

# Values users (and pull requests) actually write, and the ones that broke things before.
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "2024",
        "null",
        "true",
        "-x",
        "a\n",
        "a\x00b",
        "../x",
        "/etc/passwd",
        ".git/config",
        "kubeconfigs/local.yaml",
        "é" * 40,
        "x" * 300,
        "x" * 5000,
        "~nouser/x",
        "a/" + "b" * 300,
        "*.x",
        "https://example.com/m.bin",
        "models/digits-v1.json",
        V1,
        V2,
        "production",
        "predict-digit",
        "gateway",
        "traefik",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    TRICKY,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), TRICKY), children, max_size=3)
    ),
    max_leaves=12,
)


def _rich_config() -> dict[str, Any]:
    """Every config key set, so a mutation can reach every section."""
    return base_config(
        deployment="americas",
        codeDirectory=".",
        valohaiYaml="valohai.yaml",
        registryAuth={"username": "u", "password": "p", "usedForPull": False},
        basicAuth={"alice": "wonderland"},
        autoscaling={"minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 70},
        networkPolicy={"enabled": True, "routerNamespaces": ["ingress-nginx"], "ipBlocks": ["127.0.0.1/32"]},
        routing={"kind": "ingress", "ingress": {"className": "nginx", "prefixHeaderSnippet": False}},
        buildNetwork="host",
    )


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a config, inner nodes included."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    return found


RICH = _rich_config()
PATHS = [*_paths(RICH), ("unknownKey",), ("versions", V1, "env", "TOKEN"), ("aliases", "canary")]


def _with(config: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    node = changed
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return changed


# Any value anywhere, and (more often than chance would) a string where a string is expected.
MUTATIONS = st.lists(
    st.one_of(st.tuples(st.sampled_from(PATHS), VALUES), st.tuples(st.sampled_from(PATHS), TRICKY)),
    min_size=1,
    max_size=3,
)


def _mutated(mutations: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    config = RICH
    for path, value in mutations:
        config = _with(config, path, value)
    return config


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated https URL must not reach the network: a download fails as an unreachable one would."""

    def refuse(source: UrlSource, cache: Path) -> Path:
        raise ConfigError([f"files: cannot download {source.url}: no network in tests"])

    monkeypatch.setattr(build_context, "fetch", refuse)


def test_the_config_every_mutation_starts_from_is_accepted(project_dir: Path) -> None:
    settings_, plan, _ = check(RICH, project_dir, PROJECT, "americas")
    assert settings_.basic_auth and set(plan.versions) == {V1, V2}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=10)), VALUES, max_size=8))
def test_any_config_values_are_accepted_or_one_config_error(values: dict[str, Any]) -> None:
    try:
        settings_from_config(values, "americas")
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and "\n" not in p for p in err.problems), err.problems


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=MUTATIONS)
def test_any_change_to_a_working_config_is_accepted_or_one_config_error(
    mutations: list[tuple[tuple[str, ...], Any]], project_dir: Path
) -> None:
    """The settings and the plan (git, valohai.yaml, file sources) together, as `pulumi up` runs them."""
    try:
        check(_mutated(mutations), project_dir, PROJECT, "americas")
        event("accepted")
    except ConfigError as err:
        event("refused")
        assert err.problems and all(isinstance(p, str) and "\n" not in p for p in err.problems), err.problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=MUTATIONS)
def test_the_program_declares_nothing_before_refusing_input(
    mutations: list[tuple[tuple[str, ...], Any]], project_dir: Path
) -> None:
    recorded = Run()
    try:
        run_program(_mutated(mutations), project_dir, run=recorded)
        event("accepted")
    except pulumi.RunError as err:
        event("refused")
        assert recorded.resources == [], "resources were registered before the error"
        assert str(err).splitlines()[0].endswith("problem(s) in the stack's configuration:")


ENDPOINT_KEYS = st.sampled_from(
    [
        "name",
        "image",
        "port",
        "wsgi",
        "server-command",
        "files",
        "resources",
        "node-selector",
        "tolerations",
        "workspace-volume",
        "shared-volumes",
        "description",
    ]
)
GOOD_ENDPOINT = {"name": "predict", "image": "python:3.11", "wsgi": "app", "files": [{"name": "m", "path": "m.bin"}]}


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_valohai_yaml_text_is_read_or_one_config_error(text: str) -> None:
    try:
        parse_valohai_yaml(text, "valohai.yaml")
    except ConfigError as err:
        assert err.problems and all(p.startswith("valohai.yaml") for p in err.problems), err.problems
        assert all(len(p) < 2_000 and "\n" not in p for p in err.problems), err.problems


@settings(max_examples=200, deadline=None)
@given(changes=st.dictionaries(ENDPOINT_KEYS, VALUES, max_size=3), items=st.lists(VALUES, max_size=2))
def test_any_valohai_yaml_structure_is_read_or_one_config_error(changes: dict[str, Any], items: list[Any]) -> None:
    document = [{"endpoint": {**GOOD_ENDPOINT, **changes}}, *items]
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        parsed = parse_valohai_yaml(text, "valohai.yaml")
        event("accepted")
    except ConfigError as err:
        event("refused")
        assert err.problems and all(p.startswith("valohai.yaml") and "\n" not in p for p in err.problems), err.problems
    else:
        assert "predict" in parsed.endpoint_names or "name" in changes
