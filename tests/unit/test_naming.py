"""Kubernetes names: valid, unique, stable, for every valid version and endpoint name."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from components.inputs import naming

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SCOPE = naming.Scope("acme", "mnist", "prod")


def _endpoint_names(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_lowercase + string.digits + "-"
    names = ["a1", "predict-digit", "a-b", "a", "x" * 120, "a--b", "greet-me-"]
    while len(names) < count:
        names.append(rng.choice(string.ascii_lowercase) + "".join(rng.choices(alphabet, k=rng.randint(1, 80))))
    return names


def _version_names(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "._-"
    names = ["20181002.0", "20181002-0", "1.0", "1-0", "1_0", "b-c", "c", "V1", "v1", "9" * 63]
    while len(names) < count:
        names.append(
            rng.choice(string.digits + string.ascii_letters) + "".join(rng.choices(alphabet, k=rng.randint(0, 62)))
        )
    return names


def test_workload_names_are_valid_and_unique() -> None:
    rng = random.Random(1)
    pairs = list(itertools.product(_endpoint_names(rng, 60), _version_names(rng, 60)))
    names = {naming.workload_name(SCOPE, e, v) for e, v in pairs}
    assert len(names) == len(pairs)
    for name in names:
        assert len(name) <= 63 and DNS_1035.match(name), name


def test_names_that_join_or_slug_alike_still_differ() -> None:
    assert naming.workload_name(SCOPE, "a-b", "c") != naming.workload_name(SCOPE, "a", "b-c")
    assert naming.workload_name(SCOPE, "m", "1.0") != naming.workload_name(SCOPE, "m", "1-0")
    assert naming.alias_ingress_name(SCOPE, "prod") != naming.alias_ingress_name(SCOPE, "prod", canary=True)
    assert naming.version_ingress_name(SCOPE, "1.0") != naming.version_ingress_name(SCOPE, "1_0")


def test_names_are_stable() -> None:
    """The rule, restated: readable slug of project, deployment and parts + first 8 hex of sha256
    of the NUL-joined owner, project, deployment and parts."""
    digest = hashlib.sha256(b"acme\x00mnist\x00prod\x00predict-digit\x0020181002.0").hexdigest()[:8]
    assert naming.workload_name(SCOPE, "predict-digit", "20181002.0") == f"mnist-prod-predict-digit-20181002-0-{digest}"


def test_ingress_names_are_valid_for_any_alias_and_version() -> None:
    rng = random.Random(2)
    for version in _version_names(rng, 200):
        assert DNS_1035.match(naming.version_ingress_name(SCOPE, version))
    for alias in ["production", "staging", "a", "x" * 40, "canary-2"]:
        for canary in (False, True):
            name = naming.alias_ingress_name(SCOPE, alias, canary)
            assert len(name) <= 63 and DNS_1035.match(name)


def test_label_values_are_valid() -> None:
    value = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
    assert naming.label_value("20181002.0") == "20181002.0"
    for text in ["x" * 120, "a-", "_a", "1.0"]:
        result = naming.label_value(text)
        assert len(result) <= 63 and value.match(result), result


def test_default_namespace() -> None:
    assert naming.default_namespace("mnist", "americas") == "mnist-americas"
    long = naming.default_namespace("p" * 40, "d" * 40)
    assert len(long) <= 63 and DNS_1035.match(long)


# valohai.yaml's endpoint names, our version names, and image keys (object_name of a base image);
# each also drawn from a tiny alphabet, where joins that read alike (`a-b`+`c`, `a`+`b-c`) are common.
ENDPOINT = st.one_of(st.from_regex(r"\A[a-z][a-z0-9-]+\Z"), st.from_regex(r"\A[ab][ab-]{1,4}\Z"))
VERSION = st.one_of(
    st.from_regex(naming.VERSION_NAME, fullmatch=True),
    st.from_regex(r"\A[ab][ab-]{0,4}\Z"),
)
IMAGE_KEY = st.from_regex(r"\A[a-z][a-z0-9:./_-]{0,30}\Z").map(naming.object_name)


@given(
    st.lists(
        st.tuples(VERSION, st.one_of(ENDPOINT, IMAGE_KEY.map(lambda key: f"{key}-image"))), max_size=6, unique=True
    )
)
@settings(max_examples=400, deadline=None)
def test_logical_names_of_versions_workloads_and_images_never_collide(pairs: list[tuple[str, str]]) -> None:
    """Any set of valid (version, endpoint or image) pairs gets as many distinct logical names."""
    names = {naming.logical_name(version, rest) for version, rest in pairs}
    assert len(names) == len(pairs)


@given(VERSION, st.one_of(ENDPOINT, IMAGE_KEY.map(lambda key: f"{key}-image")))
def test_every_way_to_read_a_joined_name_gets_its_own_logical_name(version: str, rest: str) -> None:
    """Split `<version>-<rest>` at each '-' into valid pairs (`v1`+`predict-digit`, `v1-predict`+`digit`, ...):
    the old plain join gave them all one name; each must get its own."""
    joined = f"{version}-{rest}"
    readings = {
        (joined[:i], joined[i + 1 :])
        for i, char in enumerate(joined)
        if char == "-"
        and naming.VERSION_NAME.fullmatch(joined[:i])
        and re.match(r"\A[a-z][a-z0-9-]+\Z", joined[i + 1 :])
    }
    assert (version, rest) in readings or not re.match(r"\A[a-z][a-z0-9-]+\Z", rest)
    assert len({naming.logical_name(v, r) for v, r in readings}) == len(readings)


@given(VERSION, ENDPOINT)
def test_ordinary_names_are_unchanged(version: str, endpoint: str) -> None:
    """A version without '-' keeps the logical name existing stacks have (no alias needed)."""
    if "-" not in version:
        assert naming.logical_name(version, endpoint) == naming.legacy_logical_name(version, endpoint)


SEGMENT = st.one_of(
    st.from_regex(naming.URL_SEGMENT, fullmatch=True),
    st.from_regex(r"\A[ab][ab-]{0,3}[ab]\Z"),
)
SCOPES = st.builds(naming.Scope, SEGMENT, SEGMENT, SEGMENT)


def _every_name(scope: naming.Scope, version: str, alias: str, endpoint: str) -> dict[str, str]:
    """What one stack names, by role (kinds differ between roles that may share a name)."""
    return {
        "pull": naming.pull_secret_name(scope),
        "auth": naming.auth_secret_name(scope),
        "policy": naming.network_policy_name(scope),
        "env": naming.env_secret_name(scope, version),
        "workload": naming.workload_name(scope, endpoint, version),
        "version-route": naming.version_ingress_name(scope, version),
        "alias-route": naming.alias_ingress_name(scope, alias),
        "canary-route": naming.alias_ingress_name(scope, alias, canary=True),
    }


@given(SCOPES, SCOPES, VERSION, st.from_regex(naming.ALIAS_NAME, fullmatch=True), ENDPOINT)
@settings(max_examples=300, deadline=None)
def test_two_stacks_with_the_same_versions_and_aliases_share_no_name(
    one: naming.Scope, two: naming.Scope, version: str, alias: str, endpoint: str
) -> None:
    """Tenancy: stacks differing in owner, project or deployment share no object name, even with
    the same version, alias and endpoint names; every name is a valid DNS label."""
    first, second = _every_name(one, version, alias, endpoint), _every_name(two, version, alias, endpoint)
    for name in [*first.values(), *second.values()]:
        assert len(name) <= 63 and DNS_1035.match(name), name
    if one != two:
        assert not set(first.values()) & set(second.values())
    else:
        assert first == second


def test_scope_labels_name_owner_project_and_deployment() -> None:
    assert SCOPE.labels == {
        naming.OWNER_LABEL: "acme",
        naming.PROJECT_LABEL: "mnist",
        naming.DEPLOYMENT_LABEL: "prod",
    }
    labels = naming.common_labels(SCOPE, "endpoint")
    assert SCOPE.owns(labels)
    assert not naming.Scope("acme", "mnist", "staging").owns(labels)
    assert not naming.Scope("other", "mnist", "prod").owns(labels)
    assert not SCOPE.owns({naming.PART_OF_LABEL: "mnist"})
    assert not SCOPE.owns(None)
