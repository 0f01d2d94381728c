"""Targeted updates (stacks/targets.py) against the URNs the program really declares.

The patterns: an alias's select its component and that component's children and nothing else; a
version's select everything under that version, and no other version's objects even when one
version's name begins with another's. The declaration: the program then declares exactly what
the patterns select plus the stack's shared objects, each with the inputs a whole run gives it,
and exports the same outputs, so the engine's kept state and the update together are the stack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks

from components.inputs.aliases import AliasTarget
from components.inputs.declaration import ENVIRONMENT
from components.inputs.plan import build_plan
from components.inputs.settings import settings_from_config
from components.stacks.targets import (
    TargetedUpdate,
    alias_targets,
    targeted_update,
    update_environment,
    version_targets,
)
from tests.harness import PROJECT, V1, V2, Run, fails, rich_config, rich_project, run_program

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


def _parents(
    config: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch, run: Run | None = None
) -> dict[str, str]:
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
    run_program(config, project, stack=STACK, run=run, after=run)
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


# Objects under an alias or a version; everything else is the stack's shared objects.
_PARTS = ("$valohai:index:AliasRouting", "$valohai:index:DeploymentVersion")


def _targeted_run(
    config: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch, update: TargetedUpdate, whole: Run
) -> tuple[Run, dict[str, str]]:
    """The program as `pulumi up` runs it for `update`, continuing from the `whole` run's state, as
    a targeted update follows a deployed stack."""
    run = Run(dynamic_state=dict(whole.dynamic_state))
    with update_environment(update) as environment, monkeypatch.context() as scoped:
        scoped.setenv(ENVIRONMENT, environment[ENVIRONMENT])
        parents = _parents(config, project, monkeypatch, run)
    return run, parents


def _assert_declares_selected_and_shared(
    config: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch, update: TargetedUpdate
) -> set[str]:
    whole_run = Run()
    whole = _parents(config, project, monkeypatch, whole_run)
    run, parents = _targeted_run(config, project, monkeypatch, update, whole_run)
    selected = _selected(list(update.patterns), set(whole))
    shared = {u for u in whole if not any(part in u for part in _PARTS)}
    assert set(parents) == selected | shared
    # Same inputs as the whole run's (a route reaches an undeclared version's Services by name),
    # and the same outputs: the stack's outputs are registered whole.
    inputs = {(d.typ, d.name): d.inputs for d in whole_run.resources}
    for declared in run.resources:
        assert declared.inputs == inputs[(declared.typ, declared.name)], declared.name
    assert run.outputs == whole_run.outputs
    # The ownership check reads the objects this update declares, and no other.
    objects = {
        (d.typ.rsplit(":", 1)[-1], d.inputs["metadata"]["name"])
        for d in run.resources
        if d.typ.startswith("kubernetes:")
    }
    assert {(ref.kind, ref.name) for ref in run.checked} == objects
    return selected


@pytest.mark.parametrize("routing", sorted(ROUTINGS))
def test_an_alias_update_declares_the_alias_and_the_shared_objects_only(
    project: Path, routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rich_config() | ROUTINGS[routing]
    config["aliases"] = {"production": V1, "staging": {V2: 90, V1: 10}}
    outputs = run_program(config, project, stack=STACK).outputs
    moves = {"staging": AliasTarget.of(config["aliases"]["staging"])}
    update = targeted_update(STACK, PROJECT, outputs, config["versions"], aliases=moves)
    assert update is not None
    selected = _assert_declares_selected_and_shared(config, project, monkeypatch, update)
    assert len(selected) > 1, "staging declares no route object"


def test_a_version_update_declares_that_version_and_its_alias_only(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rich_config()
    config["aliases"] = {"production": V1, "staging": V2}
    before = dict(config, versions={V1: config["versions"][V1]}, aliases={"production": V1})
    outputs = run_program(before, project, stack=STACK).outputs
    plan = build_plan(settings_from_config(config, STACK), project)
    update = targeted_update(
        STACK,
        PROJECT,
        outputs,
        [V1],
        aliases={"staging": AliasTarget.of(V2)},
        versions=[plan.versions[V2]],
    )
    assert update is not None
    selected = _assert_declares_selected_and_shared(config, project, monkeypatch, update)
    assert not any(f"::{V1}" in u for u in selected)


def test_an_update_without_an_undeclared_version_s_images_stops_before_declaring(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rich_config()
    outputs = run_program(config, project, stack=STACK).outputs
    update = targeted_update(STACK, PROJECT, outputs, config["versions"], aliases={"production": AliasTarget.of(V1)})
    assert update is not None
    images = {V1: update.declaration.images[V1]}
    broken = TargetedUpdate(update.patterns, update.declaration.model_copy(update={"images": images}))
    with update_environment(broken) as environment, monkeypatch.context() as scoped:
        scoped.setenv(ENVIRONMENT, environment[ENVIRONMENT])
        message = fails(config, project)
    assert f"leaves out versions {V2} but has no deployed images for them; run a plain `pulumi up`" in message
