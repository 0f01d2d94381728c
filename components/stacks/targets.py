"""Updates whose cost follows the change, not the stack: one alias's or version's objects only.

A plain `pulumi up` asks the provider to check and diff every resource the program declares, and
the engine and the Python SDK handle every one of them: an alias switch on a stack of 50 versions
x 10 endpoints waited for 2,164 registrations to change one route object. A `TargetedUpdate` is
two things made from one set of names:

- `pulumi up --target` patterns, so the engine updates, creates or deletes those objects only and
  keeps every other resource as its state holds it;
- the program's declaration (inputs/declaration.py), so the program declares only those aliases
  and versions beside the stack's few shared objects, and the stack's outputs stay whole.

The patterns are globs (`*` within a URN segment, `**` across), so a target that does not exist
yet (a canary Ingress the split creates) or no longer will (the one a merge removes) is created or
deleted, never an error; each pattern ends in an exact logical name, so it matches that object
and no other alias's or version's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inputs import naming
from components.inputs.aliases import AliasTarget
from components.inputs.declaration import ENVIRONMENT, Declaration
from components.inputs.plan import VersionPlan

# Pulumi's setting (sdk/go/common/env/env.go, SkipCheckpoints): save only the final state.
SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"

# Components are named `<alias>` and `<version>`; their route objects `<name><suffix>`. Not the
# legacy canary suffix: `<alias>-canary-ingress` is also alias `<alias>-canary`'s Ingress, and an
# object still under that name in state is found through the new name's `aliases=`.
_ALIAS_CHILD_SUFFIXES = (
    naming.ROUTE_SUFFIX,
    naming.SECURITY_POLICY_SUFFIX,
    naming.INGRESS_SUFFIX,
    naming.CANARY_INGRESS_SUFFIX,
)
_VERSION_ROUTE_SUFFIXES = (naming.ROUTE_SUFFIX, naming.SECURITY_POLICY_SUFFIX, naming.INGRESS_SUFFIX)


def _component(stack: str, project: str, component_type: str) -> str:
    """The URN up to a component's type; `**` after it spans the types of its children (or none)."""
    return f"urn:pulumi:{stack}::{project}::{naming.DEPLOYMENT_TYPE}${component_type}"


def alias_targets(stack: str, project: str, aliases: Iterable[str]) -> list[str]:
    """The alias components and every route object they may hold (HTTPRoute, SecurityPolicy, Ingresses)."""
    base = _component(stack, project, naming.ALIAS_TYPE)
    names = [f"{alias}{suffix}" for alias in sorted(set(aliases)) for suffix in ("", *_ALIAS_CHILD_SUFFIXES)]
    return [f"{base}**::{name}" for name in names]


def version_targets(stack: str, project: str, version: VersionPlan) -> list[str]:
    """One version's component and everything under it: images, env Secret, workloads, route objects."""
    base = _component(stack, project, naming.VERSION_TYPE)
    names = [version.name, f"{version.name}{naming.ENV_SECRET_SUFFIX}"]
    names += [naming.logical_name(version.name, naming.image_part(image.key)) for image in version.images]
    for endpoint in version.endpoints:
        workload = naming.logical_name(version.name, endpoint.name)
        names.append(workload)
        names += [f"{workload}{child}" for child in naming.WORKLOAD_CHILD_SUFFIXES]
    names += [f"{version.name}{suffix}" for suffix in _VERSION_ROUTE_SUFFIXES]
    return [f"{base}**::{name}" for name in names]


@dataclass(frozen=True)
class TargetedUpdate:
    patterns: tuple[str, ...]
    declaration: Declaration

    def describe(self) -> str:
        """What a user reads while the update runs."""
        parts = [f"version {v}" for v in sorted(self.declaration.versions)]
        parts += [f"the route objects of {a}" for a in sorted(self.declaration.aliases)]
        return f"pulumi up --target <{' and '.join(parts)}>"


def targeted_update(
    stack: str,
    project: str,
    outputs: Mapping[str, Any],
    configured_versions: Iterable[str],
    *,
    aliases: Mapping[str, AliasTarget] | None = None,
    versions: Sequence[VersionPlan] = (),
) -> TargetedUpdate | None:
    """An update of these aliases' and versions' objects only, or None when it needs a plain
    `pulumi up`: a version left undeclared, or one an alias will route to, is not deployed yet (not
    in the stack's `images` output, e.g. the stack was never deployed), since it must be created
    first, and the outputs must name its images."""
    aliases = aliases or {}
    images = deployed_images(outputs)
    declared = {version.name for version in versions}
    routed = {version for target in aliases.values() for version in target.versions}
    undeclared = (set(configured_versions) | routed) - declared
    if images is None or not undeclared <= images.keys():
        return None
    patterns = alias_targets(stack, project, aliases)
    for version in versions:
        patterns += version_targets(stack, project, version)
    declaration = Declaration(
        aliases=frozenset(aliases), versions=frozenset(declared), images={v: images[v] for v in sorted(undeclared)}
    )
    return TargetedUpdate(tuple(patterns), declaration)


def deployed_images(outputs: Mapping[str, Any]) -> dict[str, dict[str, str]] | None:
    """The `images` output (version -> endpoint -> image by digest), or None unless every value is
    there in the clear (`pulumi stack output` shows a secret one as "[secret]")."""
    images = outputs.get("images")
    if not isinstance(images, dict):
        return None
    for endpoints in images.values():
        if not isinstance(endpoints, dict) or not all(
            isinstance(image, str) and "@sha256:" in image for image in endpoints.values()
        ):
            return None
    return images


@contextmanager
def update_environment(update: TargetedUpdate | None) -> Iterator[dict[str, str]]:
    """The environment `pulumi up` needs for `update`: the declaration in a file that lives for
    this update only (inputs/declaration.py says why), and the state written once, when the
    update ends (also after Ctrl-C), instead of after every step.

    Each checkpoint is the whole state (12.5 MB at 50 versions x 10 endpoints on the file
    backend), written twice per object a step changes, so a version's objects cost time in
    proportion to the stack, not to the version. A targeted update only creates, updates in place
    or deletes the objects of one alias or version, each safe to do again: the provider creates
    by server-side apply, which takes over an object that exists. So if the process is killed
    mid-update, the state lacks what that update did, and running it again adopts the objects it
    made and redoes the rest."""
    if update is None:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="valohai-declaration-") as scratch:
        path = Path(scratch) / "declaration.json"
        path.write_text(update.declaration.model_dump_json())
        yield {ENVIRONMENT: str(path), SKIP_CHECKPOINTS: "true"}
