"""What a targeted update's program declares: the shared objects plus some aliases and versions.

`pulumi up --target` (stacks/targets.py) changes only the targeted objects, but the engine still
takes a registration, and the Python SDK still serializes one, for every resource the program
declares: at 50 versions x 10 endpoints, 2,164 of them (about 37 s) to change one route object.
So a targeted update hands the program a `Declaration`, and the program declares the stack's
shared objects (provider, namespace, pull and auth Secrets, network policy: a few, whatever the
stack's size) and these aliases and versions only. The engine keeps every undeclared resource as
its state holds it, since under `--target` it deletes targeted resources only
(pkg/resource/deploy/step_generator.go, GenerateDeletes); the tool builds the patterns and this
declaration from one set of names, so everything targeted is declared.

The stack's outputs are registered whole on every update (the root stack is always targeted), so
the undeclared versions' images, which only their builds know, come from the stack's outputs as
they were before the update. Routes reach undeclared versions by their Services' names, which
`naming` derives from the config alone.

The tool passes the declaration as a file named by an environment variable, removed once the
update ends: a leftover variable then names a missing file, and the program stops instead of
declaring a part of the stack under a plain `pulumi up`, which would delete the rest.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from components.inputs.errors import ConfigError
from components.inputs.plan import DeploymentPlan

ENVIRONMENT = "VALOHAI_DECLARE_ONLY"


class Declaration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset()
    # The stack's `images` output before the update: version -> endpoint -> image by digest.
    images: dict[str, dict[str, str]] = {}


def from_environment(environ: Mapping[str, str] = os.environ) -> Declaration | None:
    """The declaration a targeted update passed, or None for the whole stack."""
    where = environ.get(ENVIRONMENT)
    if not where:
        return None
    try:
        return Declaration.model_validate_json(Path(where).read_text())
    except (OSError, ValidationError) as err:
        reason = err.strerror if isinstance(err, OSError) else "it is not a declaration"
        raise ConfigError(
            [
                f"{ENVIRONMENT}={where}: {reason}; only the project's commands set this variable, for the one "
                f"update they run: unset it (unset {ENVIRONMENT}) and run the command again"
            ]
        ) from None


def declared_plan(plan: DeploymentPlan, declaration: Declaration | None) -> DeploymentPlan:
    """The versions this run declares; each undeclared one must have its deployed images in the
    declaration, since the stack's outputs name them."""
    if declaration is None:
        return plan
    undeployed = sorted(v for v in plan.versions if v not in declaration.versions and v not in declaration.images)
    if undeployed:
        raise ConfigError(
            [
                f"{ENVIRONMENT}: the targeted update leaves out versions {', '.join(undeployed)} but has no deployed "
                "images for them; run a plain `pulumi up` of the stack"
            ]
        )
    return dataclasses.replace(plan, versions={v: p for v, p in plan.versions.items() if v in declaration.versions})
