"""preview-summary on recorded preview structures: alias moves, versions, images, rolls, warnings, limits, secrets.

The steps are built in the shape `pulumi preview --json` prints (op, urn, oldState/newState with
type and inputs, detailedDiff); tests/integration/test_workflow.py runs the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.inputs import naming
from components.previews.markdown import DEFAULT_LIMIT, GITHUB_COMMENT_LIMIT, render, summarize
from components.previews.report import build_report
from components.previews.steps import SECRET_SIG
from tests.harness import DATA

V1, V2, V3 = "20181002.0", "20181003.0", "20181004.0"
PROJECT = "valohai-deployments"
ROOT_TYPE = "pulumi:pulumi:Stack"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"
PASSWORD = "hunter2-correct-horse"
# The stack the route paths below name: /acme/mnist/americas/...
SCOPE = naming.Scope("acme", "mnist", "americas")


def urn(types: list[str], name: str, stack: str = "americas") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{'$'.join(types)}::{name}"


def step(op: str, types: list[str], name: str, old: Any = None, new: Any = None, **extra: Any) -> dict[str, Any]:
    typ = types[-1]
    result: dict[str, Any] = {"op": op, "urn": urn(types, name), **extra}
    if old is not None:
        result["oldState"] = {"type": typ, "inputs": old, "outputs": old}
    if new is not None:
        result["newState"] = {"type": typ, "inputs": new}
    return result


def service(version: str, endpoint: str, op: str = "same") -> dict[str, Any]:
    inputs = {
        "metadata": {
            "name": naming.workload_name(SCOPE, endpoint, version),
            "labels": {"app.kubernetes.io/version": version, "app.kubernetes.io/name": endpoint},
        }
    }
    types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion", "valohai:index:EndpointWorkload"]
    return step(op, [*types, "kubernetes:core/v1:Service"], f"{version}-{endpoint}-service", inputs, inputs)


def ingress(alias: str, version: str, canary: int | None = None) -> dict[str, Any]:
    annotations = {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}
    if canary is not None:
        annotations |= {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": str(canary),
        }
    paths = [
        {
            "path": f"/acme/mnist/americas/{alias}/{e}",
            "backend": {"service": {"name": naming.workload_name(SCOPE, e, version)}},
        }
        for e in ("greet-me", "predict-digit")
    ]
    return {
        "metadata": {
            "name": naming.alias_ingress_name(SCOPE, alias, canary is not None),
            "labels": {"valohai.com/alias": alias},
            "annotations": annotations,
        },
        "spec": {"rules": [{"http": {"paths": paths}}]},
    }


def alias_step(
    op: str, alias: str, old: Any, new: Any, *, kind: str = INGRESS, suffix: str = "ingress"
) -> dict[str, Any]:
    types = ["valohai:index:Deployment", "valohai:index:AliasRouting", kind]
    return step(op, types, f"{alias}-{suffix}", old, new, detailedDiff={"spec.rules[0]": {"kind": "update"}})


def stack_step(aliases: dict[str, Any] | None) -> dict[str, Any]:
    outputs = {"aliases": aliases} if aliases is not None else {}
    return {
        "op": "same",
        "urn": urn([ROOT_TYPE], f"{PROJECT}-americas"),
        "oldState": {"type": ROOT_TYPE, "outputs": outputs},
        "newState": {"type": ROOT_TYPE},
    }


def preview(steps: list[dict[str, Any]], config_aliases: Any = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {f"{PROJECT}:owner": "acme", f"{PROJECT}:basicAuth": "[secret]"}
    if config_aliases is not None:
        config[f"{PROJECT}:aliases"] = json.dumps(config_aliases)
    services = [service(v, e) for v in (V1, V2) for e in ("greet-me", "predict-digit")]
    return {"config": config, "steps": [*services, *steps], **extra}


def lines(document: dict[str, Any]) -> list[str]:
    return render(build_report(document)).splitlines()


def test_alias_switch_from_outputs_and_config() -> None:
    document = preview(
        [
            stack_step({"production": V1, "staging": V2}),
            alias_step("update", "production", ingress("production", V1), ingress("production", V2)),
        ],
        config_aliases={"production": V2, "staging": V2},
    )
    out = lines(document)
    assert out[0] == "<!-- valohai-preview-summary:americas -->"
    assert out[1] == "### `americas`: 1 to update (5 unchanged)"
    assert f"- **Aliases**: `production`: {V1} → {V2}" in out
    assert not any("⚠️" in line for line in out)


def test_alias_switch_read_from_the_route_objects_alone() -> None:
    """Without recorded outputs or config (e.g. trimmed JSON), the Ingress backends name the versions."""
    document = preview([alias_step("update", "production", ingress("production", V1), ingress("production", V2))])
    assert f"- **Aliases**: `production`: {V1} → {V2}" in lines(document)


def test_weighted_split_on_ingress_pairs() -> None:
    document = preview(
        [
            alias_step("update", "production", ingress("production", V1), ingress("production", V1)),
            alias_step("create", "production", None, ingress("production", V2, canary=10), suffix="canary-ingress"),
        ]
    )
    assert f"- **Aliases**: `production`: {V1} → {V1} 90% / {V2} 10%" in lines(document)


def _httproute(alias: str, weights: dict[str, int], mirror: tuple[str, int] | None = None) -> dict[str, Any]:
    rules = []
    for endpoint in ("greet-me", "predict-digit"):
        rule: dict[str, Any] = {
            "matches": [{"path": {"type": "PathPrefix", "value": f"/acme/mnist/americas/{alias}/{endpoint}"}}],
            "backendRefs": [
                {"name": naming.workload_name(SCOPE, endpoint, v), "port": 8000, "weight": w}
                for v, w in weights.items()
            ],
        }
        if mirror:
            rule["filters"] = [
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {"name": naming.workload_name(SCOPE, endpoint, mirror[0])},
                        "percent": mirror[1],
                    },
                }
            ]
        rules.append(rule)
    return {"metadata": {"name": f"alias-{alias}", "labels": {"valohai.com/alias": alias}}, "spec": {"rules": rules}}


def test_http_routes_weights_and_mirrors() -> None:
    document = preview(
        [
            alias_step(
                "update",
                "production",
                _httproute("production", {V1: 100}),
                _httproute("production", {V1: 90, V2: 10}),
                kind=HTTPROUTE,
                suffix="route",
            ),
            alias_step(
                "update",
                "staging",
                _httproute("staging", {V2: 100}),
                _httproute("staging", {V2: 100}, (V1, 5)),
                kind=HTTPROUTE,
                suffix="route",
            ),
        ]
    )
    out = lines(document)
    assert "- **Aliases**:" in out
    assert f"  - `production` (weights): {V1} → {V1} 90% / {V2} 10%" not in out  # one version became two: a move
    assert f"  - `production`: {V1} → {V1} 90% / {V2} 10%" in out
    assert f"  - `staging` (mirror): {V2} → {V2} + mirror {V1} 5%" in out


def test_new_alias_forms_in_config_and_outputs() -> None:
    before = {"production": {V1: 90, V2: 10}}
    after = {"production": {"versions": {V1: 50, V2: 50}, "mirror": {"version": V3, "percent": 10}}}
    document = preview([stack_step(before)], config_aliases=after)
    assert f"- **Aliases**: `production`: {V1} 90% / {V2} 10% → {V1} 50% / {V2} 50% + mirror {V3} 10%" in lines(
        document
    )
    document = preview([stack_step(before)], config_aliases={"production": {V1: 50, V2: 50}})
    assert f"- **Aliases**: `production` (weights): {V1} 90% / {V2} 10% → {V1} 50% / {V2} 50%" in lines(document)


def test_new_version_lists_version_and_images() -> None:
    version_types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion"]
    image = f"registry.example.com/acme/mnist/americas:{V3}-0123456789abcdef"
    document = preview(
        [
            stack_step({"production": V1}),
            step("create", version_types, V3, new={}),
            step(
                "create",
                [*version_types, "docker:index/image:Image"],
                f"{V3}-python-3-11-abcd1234-image",
                new={"imageName": image, "registry": {"password": {SECRET_SIG: SECRET_VALUE_SIG, "value": PASSWORD}}},
            ),
            step("create", [*version_types, INGRESS], f"{V3}-ingress", new={"metadata": {"name": "version-x"}}),
        ],
        config_aliases={"production": V1},
    )
    out = lines(document)
    assert out[1] == "### `americas`: 3 to create (5 unchanged)"
    assert f"- **Versions added**: {V3}" in out
    assert f"- **Images to build**: `{image}`" in out
    assert not any(line.startswith("- **Aliases**") for line in out)


def test_removed_version_warns_about_serving_objects() -> None:
    version_types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion"]
    workload = [*version_types, "valohai:index:EndpointWorkload"]
    name = naming.workload_name(SCOPE, "greet-me", V1)
    document = preview(
        [
            step("delete", version_types, V1, old={}),
            step(
                "delete",
                [*workload, "kubernetes:apps/v1:Deployment"],
                f"{V1}-greet-me-deployment",
                old={"metadata": {"name": name}},
            ),
            step(
                "delete",
                [*workload, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"],
                f"{V1}-greet-me-hpa",
                old={"metadata": {"name": name}},
            ),
        ]
    )
    out = lines(document)
    assert f"- **Versions removed**: {V1}" in out
    assert f"- ⚠️ **delete** Deployment `{name}`: serves traffic; its pods stop" in out
    assert not any("HorizontalPodAutoscaler" in line and "⚠️" in line for line in out)


def test_replaced_deployment_rolls_and_warns() -> None:
    types = [
        "valohai:index:Deployment",
        "valohai:index:DeploymentVersion",
        "valohai:index:EndpointWorkload",
        "kubernetes:apps/v1:Deployment",
    ]
    name = naming.workload_name(SCOPE, "predict-digit", V1)
    meta = {"metadata": {"name": name}}
    document = preview(
        [
            step(
                "replace",
                types,
                f"{V1}-predict-digit-deployment",
                meta,
                meta,
                replaceReasons=["spec.selector"],
                detailedDiff={"spec.selector": {"kind": "update-replace"}},
            ),
            step("create-replacement", types, f"{V1}-predict-digit-deployment", meta, meta),
            step("delete-replaced", types, f"{V1}-predict-digit-deployment", meta, meta),
        ]
    )
    out = lines(document)
    assert out[1] == "### `americas`: 1 to replace (4 unchanged)"
    assert f"- **Deployments that roll**: `{name}` (replace: spec.selector)" in out
    assert (
        f"- ⚠️ **replace** Deployment `{name}`: serves traffic; its pods are recreated (requests fail until new pods are ready)"
        in out
    )


def test_nothing_changed() -> None:
    out = lines(preview([stack_step({"production": V1})], config_aliases={"production": V1}))
    assert out[1] == "### `americas`: no changes (5 unchanged)"
    assert "<details>" not in "\n".join(out)


def test_a_failed_preview_shows_its_errors() -> None:
    message = "2 problem(s) in the stack's configuration:\nconfig: aliases.production: points to version '2099'"
    document = preview(
        [], diagnostics=[{"severity": "error", "message": message}, {"severity": "info", "message": "noise"}]
    )
    out = lines(document)
    assert out[1] == "### `americas`: the preview failed"
    assert "❌ **The preview failed:**" in out
    assert "config: aliases.production: points to version '2099'" in out
    assert "noise" not in out


def test_secrets_never_appear() -> None:
    secret = {SECRET_SIG: SECRET_VALUE_SIG, "value": PASSWORD}
    json_secret = {SECRET_SIG: SECRET_VALUE_SIG, "plaintext": json.dumps({"alice": PASSWORD + "-json"})}
    types = ["valohai:index:Deployment", "kubernetes:core/v1:Secret"]
    document = preview(
        [
            step(
                "update",
                types,
                "deployment-basic-auth",
                {"data": secret},
                {"data": json_secret, "metadata": {"name": secret}},
            ),
            # Even a program that echoed a secret into an error message does not leak it here.
            stack_step({"production": secret}),
        ],
        config_aliases={"production": V1},
        diagnostics=[{"severity": "error", "message": f"bad password {PASSWORD} / {PASSWORD}-json"}],
    )
    document["config"][f"{PROJECT}:registryAuth"] = {"username": "u", "password": "[secret]"}
    text = render(build_report(document))
    assert PASSWORD not in text
    assert "[secret]" in text
    assert "deployment-basic-auth" in text


def test_large_previews_fit_one_comment_with_the_summary_first() -> None:
    types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion"]
    many = [step("create", types, f"2019{i:06d}.0", new={}) for i in range(3000)]
    many += [
        step(
            "create",
            [*types, "docker:index/image:Image"],
            f"2019{i:06d}.0-image-" + "x" * 40,
            new={"imageName": "r/" + "y" * 60},
        )
        for i in range(3000)
    ]
    text = render(build_report(preview(many)))
    assert len(text) <= DEFAULT_LIMIT < GITHUB_COMMENT_LIMIT
    assert text.splitlines()[1] == "### `americas`: 6000 to create (4 unchanged)"
    assert "…and 2975 more" in text
    assert "more changes not shown (GitHub's comment limit); see the workflow log." in text
    assert text.rstrip().endswith("</details>")


def test_several_stacks_and_unreadable_input(tmp_path: Path) -> None:
    americas = tmp_path / "americas.json"
    americas.write_text(json.dumps(preview([stack_step({"production": V1})], config_aliases={"production": V2})))
    europe = tmp_path / "europe.json"
    europe.write_text("error: no stack named 'europe' found")
    text = summarize([str(americas), str(europe)])
    assert "<!-- valohai-preview-summary:americas -->" in text
    assert f"`production`: {V1} → {V2}" in text
    assert "<!-- valohai-preview-summary:europe -->" in text
    assert "is not `pulumi preview --json` output" in text


def test_without_recorded_outputs_only_aliases_whose_routes_change_are_listed() -> None:
    document = preview(
        [alias_step("update", "production", ingress("production", V1), ingress("production", V2))],
        config_aliases={"production": V2, "staging": V2},
    )
    out = lines(document)
    assert [line for line in out if line.startswith("- **Aliases**")] == [f"- **Aliases**: `production`: {V1} → {V2}"]
    assert not any("`staging`" in line for line in out)


def test_first_deploy_lists_every_alias_as_new() -> None:
    stack = {"op": "create", "urn": urn([ROOT_TYPE], f"{PROJECT}-americas"), "newState": {"type": ROOT_TYPE}}
    out = lines(preview([stack], config_aliases={"production": V1, "staging": V2}))
    assert f"  - `production` (new alias): (none) → {V1}" in out
    assert f"  - `staging` (new alias): (none) → {V2}" in out


def test_warnings_are_grouped_per_operation_and_kind() -> None:
    types = ["valohai:index:Deployment", "kubernetes:apps/v1:Deployment"]
    steps = [step("delete", types, f"d{i}", old={"metadata": {"name": f"d{i}"}}) for i in range(7)]
    out = lines(preview(steps))
    assert (
        "- ⚠️ **delete** 7 Deployments (`d0`, `d1`, `d2`, `d3`, `d4`, …and 2 more): serves traffic; its pods stop" in out
    )


# --- recorded from real `pulumi preview --json` of the local stack (noise such as stack traces removed) ---

RECORDED = DATA / "previews"


def _recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((RECORDED / f"{name}.json").read_text()))


def test_recorded_alias_switch() -> None:
    out = lines(_recorded("alias-switch"))
    assert out[:4] == [
        "<!-- valohai-preview-summary:local -->",
        "### `local`: 1 to update (32 unchanged)",
        "",
        f"- **Aliases**: `production`: {V1} → {V2}",
    ]


def test_recorded_alias_switch_from_the_ingress_alone() -> None:
    """Unchanged Services are not in a preview: their names are derived the way the program names them."""
    document = _recorded("alias-switch")
    del document["config"][f"{PROJECT}:aliases"]
    stack = next(s for s in document["steps"] if s["urn"].endswith("pulumi:pulumi:Stack::valohai-deployments-local"))
    del stack["oldState"]["outputs"]["aliases"]
    assert f"- **Aliases**: `production`: {V1} → {V2}" in lines(document)


def test_recorded_namespace_change_replaces_everything() -> None:
    out = lines(_recorded("namespace-change"))
    assert out[1] == "### `local`: 18 to replace (15 unchanged)"
    warnings = [line.split(" (")[0].split(":")[0] for line in out if line.startswith("- ⚠️")]
    assert sorted(warnings) == [
        "- ⚠️ **replace** 4 Deployments",
        "- ⚠️ **replace** 4 Ingresses",
        "- ⚠️ **replace** 4 Services",
        "- ⚠️ **replace** Namespace `mnist-moved`",
    ]
    assert "- **Deployments that roll**:" in out
    assert not any(line.startswith("- **Aliases**") for line in out)


def test_added_and_changed_versions_list_the_files_their_images_hold() -> None:
    version_types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion"]
    old = {"files": {"predict-digit.model": "models/digits-v1.json (sha256 0123456789ab)"}}
    new = {"files": {"predict-digit.model": "models/digits-v9.json (sha256 ba9876543210)"}}
    added = {"files": {"predict-digit.model": "models/digits-v3.json (sha256 aaaaaaaaaaaa)"}}
    document = preview(
        [
            stack_step({"production": V1}),
            step("update", version_types, V1, old=old, new=new),
            step("same", version_types, V2, old=old, new=old),
            step("create", version_types, V3, new=added),
        ],
        config_aliases={"production": V1},
    )
    out = lines(document)
    assert out[out.index("- **Files in images**:") + 1 :][:2] == [
        f"  - `{V1}`: `predict-digit.model` ← `models/digits-v9.json (sha256 ba9876543210)` (changed)",
        f"  - `{V3}`: `predict-digit.model` ← `models/digits-v3.json (sha256 aaaaaaaaaaaa)`",
    ]
    assert not any(V2 in line for line in out if "←" in line)


def test_names_from_config_and_files_cannot_inject_markdown() -> None:
    version_types = ["valohai:index:Deployment", "valohai:index:DeploymentVersion"]
    hostile = "x`](https://evil.example)<img src=x>\n# heading"
    files = {"files": {f"e.{hostile}": f"models/{hostile}"}}
    document = preview(
        [stack_step({}), step("create", version_types, hostile, new=files)],
        config_aliases={},
        diagnostics=[{"severity": "error", "message": "```\n[click](https://evil.example)"}],
    )
    out = render(build_report(document, "stack")).splitlines()
    assert "# heading" not in [line.strip() for line in out]
    # The error block's fence is longer than any backtick run in the errors, so they cannot close it.
    assert out[5:9] == ["````", "```", "[click](https://evil.example)", "````"]
    assert "- **Versions added**: x\\`\\](https://evil.example)\\<img src=x\\> # heading" in out
    # Inside a code span nothing is markup; its fence outlasts the name's own backticks.
    code = "``x`](https://evil.example)<img src=x> # heading``"
    assert f"| create | DeploymentVersion | {code} |  |" in out


def _rollout(document: dict[str, Any], rollout: dict[str, Any]) -> dict[str, Any]:
    document["config"][f"{PROJECT}:rollout"] = json.dumps(rollout)
    return document


def _moved(aliases_before: dict[str, Any], aliases_after: dict[str, Any]) -> dict[str, Any]:
    return preview(
        [
            stack_step(aliases_before),
            alias_step("update", "production", ingress("production", V1), ingress("production", V2)),
        ],
        config_aliases=aliases_after,
    )


def test_a_move_to_one_version_is_a_guarded_promotion_with_its_steps() -> None:
    document = _rollout(_moved({"production": V1}, {"production": V2}), {"bake": "5m", "steps": [20, 60]})
    assert (
        f"- **Guarded promotions**: `production` → {V2}: 20% → 60% → 100%, 5m bake per step; rolled back on "
        "5xx above 1% (or above the previous version's + 0.5%), p95 above 500ms, a pod restart or unready pod, "
        "or fewer than 100 requests in a bake"
    ) in lines(document)


def test_a_promotion_from_a_split_starts_at_the_new_version_share() -> None:
    document = _moved({"production": {V1: 70, V2: 30}}, {"production": V2})
    assert any(
        line.startswith(f"- **Guarded promotions**: `production` → {V2}: 50% → 100%,") for line in lines(document)
    )


def test_an_alias_without_steps_moves_at_once_and_a_split_is_no_promotion() -> None:
    at_once = _rollout(_moved({"production": V1}, {"production": V2}), {"aliases": {"production": {"steps": []}}})
    assert f"- **Guarded promotions**: `production` → {V2}: all at once (`rollout` steps: [] for this alias)" in lines(
        at_once
    )
    split = _moved({"production": V1}, {"production": {V1: 50, V2: 50}})
    assert not any("Guarded promotions" in line for line in lines(split))


def test_a_refused_rollout_config_is_a_warning() -> None:
    document = _rollout(_moved({"production": V1}, {"production": V2}), {"steps": [50, 10]})
    assert any(
        "⚠️ `rollout` config is refused (steps: Value error, steps must increase (got \\[50, 10\\])); the deploy will fail"
        in line
        for line in lines(document)
    )
