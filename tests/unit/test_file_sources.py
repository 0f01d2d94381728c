"""Which project files may become image content (components/inputs/file_sources.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.inputs.file_sources import ProtectedPaths


def _refusal(project: Path, relative: str, **kwargs: object) -> str | None:
    target = project / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("x")
    protected = ProtectedPaths.of(project, **kwargs)  # type: ignore[arg-type]
    return protected.refusal(target.resolve())


@pytest.mark.parametrize(
    ("backend", "refused", "allowed"),
    [
        ("file://{project}/state", "state/stacks/x.json", "models/m.bin"),
        ("file://./state", "state/anything", "statefiles/m.bin"),
        ("file://{project}", ".pulumi/stacks/x.json", "models/m.bin"),
        ("s3://bucket/state", ".pulumi/x", "state/m.bin"),
    ],
)
def test_the_state_backend_directory_is_never_a_file_source(
    tmp_path: Path, backend: str, refused: str, allowed: str
) -> None:
    environ = {"PULUMI_BACKEND_URL": backend.format(project=tmp_path)}
    assert _refusal(tmp_path, refused, environ=environ) is not None
    assert _refusal(tmp_path, allowed, environ=environ) is None


def test_a_backend_named_in_pulumi_yaml_and_a_moved_stack_config_dir(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nbackend:\n  url: file://./ops/state\nstackConfigDir: stacks\n")
    assert _refusal(tmp_path, "ops/state/x.json", environ={}) == "it is in ops/state/, which holds credentials or state"
    assert _refusal(tmp_path, "stacks/anything.txt", environ={}) == "it is in stacks/, which holds credentials or state"
    assert _refusal(tmp_path, "ops/model.bin", environ={}) is None


def test_the_stack_kubeconfig_wherever_it_lives(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "clusters/prod.yaml", kubeconfig="clusters/prod.yaml", environ={}) == (
        "it is the stack's target.kubeconfig (cluster credentials)"
    )
    assert _refusal(tmp_path, "clusters/other.yaml", kubeconfig="clusters/prod.yaml", environ={}) is None
    # A home that does not exist is not an error here: the settings report a bad kubeconfig elsewhere.
    assert _refusal(tmp_path, "models/m.bin", kubeconfig="~nosuchuser/k.yaml", environ={}) is None
