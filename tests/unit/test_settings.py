"""Stack settings: defaults as declared in Pulumi.yaml, and the keys users type."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.inputs.errors import ConfigError
from components.inputs.settings import CONFIG_KEYS, parse_config_value, settings_from_config
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


_BASE = {"owner": "acme", "project": "mnist", "registry": "r.example.com/x", "target": {"kubeconfig": "k"}}


def _problems(**values: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_config({**_BASE, **values}, "americas")
    return caught.value.problems


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("deployment", "prod\n", "config: deployment: 'prod\\n' must be lowercase letters"),
        ("owner", "acme\n", "config: owner: 'acme\\n' must be lowercase letters"),
        ("versions", {"20181002.0\n": {}}, "config: versions: version name '20181002.0\\n' must be"),
        ("versions", {"v": {"env": {"TOKEN\n": "x"}}}, "config: versions.v.env: 'TOKEN\\n' is not a valid"),
        ("versions", {"v": {"commit": "--output=/tmp/x"}}, "config: versions.v.commit: '--output=/tmp/x' is not"),
        ("host", "models.example.com\n", "config: host: 'models.example.com\\n' is not a host name"),
        ("host", "https://models.example.com", "config: host: 'https://models.example.com' is not a host name"),
        ("host", "10.0.0.1", "config: host: '10.0.0.1' is not a host name"),
        ("tlsSecretName", "models tls", "config: tlsSecretName: 'models tls' is not a Secret name"),
        ("ingressClassName", "Nginx", "config: ingressClassName: 'Nginx' is not an IngressClass name"),
        (
            "routing",
            {"kind": "ingress", "ingress": {"className": "nginx\n"}},
            "config: routing.ingress.className: 'nginx\\n' is not an IngressClass name",
        ),
        (
            "routing",
            {"kind": "gateway", "gateway": {"name": "models\n", "namespace": "gw"}},
            "config: routing.gateway.name: 'models\\n' is not a Gateway API name",
        ),
        (
            "routing",
            {"kind": "gateway", "gateway": {"name": "models", "namespace": "gw", "sectionName": "https x"}},
            "config: routing.gateway.sectionName: 'https x' is not a Gateway API name",
        ),
        ("registry", "r.example.com/Acme", "config: registry: 'r.example.com/Acme' must be an image repository"),
        ("registry", "r.example.com/x\n", "config: registry: 'r.example.com/x\\n' must be an image repository"),
        ("registry", "https://r.example.com/x", "config: registry: 'https://r.example.com/x' must be an image"),
        ("buildNetwork", "host --privileged", "config: buildNetwork: 'host --privileged' is not a Docker network"),
        ("codeRepository", "code\x00", "config: codeRepository: 'code\\x00' is not a usable path"),
        ("valohaiYaml", "v" * 300, "config: valohaiYaml: 'vvvvvvvvvv"),
        ("basicAuth", {"alice\n": "pw"}, "config: basicAuth.alice\\n: a user name must be non-empty, printable"),
        ("basicAuth", {"alice": "x" * 73}, "config: basicAuth.alice: the password is longer than 72 bytes"),
    ],
)
def test_bad_names_and_values_name_the_key_and_fix(key: str, value: Any, expected: str) -> None:
    problems = _problems(**{key: value})
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_alias_names_are_matched_whole() -> None:
    assert _problems(versions={"v": {}}, aliases={"prod\n": "v"}) == [
        "config: aliases.prod\\n: alias names are lowercase letters, digits and '-', starting with a letter, at most 40"
    ]


def test_bcrypt_limit_counts_bytes_and_spares_envoy() -> None:
    assert _problems(basicAuth={"alice": "é" * 37})  # 74 bytes in UTF-8
    envoy = {"kind": "gateway", "gateway": {"name": "models", "namespace": "gw", "implementation": "envoy"}}
    settings_from_config({**_BASE, "routing": envoy, "basicAuth": {"alice": "x" * 100}}, "americas")


def test_good_names_pass() -> None:
    settings = settings_from_config(
        {
            **_BASE,
            "host": "*.models.example.com",
            "tlsSecretName": "models-tls",
            "registry": "127.0.0.1:5000/acme/mnist",
            "basicAuth": {"alice": "x" * 72},
            "versions": {"20181002.0": {"commit": "HEAD~1"}},
        },
        "americas",
    )
    assert settings.host == "*.models.example.com"


@pytest.mark.parametrize(("key", "raw"), [("host", "2024"), ("tlsSecretName", "null"), ("deployment", "true")])
def test_string_keys_keep_the_text_pulumi_hands_over(key: str, raw: str) -> None:
    assert parse_config_value(key, raw) == raw
    assert parse_config_value("versions", '{"v": {}}') == {"v": {}}


def test_numbers_written_by_config_set_path_are_text_where_text_is_meant() -> None:
    """`pulumi config set --path versions.v.env.YEAR 2024` stores a number; the env value is "2024"."""
    versions = {"v": {"env": {"YEAR": 2024, "DEBUG": True, "QUIET": False}, "commit": 1234567}}
    settings = settings_from_config({**_BASE, "versions": versions}, "a")
    assert settings.versions["v"].env == {"YEAR": "2024", "DEBUG": "true", "QUIET": "false"}
    assert settings.versions["v"].commit == "1234567"


def test_every_cross_key_problem_is_reported_together() -> None:
    """A bad alias does not hide a bad routing key: one run names both."""
    routing = {"kind": "gateway", "gateway": {"name": "models", "namespace": "gw", "implementation": "traefik"}}
    problems = _problems(
        routing=routing,
        tlsSecretName="models-tls",
        versions={"a": {}, "b": {}},
        aliases={"production": {"versions": {"a": 100}, "mirror": {"version": "b", "percent": 10}}},
    )
    assert problems == [
        "config: aliases.production.mirror: Traefik does not implement RequestMirror; remove the mirror",
        "config: tlsSecretName: with routing.kind gateway the Gateway's listener holds the certificate; "
        "remove tlsSecretName (routing.gateway.scheme sets the URLs' scheme)",
    ]


def test_an_empty_tls_secret_name_switches_the_stack_files_value_off() -> None:
    """`pulumi config set tlsSecretName ""` over a stack file's value: no TLS Secret, even with gateway routing."""
    routing = {"kind": "gateway", "gateway": {"name": "models", "namespace": "gw", "implementation": "traefik"}}
    settings = settings_from_config({**_BASE, "routing": routing, "tlsSecretName": ""}, "americas")
    assert settings.tls_secret_name is None
    assert settings_from_config({**_BASE, "tlsSecretName": "models-tls"}, "a").tls_secret_name == "models-tls"


def test_console_apply_is_allowed_only_on_local_unless_set() -> None:
    base = {"owner": "acme", "project": "mnist", "registry": "r.example.com/x", "target": {"kubeconfig": "k"}}
    assert settings_from_config(base, "local").console.allows_apply("local") is True
    assert settings_from_config(base, "americas").console.allows_apply("americas") is False
    opened = settings_from_config({**base, "console": {"allowApply": True}}, "americas")
    assert opened.console.allows_apply("americas") is True
    closed = settings_from_config({**base, "console": {"allowApply": False}}, "local")
    assert closed.console.allows_apply("local") is False
