"""When an alias move may update only the alias's route objects (`pulumi up --target`)."""

from __future__ import annotations

from components.inputs.aliases import AliasTarget
from components.stacks.targets import alias_targets, route_move_targets

OUTPUTS = {"images": {"20181002.0": {}, "20181003.0": {}}, "aliases": {"production": "20181002.0"}}


def test_a_move_between_deployed_versions_targets_the_alias_only() -> None:
    moves = {"production": AliasTarget.of({"20181002.0": 90, "20181003.0": 10})}
    assert route_move_targets("local", "p", moves, OUTPUTS) == alias_targets("local", "p", ["production"])


def test_a_new_alias_over_deployed_versions_is_targeted_too() -> None:
    assert route_move_targets("local", "p", {"canary": AliasTarget.of("20181003.0")}, OUTPUTS)


def test_a_move_to_a_version_not_yet_deployed_needs_a_plain_up() -> None:
    assert route_move_targets("local", "p", {"production": AliasTarget.of("20181004.0")}, OUTPUTS) is None
    mirrored = AliasTarget.of({"versions": "20181002.0", "mirror": {"version": "20181004.0", "percent": 5}})
    assert route_move_targets("local", "p", {"production": mirrored}, OUTPUTS) is None
    assert route_move_targets("local", "p", {"production": AliasTarget.of("20181002.0")}, {}) is None
