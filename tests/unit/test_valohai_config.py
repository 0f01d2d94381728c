"""valohai.yaml: Valohai's own rules, our extra rules, and the typed endpoint model."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml

from components.inputs.errors import ConfigError
from components.inputs.valohai_config import parse_valohai_yaml
from tests.harness import DATA, ROOT


@pytest.mark.parametrize("path", sorted((DATA / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_files_keep_every_endpoint_and_every_key(path: Path) -> None:
    """Each valid file's endpoints come back whole: the same names, and each key with its own value."""
    text = path.read_text()
    raw = [item["endpoint"] for item in yaml.safe_load(text) if "endpoint" in item]
    parsed = parse_valohai_yaml(text, "valohai.yaml")
    assert [e.name for e in parsed.endpoints] == [e["name"] for e in raw]
    for endpoint, item in zip(parsed.endpoints, raw, strict=True):
        assert endpoint.to_valohai_dict() == {"port": 8000, **item}, endpoint.name


@pytest.mark.parametrize("path", sorted((DATA / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_files_name_file_endpoint_and_fix(path: Path) -> None:
    text = path.read_text()
    expected = text.splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(ConfigError) as caught:
        parse_valohai_yaml(text, "valohai.yaml")
    assert expected in caught.value.problems


def test_every_endpoint_field_is_typed() -> None:
    valohai = parse_valohai_yaml((DATA / "valid" / "full-endpoint.yaml").read_text(), "valohai.yaml")
    assert [e.name for e in valohai.endpoints] == ["predict", "shell"]
    predict, shell = valohai.endpoints
    assert predict.port == 9000 and shell.port == 8000
    assert predict.wsgi_target == "app.serve:application"
    assert shell.server_command == ["python", "-m", "http.server", "8000"]
    assert [(f.name, f.path) for f in predict.files] == [("model", "models/model.pkl"), ("vocab", "vocab.txt")]
    assert predict.resources is not None and predict.resources.devices == {"nvidia.com/gpu": 1}
    assert predict.resources.ephemeral_storage is not None and predict.resources.ephemeral_storage.max == 2000
    assert predict.node_selector_map == {"pool": "gpu", "zone": "a"}
    assert predict.tolerations[1].operator == "Exists" and predict.tolerations[1].key is None
    assert predict.workspace_volume is not None and predict.workspace_volume.storage_class_name == "fast"
    assert predict.shared_volumes[0].sub_path == "mnist" and predict.shared_volumes[0].read_only is True


def test_bare_wsgi_module_uses_gunicorns_default_callable() -> None:
    valohai = parse_valohai_yaml("- endpoint: {name: ab, image: x, wsgi: app}", "valohai.yaml")
    assert valohai.endpoints[0].wsgi_target == "app:application"


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", "lint", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_lint_json_echoes_valohai_keys_with_default_port() -> None:
    result = _lint(str(DATA / "valid" / "full-endpoint.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    endpoints = json.loads(result.stdout)["endpoints"]
    shell = endpoints[1]
    assert shell == {
        "name": "shell",
        "image": "python:3.11",
        "port": 8000,
        "server-command": ["python", "-m", "http.server", "8000"],
    }
    predict = endpoints[0]
    assert predict["node-selector"] == "pool=gpu,zone=a"
    assert predict["shared-volumes"] == [
        {"pvc-name": "datasets", "mount-path": "/data", "sub-path": "mnist", "read-only": True}
    ]
    assert predict["workspace-volume"] == {"mount-path": "/scratch", "size": 5, "storage-class-name": "fast"}
    assert predict["resources"]["cpu"] == {"min": 0.5, "max": 2}
    assert predict["files"][0] == {"name": "model", "path": "models/model.pkl", "description": "the trained model"}


def test_lint_reports_errors_and_exits_1() -> None:
    result = _lint(str(DATA / "invalid" / "low-port.yaml"))
    assert result.returncode == 1
    assert "endpoint 'greet': port: must be >= 1025 (got 80)" in result.stderr


def test_lint_lists_endpoints_of_the_example() -> None:
    result = _lint("example/valohai.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("greet-me: image python:3.11-slim, port 8000")
    assert (
        "predict-digit: image python:3.11, port 8000, wsgi predict_wsgi:predict_wsgi; model -> model.json"
        in result.stdout
    )


def _alias_bomb(levels: int) -> str:
    """About 500 bytes that expand to 9**levels strings: each anchor lists the previous one nine times."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    body = "\n".join(f"      {line}" for line in lines)
    return f"- endpoint:\n    name: greet\n    image: python:3.11\n    wsgi: app\n    description:\n{body}\n"


def test_a_yaml_alias_bomb_gets_one_short_error_in_bounded_memory() -> None:
    text = _alias_bomb(9)  # 9**10 strings once expanded: gigabytes as a message, as the issue found
    assert len(text) < 1_000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            parse_valohai_yaml(text, "valohai.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.problems == [
        "valohai.yaml: its aliases (*name) expand to more than 100000 values; "
        "write the repeated parts out, or use fewer nested aliases"
    ]
    assert peak < 20_000_000, peak


def test_a_few_plain_aliases_are_still_read() -> None:
    """Anchors that expand to a small document are ordinary YAML, and valohai.yaml files use them."""
    text = "- endpoint: &e {name: one, image: python:3.11, wsgi: app}\n- endpoint: {<<: *e, name: two}\n"
    assert parse_valohai_yaml(text, "valohai.yaml").endpoint_names == ["one", "two"]


def test_a_self_referencing_alias_is_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_valohai_yaml("- &a [*a]\n", "valohai.yaml")
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith("valohai.yaml: ")
