"""`pulumi up --target` patterns (stacks/targets.py) against the URNs the program really declares:
an alias's patterns select its component and that component's children and nothing else; a
version's select everything under that version, and no other version's objects even when one
version's name begins with another's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks

from components.inputs.plan import build_plan
from components.inputs.settings import settings_from_config
from components.stacks.targets import alias_targets, version_targets
from tests.harness import PROJECT, V1, V2, rich_config, rich_project, run_program

STACK = "test"
# Versions whose names begin with one another's: `v1`'s patterns must not reach `v1-beta`'s objects.
PREFIXED = {"v1": V1, "v1-beta": V2}


def _glob(pattern: str) -> re.Pattern[str]:
    """Pulumi's URN glob (pkg/resource/deploy/deployment.go, UrnTargets.getMatcher): `**` spans
    anything, `*` anything but ':'."""
    segments = ["[^:]*".join(re.escape(part) for part in seg.split("*")) for seg in pattern.split("**")]
    return re.compile("^" + ".*".join(segments) + "$")


def _selected(patterns: list[str], urns: set[str]) -> set[str]:
    globs = [_glob(p) for p in patterns]
    return {u for u in urns if any(g.match(u) for g in globs)}


def _parents(config: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every URN the program registers -> its parent's URN ('' for the stack's own children).

    URNs are made as the engine makes them (sdk/go/common/resource/urn.go, NewURN): a child's type
    is its parent's whole qualified type, `$`, its own; the mocks keep only the parent's last type.
    """
    parents: dict[str, str] = {}

    def recording(self: mocks.MockMonitor, parent: str, type_: str, name: str) -> str:
        qualified = parent.split("::")[2] if parent else ""
        if qualified and qualified != "pulumi:pulumi:Stack":
            type_ = f"{qualified}${type_}"
        urn = f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"
        parents[urn] = parent
        return urn

    monkeypatch.setattr(mocks.MockMonitor, "make_urn", recording)
    run_program(config, project, stack=STACK)
    return parents


def _descendants(root: str, parents: dict[str, str]) -> set[str]:
    found = {root}
    while True:
        more = {u for u, p in parents.items() if p in found} - found
        if not more:
            return found
        found |= more


def _component(parents: dict[str, str], type_name: str, name: str) -> str:
    return next(u for u in parents if u.endswith(f"${type_name}::{name}"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_project(tmp_path_factory.mktemp("targets"))


ROUTINGS = {
    "ingress": {},
    "envoy": {
        "routing": {"kind": "gateway", "gateway": {"name": "m", "namespace": "r", "implementation": "envoy"}},
        "tlsSecretName": "",
    },
}


@pytest.mark.parametrize("routing", sorted(ROUTINGS))
def test_an_alias_s_patterns_select_its_component_and_children_only(
    project: Path, routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rich_config() | ROUTINGS[routing]
    config["aliases"] = {"production": V1, "staging": {V2: 90, V1: 10}, "staging-canary": V2}
    parents = _parents(config, project, monkeypatch)
    urns = set(parents)
    for alias in config["aliases"]:
        component = _component(parents, "valohai:index:AliasRouting", alias)
        expected = _descendants(component, parents)
        assert len(expected) > 1, f"{alias} declares no route object"
        assert _selected(alias_targets(STACK, PROJECT, [alias]), urns) == expected, alias


def test_a_version_s_patterns_select_everything_under_it_and_nothing_of_another(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rich_config()
    config["versions"] = {name: config["versions"][source] for name, source in PREFIXED.items()}
    config["aliases"] = {"production": "v1"}
    parents = _parents(config, project, monkeypatch)
    plan = build_plan(settings_from_config(config, STACK), project)
    for name in PREFIXED:
        component = _component(parents, "valohai:index:DeploymentVersion", name)
        expected = _descendants(component, parents)
        assert len(expected) > 5, f"{name} declares too little to test"
        assert _selected(version_targets(STACK, PROJECT, plan.versions[name]), set(parents)) == expected, name
