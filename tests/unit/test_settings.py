"""Stack settings: defaults as declared in Pulumi.yaml, and the keys users type."""

from __future__ import annotations

from typing import Any

import yaml

from components.inputs.settings import CONFIG_KEYS, settings_from_config
from tests.harness import ROOT


def _declared() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])


def test_every_settings_key_is_declared_in_pulumi_yaml_and_back() -> None:
    assert set(_declared()) == set(CONFIG_KEYS)
    for key, declaration in _declared().items():
        assert declaration.get("description"), key
        assert declaration.get("type") in {"string", "object"}, key


def test_pulumi_yaml_defaults_mean_unset() -> None:
    """What the CLI hands over for an untouched stack: every declared default plus the required keys."""
    values = {key: d["default"] for key, d in _declared().items() if "default" in d}
    values |= {"owner": "acme", "project": "mnist", "registry": "r.example.com/x", "target": {"kubeconfig": "k"}}
    settings = settings_from_config(values, "americas")
    assert settings.deployment == "americas"
    assert settings.host is None and settings.tls_secret_name is None and settings.build_network is None
    assert settings.basic_auth is None and settings.registry_auth is None
    assert settings.code_repository == "." and settings.valohai_yaml == "valohai.yaml"
    assert settings.ingress_class == "nginx" and settings.routing.kind == "ingress"
    assert settings.namespace == "mnist-americas"
    assert (settings.autoscaling.min_replicas, settings.autoscaling.max_replicas) == (1, 3)
    assert settings.autoscaling.target_cpu_utilization_percentage == 70
    assert settings.autoscaling.scale_down_stabilization_seconds is None
    assert settings.observability.prometheus is None


def test_observability_prometheus_is_a_base_url() -> None:
    base = {"owner": "acme", "project": "mnist", "registry": "r.example.com/x", "target": {"kubeconfig": "k"}}
    for given, kept in [
        ("http://127.0.0.1:8428", "http://127.0.0.1:8428"),
        ("https://prometheus.example.com/prom/", "https://prometheus.example.com/prom"),
    ]:
        settings = settings_from_config({**base, "observability": {"prometheus": given}}, "s")
        assert settings.observability.prometheus == kept


def test_registry_server_is_what_docker_login_expects() -> None:
    base = {"owner": "acme", "project": "mnist", "target": {"kubeconfig": "k"}}
    for registry, server in [
        ("registry.example.com/acme/mnist", "registry.example.com"),
        ("127.0.0.1:5000/acme/mnist", "127.0.0.1:5000"),
        ("localhost/acme", "localhost"),
        ("acme/mnist", "docker.io"),
    ]:
        assert settings_from_config({**base, "registry": registry}, "s").registry_server == server
