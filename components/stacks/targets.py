"""`pulumi up --target` patterns for one alias or one version: an update whose cost follows the
change, not the stack.

A plain `pulumi up` asks the provider to check and diff every resource the program declares, so
an alias switch on a stack of 50 versions x 10 endpoints waits for some 1,500 diffs to change one
route object. With `--target`, the engine uses the state it holds for every other resource
(its step generator stubs Check and emits a "same" step), the stack's outputs are still
registered, and the state stays whole. The patterns are globs (`*` within a URN segment, `**`
across), so a target that does not exist yet (a canary Ingress the split creates) or no longer
will (the one a merge removes) is created or deleted, never an error; each pattern ends in an
exact logical name, so it matches that object and no other alias's or version's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.inputs import naming
from components.inputs.aliases import AliasTarget
from components.inputs.plan import VersionPlan

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
_WORKLOAD_CHILDREN = ("-deployment", "-service", "-hpa")


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
    names = [version.name, f"{version.name}-env-secret"]
    names += [naming.logical_name(version.name, f"{image.key}-image") for image in version.images]
    for endpoint in version.endpoints:
        workload = naming.logical_name(version.name, endpoint.name)
        names.append(workload)
        names += [f"{workload}{child}" for child in _WORKLOAD_CHILDREN]
    names += [f"{version.name}{suffix}" for suffix in _VERSION_ROUTE_SUFFIXES]
    return [f"{base}**::{name}" for name in names]


def route_move_targets(
    stack: str, project: str, moves: Mapping[str, AliasTarget], outputs: Mapping[str, Any]
) -> list[str] | None:
    """Targets for moving these aliases when only their routes change: every version they will route
    to is already deployed (in the stack's `images` output). None: the move needs a plain `pulumi up`,
    which creates those versions first."""
    deployed = outputs.get("images") or {}
    if any(version not in deployed for target in moves.values() for version in target.versions):
        return None
    return alias_targets(stack, project, moves)
