"""Two deploy targets: `americas` on the local cluster, `europe` on a second control plane.

The second control plane (scripts/services cluster start second 1) has its own etcd, API
server and KWOK node on other ports, so it stands in for another region's cluster. An alias
switch in one region must leave the other cluster untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.integration.local_stack import KUBECONFIG, LocalStack, missing_tools, services, tool_environment

pytestmark = pytest.mark.integration

V1, V2 = "20181002.0", "20181003.0"
SECOND = ROOT / "kubeconfigs" / "second.yaml"
# The stack files name real clusters and registries; the test keeps everything else they say.
LOCAL_TARGET = {"buildNetwork": "host", "tlsSecretName": ""}
# americas' routes attach to the local router's Gateway (`up` waits until a Gateway accepts them),
# and its production alias loses the mirror, which Traefik does not implement.
LOCAL_GATEWAY = {"routing.gateway.namespace": "valohai-router", "aliases.production": V1}


@pytest.fixture(scope="module")
def second_cluster() -> Iterator[Path]:
    missing = missing_tools(tool_environment())
    assert not missing, f"missing {missing}: run scripts/setup"
    services("cluster", "start", "second", "1")
    try:
        yield SECOND
    finally:
        services("cluster", "stop", "second", "1")


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory, second_cluster: Path) -> Iterator[dict[str, LocalStack]]:
    stacks = {}
    for name, kubeconfig in (("americas", KUBECONFIG), ("europe", second_cluster)):
        stack = LocalStack.create(
            tmp_path_factory.mktemp(name), stack_name=name, kubeconfig=kubeconfig, config=LOCAL_TARGET
        )
        stack.pulumi("config", "rm", "--path", "target.context")
        if name == "americas":
            stack.pulumi("config", "rm", "--path", "routing.gateway.sectionName")
            for key, value in LOCAL_GATEWAY.items():
                stack.pulumi("config", "set", "--path", key, value)
        stacks[name] = stack
    yield stacks
    for stack in stacks.values():
        stack.teardown()


def _inventory(stack: LocalStack) -> dict[str, str]:
    return stack.inventory()


def test_each_region_deploys_to_its_own_cluster(regions: dict[str, LocalStack]) -> None:
    for stack in regions.values():
        stack.pulumi("up", "--yes")
    americas, europe = _inventory(regions["americas"]), _inventory(regions["europe"])
    assert any(k.startswith("HTTPRoute/") for k in americas), "americas routes through Gateway API"
    assert any(k.startswith("Ingress/") for k in europe), "europe routes through Ingresses"
    assert not any(k.startswith("Ingress/") for k in americas)
    # Each namespace exists only in its own region's cluster.
    for name, other in (("americas", "europe"), ("europe", "americas")):
        listing = regions[other].kubectl("get", "namespaces", "-o", "name")
        assert f"namespace/{regions[name].namespace}" not in listing


def test_an_alias_switch_in_one_region_leaves_the_other_cluster_untouched(regions: dict[str, LocalStack]) -> None:
    americas_before = _inventory(regions["americas"])
    europe = regions["europe"]
    europe_before = _inventory(europe)
    europe.pulumi("config", "set", "--path", "aliases.production", V2)
    europe.pulumi("up", "--yes")
    assert _inventory(regions["americas"]) == americas_before
    europe_after = _inventory(europe)
    changed = {k for k in europe_after if europe_before.get(k) != europe_after[k]}
    assert changed and all(k.startswith("Ingress/") for k in changed), changed
    assert json.loads(europe.pulumi("stack", "output", "aliases", "--json").stdout)["production"] == V2
