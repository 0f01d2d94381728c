"""The runtime contract: the image payload (components/serve) keeps it, and its knobs can be turned."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from components.inputs import contract
from components.inputs.errors import ConfigError
from components.inputs.settings import settings_from_config
from components.serve.vh_wsgi import prefix_of
from tests.harness import ROOT, V1, base_config

SERVE = ROOT / "components" / "serve"


def _gunicorn_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, object]:
    for name in ("VH_WORKERS", "VH_TIMEOUT", "PORT", "VH_BIND_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SERVE / "gunicorn_conf.py"))


def test_serve_reads_the_contracts_names() -> None:
    # serve/ runs inside images without this package, so it spells the names itself.
    shim = (SERVE / "vh_wsgi.py").read_text()
    assert f'"{contract.ENV_WSGI_APP}"' in shim and f'"{contract.ENV_DEFAULT_PREFIX}"' in shim
    gunicorn = (SERVE / "gunicorn_conf.py").read_text()
    for name in (contract.ENV_PORT, *contract.TUNABLE_ENV):
        assert f'"{name}"' in gunicorn or f"'{name}'" in gunicorn, name
    assert f'pythonpath = "{contract.SERVE_DIR}"' in gunicorn


def test_the_shim_reads_a_prefix_of_the_contracts_length() -> None:
    default = contract.url_prefix("acme", "mnist", "prod", V1, "predict")
    assert len(default.strip("/").split("/")) == contract.PREFIX_SEGMENTS
    alias = contract.url_prefix("acme", "mnist", "prod", "production", "predict")
    assert prefix_of(alias + "/x/y", None, default) == alias


def test_workers_and_timeout_are_tunable_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = _gunicorn_settings(monkeypatch, {})
    assert (defaults["workers"], defaults["timeout"]) == (2, 120)
    tuned = _gunicorn_settings(monkeypatch, {"VH_WORKERS": "5", "VH_TIMEOUT": "30", "PORT": "9000"})
    assert (tuned["workers"], tuned["timeout"], tuned["bind"]) == (5, 30, "0.0.0.0:9000")
    config = base_config()
    config["versions"][V1]["env"] = {"VH_WORKERS": "5", "VH_TIMEOUT": "30"}
    settings = settings_from_config(config, "test")
    assert settings.versions[V1].env == {"VH_WORKERS": "5", "VH_TIMEOUT": "30"}


@pytest.mark.parametrize("name", ["PORT", "VH_DEPLOYMENT_VERSION", "VH_WSGI_APP", "VH_ANYTHING"])
def test_other_platform_names_stay_reserved(name: str) -> None:
    config = base_config()
    config["versions"][V1]["env"] = {name: "x"}
    with pytest.raises(ConfigError) as caught:
        settings_from_config(config, "test")
    assert f"config: versions.{V1}.env: '{name}' is set by the platform" in caught.value.problems[0]


def test_the_serve_directory_is_what_the_image_copies() -> None:
    assert sorted(p.name for p in SERVE.iterdir() if p.suffix in (".py", ".txt")) == [
        "gunicorn_conf.py",
        "requirements.txt",
        "vh_wsgi.py",
    ]
    assert Path(contract.SERVE_DIR).name == "serve"
