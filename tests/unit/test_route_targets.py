"""When an alias move or a new version may update only its own objects (stacks/targets.py), and what
the program is then told to declare."""

from __future__ import annotations

import json
import os

import pytest

from components.inputs.aliases import AliasTarget
from components.inputs.declaration import ENVIRONMENT, Declaration, from_environment
from components.inputs.errors import ConfigError
from components.stacks.targets import (
    SKIP_CHECKPOINTS,
    TargetedUpdate,
    alias_targets,
    targeted_update,
    update_environment,
)

V1_IMAGES = {"predict-digit": "r/test@sha256:" + "1" * 64}
V2_IMAGES = {"predict-digit": "r/test@sha256:" + "2" * 64}
OUTPUTS = {"images": {"20181002.0": V1_IMAGES, "20181003.0": V2_IMAGES}, "aliases": {"production": "20181002.0"}}
CONFIGURED = ["20181002.0", "20181003.0"]


def _move(moves: dict[str, AliasTarget], outputs: dict[str, object] = OUTPUTS) -> TargetedUpdate | None:
    return targeted_update("local", "p", outputs, CONFIGURED, aliases=moves)


def test_a_move_between_deployed_versions_targets_and_declares_the_alias_only() -> None:
    update = _move({"production": AliasTarget.of({"20181002.0": 90, "20181003.0": 10})})
    assert update is not None
    assert list(update.patterns) == alias_targets("local", "p", ["production"])
    assert update.declaration == Declaration(
        aliases=frozenset({"production"}), images={"20181002.0": V1_IMAGES, "20181003.0": V2_IMAGES}
    )


def test_a_new_alias_over_deployed_versions_is_targeted_too() -> None:
    assert _move({"canary": AliasTarget.of("20181003.0")}) is not None


def test_a_move_to_a_version_not_yet_deployed_needs_a_plain_up() -> None:
    assert _move({"production": AliasTarget.of("20181004.0")}) is None
    mirrored = AliasTarget.of({"versions": "20181002.0", "mirror": {"version": "20181004.0", "percent": 5}})
    assert _move({"production": mirrored}) is None
    assert _move({"production": AliasTarget.of("20181002.0")}, {}) is None


def test_a_configured_version_not_deployed_yet_needs_a_plain_up() -> None:
    """The program could not export that version's images, and `up` must create it."""
    update = targeted_update("local", "p", OUTPUTS, [*CONFIGURED, "20181004.0"], aliases={})
    assert update is None


@pytest.mark.parametrize(
    "images",
    [
        {"20181002.0": "[secret]", "20181003.0": V2_IMAGES},
        {"20181002.0": {"predict-digit": "[secret]"}, "20181003.0": V2_IMAGES},
        "[secret]",
    ],
)
def test_images_the_outputs_hide_need_a_plain_up(images: object) -> None:
    """A secret output reads as "[secret]"; the program would export that string as the image."""
    assert _move({"production": AliasTarget.of("20181003.0")}, {"images": images}) is None


def test_the_declaration_reaches_the_program_for_the_update_only() -> None:
    update = _move({"production": AliasTarget.of("20181003.0")})
    assert update is not None
    with update_environment(update) as environment:
        assert from_environment(environment) == update.declaration
        assert environment[SKIP_CHECKPOINTS] == "true"
        del environment[SKIP_CHECKPOINTS]
    with pytest.raises(ConfigError) as caught:
        from_environment(environment)
    (line,) = caught.value.problems
    assert line.startswith(f"{ENVIRONMENT}={environment[ENVIRONMENT]}: ")
    assert f"unset {ENVIRONMENT}" in line
    with update_environment(None) as environment:
        assert environment == {}
    assert from_environment({}) is None


def test_a_file_that_is_no_declaration_is_one_clear_line(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "declaration.json")
    with open(path, "w") as handle:
        json.dump({"aliases": ["production"], "everything": True}, handle)
    with pytest.raises(ConfigError) as caught:
        from_environment({ENVIRONMENT: path})
    assert caught.value.problems == [
        f"{ENVIRONMENT}={path}: it is not a declaration; only the project's commands set this variable, for the "
        f"one update they run: unset it (unset {ENVIRONMENT}) and run the command again"
    ]
